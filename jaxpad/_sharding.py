"""Explicitly sharded inputs: jaxpad's cores run on automatic (XLA-partitioned) axes.

With `jax.make_mesh`'s default `AxisType.Explicit`, every op must say how its
output is sharded, and slices, pads and reshapes of a sharded axis are refused
("slicing on sharded dims ... is not implemented"). jaxpad's cores are made of
exactly those ops, so they run inside `jax.sharding.auto_axes`, where XLA's SPMD
partitioner places them; the output keeps the input's sharding on every axis
whose size still divides by its devices. Batch sharding (data parallelism) costs
no communication this way; `jaxpad.sharded.conv` is the halo-exchange convolution
for spatially sharded inputs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
from jax.sharding import NamedSharding, PartitionSpec

_Explicit = jax.sharding.AxisType.Explicit


def _names(entry: Any) -> tuple[str, ...]:
    if entry is None:
        return ()
    return tuple(entry) if isinstance(entry, tuple) else (entry,)


def _explicit_mesh(arrays: tuple[Any, ...]) -> Any:
    """The mesh of the first array laid out over explicit mesh axes, else the explicit
    mesh of `jax.set_mesh` (where even replicated values carry their mesh), else None."""
    for a in jax.tree.leaves(arrays):
        sharding = getattr(jax.typeof(a), "sharding", None)
        spec = getattr(sharding, "spec", None)
        if spec is None:
            continue
        mesh = sharding.mesh
        if any(mesh._name_to_type[n] == _Explicit for e in spec for n in _names(e)):
            return mesh
    context = jax.sharding.get_abstract_mesh()
    return context if not context.empty and context.explicit_axes else None


def _kept_spec(spec: PartitionSpec, shape: tuple[int, ...], mesh: Any) -> PartitionSpec:
    """`spec` with the entries dropped whose axis size no longer divides by their devices."""
    entries = tuple(spec) + (None,) * (len(shape) - len(spec))
    kept = []
    for entry, size in zip(entries, shape):
        devices = math.prod(mesh.shape[n] for n in _names(entry))
        kept.append(entry if size % devices == 0 else None)
    return PartitionSpec(*kept)


def _varying(a: Any) -> frozenset:
    """The manual mesh axes along which `a` varies (inside `jax.shard_map`)."""
    aval = jax.typeof(a)
    mat = getattr(aval, "mat", None)  # jax 0.10; earlier releases call it `vma`
    return mat.varying if mat is not None else frozenset(getattr(aval, "vma", ()))


def vary_alike(*arrays: jax.Array) -> list[jax.Array]:
    """`arrays` made varying along the same manual mesh axes, as lax's operands are.

    jaxpad's primitives take operands of one type: an operand replicated over an
    axis another varies along is cast to varying, whose transpose sums its
    cotangent over that axis.
    """
    axes = frozenset().union(*map(_varying, arrays))
    return [a if _varying(a) == axes else jax.lax.pcast(a, tuple(sorted(axes - _varying(a))),
                                                        to="varying") for a in arrays]


def auto_partitioned(core: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """Wraps a jitted core `core(x, *arrays, **static)` for explicitly sharded inputs.

    Inputs on automatic or no mesh axes call `core` as it is. Otherwise the core
    runs on automatic axes and its output takes `x`'s spec (or, when only another
    argument is explicitly sharded, a replicated one), less the entries whose axis
    no longer divides.
    """

    @functools.wraps(core)
    def wrapper(x: jax.Array, *arrays: Any, **static: Any) -> jax.Array:
        mesh = _explicit_mesh((x, *arrays))
        if mesh is None:
            return core(x, *arrays, **static)
        fn = functools.partial(core, **static)
        x_spec = getattr(jax.typeof(x).sharding, "spec", PartitionSpec())
        replicated = jax.sharding.auto_axes(fn, out_sharding=NamedSharding(mesh, PartitionSpec()))
        shape = jax.eval_shape(replicated, x, *arrays).shape
        out = NamedSharding(mesh, _kept_spec(x_spec, shape, mesh))
        return jax.sharding.auto_axes(fn, out_sharding=out)(x, *arrays)

    return wrapper

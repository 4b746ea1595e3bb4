"""Auto meshes: the halo exchange, chosen when XLA partitions the program.

Under `jax.set_mesh` with automatic axes, the sharding of a convolution's input
is unknown when `jaxpad.conv` is traced: XLA's SPMD partitioner fixes it later,
and partitions padding first, or the frame, with several times the collective
bytes of zero padding. Here the convolution and its two transposes are three
bilinear primitives, closed under JVP and transposition as lax's convolution is,
each lowered through `custom_partitioning`. Once XLA has fixed the input's
sharding, each builds `jaxpad.sharded`'s halo exchange for it: the forward pass
and the input gradient move output-gradient and halo rows between neighbours,
and the kernel gradient is reduced over the devices once. Where no spatial axis
is split, or the exchange does not apply (`jaxpad.sharded.make_plan`), each
device computes its block whole: the plain convolution, after XLA gathers what
it needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import string
import threading
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.custom_partitioning import custom_partitioning
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jax.sharding import NamedSharding, PartitionSpec

from ._conv import conv_validated, dimension_numbers
from ._frame import _at_front
from ._padding import Pair, conv_output_shape

_COPYING = frozenset({"reflect", "replicate", "circular", "symmetric"})
_inside = threading.local()


@dataclasses.dataclass(frozen=True)
class Config:
    """One convolution: `jaxpad.conv`'s canonical keywords and the spatial shapes."""

    shape: tuple[int, ...]  # spatial shape of x
    ksize: tuple[int, ...]
    stride: tuple[int, ...]
    pads: tuple[Pair, ...]
    modes: tuple[str, ...]
    dilation: tuple[int, ...]
    groups: int
    channels_last: bool
    precision: Any
    impl: str
    oversize: str
    axes: tuple[tuple[str, int], ...]  # the names and sizes of the mesh's axes

    @property
    def dn(self) -> Any:
        return dimension_numbers(len(self.shape), self.channels_last)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return conv_output_shape(self.shape, self.ksize, self.stride, self.pads, self.dilation)


def mesh_axes(modes: Sequence[str], pads: Sequence[Pair], preferred_element_type: Any
              ) -> tuple[tuple[str, int], ...] | None:
    """The axes of the automatic mesh of several devices that is set (`jax.set_mesh`), where
    `jaxpad.conv` takes this route: a spatial axis pads in a copying mode, no fill value is
    needed and the output keeps the input's dtype. None elsewhere."""
    if (not _AVAILABLE or getattr(_inside, "lowering", False)
            or preferred_element_type is not None):
        return None
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or mesh.size == 1 or not mesh.are_all_axes_auto:
        return None
    if "constant" in modes or not any(m in _COPYING and p != (0, 0)
                                      for m, p in zip(modes, pads)):
        return None
    return tuple(zip(mesh.axis_names, mesh.axis_sizes))


@contextlib.contextmanager
def _lowering():
    """Inside, `jaxpad.conv` computes the block: it does not take this route again."""
    before = getattr(_inside, "lowering", False)
    _inside.lowering = True
    try:
        yield
    finally:
        _inside.lowering = before


# The unpartitioned computations: jaxpad.conv and its transposes.


def _reference(c: Config, x: jax.Array, w: jax.Array) -> jax.Array:
    with _lowering():
        return conv_validated(x, w, None, jnp.zeros((), x.dtype), stride=c.stride, pads=c.pads,
                              modes=c.modes, dilation=c.dilation, groups=c.groups,
                              channels_last=c.channels_last, precision=c.precision,
                              preferred_element_type=None, impl=c.impl)


def _x_shape(c: Config, dy: jax.Array, w: jax.Array) -> tuple[int, ...]:
    dn = c.dn
    shape = [0] * dy.ndim
    shape[dn.lhs_spec[0]] = dy.shape[dn.out_spec[0]]
    shape[dn.lhs_spec[1]] = w.shape[dn.rhs_spec[1]] * c.groups
    for axis, size in zip(dn.lhs_spec[2:], c.shape):
        shape[axis] = size
    return tuple(shape)


def _w_shape(c: Config, x: jax.Array, dy: jax.Array) -> tuple[int, ...]:
    dn = c.dn
    shape = [0] * x.ndim
    shape[dn.rhs_spec[0]] = dy.shape[dn.out_spec[1]]
    shape[dn.rhs_spec[1]] = x.shape[dn.lhs_spec[1]] // c.groups
    for axis, size in zip(dn.rhs_spec[2:], c.ksize):
        shape[axis] = size
    return tuple(shape)


def _reference_tx(c: Config, dy: jax.Array, w: jax.Array) -> jax.Array:
    x = jax.ShapeDtypeStruct(_x_shape(c, dy, w), dy.dtype)
    return jax.linear_transpose(lambda x: _reference(c, x, w), x)(dy)[0]


def _reference_tw(c: Config, x: jax.Array, dy: jax.Array) -> jax.Array:
    w = jax.ShapeDtypeStruct(_w_shape(c, x, dy), x.dtype)
    return jax.linear_transpose(lambda w: _reference(c, x, w), w)(dy)[0]


_REFERENCES = {"conv": _reference, "tx": _reference_tx, "tw": _reference_tw}


# The partitioned computations: one device's block, by jaxpad.sharded's halo exchange.


def _plan(c: Config, mesh: Any, x_spec: PartitionSpec) -> Any:
    """The halo exchange of `x` split as `x_spec`; spatial axes whole where it cannot run."""
    from .sharded import make_plan

    dn = c.dn
    entries = tuple(x_spec) + (None,) * (len(c.shape) + 2 - len(x_spec))
    names = [entries[a] for a in dn.lhs_spec[2:]]
    keywords = dict(stride=c.stride, dilation=c.dilation, groups=c.groups,
                    channels_last=c.channels_last, precision=c.precision,
                    preferred_element_type=None, impl=c.impl)

    def plan(names):
        return make_plan(mesh, names, entries[dn.lhs_spec[0]], dn=dn, ndim=len(entries),
                         shape=c.shape, ksize=c.ksize, stride=c.stride, dilation=c.dilation,
                         modes=c.modes, pads=c.pads, out_shape=c.out_shape,
                         oversize=c.oversize, keywords=keywords)

    if all(isinstance(n, str) or n is None for n in names):
        with contextlib.suppress(ValueError):
            return plan(names)
    return plan([None] * len(names))


def _block(plan: Any, x: jax.Array, w: jax.Array) -> jax.Array:
    from .sharded import _extended, _local

    zero = jnp.zeros((), x.dtype)
    return _local(plan, _extended(plan, x, zero), w, zero)


def _block_tx(plan: Any, dy: jax.Array, w: jax.Array, x_block: Any) -> jax.Array:
    """The input gradient of a block: the transposed scatter form, which receives the
    neighbours' output-gradient rows (as XLA's zero-padded convolution does)."""
    from .sharded import _tangent_block

    return jax.linear_transpose(lambda t: _tangent_block(plan, t, w), x_block)(dy)[0]


def _block_tw(plan: Any, x: jax.Array, dy: jax.Array, w_shape: Any) -> jax.Array:
    from .sharded import _extended, _local

    zero = jnp.zeros((), x.dtype)
    ext = _extended(plan, x, zero)
    dw = jax.linear_transpose(lambda w: _local(plan, ext, w, zero), w_shape)(dy)[0]
    return jax.lax.psum(dw, plan.mesh_axes) if plan.mesh_axes else dw


def _rule(c: Config, kind: str) -> tuple[str, tuple[str, ...], dict[str, int]]:
    """The Shardy rule: the batch and the spatial axes shared by x and y (an axis of
    `stride * out` elements as the compound factor `(out stride)`), the rest replicated;
    with the need-replication factors and the sizes of the stride factors."""
    dn = c.dn
    letters = iter(string.ascii_lowercase)
    nd = len(c.shape) + 2
    x, y = [""] * nd, [""] * nd
    x[dn.lhs_spec[0]] = y[dn.out_spec[0]] = next(letters)
    sizes = {}
    for i, (size, out, s) in enumerate(zip(c.shape, c.out_shape, c.stride)):
        shared = next(letters)
        y[dn.out_spec[2 + i]] = shared
        if size == out:
            x[dn.lhs_spec[2 + i]] = shared
        elif size == out * s:
            sizes[step := next(letters)] = s
            x[dn.lhs_spec[2 + i]] = f"({shared} {step})"
        else:
            x[dn.lhs_spec[2 + i]] = next(letters)
            y[dn.out_spec[2 + i]] = next(letters)
    x[dn.lhs_spec[1]] = next(letters)
    y[dn.out_spec[1]] = next(letters)
    w = [next(letters) for _ in range(nd)]
    operands = {"conv": (x, w, y), "tx": (y, w, x), "tw": (x, y, w)}[kind]
    order = [f for dims in operands for d in dims for f in d.strip("()").split()]
    channels = (x[dn.lhs_spec[1]], y[dn.out_spec[1]], *w)
    replicated = tuple(f for f in dict.fromkeys(order) if f in channels)
    a, b, r = (" ".join(d) for d in operands)
    return f"{a}, {b} -> {r}", replicated, sizes


def _channel_free(spec: PartitionSpec, ndim: int, channel: int) -> PartitionSpec:
    entries = list(tuple(spec) + (None,) * (ndim - len(spec)))
    entries[channel] = None
    return PartitionSpec(*entries)


@functools.cache
def _partitioned(c: Config, kind: str) -> Callable[..., jax.Array]:
    """`kind`'s computation ('conv', 'tx' or 'tw') under `custom_partitioning`."""
    reference = _REFERENCES[kind]
    dn = c.dn

    @custom_partitioning
    def fn(a, b):
        return reference(c, a, b)

    def partition(mesh, arg_shapes, result_shape):
        act = arg_shapes[0]  # x, or dy for the input gradient: it sets the split
        spec = getattr(act.sharding, "spec", None)
        if mesh.empty or spec is None:
            # XLA handed no mesh (a program whose shardings do not name it): every
            # device computes the whole, from replicated operands.
            devices = sorted(act.sharding.device_set, key=lambda d: d.id)
            names, sizes = zip(*c.axes)
            mesh = jax.sharding.Mesh(np.array(devices).reshape(sizes), names)
            spec = PartitionSpec()
        act_spec = _channel_free(spec, act.ndim,
                                 dn.out_spec[1] if kind == "tx" else dn.lhs_spec[1])
        x_axes, y_axes = _batch_spatial(dn.lhs_spec), _batch_spatial(dn.out_spec)
        plan = _plan(c, mesh, _moved(act_spec, y_axes, x_axes) if kind == "tx" else act_spec)
        x_sh = NamedSharding(mesh, plan.spec)
        y_sh = NamedSharding(mesh, _moved(plan.spec, x_axes, y_axes))
        w_sh = NamedSharding(mesh, PartitionSpec())
        if kind == "conv":
            def lower(x, w):
                with _lowering():
                    return _block(plan, x, w)
            return mesh, lower, y_sh, (x_sh, w_sh)
        if kind == "tx":
            x_block = jax.ShapeDtypeStruct(x_sh.shard_shape(result_shape.shape),
                                           result_shape.dtype)

            def lower(dy, w):
                with _lowering():
                    return _block_tx(plan, dy, w, x_block)
            return mesh, lower, x_sh, (y_sh, w_sh)
        w_struct = jax.ShapeDtypeStruct(result_shape.shape, result_shape.dtype)

        def lower(x, dy):
            with _lowering():
                return _block_tw(plan, x, dy, w_struct)
        return mesh, lower, w_sh, (x_sh, y_sh)

    rule, replicated, sizes = _rule(c, kind)
    fn.def_partition(partition=partition, sharding_rule=rule,
                     need_replication_factors=replicated, **sizes)
    return fn


def _moved(spec: PartitionSpec, source: Sequence[int], target: Sequence[int]) -> PartitionSpec:
    """`spec`'s entries at the batch and spatial axes `source` placed at `target`, the rest
    (the channels) unsplit: between x's layout and the output's."""
    entries = tuple(spec) + (None,) * (len(source) + 1 - len(spec))
    out = [None] * (len(source) + 1)
    for i, j in zip(source, target):
        out[j] = entries[i]
    return PartitionSpec(*out)


def _batch_spatial(spec: Sequence[int]) -> tuple[int, ...]:
    return (spec[0], *spec[2:])


# The primitives: bilinear, with lax.conv_general_dilated's structure of transposes.

conv_p = Primitive("jaxpad_auto_mesh_conv")
conv_tx_p = Primitive("jaxpad_auto_mesh_conv_tx")
conv_tw_p = Primitive("jaxpad_auto_mesh_conv_tw")
_KINDS = {conv_p: "conv", conv_tx_p: "tx", conv_tw_p: "tw"}


def conv(x: jax.Array, w: jax.Array, *, config: Config) -> jax.Array:
    """`jaxpad.conv` of a batched `x` without bias, partitioned by halo exchange."""
    return conv_p.bind(x, w, config=config)


for _p, _kind in _KINDS.items():
    _p.def_impl(functools.partial(
        lambda a, b, *, config, kind: _REFERENCES[kind](config, a, b), kind=_kind))
    _p.def_abstract_eval(functools.partial(
        lambda a, b, *, config, kind: a.update(shape=jax.eval_shape(
            functools.partial(_REFERENCES[kind], config), a, b).shape, weak_type=False),
        kind=_kind))
    mlir.register_lowering(_p, mlir.lower_fun(functools.partial(
        lambda a, b, *, config, kind: _partitioned(config, kind)(a, b), kind=_kind),
        multiple_results=False), cacheable=False)


def _transposes(p: Primitive) -> tuple[Callable, Callable]:
    """(lhs, rhs) transpose rules of `p`: each transpose is another of the three."""
    kind = _KINDS[p]
    if kind == "conv":     # y = F(x, w)
        return (lambda ct, x, w, *, config: conv_tx_p.bind(ct, w, config=config),
                lambda ct, x, w, *, config: conv_tw_p.bind(x, ct, config=config))
    if kind == "tx":       # dx = F_x^T(dy, w)
        return (lambda ct, dy, w, *, config: conv_p.bind(ct, w, config=config),
                lambda ct, dy, w, *, config: conv_tw_p.bind(ct, dy, config=config))
    return (lambda ct, x, dy, *, config: conv_tx_p.bind(dy, ct, config=config),  # dw
            lambda ct, x, dy, *, config: conv_p.bind(x, ct, config=config))


for _p in _KINDS:
    ad.defbilinear(_p, *_transposes(_p))
# Lowered through custom_partitioning, which needs the device assignment when the
# program is lowered; jax lists such primitives in a private set (no public spelling yet).
# A jax without it gets no route: `mesh_axes` answers None.
try:
    from jax._src import dispatch as _dispatch

    _dispatch.prim_requires_devices_during_lowering.update(_KINDS)
    _AVAILABLE = True
except (ImportError, AttributeError):
    _AVAILABLE = False


def _batch(p: Primitive) -> Callable:
    kind = _KINDS[p]

    def rule(args, dims, *, config):
        a, b = args
        da, db = dims
        # Only the activation batched (x, or dy of the input gradient): one more batch.
        if kind != "tw" and db is None:  # the batch axis is 0 in every layout
            a = jnp.moveaxis(a, da, 0)
            y = p.bind(a.reshape(-1, *a.shape[2:]), b, config=config)
            return y.reshape(a.shape[0], -1, *y.shape[1:]), 0
        reference = functools.partial(_REFERENCES[kind], config)
        size = a.shape[da] if da is not None else b.shape[db]
        return jax.vmap(reference)(_at_front(a, da, size), _at_front(b, db, size)), 0

    return rule


for _p in _KINDS:
    batching.primitive_batchers[_p] = _batch(_p)

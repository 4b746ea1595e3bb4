"""Spatially sharded convolutions: halo exchange between neighbouring devices.

`jaxpad.conv` runs on sharded arrays as it is (under `jax.jit`, XLA's SPMD
partitioner splits it); for a batch-sharded input that is all data parallelism
needs. For an input split along a spatial axis (domain decomposition), the
partitioner moves several times more bytes for non-zero modes than for zeros,
because the padded axis no longer divides by the devices. `conv` here is built
on `jax.shard_map`: each device receives only the halo rows its window reads
from its two neighbours through `lax.ppermute` (a ring for 'circular'), fills
the halos at the outer edges of the domain locally in the padding mode, and
convolves its extended block with `jaxpad.conv`. Its forward pass moves the
bytes of XLA's zero-padded convolution in every mode; its backward pass returns
the halo cotangents (input rows and channels), where XLA fetches output-gradient
halos, which weigh less for strided convolutions or fewer output channels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jax.typing import ArrayLike

from ._conv import batched_input
from ._conv import conv as _conv
from ._pad import pad as _pad
from ._padding import (
    ModeLike,
    PaddingLike,
    Pair,
    canonical_ints,
    canonical_modes,
    effective_kernel_size,
    resolve_padding,
)

__all__ = ["conv"]


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Static configuration of one sharded convolution (hashable: a jit static argument)."""

    mesh: Any
    spec: PartitionSpec  # of x and of the output
    spatial: tuple[int, ...]  # array axes of the spatial dimensions
    names: tuple[str | None, ...]  # mesh axis of each spatial dimension, or None
    halos: tuple[Pair, ...]  # rows read beyond each device's block (negative: cropped)
    early_pads: tuple[Pair, ...]  # unsharded axes padded in order with the sharded ones
    local_pads: tuple[Pair, ...]  # what the block convolution still pads
    modes: tuple[str, ...]
    oversize: str
    conv: tuple[tuple[str, Any], ...]  # the remaining keywords of jaxpad.conv

    @property
    def mesh_axes(self) -> tuple[str, ...]:
        """Every mesh axis x is split over."""
        return tuple(a for a in self.spec if a is not None)


def _slab(x: jax.Array, axis: int, start: int, stop: int) -> jax.Array:
    return lax.slice_in_dim(x, start, stop, axis=axis)


def _halo(x, value, *, axis, lo, hi, mode, name, devices, oversize):
    """`x` extended by `lo` rows from the previous device and `hi` from the next.

    At the outer edges of the domain the rows are `jaxpad.pad`'s, computed
    from the device's own thin slab; 'circular' closes the ring instead.
    """
    size, ring = x.shape[axis], mode == "circular"
    index = lax.axis_index(name)

    def exchange(rows: jax.Array, shift: int, edge_device: int, edge: Any) -> jax.Array:
        perm = [(i, (i + shift) % devices) for i in range(devices)
                if ring or 0 <= i + shift < devices]
        received = lax.ppermute(rows, name, perm)
        if ring or mode == "zeros":  # ppermute already leaves zeros where nothing arrives
            return received
        return jnp.where(index == edge_device, edge(), received)

    def local(widths: Pair, start: int, stop: int, keep: slice) -> jax.Array:
        pad_width = [(0, 0)] * x.ndim
        pad_width[axis] = widths
        padded = _pad(_slab(x, axis, start, stop), pad_width, mode, value=value,
                      oversize=oversize)
        return lax.slice_in_dim(padded, keep.start, keep.stop, axis=axis)

    parts = []
    if lo > 0:
        parts.append(exchange(
            _slab(x, axis, size - lo, size), 1, 0,
            lambda: local((lo, 0), 0, min(lo + 1, size), slice(0, lo))))
    parts.append(_slab(x, axis, 0, size + min(hi, 0)))
    if hi > 0:
        parts.append(exchange(
            _slab(x, axis, 0, hi), -1, devices - 1,
            lambda: local((0, hi), max(size - hi - 1, 0), size, slice(-hi, None))))
    return jnp.concatenate(parts, axis) if len(parts) > 1 else parts[0]


@partial(jax.jit, static_argnames=("plan",))
def _sharded_conv(x, kernel, bias, value, *, plan: _Plan) -> jax.Array:
    def block(x, kernel, bias, value):
        for axis, name, (lo, hi), early, mode in zip(
            plan.spatial, plan.names, plan.halos, plan.early_pads, plan.modes
        ):
            if name is not None:
                x = _halo(x, value, axis=axis, lo=lo, hi=hi, mode=mode, name=name,
                          devices=plan.mesh.shape[name], oversize=plan.oversize)
            elif early != (0, 0):
                widths = [(0, 0)] * x.ndim
                widths[axis] = early
                x = _pad(x, widths, mode, value=value, oversize=plan.oversize)
        # Varying from here on, so the kernel gradient is reduced across devices once,
        # not once per use inside the frame decomposition.
        kernel = lax.pcast(kernel, plan.mesh_axes, to="varying")
        return _conv(x, kernel, bias, padding=plan.local_pads, padding_mode=plan.modes,
                     padding_value=value, oversize=plan.oversize, **dict(plan.conv))

    specs = (plan.spec, PartitionSpec(), PartitionSpec(), PartitionSpec())
    args = (x, kernel, bias, value)
    if plan.mesh.explicit_axes:  # explicit shardings must already match the specs
        args = tuple(a if a is None else jax.reshard(a, NamedSharding(plan.mesh, spec))
                     for a, spec in zip(args, specs))
    return jax.shard_map(block, mesh=plan.mesh, in_specs=specs, out_specs=plan.spec)(*args)


def _mesh_axis(entry: Any, mesh: Any, name: str) -> str | None:
    if entry is None:
        return None
    if not isinstance(entry, str):
        raise TypeError(f"`{name}` entries must be mesh axis names (str) or None; got {entry!r}.")
    if entry not in mesh.axis_names:
        raise ValueError(
            f"`{name}` names mesh axis {entry!r}, but the mesh has axes {tuple(mesh.axis_names)}."
        )
    return entry


def conv(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    spatial_axes: Sequence[str | None],
    mesh: Mesh | None = None,
    batch_axis: str | None = None,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "same",
    padding_mode: ModeLike = "zeros",
    padding_value: ArrayLike = 0.0,
    oversize: str = "error",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    precision: Any = None,
    preferred_element_type: Any = None,
    impl: str = "auto",
) -> jax.Array:
    """`jaxpad.conv` on an input split along spatial axes over a device mesh.

    Each device holds one block of `x` (`x.shape[axis] / devices` rows along a
    sharded axis). It sends the rows its neighbours' windows read to them with
    `lax.ppermute`, and receives theirs: `lo` rows from the previous device and
    `hi` from the next, with `(lo, hi)` the padding of that axis. At the two
    outer edges those rows are the padding itself, made locally ('reflect' on
    `1 2 | 3 4` over two devices by 1: the first device fills `2`, the last
    `3`), except 'circular', where the first and last devices exchange like
    any others (`4 | 1 2 | 3 4 | 1`). Then every device convolves its extended
    block with `jaxpad.conv`, which also pads the unsharded axes. The result
    equals `jaxpad.conv(x, kernel, ...)` on one device.

    Layouts and every other keyword are `jaxpad.conv`'s: `x` is `(N, *spatial, C)`
    (NHWC) with a `(*k, C // G, O)` (HWIO) kernel for `channels_last=True`, or
    `(N, C, *spatial)` (NCHW) with `(O, C // G, *k)` (OIHW).

    Args:
      x: the input, batched or not.
      kernel: the weights, replicated on every device.
      bias: optional, shape `(O,)`.
      spatial_axes: one entry per spatial axis: the name of the mesh axis that
        axis is split over, or None for an axis each device holds whole.
      mesh: the `jax.sharding.Mesh`; None takes the mesh of `jax.set_mesh`.
      batch_axis: the mesh axis the batch is split over (data parallelism on
        top of the domain decomposition), or None.
      stride: as in `jaxpad.conv`.
      padding: as in `jaxpad.conv`.
      padding_mode: as in `jaxpad.conv`.
      padding_value: as in `jaxpad.conv`.
      oversize: as in `jaxpad.conv`.
      dilation: as in `jaxpad.conv`.
      groups: as in `jaxpad.conv`.
      channels_last: as in `jaxpad.conv`.
      precision: as in `jaxpad.conv`.
      preferred_element_type: as in `jaxpad.conv`.
      impl: as in `jaxpad.conv`.

    Returns:
      The output of `jaxpad.conv`, sharded like `x` (split along the same axes).

    Raises:
      ValueError: everything `jaxpad.conv` refuses; no mesh; an unknown mesh
        axis; a sharded axis whose size does not divide by its devices, whose
        block does not divide by the stride, whose output is not
        `size / stride` (the 'same' geometry), or whose halo is wider than a
        block.
      TypeError: mesh axes that are not strings.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.sharded
      >>> mesh = jax.make_mesh((1,), ("rows",))
      >>> x = jnp.arange(1.0, 5.0).reshape(1, 4, 1)     # (N, W, C)
      >>> k = jnp.ones((3, 1, 1))                        # (W, I, O)
      >>> y = jaxpad.sharded.conv(x, k, spatial_axes=["rows"], mesh=mesh,
      ...                         padding_mode="circular")
      >>> y[0, :, 0].tolist()
      [7.0, 6.0, 9.0, 8.0]
    """
    x_b, kernel, batched, dn = batched_input(x, kernel, channels_last)
    nsp = kernel.ndim - 2
    keywords = dict(stride=stride, dilation=dilation, groups=groups,
                    channels_last=channels_last, precision=precision,
                    preferred_element_type=preferred_element_type, impl=impl)
    # Every check of jaxpad.conv, on the whole input, before anything runs.
    out = jax.eval_shape(
        partial(_conv, padding=padding, padding_mode=padding_mode, oversize=oversize,
                **keywords), x_b, kernel, bias, padding_value=padding_value)

    if mesh is None:
        mesh = jax.sharding.get_abstract_mesh()
        if mesh.empty:
            raise ValueError("`mesh` is None and no mesh is set: pass mesh= or use jax.set_mesh.")
    if isinstance(spatial_axes, str) or not isinstance(spatial_axes, Sequence):
        raise TypeError(
            f"`spatial_axes` must be a sequence with one mesh axis name or None per spatial "
            f"axis; got {spatial_axes!r}."
        )
    if len(spatial_axes) != nsp:
        raise ValueError(
            f"`spatial_axes` must have one entry per spatial axis ({nsp}); got {spatial_axes!r}."
        )
    names = tuple(_mesh_axis(a, mesh, "spatial_axes") for a in spatial_axes)
    batch_name = _mesh_axis(batch_axis, mesh, "batch_axis")

    spatial = dn.lhs_spec[2:]
    shape = tuple(x_b.shape[a] for a in spatial)
    ksize = tuple(kernel.shape[a] for a in dn.rhs_spec[2:])
    stride_t = canonical_ints(stride, nsp, "stride")
    dilation_t = canonical_ints(dilation, nsp, "dilation")
    modes = canonical_modes(padding_mode, nsp, "padding_mode")
    pads = resolve_padding(padding, shape, ksize, stride_t, dilation_t)
    # jaxpad pads axes in order, which shows only where a zeros and a 'constant' fill meet:
    # then unsharded axes before a sharded one are padded in turn, not by the block conv.
    padded = {m for m, p in zip(modes, pads) if p != (0, 0)}
    last_sharded = max((i for i, n in enumerate(names) if n is not None), default=-1)
    in_order = {"zeros", "constant"} <= padded
    halos, early_pads, local_pads = [], [], []
    for i, (name, size, k, s, d, (lo, hi), mode) in enumerate(
        zip(names, shape, ksize, stride_t, dilation_t, pads, modes)
    ):
        if name is None:
            early = in_order and i < last_sharded
            halos.append((0, 0))
            early_pads.append((lo, hi) if early else (0, 0))
            local_pads.append((0, 0) if early else (lo, hi))
            continue
        devices = mesh.shape[name]
        where = f"spatial axis {i} (size {size}, split over {devices} devices of {name!r})"
        if size % devices:
            raise ValueError(f"The size of {where} must divide by the number of devices.")
        block = size // devices
        if block % s:
            raise ValueError(f"The block of {block} of {where} must divide by the stride {s}.")
        if out.shape[spatial[i]] != size // s:
            raise ValueError(
                f"The output of {where} must be size / stride = {size // s} (the 'same' "
                f"geometry) to stay evenly split; padding {(lo, hi)} gives "
                f"{out.shape[spatial[i]]}."
            )
        # The last window of a block ends effective_kernel_size - stride - lo rows past it.
        need = effective_kernel_size(k, d) - s - lo
        widest = block - (mode == "reflect")
        if max(lo, need) > widest:
            raise ValueError(
                f"The halo {(lo, need)} of {where} is wider than one block allows in "
                f"{mode!r} mode ({widest} rows): use fewer devices on that axis."
            )
        halos.append((lo, need))
        early_pads.append((0, 0))
        local_pads.append((0, 0))

    in_spec = [None] * x_b.ndim
    in_spec[0] = batch_name
    for axis, name in zip(spatial, names):
        in_spec[axis] = name
    plan = _Plan(mesh=mesh, spec=PartitionSpec(*in_spec), spatial=spatial, names=names,
                 halos=tuple(halos), early_pads=tuple(early_pads),
                 local_pads=tuple(local_pads), modes=modes, oversize=oversize,
                 conv=tuple(sorted({**keywords, "stride": stride_t,
                                    "dilation": dilation_t}.items())))
    bias = None if bias is None else jnp.asarray(bias)
    # Explicit meshes need a mesh context; one can be entered outside transformations only.
    traced = any(isinstance(a, jax.core.Tracer) for a in (x_b, kernel, bias, padding_value))
    if jax.sharding.get_abstract_mesh().empty and not traced:
        with jax.set_mesh(mesh):
            y = _sharded_conv(x_b, kernel, bias, jnp.asarray(padding_value), plan=plan)
    else:
        y = _sharded_conv(x_b, kernel, bias, jnp.asarray(padding_value), plan=plan)
    return y if batched else y[0]

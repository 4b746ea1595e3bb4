"""Spatially sharded convolutions: halo exchange between neighbouring devices.

`jaxpad.conv` runs on sharded arrays as it is (under `jax.jit`, XLA's SPMD
partitioner splits it); for a batch-sharded input that is all data parallelism
needs. For an input split along a spatial axis (domain decomposition), the
partitioner moves several times more bytes for non-zero modes than for zeros,
because the padded axis no longer divides by the devices. `conv` here is built
on `jax.shard_map`: each device receives only the halo rows its window reads
from its two neighbours through `lax.ppermute` (a ring for 'circular'), fills
the halos at the outer edges of the domain locally in the padding mode, and
convolves its extended block with `jaxpad.conv`. Its backward pass receives the
neighbours' output-gradient rows (the transpose of a tangent that scatters
output rows, `_tangent_block`), as XLA's zero-padded convolution does: both
passes move the bytes of zero padding in every mode, strided and
channel-shrinking convolutions included. `jaxpad.conv` takes this route itself
for inputs split along spatial axes over explicit mesh axes (`explicit_plan`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
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
    conv_output_shape,
    effective_kernel_size,
    resolve_padding,
)
from ._sharding import vary_alike

__all__ = ["conv"]


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Static configuration of one sharded convolution (hashable: a jit static argument)."""

    mesh: Any
    spec: PartitionSpec  # of x and of the output
    spatial: tuple[int, ...]  # array axes of the spatial dimensions
    names: tuple[str | None, ...]  # mesh axis of each spatial dimension, or None
    halos: tuple[Pair, ...]  # rows read beyond each device's block (negative: cropped)
    scatters: tuple[Pair, ...]  # output rows of the neighbours that a block's rows reach
    strides: tuple[int, ...]
    early_pads: tuple[Pair, ...]  # unsharded axes padded in order with the sharded ones
    local_pads: tuple[Pair, ...]  # what the block convolution still pads
    modes: tuple[str, ...]
    oversize: str
    conv: tuple[tuple[str, Any], ...]  # the remaining keywords of jaxpad.conv

    @property
    def mesh_axes(self) -> tuple[str, ...]:
        """Every mesh axis x is split over."""
        return tuple(a for a in self.spec if a is not None)

    @property
    def channel(self) -> int:
        """The channel axis of x and of the output."""
        return -1 if dict(self.conv)["channels_last"] else 1


def _slab(x: jax.Array, axis: int, start: int, stop: int) -> jax.Array:
    return lax.slice_in_dim(x, start, stop, axis=axis)


def _edge(x, value, *, axis, rows, side, mode, oversize):
    """The `rows` rows that `jaxpad.pad` puts beyond the `side` ('lo' or 'hi') of `axis`,
    computed from the thin slab of `x` they copy."""
    size = x.shape[axis]
    pad_width = [(0, 0)] * x.ndim
    if side == "lo":
        pad_width[axis] = (rows, 0)
        slab, keep = _slab(x, axis, 0, min(rows + 1, size)), slice(0, rows)
    else:
        pad_width[axis] = (0, rows)
        slab, keep = _slab(x, axis, max(size - rows - 1, 0), size), slice(-rows, None)
    padded = _pad(slab, pad_width, mode, value=value, oversize=oversize)
    return lax.slice_in_dim(padded, keep.start, keep.stop, axis=axis)


def _halo(x, value, *, axis, lo, hi, mode, name, devices, oversize):
    """`x` extended by `lo` rows from the previous device and `hi` from the next.

    At the outer edges of the domain the rows are `jaxpad.pad`'s, computed
    from the device's own thin slab; 'circular' closes the ring instead.
    """
    size, ring = x.shape[axis], mode == "circular"
    index = lax.axis_index(name)
    edge = partial(_edge, x, value, axis=axis, mode=mode, oversize=oversize)

    def exchange(rows: jax.Array, shift: int, edge_device: int, side: str) -> jax.Array:
        received = lax.ppermute(rows, name, _shifts(shift, devices, ring))
        if ring or mode == "zeros":  # ppermute already leaves zeros where nothing arrives
            return received
        return jnp.where(index == edge_device, edge(rows=rows.shape[axis], side=side), received)

    parts = []
    if lo > 0:
        parts.append(exchange(_slab(x, axis, size - lo, size), 1, 0, "lo"))
    parts.append(_slab(x, axis, 0, size + min(hi, 0)))
    if hi > 0:
        parts.append(exchange(_slab(x, axis, 0, hi), -1, devices - 1, "hi"))
    return jnp.concatenate(parts, axis) if len(parts) > 1 else parts[0]


def _shifts(shift: int, devices: int, ring: bool) -> list[tuple[int, int]]:
    """`lax.ppermute` pairs sending every device's rows `shift` devices on (around a ring)."""
    return [(i, (i + shift) % devices) for i in range(devices)
            if ring or 0 <= i + shift < devices]


def _scattered(x, *, axis, lo, need, rows, stride, mode, name, devices, oversize):
    """`x` zero-padded to the windows of every output its rows reach, with the domain's
    padding at its outer edges (what the scatter form of `_tangent_block` convolves).

    `rows` is `(before, after)`: the output rows of the previous and of the next device
    that this block's rows reach.
    """
    size, (before, after) = x.shape[axis], rows
    low, high = before * stride + lo, after * stride + need
    config = [(0, 0, 0)] * x.ndim
    config[axis] = (low, high, 0)
    z = lax.pad(x, jnp.zeros((), x.dtype), config)
    if mode in ("zeros", "constant", "circular"):  # the tangent's fill is zero; rings scatter
        return z
    index = lax.axis_index(name)
    edge = partial(_edge, x, jnp.zeros((), x.dtype), axis=axis, mode=mode, oversize=oversize)
    for rows_, start, device, side in ((lo, low - lo, 0, "lo"),
                                       (need, low + size, devices - 1, "hi")):
        if rows_ > 0:
            part = jnp.where(index == device, edge(rows=rows_, side=side), 0)
            old = _slab(z, axis, start, start + rows_)
            z = lax.dynamic_update_slice_in_dim(z, old + part, start, axis)
    return z


def _scatter(y, *, axis, rows, mode, name, devices):
    """The block's own output rows of `y`, plus the rows its neighbours computed for it.

    `y` holds `before` rows of the previous device's outputs, the block's own, then
    `after` rows of the next device's: each is sent where it belongs and added.
    """
    before, after = rows
    ring = mode == "circular"
    own = _slab(y, axis, before, y.shape[axis] - after)
    n = own.shape[axis]
    if before:
        received = lax.ppermute(_slab(y, axis, 0, before), name, _shifts(-1, devices, ring))
        own = lax.dynamic_update_slice_in_dim(
            own, _slab(own, axis, n - before, n) + received, n - before, axis)
    if after:
        received = lax.ppermute(_slab(y, axis, y.shape[axis] - after, y.shape[axis]), name,
                                _shifts(1, devices, ring))
        own = lax.dynamic_update_slice_in_dim(own, _slab(own, axis, 0, after) + received, 0, axis)
    return own


def _conv_keywords(plan: _Plan) -> dict[str, Any]:
    return dict(plan.conv)


def _extended(plan: _Plan, x: jax.Array, value: jax.Array) -> jax.Array:
    """The device's block with the halos of the sharded axes (and early pads of the others)."""
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
    return x


def _local(plan: _Plan, x: jax.Array, kernel: jax.Array, value: jax.Array, pads=None
           ) -> jax.Array:
    """`jaxpad.conv` of the device's extended block, padding what is left to pad."""
    # Varying from here on, so the kernel gradient is reduced across devices once,
    # not once per use inside the frame decomposition.
    kernel = vary_alike(x, kernel)[1]
    return _conv(x, kernel, padding=plan.local_pads if pads is None else pads,
                 padding_mode=plan.modes, padding_value=value, oversize=plan.oversize,
                 **_conv_keywords(plan))


def _tangent_block(plan: _Plan, tx: jax.Array, kernel: jax.Array) -> jax.Array:
    """The convolution's linear part in `tx`, by scattering output rows to the neighbours.

    Each device convolves its own rows (padded at the domain's outer edges) into every
    output row they reach and sends the rows that belong to its neighbours. Its transpose,
    the input gradient, so receives the neighbours' output-gradient rows: what XLA's
    zero-padded convolution exchanges, fewer bytes than the input rows the forward
    exchange sends back when the convolution strides or narrows the channels.
    """
    pads = []
    for axis, name, (lo, need), rows, s, early, local, mode in zip(
        plan.spatial, plan.names, plan.halos, plan.scatters, plan.strides, plan.early_pads,
        plan.local_pads, plan.modes
    ):
        if name is None:  # the fill is zero: early and local pads are the same here
            pads.append(tuple(a + b for a, b in zip(early, local)))
            continue
        tx = _scattered(tx, axis=axis, lo=lo, need=need, rows=rows, stride=s, mode=mode,
                        name=name, devices=plan.mesh.shape[name], oversize=plan.oversize)
        pads.append((0, 0))
    y = _local(plan, tx, kernel, jnp.zeros((), tx.dtype), pads=tuple(pads))
    for axis, name, rows, mode in zip(plan.spatial, plan.names, plan.scatters, plan.modes):
        if name is not None:
            y = _scatter(y, axis=axis, rows=rows, mode=mode, name=name,
                         devices=plan.mesh.shape[name])
    return y


def _shard_map(plan: _Plan, f, args, in_specs, out_specs):
    if plan.mesh.explicit_axes:  # explicit shardings must already match the specs
        args = [jax.reshard(a, NamedSharding(plan.mesh, s)) for a, s in zip(args, in_specs)]
    return jax.shard_map(f, mesh=plan.mesh, in_specs=in_specs, out_specs=out_specs)(*args)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def _halo_conv(plan: _Plan, x: jax.Array, kernel: jax.Array, value: jax.Array) -> jax.Array:
    """The convolution of the sharded `x` by halo exchange (no bias).

    A custom JVP whose tangent in `x` is the scatter form (`_tangent_block`): the same
    linear map, whose transpose exchanges output-gradient rows. Every transformation
    applies; `jax.linear_transpose` transposes the halo exchange itself.
    """
    return _shard_map(plan, lambda x, k, v: _local(plan, _extended(plan, x, v), k, v),
                      (x, kernel, value), (plan.spec, PartitionSpec(), PartitionSpec()),
                      plan.spec)


@partial(_halo_conv.defjvp, symbolic_zeros=True)
def _halo_conv_jvp(plan, primals, tangents):
    perturbed = tuple(not isinstance(t, jax.custom_derivatives.SymbolicZero) for t in tangents)

    def block(x, kernel, value, *given):
        given = iter(given)
        tx, tk, tv = (next(given) if p else None for p in perturbed)
        ext = _extended(plan, x, value)
        y = _local(plan, ext, kernel, value)
        terms = []
        if tx is not None:
            terms.append(_tangent_block(plan, tx, kernel))
        if tk is not None:
            terms.append(_local(plan, ext, tk, value))
        if tv is not None:
            terms.append(jax.jvp(lambda v: _local(plan, _extended(plan, x, v), kernel, v),
                                 (value,), (tv,))[1])
        return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)

    specs = (plan.spec, PartitionSpec(), PartitionSpec())
    given = [t for p, t in zip(perturbed, tangents) if p]
    return _shard_map(plan, block, (*primals, *given),
                      specs + tuple(s for p, s in zip(perturbed, specs) if p),
                      (plan.spec, plan.spec))


@partial(jax.jit, static_argnames=("plan",))
def sharded_conv(x, kernel, bias, value, *, plan: _Plan) -> jax.Array:
    """The halo-exchange convolution of batched `x` as `plan` says, plus the bias."""
    y = _halo_conv(plan, x, kernel, value)
    if bias is None:
        return y
    shape = [1] * y.ndim
    shape[plan.channel] = -1
    return y + bias.astype(y.dtype).reshape(shape)


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


def make_plan(mesh, names, batch_name, *, dn, ndim, shape, ksize, stride, dilation, modes, pads,
              out_shape, oversize, keywords) -> _Plan:
    """The halo exchange of one convolution; ValueError where it cannot run.

    `names` holds the mesh axis (or None) of each spatial axis, `batch_name` that of
    the batch; the other arguments are `jaxpad.conv`'s, canonical.
    """
    spatial = dn.lhs_spec[2:]
    # jaxpad pads axes in order, which shows only where a zeros and a 'constant' fill meet:
    # then unsharded axes before a sharded one are padded in turn, not by the block conv.
    padded = {m for m, p in zip(modes, pads) if p != (0, 0)}
    last_sharded = max((i for i, n in enumerate(names) if n is not None), default=-1)
    in_order = {"zeros", "constant"} <= padded
    halos, scatters, early_pads, local_pads = [], [], [], []
    for i, (name, size, k, s, d, (lo, hi), mode, out) in enumerate(
        zip(names, shape, ksize, stride, dilation, pads, modes, out_shape)
    ):
        if name is None:
            early = in_order and i < last_sharded
            halos.append((0, 0))
            scatters.append((0, 0))
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
        if out != size // s:
            raise ValueError(
                f"The output of {where} must be size / stride = {size // s} (the 'same' "
                f"geometry) to stay evenly split; padding {(lo, hi)} gives {out}."
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
        # The block's rows reach the last ceil(need / s) outputs of the previous device
        # and the first ceil(lo / s) of the next.
        scatters.append((-(-max(need, 0) // s), -(-max(lo, 0) // s)))
        early_pads.append((0, 0))
        local_pads.append((0, 0))

    spec = [None] * ndim
    spec[dn.lhs_spec[0]] = batch_name
    for axis, name in zip(spatial, names):
        spec[axis] = name
    return _Plan(mesh=mesh, spec=PartitionSpec(*spec), spatial=spatial, names=tuple(names),
                 halos=tuple(halos), scatters=tuple(scatters), strides=tuple(stride),
                 early_pads=tuple(early_pads), local_pads=tuple(local_pads), modes=modes,
                 oversize=oversize, conv=tuple(sorted(keywords.items())))


_COPYING = ("reflect", "replicate", "circular", "symmetric")


def _explicit(entry: Any, mesh: Any) -> bool:
    """Whether a spec entry names explicit mesh axes only (None: not sharded)."""
    names = entry if isinstance(entry, tuple) else (entry,)
    return all(mesh._name_to_type[n] == AxisType.Explicit for n in names if n is not None)


def explicit_plan(x, kernel, *, dn, stride, dilation, pads, modes, oversize, keywords
                  ) -> _Plan | None:
    """The halo exchange for a batched `x` split along spatial axes over explicit mesh axes.

    None unless a spatial axis split over one explicit mesh axis pads in a copying mode
    (zero padding is XLA's own halo exchange), the channels and the kernel are not split,
    and the exchange applies (see `make_plan`).
    """
    sharding = jax.typeof(x).sharding
    spec = getattr(sharding, "spec", None)
    if spec is None or any(e is not None for e in getattr(jax.typeof(kernel).sharding, "spec",
                                                          ())):
        return None
    mesh = sharding.mesh
    entries = tuple(spec) + (None,) * (x.ndim - len(spec))
    names = [entries[a] for a in dn.lhs_spec[2:]]
    if (not all(_explicit(e, mesh) for e in entries) or entries[dn.lhs_spec[1]] is not None
            or any(isinstance(n, tuple) for n in names)
            or not any(n is not None and m in _COPYING and p != (0, 0)
                       for n, m, p in zip(names, modes, pads))):
        return None
    shape = tuple(x.shape[a] for a in dn.lhs_spec[2:])
    ksize = tuple(kernel.shape[a] for a in dn.rhs_spec[2:])
    try:
        return make_plan(mesh, names, entries[dn.lhs_spec[0]], dn=dn, ndim=x.ndim, shape=shape,
                         ksize=ksize, stride=stride, dilation=dilation, modes=modes, pads=pads,
                         out_shape=conv_output_shape(shape, ksize, stride, pads, dilation),
                         oversize=oversize, keywords=keywords)
    except ValueError:  # XLA's partitioning, as for any other layout
        return None


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
    equals `jaxpad.conv(x, kernel, ...)` on one device. The backward pass sends
    output-gradient rows instead: each device receives those of the outputs its
    rows reach from its neighbours, as XLA's zero-padded convolution does.
    Every JAX transformation applies.

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
    plan = make_plan(
        mesh, names, batch_name, dn=dn, ndim=x_b.ndim, shape=shape, ksize=ksize,
        stride=stride_t, dilation=dilation_t, modes=canonical_modes(padding_mode, nsp,
                                                                    "padding_mode"),
        pads=resolve_padding(padding, shape, ksize, stride_t, dilation_t),
        out_shape=tuple(out.shape[a] for a in spatial), oversize=oversize,
        keywords={**keywords, "stride": stride_t, "dilation": dilation_t})
    bias = None if bias is None else jnp.asarray(bias)
    # Explicit meshes need a mesh context; one can be entered outside transformations only.
    traced = any(isinstance(a, jax.core.Tracer) for a in (x_b, kernel, bias, padding_value))
    if jax.sharding.get_abstract_mesh().empty and not traced:
        with jax.set_mesh(mesh):
            y = sharded_conv(x_b, kernel, bias, jnp.asarray(padding_value), plan=plan)
    else:
        y = sharded_conv(x_b, kernel, bias, jnp.asarray(padding_value), plan=plan)
    return y if batched else y[0]

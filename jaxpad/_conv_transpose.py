"""`conv_transpose`: transposed convolutions with PyTorch's and Keras's geometry, any mode.

The transposed convolution is computed by stride-phase decomposition: output
element `p` of an axis with stride `s` only meets the kernel taps `t` with
`t * dilation = p + lo (mod s)`, so each of the `s` output phases is a plain
stride-1 convolution of the input with a sub-kernel. That does exactly the
useful multiply-adds (an lhs-dilated convolution multiplies `s - 1` zeros for
every input element), and every convolution in the forward and backward pass
is stride 1 with lax padding 0: shifts are explicit slices and pads.

In 2-D and 3-D, phase convolutions of at most `_PATCH_TAPS` taps (and no groups)
take their derivatives as products of the input's patches (`_small_valid_conv`):
faster there than XLA:CPU's kernel-gradient convolution, at the price of patch
buffers (one copy of the phase input per tap) in the backward pass.

Phases that differ in their taps (3x4 stride 2, 1-D k3 stride 2) become
equal with the kernel padded by zero taps to a multiple of the stride, up to 4/3
times the taps (`_uniform_zero_taps`): then they are one convolution whose output
channels hold the phases side by side, interleaved by one transpose (in 1-D
channels-last a reshape). Zero taps before the kernel align the crop with the stride
where they can, so that no crop follows the interleave.

Where the phases differ in their taps at stride 2 and kernels of at most 3 (3x3
stride 2, the usual decoder upsampling), the forward pass is instead one matrix
product of the input with all taps side by side, whose per-tap products are added
at their shifted places (`_overlap_add`): XLA:CPU runs those 1- to 4-tap phase
convolutions at about 60% of the throughput of one wide product. Differentiated
(training), the phase convolutions compute the output.

In 2-D, phases that stay unequal (3x3 and 5x5 stride 2) are, where that measured
faster (`_route`), one primitive, `_unequal_phases_p`, whose derivatives are XLA's
of the strided convolution it transposes: one pass over the cotangent each for the
input and the kernel gradient instead of one or more per phase. Elsewhere the
phases differentiate as they are.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jax.typing import ArrayLike

from ._conv import add_bias, batched_input, channels_last_kernel, dimension_numbers, shape_text
from ._pad import check_widths, pad_validated
from ._padding import (
    ModeLike,
    PaddingLike,
    as_int,
    canonical_ints,
    canonical_transpose_modes,
    conv_transpose_output_shape,
    effective_kernel_size,
    transpose_padding,
)
from ._sharding import auto_partitioned, vary_alike

# Phase convolutions with at most this many taps differentiate through patch products.
_PATCH_TAPS = 8


def _valid_conv(x, kernel, dilation, dn, precision, preferred_element_type, groups=1):
    """The stride-1 unpadded convolution of `x` with a `(*k, C // groups, O)` kernel."""
    nsp = len(dilation)
    return lax.conv_general_dilated(
        x, kernel, (1,) * nsp, ((0, 0),) * nsp, rhs_dilation=dilation, dimension_numbers=dn,
        feature_group_count=groups, precision=precision,
        preferred_element_type=preferred_element_type,
    )


def _patch_product(x, kernel, dilation, dn, precision, preferred_element_type):
    """`_valid_conv` as one matrix product of the input's patches (im2col)."""
    nsp = len(dilation)
    spatial, channel = dn.lhs_spec[2:], dn.lhs_spec[1]
    k = kernel.shape[:nsp]
    out = [x.shape[s] - d * (kk - 1) for s, d, kk in zip(spatial, dilation, k)]
    patches = []
    for taps in itertools.product(*map(range, k)):
        p = x
        for s, t, d, o in zip(spatial, taps, dilation, out):
            p = lax.slice_in_dim(p, t * d, t * d + o, axis=s)
        patches.append(p)
    p = patches[0] if len(patches) == 1 else lax.concatenate(patches, channel)
    y = lax.dot_general(p, kernel.reshape(-1, kernel.shape[-1]), (((channel,), (0,)), ((), ())),
                        precision=precision, preferred_element_type=preferred_element_type)
    return jnp.moveaxis(y, -1, channel)


@partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _small_valid_conv(x, kernel, dilation, dn, precision, preferred_element_type):
    """`_valid_conv` (2-D or 3-D, no groups) whose derivatives are patch products.

    XLA:CPU's kernel-gradient convolution for a small kernel between many channels
    is slower than the same multiply-adds as one matrix product (`python -m
    benchmarks.routes`). So the forward stays a convolution and the tangent, the
    same linear map, is patch products, which reverse mode transposes into products
    too. A 1x1 (or 1x1x1) kernel is a product in the forward pass as well: XLA:CPU
    runs a 2-D 1x1 convolution at about half the speed of the same dot (in 3-D the
    two moved between 0.7x and 1.6x of each other from run to run).
    """
    if math.prod(kernel.shape[:len(dilation)]) == 1:
        return _patch_product(x, kernel, dilation, dn, precision, preferred_element_type)
    return _valid_conv(x, kernel, dilation, dn, precision, preferred_element_type)


@partial(_small_valid_conv.defjvp, symbolic_zeros=True)
def _small_valid_conv_jvp(dilation, dn, precision, preferred_element_type, primals, tangents):
    x, kernel = primals
    tx, tkernel = tangents
    static = (dilation, dn, precision, preferred_element_type)
    y = _small_valid_conv(x, kernel, *static)
    zero = jax.custom_derivatives.SymbolicZero
    terms = []
    if not isinstance(tx, zero):
        terms.append(_patch_product(tx, kernel, *static))
    if not isinstance(tkernel, zero):
        terms.append(_patch_product(x, tkernel, *static))
    return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


def _patch_derivatives(nsp: int, groups: int, taps: int) -> bool:
    """Whether a phase convolution runs as `_small_valid_conv` (patch-product derivatives).

    Not in 1-D, where XLA:CPU's kernel-gradient convolution is the faster one.
    """
    return groups == 1 and nsp >= 2 and taps <= _PATCH_TAPS


def _window(x: jax.Array, axis: int, start: int, length: int) -> jax.Array:
    """Elements `start .. start + length` of `axis`, zeros outside `x`."""
    size = x.shape[axis]
    lo, hi = max(start, 0), min(start + length, size)
    if hi <= lo:
        shape = list(x.shape)
        shape[axis] = length
        return jnp.zeros(shape, x.dtype)
    x = lax.slice_in_dim(x, lo, hi, axis=axis)
    config = [(0, 0, 0)] * x.ndim
    config[axis] = (lo - start, start + length - hi, 0)
    return lax.pad(x, jnp.zeros((), x.dtype), config)


def _phases(size: int, taps: int, stride: int, dilation: int, lo: int, out: int):
    """Per output phase `rho`: None (no taps or no outputs) or (taps, start, length, dilation).

    Output `a * stride + rho` (full index `o = a * s + rho + lo`) sums
    `x[(o - t * dilation) / s] * w[t]` over the taps with `t * dilation = o (mod s)`;
    those taps are evenly spaced, so with the sub-kernel flipped this is a
    stride-1 correlation of `x[start:start + length]` with dilation `d / gcd(d, s)`.
    """
    del size
    s, d = stride, dilation
    blocks = -(-out // s)
    step = s // math.gcd(d, s)
    sub_dilation = d // math.gcd(d, s)
    result = []
    for rho in range(s):
        n = max(0, -(-(out - rho) // s))
        r, c = (rho + lo) % s, (rho + lo) // s
        first = next((t for t in range(taps) if (t * d) % s == r), None)
        if first is None or n == 0:
            result.append(None)
            continue
        sel = tuple(range(first, taps, step))
        m0 = (first * d - r) // s
        start = c - m0 - (len(sel) - 1) * sub_dilation
        # Every phase computes `blocks` outputs (the last may fall past `out`, cropped later).
        result.append((sel, start, blocks + (len(sel) - 1) * sub_dilation, sub_dilation))
    return result


def _plans(x, ksize, lo, out, stride, dilation, spatial):
    """Per spatial axis, `_phases` of every output phase."""
    return [_phases(x.shape[spatial[a]], ksize[a], stride[a], dilation[a], lo[a], out[a])
            for a in range(len(stride))]


def _uniform(plans) -> bool:
    """Whether on every axis all phases have as many taps at one dilation."""
    return all(None not in p and len({(len(q[0]), q[3]) for q in p}) == 1 for p in plans)


def _split_axis(spatial_axis: int, channel: int, nsp: int) -> int:
    """Where a spatial axis is once the channel axis is split into (G, *stride, O // G)."""
    return spatial_axis + (nsp + 1 if spatial_axis > channel else 0)


def _depth_to_space(y: jax.Array, channel: int, spatial, stride) -> jax.Array:
    """Blocks whose channel axis is split into (G, *stride, O // G) -> the output.

    One transpose puts every spatial axis before its phase axis and the groups
    beside their channels (two transposes with a reshape between cost XLA:CPU a
    copy each), then a reshape merges them.
    """
    nsp = len(stride)
    order, merged = [], []
    for b in range(y.ndim - nsp - 1):  # the axes of the blocks before the split
        if b == channel:
            order += [channel, channel + nsp + 1]
            merged.append(y.shape[channel] * y.shape[channel + nsp + 1])
        elif b in spatial:
            a = spatial.index(b)
            order += [_split_axis(b, channel, nsp), channel + 1 + a]
            merged.append(y.shape[_split_axis(b, channel, nsp)] * stride[a])
        else:  # the batch, before the channel in both layouts
            order.append(b)
            merged.append(y.shape[b])
    return jnp.transpose(y, order).reshape(merged)


def _stack_phases(blocks, channel: int, stride) -> jax.Array:
    """Phase blocks, in `itertools.product` order, split as `_depth_to_space` takes them."""
    y = jnp.stack(blocks, axis=channel)
    return y.reshape(*y.shape[:channel], 1, *stride, *y.shape[channel + 1:])


def _crop(y: jax.Array, spatial, start, out) -> jax.Array:
    index = [slice(None)] * y.ndim
    for a, (k, o) in enumerate(zip(start, out)):
        index[spatial[a]] = slice(k, k + o)
    return y[tuple(index)]


def _phase_convs(x, kernel, lo, out, *, stride, dilation, groups, dn, precision,
                 preferred_element_type):
    """Zero-mode transposed convolution of batched `x` as one convolution per phase.

    `kernel` is `(*k, C // G, O)`, the forward kernel from the output's O
    channels' point of view, flipped per phase below.
    """
    nsp = len(stride)
    spatial = dn.lhs_spec[2:]
    ksize = kernel.shape[:nsp]

    def phase_plans(lo, out):
        return _plans(x, ksize, lo, out, stride, dilation, spatial)

    plans = phase_plans(lo, out)
    combos = list(itertools.product(*(range(s) for s in stride)))
    # When on every axis all phases have as many taps (kernel a multiple of the stride,
    # e.g. DCGAN's 4x4 stride 2, U-Net's 2x2), the phases are one convolution with the
    # sub-kernels side by side (O * prod(stride) output channels) over the union of
    # their windows; each phase then takes its blocks at its own offset (depth-to-space).
    uniform = len(combos) > 1 and _uniform(plans)
    # Blocks counted from a multiple of the stride of the full output start at one
    # offset on every phase when the dilation is 1, so the depth-to-space needs no
    # per-phase slices: compute from there and crop `skip` after it.
    skip = [lo_ % s if uniform else 0 for lo_, s in zip(lo, stride)]
    if any(skip):
        plans = phase_plans([lo_ - k for lo_, k in zip(lo, skip)],
                            [o + k for o, k in zip(out, skip)])
    blocks_per_axis = [-(-(o + k) // s) for o, k, s in zip(out, skip, stride)]
    out_channels = kernel.shape[-1]
    dtype = preferred_element_type or jnp.result_type(x, kernel)
    internal = lax.ConvDimensionNumbers(
        lhs_spec=dn.lhs_spec, rhs_spec=dimension_numbers(nsp, True).rhs_spec,
        out_spec=dn.out_spec,
    )
    channel = dn.out_spec[1]
    block_shape = list(x.shape)
    block_shape[channel] = out_channels
    for a in range(nsp):
        block_shape[spatial[a]] = blocks_per_axis[a]

    def sub_kernel(plan):
        ks = kernel
        for a, (sel, _, _, _) in enumerate(plan):
            ks = lax.slice_in_dim(ks, sel[0], sel[-1] + 1, sel[1] - sel[0] if len(sel) > 1
                                  else 1, axis=a)
        return lax.rev(ks, tuple(range(nsp)))

    def windows(plan):
        xs = x
        for a, (_, start, length, _) in enumerate(plan):
            xs = _window(xs, spatial[a], start, length)
        return xs

    def run(xs, ks, plan):
        small = _patch_derivatives(nsp, groups, math.prod(len(p[0]) for p in plan))
        conv = _small_valid_conv if small else partial(_valid_conv, groups=groups)
        return conv(xs, ks, tuple(p[3] for p in plan), internal, precision,
                    preferred_element_type).astype(dtype)

    if uniform:
        first = [min(p[1] for p in plans[a]) for a in range(nsp)]
        shift = [max(p[1] for p in plans[a]) - first[a] for a in range(nsp)]
        union = [(plan[0][0], f, plan[0][2] + sh, plan[0][3])
                 for plan, f, sh in zip(plans, first, shift)]
        ks = jnp.stack([sub_kernel([plans[a][r] for a, r in enumerate(c)]) for c in combos],
                       axis=nsp + 1)  # (*J, C // G, P, O)
        ks = ks.reshape(*ks.shape[:nsp + 2], groups, out_channels // groups)
        ks = jnp.swapaxes(ks, nsp + 1, nsp + 2)  # (*J, C // G, G, P, O // G)
        ks = ks.reshape(*ks.shape[:nsp + 1], -1)
        y = run(windows(union), ks, union)
        shape = list(y.shape)
        shape[channel:channel + 1] = [groups, *stride, out_channels // groups]
        y = y.reshape(shape)  # the phase axes of (G, *stride, O // G) in the channel's place

        for a in range(nsp):
            if not shift[a]:
                continue
            # The phases reading at one offset are a contiguous run of that axis's
            # phases: one slice per run, so the transpose is no wider than y.
            offsets = [p[1] - first[a] for p in plans[a]]
            parts = []
            for offset, run_ in itertools.groupby(range(stride[a]), key=offsets.__getitem__):
                run_ = list(run_)
                part = lax.slice_in_dim(y, run_[0], run_[-1] + 1, axis=channel + 1 + a)
                parts.append(lax.slice_in_dim(part, offset, offset + blocks_per_axis[a],
                                              axis=_split_axis(spatial[a], channel, nsp)))
            y = parts[0] if len(parts) == 1 else lax.concatenate(parts, channel + 1 + a)
        return _crop(_depth_to_space(y, channel, spatial, stride), spatial, skip, out)
    blocks = []
    for combo in combos:
        plan = [plans[a][rho] for a, rho in enumerate(combo)]
        if any(p is None for p in plan):
            blocks.append(jnp.zeros(block_shape, dtype))
        else:
            blocks.append(run(windows(plan), sub_kernel(plan), plan))
    y = blocks[0] if len(combos) == 1 else _depth_to_space(
        _stack_phases(blocks, channel, stride), channel, spatial, stride)
    return _crop(y, spatial, skip, out)


# Overlap-add against the phase convolutions, forward (`python -m benchmarks.routes`,
# XLA:CPU, 2 cores): 0.3-0.97x for 3x3, 1x3 and 3x3x3 kernels at stride 2 (56x56 32->32:
# 0.8-1.03x), 1.7-2.0x for 7x7 and 1.25-1.55x at stride 3; 1-D and 5x5 moved from run to
# run (0.9-1.4x, 0.85-1.2x). 3x4 measured 0.6-0.7x, on one shape only: not taken yet.
def _overlap_adds(ksize, stride, dilation, groups, plans) -> bool:
    """Whether `_transpose_zeros` takes the overlap-add route: 3x3 stride 2 and smaller."""
    return (groups == 1 and len(stride) >= 2 and not _uniform(plans)
            and all(s == 2 and effective_kernel_size(k, d) <= 3
                    for k, s, d in zip(ksize, stride, dilation)))


@partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5, 6, 7, 8))
def _overlap_add(x, kernel, lo, out, stride, dilation, dn, precision, preferred_element_type):
    """`_phase_convs` (no groups) as one product with every tap, added per phase.

    The product `P = x @ kernel` holds, for each input element, its contribution
    through every tap; output phase `rho` adds, per tap of the phase, `P` of that
    tap at the phase's shifted window. Differentiated, it is the phase convolutions.
    """
    nsp = len(stride)
    spatial = dn.lhs_spec[2:]
    ksize, out_channels = kernel.shape[:nsp], kernel.shape[-1]
    # (N, *S, *k, O) in either layout: dot_general keeps x's other axes in order.
    p = lax.dot_general(x, jnp.moveaxis(kernel, nsp, 0).reshape(kernel.shape[nsp], -1),
                        (((dn.lhs_spec[1],), (0,)), ((), ())), precision=precision,
                        preferred_element_type=preferred_element_type)
    p = p.reshape(*p.shape[:-1], *ksize, out_channels)
    plans = _plans(x, ksize, lo, out, stride, dilation, spatial)
    blocks_per_axis = [-(-o // s) for o, s in zip(out, stride)]
    block_shape = (x.shape[0], *blocks_per_axis, out_channels)
    blocks = []
    for combo in itertools.product(*(range(s) for s in stride)):
        plan = [plans[a][rho] for a, rho in enumerate(combo)]
        if any(q is None for q in plan):
            blocks.append(jnp.zeros(block_shape, p.dtype))
            continue
        total = []
        # The phase's flipped sub-kernel: its m-th tap reads the window shifted by m.
        for ms in itertools.product(*(range(len(q[0])) for q in plan)):
            taps = tuple(q[0][len(q[0]) - 1 - m] for q, m in zip(plan, ms))
            term = p[(slice(None),) * (1 + nsp) + taps]
            for a, (q, m) in enumerate(zip(plan, ms)):
                term = _window(term, 1 + a, q[1] + m * q[3], blocks_per_axis[a])
            total.append(term)
        blocks.append(sum(total[1:], total[0]))
    y = _depth_to_space(_stack_phases(blocks, nsp + 1, stride), nsp + 1,
                        tuple(range(1, nsp + 1)), stride)
    y = _crop(y, tuple(range(1, nsp + 1)), (0,) * nsp, out)
    return y if dn.out_spec[1] == nsp + 1 else jnp.moveaxis(y, -1, 1)


@partial(_overlap_add.defjvp, symbolic_zeros=True)
def _overlap_add_jvp(lo, out, stride, dilation, dn, precision, preferred_element_type,
                     primals, tangents):
    perturbed = [not isinstance(t, jax.custom_derivatives.SymbolicZero) for t in tangents]
    if not any(perturbed):
        y = _overlap_add(*primals, lo, out, stride, dilation, dn, precision,
                         preferred_element_type)
        return y, jnp.zeros_like(y)

    def phases(*args):  # of the perturbed arguments, the others held
        given = iter(args)
        x, kernel = (next(given) if p else v for p, v in zip(perturbed, primals))
        return _phase_convs(x, kernel, lo, out, stride=stride, dilation=dilation, groups=1,
                            dn=dn, precision=precision,
                            preferred_element_type=preferred_element_type)

    # Differentiated, the primal is the phases' too: in a training step XLA:CPU's
    # concurrent schedule ran the product beside the backward, up to 1.5x slower.
    return jax.jvp(phases, [v for p, v in zip(perturbed, primals) if p],
                   [t for p, t in zip(perturbed, tangents) if p])


# Zero taps that make the phases uniform, against the phase convolutions, forward
# (`python -m benchmarks.routes`, XLA:CPU, 2 cores, three runs): 0.58-0.78x for 3x4 and
# 7x7 stride 2 (4/3 and 64/49 the taps), 0.35-0.45x for 3x4x4; 5x4 stride 2 (6/5)
# measured 1.10-1.19x and is taken all the same (no rule of taps or shape told it
# apart). Not taken: 5x5 (36/25) at stride 3 measured 0.71-0.80x, at stride 2
# 0.86-1.03x forward but its training step was 0.98-1.13x of the strided conv's, against
# 0.80-0.86x with the phases (`benchmarks.transpose --extra`). In 1-D, with the zero taps
# that align the crop (`_zero_tap_widths`): 0.97-0.99x for k3 stride 2, the common 1-D
# upsampling, 0.87-0.93x for k7 (three runs on a later machine, runs 10-12 of
# `benchmarks/results/cpu-2026-12-03-routes.md`); with them all after the kernel, k3 had measured
# 1.08-1.11x.
_MAX_ZERO_TAPS = Fraction(4, 3)


def _zero_tap_widths(ksize, lo, stride, dilation) -> tuple[tuple[int, int], ...]:
    """Zero taps (before, after) each kernel axis that round it up to a multiple of the stride.

    Before it, the fewest that put the crop `lo + before * dilation` on a multiple of
    the stride, where some do: then the phases' one convolution starts at the output's
    first element and needs no crop after the depth-to-space, which in 1-D
    channels-last is a copy of the output.
    """
    widths = []
    for k, start, s, d in zip(ksize, lo, stride, dilation):
        total = -(-k // s) * s - k
        before = next((z for z in range(total + 1) if (start + z * d) % s == 0), 0)
        widths.append((before, total - before))
    return tuple(widths)


def _shifted_crop(lo, widths, dilation) -> tuple[int, ...]:
    """The crop of the same output once zero taps `widths` pad the kernel.

    Zero taps add nothing to any output; those before the kernel shift its full
    output by their span.
    """
    return tuple(start + before * d for start, (before, _), d in zip(lo, widths, dilation))


def _zero_taps(kernel: jax.Array, widths) -> jax.Array:
    """A `(*k, C // G, O)` kernel padded with `widths` zero taps (before, after) per axis."""
    return jnp.pad(kernel, [*widths, (0, 0), (0, 0)])


def _uniform_zero_taps(ksize, lo, stride, dilation,
                       plans_of) -> tuple[tuple[int, int], ...] | None:
    """`_zero_tap_widths` where they make unequal phases uniform, else None.

    Phases of unequal taps are separate convolutions plus an interleave; with the
    kernel padded to a multiple of the stride they are one convolution whose output
    is the interleave (`_phase_convs`'s uniform route). Taken when the padded kernel
    has at most `_MAX_ZERO_TAPS` times the taps (3x4 stride 2: 4/3). `plans_of` maps a
    kernel size and crop to their `_plans`.
    """
    if _uniform(plans_of(ksize, lo)):
        return None
    widths = _zero_tap_widths(ksize, lo, stride, dilation)
    padded = tuple(k + before + after for k, (before, after) in zip(ksize, widths))
    if (math.prod(padded) > _MAX_ZERO_TAPS * math.prod(ksize)
            or not _uniform(plans_of(padded, _shifted_crop(lo, widths, dilation)))):
        return None  # too many zeros, or phases left without taps (dilation sharing a factor)
    return widths


def _transpose_zeros(x, kernel, lo, out, *, stride, dilation, groups, dn, precision,
                     preferred_element_type):
    """Zero-mode transposed convolution of batched `x`, cropping `lo` and keeping `out`.

    `kernel` is `(*k, O // G, C)`, the kernel of the forward convolution from O to C
    channels that this one transposes.
    """
    static = dict(stride=stride, dilation=dilation, groups=groups, dn=dn, precision=precision,
                  preferred_element_type=preferred_element_type)
    route = _route(x, kernel, lo, out, stride, dilation, groups, dn)
    if route.strided_derivatives:
        return _unequal_phases_p.bind(*vary_alike(x, kernel), lo=lo, out=out,
                                      overlap_add=route.overlap_add, differentiated=False,
                                      **static)
    return _phase_route(x, kernel, lo, out, route, **static)


class _Route(NamedTuple):
    overlap_add: bool  # `_overlap_add` (undifferentiated where `strided_derivatives`)
    zero_taps: tuple[tuple[int, int], ...] | None  # `_uniform_zero_taps`
    strided_derivatives: bool  # `_unequal_phases_p`


def _route(x, kernel, lo, out, stride, dilation, groups, dn) -> _Route:
    """How `_transpose_zeros` computes with a forward `(*k, O // G, C)` kernel.

    The overlap-add (`_overlap_adds`), else zero taps (`_uniform_zero_taps`), else
    the phases as they are. 2-D phases that stay unequal take the strided
    convolution's derivatives (`_unequal_phases_p`) where the phases' own measured
    slower: at most `_STRIDED_DERIVATIVES_CHANNELS` output channels per group,
    where the patch products are matrix products of that width, or stride 2 with a
    phase of more than `_PATCH_TAPS` taps, which differentiates by XLA's
    convolutions one phase at a time (5x5 stride 2).
    """
    nsp = len(stride)
    ksize = kernel.shape[:nsp]

    def plans_of(ksize, lo):
        return _plans(x, ksize, lo, out, stride, dilation, dn.lhs_spec[2:])

    plans = plans_of(ksize, lo)
    overlap_add = _overlap_adds(ksize, stride, dilation, groups, plans)
    widths = None if overlap_add else _uniform_zero_taps(ksize, lo, stride, dilation, plans_of)
    unequal = overlap_add or (widths is None and not _uniform(plans))
    taps = math.prod(max((len(q[0]) for q in p if q is not None), default=0) for p in plans)
    strided = unequal and nsp == 2 and (
        kernel.shape[nsp] <= _STRIDED_DERIVATIVES_CHANNELS
        or (taps > _PATCH_TAPS and all(s == 2 for s in stride)))
    return _Route(overlap_add, widths, strided)


def _phase_route(x, kernel, lo, out, route, *, stride, dilation, groups, dn, precision,
                 preferred_element_type):
    """`_transpose_zeros` by the phases (or the overlap-add), differentiated as they are."""
    kernel = _phase_kernel(kernel, groups)
    if route.overlap_add:
        return _overlap_add(x, kernel, lo, out, stride, dilation, dn, precision,
                            preferred_element_type)
    if route.zero_taps is not None:
        kernel, lo = _zero_taps(kernel, route.zero_taps), _shifted_crop(lo, route.zero_taps,
                                                                        dilation)
    return _phase_convs(x, kernel, lo, out, stride=stride, dilation=dilation, groups=groups,
                        dn=dn, precision=precision, preferred_element_type=preferred_element_type)


def _phase_kernel(kernel: jax.Array, groups: int) -> jax.Array:
    """A forward `(*k, O // G, C)` kernel as `(*k, C // G, O)`, the phases' kernel.

    It is the grouped forward kernel of each phase convolution, from the output's
    O channels' point of view (flipped per phase by `_phase_convs`).
    """
    nsp = kernel.ndim - 2
    ksize, og, c = kernel.shape[:nsp], kernel.shape[nsp], kernel.shape[nsp + 1]
    kernel = kernel.reshape(*ksize, og, groups, c // groups)
    return jnp.swapaxes(kernel, nsp, nsp + 2).reshape(*ksize, c // groups, groups * og)


# 2-D phases that stay unequal (3x3 and 5x5 stride 2: no zero taps make them one
# convolution) can be `_unequal_phases_p`: a primitive computed by the phase
# convolutions (undifferentiated, by the overlap-add where it applies) whose derivatives
# are XLA's of the strided convolution it transposes, its input gradient that
# convolution and its kernel gradient that convolution's, one pass each over the
# cotangent where the phases' derivatives are one per phase. A primitive, not a custom
# VJP, so that forward mode stays the phases' convolutions. `_route` takes it where the
# training steps of `python -m benchmarks.routes --choice derivatives` (XLA:CPU, 2 cores,
# runs 13-15 of `benchmarks/results/cpu-2026-12-03-routes.md`) measured it faster than the phases'
# derivatives: at 32 output channels or fewer (3x3 stride 2: 0.84-0.88x at 56x56 32->32,
# 0.71-0.81x at 112x112 16->16, 0.50-0.52x at 64x64 16->3, 0.98-1.03x at 28x28 64->32)
# and for 5x5 stride 2 (0.53-0.82x). At 64 channels the phases' measured 0.73-0.94x of
# its time for 3x3 stride 2 and 0.78-0.96x for 4x4, 5x5 and 7x7 stride 3, at 14x14
# 256->256 0.91-1.02x, but at 28x28 128->128 1.06-1.27x (kept: no rule of channels told
# it apart); where the phases are one convolution (DCGAN, U-Net, zero taps), in 1-D and
# in 3-D they measured 0.31-1.07x (U-Net 0.63-0.78x, 3-D 0.31-0.40x).
_STRIDED_DERIVATIVES_CHANNELS = 32
_unequal_phases_p = Primitive("jaxpad_unequal_phases_conv_transpose")


def _unequal_phases(x, kernel, *, lo, out, overlap_add, differentiated, **static):
    """`_unequal_phases_p`'s computation: `_phase_route` with `_route`'s `overlap_add`.

    The overlap-add only undifferentiated: in a training step XLA:CPU ran its wide
    product beside the backward pass, up to 1.5x slower.
    """
    route = _Route(overlap_add and not differentiated, None, True)  # unequal: no zero taps
    return _phase_route(x, kernel, lo, out, route, **static)


def _unequal_phases_shape(x, kernel, *, out, groups, dn, preferred_element_type, **_):
    shape = list(x.shape)
    shape[dn.out_spec[1]] = kernel.shape[-2] * groups
    for a, o in zip(dn.out_spec[2:], out):
        shape[a] = o
    dtype = (jnp.result_type(x.dtype, kernel.dtype) if preferred_element_type is None
             else jnp.dtype(preferred_element_type))
    # `x.update` keeps the operands' type beyond shape and dtype (varying manual axes).
    return x.update(shape=tuple(shape), dtype=dtype, weak_type=False)


def _strided_conv(z, kernel, size, *, lo, out, stride, dilation, groups, dn, precision,
                  preferred_element_type):
    """The forward convolution that `_transpose_zeros` transposes, applied to `z`.

    `z` has the transposed convolution's output shape, `size` is its input's spatial
    shape: the padding `(lo, hi)` gives back that size (`hi` negative crops).
    """
    pads = [(start, (i - 1) * s + effective_kernel_size(k, d) - start - o)
            for i, k, s, d, start, o in zip(size, kernel.shape, stride, dilation, lo, out)]
    internal = lax.ConvDimensionNumbers(
        lhs_spec=dn.lhs_spec, rhs_spec=dimension_numbers(len(stride), True).rhs_spec,
        out_spec=dn.out_spec,
    )
    return lax.conv_general_dilated(
        z, kernel.astype(z.dtype), stride, pads, rhs_dilation=dilation,
        dimension_numbers=internal, feature_group_count=groups, precision=precision,
        preferred_element_type=preferred_element_type,
    )


def _unequal_phases_input_grad(ct, x, kernel, *, overlap_add, differentiated, **params):
    size = [x.aval.shape[a] for a in params["dn"].lhs_spec[2:]]
    return _strided_conv(ct, kernel, size, **params).astype(x.aval.dtype)


def _unequal_phases_kernel_grad(ct, x, kernel, *, overlap_add, differentiated, **params):
    size = [x.shape[a] for a in params["dn"].lhs_spec[2:]]
    conv = partial(_strided_conv, ct, size=size, **params)
    (grad,) = jax.linear_transpose(conv, kernel.aval)(
        x.astype(jax.eval_shape(conv, kernel.aval).dtype))
    return grad


def _unequal_phases_jvp(primals, tangents, **params):
    # Bilinear: the primal as the differentiated computation, the tangents as binds
    # whose transposes are the rules above.
    x, kernel = primals
    tx, tkernel = tangents
    y = _unequal_phases_p.bind(x, kernel, **{**params, "differentiated": True})
    terms = [_unequal_phases_p.bind(*args, **params)
             for t, args in ((tx, (tx, kernel)), (tkernel, (x, tkernel)))
             if type(t) is not ad.Zero]
    return y, sum(terms[1:], terms[0])  # JAX calls the rule with some tangent not zero


def _unequal_phases_batch(args, dims, **params):
    x, kernel = args
    bx, bkernel = dims
    if bkernel is None:  # the vmapped axis joins the batch
        x = jnp.moveaxis(x, bx, 0)
        y = _unequal_phases_p.bind(x.reshape(-1, *x.shape[2:]), kernel, **params)
        return y.reshape(*x.shape[:2], *y.shape[1:]), 0
    return jax.vmap(partial(_unequal_phases, **params), in_axes=(bx, bkernel))(x, kernel), 0


_unequal_phases_p.def_impl(_unequal_phases)
_unequal_phases_p.def_abstract_eval(_unequal_phases_shape)
mlir.register_lowering(_unequal_phases_p, mlir.lower_fun(_unequal_phases,
                                                         multiple_results=False))
ad.defbilinear(_unequal_phases_p, _unequal_phases_input_grad, _unequal_phases_kernel_grad)
ad.primitive_jvps[_unequal_phases_p] = _unequal_phases_jvp
batching.primitive_batchers[_unequal_phases_p] = _unequal_phases_batch


def _fold(y: jax.Array, axis: int, lo: int, size: int) -> jax.Array:
    """Adds the full output onto an axis of `size` modulo `size`, index `lo` landing on 0."""
    full = y.shape[axis]
    before = (-lo) % size
    blocks = -(-(before + full) // size)
    config = [(0, 0, 0)] * y.ndim
    config[axis] = (before, blocks * size - before - full, 0)
    y = lax.pad(y, jnp.zeros((), y.dtype), config)
    shape = list(y.shape)
    shape[axis: axis + 1] = [blocks, size]
    return y.reshape(shape).sum(axis)


@auto_partitioned
@partial(
    jax.jit,
    static_argnames=(
        "stride", "crops", "out", "modes", "dilation", "groups", "channels_last", "precision",
        "preferred_element_type",
    ),
)
def conv_transpose_validated(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    *,
    stride: tuple[int, ...],
    crops: tuple[tuple[int, int], ...],
    out: tuple[int, ...],
    modes: tuple[str, ...],
    dilation: tuple[int, ...],
    groups: int,
    channels_last: bool,
    precision: Any,
    preferred_element_type: Any,
) -> jax.Array:
    """The transposed convolution of a batched `x`, with arguments already checked."""
    nsp = len(stride)
    dn = dimension_numbers(nsp, channels_last)
    spatial = dn.lhs_spec[2:]
    if not channels_last:  # (C, O // G, *k) -> (*k, O // G, C)
        kernel = channels_last_kernel(kernel)
    ksize = kernel.shape[:nsp]

    lo_core, out_core, widths = [], [], [(0, 0)] * x.ndim
    for a, (size, k, s, d, (lo, _), o, mode) in enumerate(
        zip((x.shape[i] for i in spatial), ksize, stride, dilation, crops, out, modes)
    ):
        eff = effective_kernel_size(k, d)
        if mode == "circular":  # the full output, folded below
            lo_core.append(0)
            out_core.append((size - 1) * s + eff)
        elif mode == "zeros":
            lo_core.append(lo)
            out_core.append(o)
        else:  # extend the input to every element an output reads
            first, last = -((eff - 1 - lo) // s), (lo + o - 1) // s
            ext = (max(-first, 0), max(last - size + 1, 0))
            widths[spatial[a]] = ext
            lo_core.append(lo + ext[0] * s)
            out_core.append(o)
    if any(w != (0, 0) for w in widths):
        axis_modes = ["zeros"] * x.ndim
        for a, m in enumerate(modes):
            axis_modes[spatial[a]] = m if m not in ("zeros", "circular") else "zeros"
        x = pad_validated(x, jnp.zeros((), x.dtype), widths=tuple(widths),
                          modes=tuple(axis_modes))
    y = _transpose_zeros(
        x, kernel, tuple(lo_core), tuple(out_core), stride=stride, dilation=dilation,
        groups=groups, dn=dn, precision=precision,
        preferred_element_type=preferred_element_type,
    )
    for a, ((lo, _), o, mode) in enumerate(zip(crops, out, modes)):
        if mode == "circular":
            y = _fold(y, spatial[a], lo, o)
    return add_bias(y, bias, dn)


def conv_transpose(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    output_padding: int | Sequence[int] = 0,
    padding_mode: ModeLike = "zeros",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """N-dimensional transposed convolution with PyTorch's and Keras's padding specs.

    Layouts (`k` the kernel's spatial shape, `C` input and `O` output channels,
    `G` groups); the kernel is in both layouts the kernel of the forward
    `jaxpad.conv` from `O` to `C` channels that this operation transposes:

    - `channels_last=True` (Flax, TF): `x` is `(N, *spatial, C)` or `(*spatial, C)`;
      `kernel` is `(*k, O // G, C)`, as `flax.linen.ConvTranspose(transpose_kernel=True)`.
    - `channels_last=False` (PyTorch): `x` is `(N, C, *spatial)` or `(C, *spatial)`;
      `kernel` is `(C, O // G, *k)`, `torch.nn.ConvTransposeNd.weight` as it is.

    With `eff = dilation * (k - 1) + 1`, the full transposed convolution of an
    axis of size `i` has `(i - 1) * stride + eff` elements; `padding` crops it:

    - an int, one int per axis or `(lo, hi)` pairs: PyTorch's meaning, output
      `(i - 1) * stride - lo - hi + eff + output_padding`.
    - 'same': Keras's, output `i * stride` (+ `output_padding`).
    - 'valid': Keras's, output `i * stride + max(eff - stride, 0)`.

    `output_padding` adds elements at the end (as PyTorch, each smaller than
    the stride or the dilation of its axis).

    `padding_mode` (one, or one per spatial axis):

    - 'zeros': PyTorch's `ConvTransposeNd` (the input is zero outside itself).
    - 'circular': the exact adjoint of `jaxpad.conv(..., padding_mode='circular')`
      with the same kernel, stride, dilation and `padding`: the full output is
      wrapped onto the output size, position `lo` landing on 0 (periodic
      upsampling; `output_padding` picks the size the forward conv came from).
    - 'reflect', 'replicate', 'symmetric': the transposed convolution of the
      input extended without end by that mode (numpy's repeated reflection),
      cropped to the requested output. So the border outputs see the taps a
      continued input would give them: with stride 2, kernel `1 1 1` and
      padding 1 on `x = 1 2`, 'replicate' extends to `... 1 1 | 1 2 | 2 2 ...`
      and gives `1 3 2 4` where 'zeros' gives `1 3 2 2`.

    Args:
      x: the input, batched or not, in the layout chosen by `channels_last`.
      kernel: the weights, see above; its rank fixes the number of spatial axes.
      bias: optional, shape `(O,)`.
      stride: an int or one per spatial axis, >= 1.
      padding: 'same', 'valid', an int, one int per axis or one `(lo, hi)`
        pair per axis, see above.
      output_padding: an int or one per axis, >= 0 and smaller than the stride
        or the dilation.
      padding_mode: 'zeros', 'circular', 'reflect', 'replicate' or 'symmetric'
        (aliases 'wrap', 'edge'), or one per spatial axis.
      dilation: the kernel dilation, an int or one per spatial axis, >= 1.
      groups: feature groups; must divide the input and output channels.
      channels_last: layout switch, see above.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Returns:
      The output, batched iff `x` was, in the layout of `x`.

    Raises:
      ValueError: wrong ranks, channels not matching the kernel, groups not
        dividing the channels, a bad padding spec, mode or `output_padding`,
        or an empty output.
      TypeError: non-integer sizes or a non-bool `channels_last`.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.array([1.0, 2.0]).reshape(1, 2, 1)  # (N, W, C)
      >>> k = jnp.ones((3, 1, 1))                      # (W, O, C)
      >>> jaxpad.conv_transpose(x, k, stride=2)[0, :, 0].tolist()
      [1.0, 1.0, 3.0, 2.0, 2.0]
      >>> jaxpad.conv_transpose(x, k, stride=2, padding=1, output_padding=1,
      ...                       padding_mode="replicate")[0, :, 0].tolist()
      [1.0, 3.0, 2.0, 4.0]
    """
    x, kernel, batched, dn = batched_input(x, kernel, channels_last)
    nsp = kernel.ndim - 2
    spatial_shape = tuple(x.shape[a] for a in dn.lhs_spec[2:])
    channels = x.shape[dn.lhs_spec[1]]
    if channels_last:
        kernel_size, k_in, k_out = kernel.shape[:nsp], kernel.shape[-1], kernel.shape[-2]
    else:
        kernel_size, k_in, k_out = kernel.shape[2:], kernel.shape[0], kernel.shape[1]
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"`groups` must be >= 1; got {groups}.")
    if channels % groups:
        raise ValueError(
            f"`groups` must divide the input channels; got groups={groups} with {channels} "
            f"input channels."
        )
    if channels != k_in:
        raise ValueError(
            f"`x` has {channels} channels but `kernel` of shape {shape_text(kernel)} expects "
            f"{k_in} ({'(*k, O // G, C)' if channels_last else '(C, O // G, *k)'} layout)."
        )
    stride_t = canonical_ints(stride, nsp, "stride")
    dilation_t = canonical_ints(dilation, nsp, "dilation")
    modes = canonical_transpose_modes(padding_mode, nsp)
    crops = transpose_padding(padding, spatial_shape, kernel_size, stride_t, dilation_t)
    out = conv_transpose_output_shape(spatial_shape, kernel_size, stride_t, padding, dilation_t,
                                      output_padding)
    if any(m != "zeros" for m in modes):
        check_widths(spatial_shape, [(1, 1)] * nsp, modes, "repeat", axes=dn.lhs_spec[2:])
    if bias is not None:
        bias = jnp.asarray(bias)
        if bias.shape != (k_out * groups,):
            raise ValueError(
                f"`bias` must have shape ({k_out * groups},) (the output channels); "
                f"got {shape_text(bias)}."
            )
    dtype = jnp.result_type(x, kernel)
    y = conv_transpose_validated(
        x.astype(dtype), kernel.astype(dtype), bias,
        stride=stride_t, crops=crops, out=out, modes=modes, dilation=dilation_t,
        groups=groups, channels_last=channels_last, precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return y if batched else y[0]

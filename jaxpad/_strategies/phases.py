"""Reference for transposed convolutions: the stride-phase decomposition.

Output element `p` of an axis with stride `s` only meets the kernel taps `t` with
`t * dilation = p + lo (mod s)`, so each of the `s` output phases is a plain stride-1
convolution of the input with a sub-kernel. That does exactly the useful multiply-adds
(an lhs-dilated convolution multiplies `s - 1` zeros for every input element), and
every convolution in the forward and backward pass is stride 1 with lax padding 0:
shifts are explicit slices and pads. When on every axis all phases have as many
taps, they are one convolution with the sub-kernels side by side.

Applies to every transposed convolution (any rank, stride, dilation and groups), on
every platform: it is what `jaxpad._policy` takes where nothing was measured.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from .._conv import dimension_numbers


def valid_conv(x, kernel, dilation, dn, precision, preferred_element_type, groups=1):
    """The stride-1 unpadded convolution of `x` with a `(*k, C // groups, O)` kernel."""
    nsp = len(dilation)
    return lax.conv_general_dilated(
        x, kernel, (1,) * nsp, ((0, 0),) * nsp, rhs_dilation=dilation, dimension_numbers=dn,
        feature_group_count=groups, precision=precision,
        preferred_element_type=preferred_element_type,
    )



def window(x: jax.Array, axis: int, start: int, length: int) -> jax.Array:
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


def phase_plans(x, ksize, lo, out, stride, dilation, spatial):
    """Per spatial axis, `_phases` of every output phase."""
    return [_phases(x.shape[spatial[a]], ksize[a], stride[a], dilation[a], lo[a], out[a])
            for a in range(len(stride))]


def uniform(plans) -> bool:
    """Whether on every axis all phases have as many taps at one dilation."""
    return all(None not in p and len({(len(q[0]), q[3]) for q in p}) == 1 for p in plans)


def _split_axis(spatial_axis: int, channel: int, nsp: int) -> int:
    """Where a spatial axis is once the channel axis is split into (G, *stride, O // G)."""
    return spatial_axis + (nsp + 1 if spatial_axis > channel else 0)


def depth_to_space(y: jax.Array, channel: int, spatial, stride) -> jax.Array:
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


def stack_phases(blocks, channel: int, stride) -> jax.Array:
    """Phase blocks, in `itertools.product` order, split as `_depth_to_space` takes them."""
    y = jnp.stack(blocks, axis=channel)
    return y.reshape(*y.shape[:channel], 1, *stride, *y.shape[channel + 1:])


def crop(y: jax.Array, spatial, start, out) -> jax.Array:
    index = [slice(None)] * y.ndim
    for a, (k, o) in enumerate(zip(start, out)):
        index[spatial[a]] = slice(k, k + o)
    return y[tuple(index)]


def phase_convs(x, kernel, lo, out, *, stride, dilation, groups, dn, precision,
                preferred_element_type, conv: Callable[..., Any] = valid_conv):
    """Zero-mode transposed convolution of batched `x` as one convolution per phase.

    `kernel` is `(*k, C // G, O)`, the forward kernel from the output's O
    channels' point of view, flipped per phase below.
    """
    nsp = len(stride)
    spatial = dn.lhs_spec[2:]
    ksize = kernel.shape[:nsp]

    def plans_at(lo, out):
        return phase_plans(x, ksize, lo, out, stride, dilation, spatial)

    plans = plans_at(lo, out)
    combos = list(itertools.product(*(range(s) for s in stride)))
    # When on every axis all phases have as many taps (kernel a multiple of the stride,
    # e.g. DCGAN's 4x4 stride 2, U-Net's 2x2), the phases are one convolution with the
    # sub-kernels side by side (O * prod(stride) output channels) over the union of
    # their windows; each phase then takes its blocks at its own offset (depth-to-space).
    one_conv = len(combos) > 1 and uniform(plans)
    # Blocks counted from a multiple of the stride of the full output start at one
    # offset on every phase when the dilation is 1, so the depth-to-space needs no
    # per-phase slices: compute from there and crop `skip` after it.
    skip = [lo_ % s if one_conv else 0 for lo_, s in zip(lo, stride)]
    if any(skip):
        plans = plans_at([lo_ - k for lo_, k in zip(lo, skip)],
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
            xs = window(xs, spatial[a], start, length)
        return xs

    def run(xs, ks, plan):
        return conv(xs, ks, tuple(p[3] for p in plan), internal, precision,
                    preferred_element_type, groups).astype(dtype)

    if one_conv:
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
        return crop(depth_to_space(y, channel, spatial, stride), spatial, skip, out)
    blocks = []
    for combo in combos:
        plan = [plans[a][rho] for a, rho in enumerate(combo)]
        if any(p is None for p in plan):
            blocks.append(jnp.zeros(block_shape, dtype))
        else:
            blocks.append(run(windows(plan), sub_kernel(plan), plan))
    y = blocks[0] if len(combos) == 1 else depth_to_space(
        stack_phases(blocks, channel, stride), channel, spatial, stride)
    return crop(y, spatial, skip, out)



def phase_kernel(kernel: jax.Array, groups: int) -> jax.Array:
    """A forward `(*k, O // G, C)` kernel as `(*k, C // G, O)`, the phases' kernel.

    It is the grouped forward kernel of each phase convolution, from the output's
    O channels' point of view (flipped per phase by `phase_convs`).
    """
    nsp = kernel.ndim - 2
    ksize, og, c = kernel.shape[:nsp], kernel.shape[nsp], kernel.shape[nsp + 1]
    kernel = kernel.reshape(*ksize, og, groups, c // groups)
    return jnp.swapaxes(kernel, nsp, nsp + 2).reshape(*ksize, c // groups, groups * og)


def transpose_zeros(x, kernel, lo, out, *, stride, dilation, groups, dn, precision,
                    preferred_element_type):
    """Zero-mode transposed convolution of batched `x` by the phases, as they are.

    `kernel` is `(*k, O // G, C)`, the kernel of the forward convolution from O to C
    channels that this one transposes; the output is cropped `lo` and keeps `out`.
    """
    return phase_convs(x, phase_kernel(kernel, groups), lo, out, stride=stride,
                       dilation=dilation, groups=groups, dn=dn, precision=precision,
                       preferred_element_type=preferred_element_type)

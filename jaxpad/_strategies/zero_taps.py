"""CPU route: unequal phases made one convolution by zero taps.

Applies where padding the kernel with zero taps to a multiple of the stride (at most
`_MAX_ZERO_TAPS` times the taps) makes every phase take as many taps (3x4 and 7x7
stride 2, 1-D k3 stride 2): then the phases are one convolution whose output channels
hold them side by side, interleaved by one transpose. Zero taps before the kernel
align the crop with the stride where they can, so that no crop follows the
interleave (`benchmarks/results/cpu-2026-12-03-routes.md`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import jax
import jax.numpy as jnp

from .phases import uniform

_MAX_ZERO_TAPS = Fraction(4, 3)


def zero_tap_widths(ksize, lo, stride, dilation) -> tuple[tuple[int, int], ...]:
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


def shifted_crop(lo, widths, dilation) -> tuple[int, ...]:
    """The crop of the same output once zero taps `widths` pad the kernel.

    Zero taps add nothing to any output; those before the kernel shift its full
    output by their span.
    """
    return tuple(start + before * d for start, (before, _), d in zip(lo, widths, dilation))


def padded_kernel(kernel: jax.Array, widths) -> jax.Array:
    """A `(*k, C // G, O)` kernel padded with `widths` zero taps (before, after) per axis."""
    return jnp.pad(kernel, [*widths, (0, 0), (0, 0)])


def uniform_zero_taps(ksize, lo, stride, dilation,
                       plans_of) -> tuple[tuple[int, int], ...] | None:
    """`zero_tap_widths` where they make unequal phases uniform, else None.

    Phases of unequal taps are separate convolutions plus an interleave; with the
    kernel padded to a multiple of the stride they are one convolution whose output
    is the interleave (`phase_convs`'s uniform route). Taken when the padded kernel
    has at most `_MAX_ZERO_TAPS` times the taps (3x4 stride 2: 4/3). `plans_of` maps a
    kernel size and crop to their `phase_plans`.
    """
    if uniform(plans_of(ksize, lo)):
        return None
    widths = zero_tap_widths(ksize, lo, stride, dilation)
    padded = tuple(k + before + after for k, (before, after) in zip(ksize, widths))
    if (math.prod(padded) > _MAX_ZERO_TAPS * math.prod(ksize)
            or not uniform(plans_of(padded, shifted_crop(lo, widths, dilation)))):
        return None  # too many zeros, or phases left without taps (dilation sharing a factor)
    return widths


"""XLA:CPU's transposed convolutions: which route each configuration takes.

The phases (`phases`) with patch-product derivatives (`patch_products`), the
overlap-add (`overlap_add`), else zero taps (`zero_taps`), else the phases as they
are; 2-D phases that stay unequal take the strided convolution's derivatives
(`strided_derivatives`). Tuned on XLA:CPU alone: `jaxpad._policy` takes it there.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .._sharding import vary_alike
from .overlap_add import overlap_add, overlap_adds
from .patch_products import PATCH_TAPS, phase_conv
from .phases import phase_convs, phase_kernel, phase_plans, uniform
from .strided_derivatives import STRIDED_DERIVATIVES_CHANNELS, unequal_phases_p
from .zero_taps import padded_kernel, shifted_crop, uniform_zero_taps


def transpose_zeros(x, kernel, lo, out, *, stride, dilation, groups, dn, precision,
                    preferred_element_type):
    """Zero-mode transposed convolution of batched `x` by the route `choose_route` picks.

    `kernel` is `(*k, O // G, C)`, the kernel of the forward convolution from O to C
    channels that this one transposes; the output is cropped `lo` and keeps `out`.
    """
    static = dict(stride=stride, dilation=dilation, groups=groups, dn=dn, precision=precision,
                  preferred_element_type=preferred_element_type)
    route = choose_route(x, kernel, lo, out, stride, dilation, groups, dn)
    if route.strided_derivatives:
        return unequal_phases_p.bind(*vary_alike(x, kernel), lo=lo, out=out,
                                      overlap_add=route.overlap_add, differentiated=False,
                                      **static)
    return phase_route(x, kernel, lo, out, route, **static)


class Route(NamedTuple):
    overlap_add: bool  # `overlap_add` (undifferentiated where `strided_derivatives`)
    zero_taps: tuple[tuple[int, int], ...] | None  # `uniform_zero_taps`
    strided_derivatives: bool  # `unequal_phases_p`


def choose_route(x, kernel, lo, out, stride, dilation, groups, dn) -> Route:
    """How `_transpose_zeros` computes with a forward `(*k, O // G, C)` kernel.

    The overlap-add (`overlap_adds`), else zero taps (`uniform_zero_taps`), else
    the phases as they are. 2-D phases that stay unequal take the strided
    convolution's derivatives (`unequal_phases_p`) where the phases' own measured
    slower: at most `STRIDED_DERIVATIVES_CHANNELS` output channels per group,
    where the patch products are matrix products of that width, or stride 2 with a
    phase of more than `PATCH_TAPS` taps, which differentiates by XLA's
    convolutions one phase at a time (5x5 stride 2).
    """
    nsp = len(stride)
    ksize = kernel.shape[:nsp]

    def plans_of(ksize, lo):
        return phase_plans(x, ksize, lo, out, stride, dilation, dn.lhs_spec[2:])

    plans = plans_of(ksize, lo)
    overlap_add = overlap_adds(ksize, stride, dilation, groups, plans)
    widths = None if overlap_add else uniform_zero_taps(ksize, lo, stride, dilation, plans_of)
    unequal = overlap_add or (widths is None and not uniform(plans))
    taps = math.prod(max((len(q[0]) for q in p if q is not None), default=0) for p in plans)
    strided = unequal and nsp == 2 and (
        kernel.shape[nsp] <= STRIDED_DERIVATIVES_CHANNELS
        or (taps > PATCH_TAPS and all(s == 2 for s in stride)))
    return Route(overlap_add, widths, strided)


def phase_route(x, kernel, lo, out, route, *, stride, dilation, groups, dn, precision,
                 preferred_element_type):
    """`transpose_zeros` by the phases (or the overlap-add), differentiated as they are."""
    kernel = phase_kernel(kernel, groups)
    if route.overlap_add:
        return overlap_add(x, kernel, lo, out, stride, dilation, dn, precision,
                            preferred_element_type)
    if route.zero_taps is not None:
        kernel = padded_kernel(kernel, route.zero_taps)
        lo = shifted_crop(lo, route.zero_taps, dilation)
    return phase_convs(x, kernel, lo, out, stride=stride, dilation=dilation, groups=groups,
                       dn=dn, precision=precision, preferred_element_type=preferred_element_type,
                       conv=phase_conv)


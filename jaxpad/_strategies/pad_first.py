"""Reference for convolutions: pad first, then `lax.conv_general_dilated`.

Applies to every convolution, on every platform. Zero padding is folded into the
convolution's padding attribute; other modes are materialised by `jaxpad.pad`.

XLA:CPU (jax 0.10, YNNPACK) runs a 2-D convolution whose padding attribute is
all zeros on a slower path than the same convolution with any other padding,
even a negative one that only drops a row (`python -m benchmarks.unpadded`,
`benchmarks/results/cpu-2026-11-22-unpadded.md`; 1-D and 3-D are not affected).
So on CPU (`jaxpad._policy.TUNINGS`) an unpadded 2-D convolution reads one copied
row more and drops it with padding `(-1, 0)`. The row is copied rather than zero-padded because XLA
folds a zero pad back into the padding attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from jax import lax

from .. import _policy
from .._pad import pad_validated
from .._padding import Pair


def _unpadded_2d(pads: Sequence[Pair]) -> bool:
    """Whether a convolution with these lax pads is on XLA:CPU's slow unpadded path."""
    return len(pads) == 2 and all(tuple(p) == (0, 0) for p in pads)


def conv_lax(
    x: jax.Array,
    kernel: jax.Array,
    *,
    stride: Sequence[int],
    pads: Sequence[Pair],
    dilation: Sequence[int],
    dn: lax.ConvDimensionNumbers,
    groups: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """`lax.conv_general_dilated` of batched `x`, kept on XLA:CPU's padded path."""

    def conv(x, kernel, pads):
        return lax.conv_general_dilated(
            x, kernel, window_strides=tuple(stride), padding=tuple(pads),
            rhs_dilation=tuple(dilation), dimension_numbers=dn, feature_group_count=groups,
            precision=precision, preferred_element_type=preferred_element_type,
        )

    if not _unpadded_2d(pads):
        return conv(x, kernel, pads)

    def cpu(x, kernel):
        axis = dn.lhs_spec[2]
        x = lax.concatenate([lax.slice_in_dim(x, 0, 1, axis=axis), x], axis)
        return conv(x, kernel, ((-1, 0), (0, 0)))

    @jax.custom_jvp
    def unpadded(x, kernel):
        return _policy.tuned("padded_lowering", x, kernel, tuned=cpu,
                             plain=lambda x, k: conv(x, k, pads))

    @unpadded.defjvp
    def _(primals, tangents):
        # The tangent map is the plain (bilinear) convolution, outside the platform
        # switch: XLA:CPU leaves the transposed convolutions of a differentiated switch
        # uncanonicalised, on a much slower generic path.
        (x, kernel), (tx, tk) = primals, tangents
        return unpadded(x, kernel), conv(tx, kernel, pads) + conv(x, tk, pads)

    return unpadded(x, kernel)


def pad_then_conv(
    x: jax.Array,
    kernel: jax.Array,
    padding_value: jax.Array,
    *,
    stride: Sequence[int],
    pads: Sequence[Pair],
    modes: Sequence[str],
    dilation: Sequence[int],
    dn: lax.ConvDimensionNumbers,
    groups: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """The convolution of batched `x` padded in `modes`, the padded input materialised.

    Zero padding is folded into the convolution, which XLA handles (and
    differentiates) best; next to a 'constant' axis zeros are materialised too,
    to keep `jaxpad.pad`'s corners.
    """
    folded = [m == "zeros" and "constant" not in modes for m in modes]
    lax_pads = [p if f else (0, 0) for p, f in zip(pads, folded)]
    if lax_pads != list(pads):
        widths = [(0, 0)] * x.ndim
        axis_modes = ["zeros"] * x.ndim
        for axis, p, m, f in zip(dn.lhs_spec[2:], pads, modes, folded):
            if not f:
                widths[axis], axis_modes[axis] = p, m
        if _unpadded_2d(lax_pads):
            # One more padded row, dropped by the convolution (see `conv_lax`): on every
            # platform, as the row costs nothing next to the copy.
            a = folded.index(False)
            axis = dn.lhs_spec[2 + a]
            widths[axis] = (widths[axis][0] + 1, widths[axis][1])
            lax_pads[a] = (-1, 0)
        x = pad_validated(x, padding_value, widths=tuple(widths), modes=tuple(axis_modes))
    return conv_lax(x, kernel, stride=stride, pads=lax_pads, dilation=dilation, dn=dn,
                    groups=groups, precision=precision,
                    preferred_element_type=preferred_element_type)

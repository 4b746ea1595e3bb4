"""Non-zero padding modes at the price of zero padding: the frame decomposition.

With `P` the padding in the requested modes and `Z` zero padding, linearity gives

    conv(P(x)) = conv(Z(x)) + conv(P(x) - Z(x)).

The first term is the zero-padded convolution, which XLA runs on its fast path
with the padding folded in. The difference `D = P(x) - Z(x)` vanishes on `x`
itself: it lives on the frame of padded positions around it. Split the frame by
the first spatial axis `a` on which a position lies outside `x`, at the low or
the high end. On that piece `D` equals `P`: a thin slab of the few rows of `x`
that the mode copies along `a`, padded in the modes along later axes and with
zeros along earlier ones (there the piece lies inside `x`). Each piece reaches
only the output rows whose windows overlap it, through the kernel taps that
overlap it; one small strided convolution per piece computes them, and they are
added in place.

The backward pass never builds anything the size of the padded input: a custom
VJP keeps it to the zero-padded convolution's own backward plus the frame's,
saving only `x` and the kernel. On XLA:CPU, data dependencies order it so that
the frame's buffers never live beside the main backward's big ones.

The forward pass costs the zero-padded convolution plus the frame; on CPU,
where the thin piece convolutions are slow and a padded copy is cheap next to a
convolution with many multiply-adds per input element, it pads first instead
when a cost model says that is cheaper (`pads_first_on_cpu`); the copy lives
only until the convolution has read it. Under `impl='auto'` it also pads first
in the backward pass where the input is small beside the output
(`pads_both_on_cpu`).
Forward-mode autodiff (`jax.jvp`) is not defined for it: use `impl='pad'` there.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._lowering import pad_then_conv
from ._pad import pad_validated, take
from ._padding import Pair, conv_output_shape, source_index


@dataclasses.dataclass(frozen=True)
class Config:
    """Static description of one batched convolution (hashable, so ops are cached)."""

    shape: tuple[int, ...]  # spatial input shape
    kernel: tuple[int, ...]  # spatial kernel shape
    stride: tuple[int, ...]
    pads: tuple[Pair, ...]
    modes: tuple[str, ...]
    dilation: tuple[int, ...]
    groups: int
    dn: lax.ConvDimensionNumbers
    precision: Any
    preferred_element_type: Any
    # The forward pass on CPU: pad first (True), frame pieces (False), or by cost (None).
    pad_first: bool | None = None
    # On CPU, pad first in both passes (`impl='auto'` where `pads_both_on_cpu`).
    pad_both: bool = False


def _output_shape(c: Config) -> tuple[int, ...]:
    return conv_output_shape(c.shape, c.kernel, c.stride, c.pads, c.dilation)


@dataclasses.dataclass(frozen=True)
class _Piece:
    """The frame rows at one end of one axis, and the output rows they reach.

    Output rows `[out0, out1)` along `axis` see the piece through kernel taps
    `[k0, k1)`; the piece's rows, read from `sources` (rows of x), are zero
    padded by `pad` so that one strided convolution yields exactly those rows.
    """

    axis: int
    out0: int
    out1: int
    k0: int
    k1: int
    pad: Pair
    sources: tuple[int, ...]

    @property
    def span(self) -> tuple[int, int]:
        """The rows of x the piece reads, as [begin, end)."""
        return min(self.sources), max(self.sources) + 1


def _pieces(c: Config) -> tuple[_Piece, ...]:
    """The frame pieces whose D is not zero."""
    pieces = []
    outs = _output_shape(c)
    for a, mode in enumerate(c.modes):
        if mode == "zeros":  # D is zero on this axis's frame ('constant' never comes here)
            continue
        n, (lo, hi) = c.shape[a], c.pads[a]
        k, s, d = c.kernel[a], c.stride[a], c.dilation[a]
        out = outs[a]
        if lo > 0:
            # Output o reaches the low frame [0, lo) through taps kh < (lo - o * s) / d.
            t = min(-(-lo // s), out)
            m = min(-(-lo // d), k)
            pieces.append(_Piece(a, 0, t, 0, m, (0, (t - 1) * s + (m - 1) * d + 1 - lo),
                                 tuple(source_index(j - lo, n, mode) for j in range(lo))))
        if hi > 0:
            # Output o reaches the high frame [lo + n, ...) through taps kh >= (lo + n - o*s)/d.
            first = [o for o in range(out) if o * s + (k - 1) * d >= lo + n]
            if first:
                u = first[0]
                k0 = max(-(-(lo + n - (out - 1) * s) // d), 0)
                pad = (lo + n - (u * s + k0 * d), (out - 1) * s + (k - 1) * d + 1 - (lo + n + hi))
                pieces.append(_Piece(a, u, out, k0, k, pad,
                                     tuple(source_index(j, n, mode) for j in range(n, n + hi))))
    return tuple(_crop(p) for p in pieces)


def _crop(p: _Piece) -> _Piece:
    """Negative padding as fewer source rows: the piece reads no row of x it does not use."""
    lo, hi = p.pad
    sources = p.sources[max(-lo, 0): len(p.sources) - max(-hi, 0)]
    return dataclasses.replace(p, pad=(max(lo, 0), max(hi, 0)), sources=sources)


def _conv(c: Config, x, w, pads, stride):
    return lax.conv_general_dilated(
        x, w, window_strides=stride, padding=pads, rhs_dilation=c.dilation,
        dimension_numbers=c.dn, feature_group_count=c.groups, precision=c.precision,
        preferred_element_type=c.preferred_element_type,
    )


# XLA:CPU's costs relative to the convolution's multiply-adds, fitted on the benchmark
# set: a padded copy costs about 80 multiply-adds per element (with the convolution
# on the fast path, see `_lowering`); the thin piece convolutions run 2-13x slower
# per multiply-add than the main one (few rows, strided, few channels).
_COPY_MACS = 80.0
_PIECE_SLOWDOWN = 6.0


def pads_first_on_cpu(c: Config, pieces: tuple[_Piece, ...], out_channels: int) -> bool:
    """Whether padding first is the cheaper forward pass on CPU (`c.pad_first` if set)."""
    if c.pad_first is not None:
        return c.pad_first
    out = _output_shape(c)
    macs_per_element = (math.prod(out) * math.prod(c.kernel) * out_channels
                        / (c.groups * math.prod(_padded_shape(c.shape, c.pads))))
    piece_share = sum((p.out1 - p.out0) / out[p.axis] * (p.k1 - p.k0) / c.kernel[p.axis]
                      for p in pieces)
    return _COPY_MACS / macs_per_element < _PIECE_SLOWDOWN * piece_share


# Padding first in both passes mostly runs faster than the frame on XLA:CPU (training
# step 0.79-0.94x of zero padding's on six of eight such layers, the frame's 0.97-1.07x:
# benchmarks/results/cpu-2026-11-22-widening.md), but it saves the padded copy for the backward
# pass. Its temp memory stays within 1.05x of zero padding's (2-D, 1-D and 3-D layers)
# where the input is smaller than the output (the step's peak is then made of
# output-sized buffers) and the padding small beside the output; at equal channels it
# is 1.33-1.47x.
_PAD_BOTH_INPUT_SHARE = 0.8  # padded input elements / output elements
_PAD_BOTH_PADDING_SHARE = 0.1  # padding elements / output elements


def _padded_shape(shape: Sequence[int], pads: Sequence[Pair]) -> tuple[int, ...]:
    return tuple(n + lo + hi for n, (lo, hi) in zip(shape, pads))


def padded_shares(shape: Sequence[int], pads: Sequence[Pair], out_shape: Sequence[int],
                  in_channels: int, out_channels: int) -> tuple[float, float]:
    """The padded input's and the padding's elements, each over the output's."""
    size = math.prod(shape) * in_channels
    padded = math.prod(_padded_shape(shape, pads)) * in_channels
    out = math.prod(out_shape) * out_channels
    return padded / out, (padded - size) / out


def pads_both_on_cpu(c: Config, in_channels: int, out_channels: int) -> bool:
    """Whether `impl='auto'` pads first in both passes on CPU (inputs small beside outputs)."""
    padded, padding = padded_shares(c.shape, c.pads, _output_shape(c), in_channels, out_channels)
    return padded <= _PAD_BOTH_INPUT_SHARE and padding <= _PAD_BOTH_PADDING_SHARE


def _piece_rows(c: Config, p: _Piece, x_span: jax.Array, w: jax.Array) -> jax.Array:
    """The piece's contribution to its output rows, from the rows of x it reads."""
    spatial = c.dn.lhs_spec[2:]
    index = tuple(i - p.span[0] for i in p.sources)
    slab = take(x_span, spatial[p.axis], index, concat_repeats=True)
    # The slab is padded in full (it is thin): zeros along earlier axes (inside x
    # there) and around the piece's own rows, the modes along later axes. Folding
    # the zeros into the convolution instead trips an XLA:CPU bug (jax 0.10) in
    # the input gradient of some strided convolutions.
    widths = [(0, 0)] * slab.ndim
    modes = ["zeros"] * slab.ndim
    for b in range(len(c.modes)):
        if b != p.axis:
            widths[spatial[b]] = c.pads[b]
        if b > p.axis:
            modes[spatial[b]] = c.modes[b]
    widths[spatial[p.axis]] = p.pad
    slab = pad_validated(slab, jnp.zeros((), slab.dtype), widths=tuple(widths), modes=tuple(modes))
    taps = lax.slice_in_dim(w, p.k0, p.k1, axis=c.dn.rhs_spec[2 + p.axis])
    return _conv(c, slab, taps, [(0, 0)] * len(c.modes), c.stride)


def _add_rows(y: jax.Array, rows: jax.Array, start: int, axis: int) -> jax.Array:
    """`y` with `rows` added at `start` along `axis`, in place."""
    old = lax.slice_in_dim(y, start, start + rows.shape[axis], axis=axis)
    return lax.dynamic_update_slice_in_dim(y, old + rows.astype(y.dtype), start, axis)


def _first(a: jax.Array) -> jax.Array:
    if not a.size:  # an empty batch: nothing to wait for
        return jnp.zeros((), a.dtype)
    return lax.slice(a, (0,) * a.ndim, (1,) * a.ndim).reshape(())


def _after(a: jax.Array, *deps: jax.Array) -> jax.Array:
    """`a` plus an exact -0.0 computed from `deps`: XLA schedules its readers after them."""
    if not deps:
        return a
    real = jnp.zeros((), a.dtype).real.dtype
    # |t| clipped to [0, 1] (NaN and inf to 1) times -0.0 is -0.0, for every t.
    t = sum(jnp.abs(_first(d)).astype(real) for d in deps)
    z = lax.neg(jnp.zeros((), real)) * jnp.where(t < 1, t, jnp.ones((), real))
    return a + (lax.complex(z, z) if jnp.iscomplexobj(a) else z)


def _call_after(dep: jax.Array, f: Callable, *args: Any) -> Any:
    """`f(*args)` run after `dep`, on materialised `args` (a conditional is a fusion barrier)."""
    return lax.cond(_first(dep) != 0, f, f, *args)


@functools.cache
def frame_conv(c: Config) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The convolution of a batched input padded as `c` says, by frame decomposition."""
    pieces = _pieces(c)
    spatial, out_spatial = c.dn.lhs_spec[2:], c.dn.out_spec[2:]

    def zero_conv(x, w):
        return _conv(c, x, w, c.pads, c.stride)

    def span(x, p):
        return lax.slice_in_dim(x, p.span[0], p.span[1], axis=spatial[p.axis])

    def frame_forward(x, w):
        y = zero_conv(x, w)
        for p in pieces:
            y = _add_rows(y, _piece_rows(c, p, span(x, p), w), p.out0, out_spatial[p.axis])
        return y

    padded = functools.partial(
        pad_then_conv, stride=c.stride, pads=c.pads, modes=c.modes, dilation=c.dilation,
        dn=c.dn, groups=c.groups, precision=c.precision,
        preferred_element_type=c.preferred_element_type,
    )

    def pad_first(x, w):
        return padded(x, w, jnp.zeros((), x.dtype))

    def forward(x, w):
        if not (c.pad_both or pads_first_on_cpu(c, pieces, w.shape[c.dn.rhs_spec[0]])):
            return frame_forward(x, w)
        return lax.platform_dependent(x, w, cpu=pad_first, default=frame_forward)

    @jax.custom_vjp
    def op(x, w):
        return forward(x, w)

    def op_fwd(x, w):
        return forward(x, w), (x, w)

    def backward(x, w, dy, *, ordered):
        """The zero-padded convolution's backward pass, then the frame's.

        On XLA:CPU (`ordered`), data dependencies order the steps so that the big
        buffers of the main backward are dead before the frame's small ones exist:
        the input gradient, then dy's frame rows (inside a conditional, so that
        they are cut from dy rather than recomputed from dy's producer, which
        would keep that alive), then the kernel gradient, then the pieces. Left
        to itself, XLA:CPU schedules the pieces' buffers amid the main backward.
        """
        after, call_after = (_after, _call_after) if ordered else (
            lambda a, *deps: a, lambda dep, f, *args: f(*args))
        dx = jax.vjp(lambda x: zero_conv(x, w), x)[1](dy)[0]

        def frame_rows(dy):
            return [lax.slice_in_dim(dy, p.out0, p.out1, axis=out_spatial[p.axis])
                    for p in pieces]

        dy_rows = call_after(dx, frame_rows, dy)
        dw = jax.vjp(lambda w: zero_conv(after(x, *dy_rows[:1]), w), w)[1](dy)[0]
        for p, rows in zip(pieces, dy_rows):
            _, vjp = jax.vjp(functools.partial(_piece_rows, c, p), after(span(x, p), dw),
                             after(w, dw))
            d_span, d_w = vjp(rows)
            dx = _add_rows(dx, d_span, p.span[0], spatial[p.axis])
            dw = dw + d_w
        return dx, dw

    def pad_first_backward(x, w, dy):
        # The padded copy is made again here rather than saved by the forward pass.
        return jax.vjp(pad_first, x, w)[1](dy)

    def op_bwd(residuals, dy):
        # The switch is called here, not differentiated: a differentiated one would
        # leave XLA:CPU uncanonicalised convolutions (see `_lowering.conv_lax`).
        x, w = residuals
        cpu = pad_first_backward if c.pad_both else functools.partial(backward, ordered=True)
        return lax.platform_dependent(
            x, w, dy, cpu=cpu, default=functools.partial(backward, ordered=False))

    op.defvjp(op_fwd, op_bwd)
    return op

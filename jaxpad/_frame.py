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

Like lax's convolution, the operation is a bilinear primitive (`_frame_p`) with
JVP, transpose and batching rules, so that every transformation composes: jvp,
linearize, linear_transpose, vmap, grad and any nesting of them. The backward
pass is its transpose and never builds anything the size of the padded input:
the zero-padded convolution's own backward plus the frame's, saving only `x`
and the kernel. On XLA:CPU, data dependencies order it so that the frame's
buffers never live beside the main backward's big ones.

The forward pass costs the zero-padded convolution plus the frame; on CPU,
where the thin piece convolutions are slow and a padded copy is cheap next to a
convolution with many multiply-adds per input element, it pads first instead
when a cost model says that is cheaper (`pads_first_on_cpu`); the copy lives
only until the convolution has read it. Both CPU choices are `jaxpad._policy`
tunings: other platforms run the plain frame.
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
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from . import _policy
from ._pad import pad_validated, take
from ._padding import Pair, conv_output_shape, source_index
from ._sharding import vary_alike
from ._strategies.pad_first import pad_then_conv


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


@functools.cache
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


# XLA:CPU's costs in the convolution's multiply-adds, fitted on `jaxpad bench`'s cases
# (benchmarks/results/cpu-2026-11-22-layers.md): a padded copy per element (with the
# convolution on the fast path, see `_strategies.pad_first`), and the thin piece
# convolutions' slowdown per multiply-add against the main one (few rows, strided, few
# channels).
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


def _padded_shape(shape: Sequence[int], pads: Sequence[Pair]) -> tuple[int, ...]:
    return tuple(n + lo + hi for n, (lo, hi) in zip(shape, pads))


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


def _zero_conv(c: Config, x: jax.Array, w: jax.Array) -> jax.Array:
    return _conv(c, x, w, c.pads, c.stride)


def _span(c: Config, x: jax.Array, p: _Piece) -> jax.Array:
    return lax.slice_in_dim(x, p.span[0], p.span[1], axis=c.dn.lhs_spec[2 + p.axis])


def _frame_rows(c: Config, dy: jax.Array) -> list[jax.Array]:
    """The rows of `dy` that each piece reaches."""
    return [lax.slice_in_dim(dy, p.out0, p.out1, axis=c.dn.out_spec[2 + p.axis])
            for p in _pieces(c)]


def _frame_forward(c: Config, x: jax.Array, w: jax.Array) -> jax.Array:
    y = _zero_conv(c, x, w)
    for p in _pieces(c):
        y = _add_rows(y, _piece_rows(c, p, _span(c, x, p), w), p.out0, c.dn.out_spec[2 + p.axis])
    return y


def _pad_first(c: Config, x: jax.Array, w: jax.Array) -> jax.Array:
    return pad_then_conv(
        x, w, jnp.zeros((), x.dtype), stride=c.stride, pads=c.pads, modes=c.modes,
        dilation=c.dilation, dn=c.dn, groups=c.groups, precision=c.precision,
        preferred_element_type=c.preferred_element_type)


def _forward(c: Config, x: jax.Array, w: jax.Array) -> jax.Array:
    if not pads_first_on_cpu(c, _pieces(c), w.shape[c.dn.rhs_spec[0]]):
        return _frame_forward(c, x, w)
    return _policy.tuned("frame_pads_first", x, w, tuned=functools.partial(_pad_first, c),
                         plain=functools.partial(_frame_forward, c))


def _transpose(f: Callable[[jax.Array], jax.Array], aval: Any, ct: jax.Array) -> jax.Array:
    """`ct` through the transpose of `f`, linear in one argument of type `aval`.

    By `jax.vjp` at zero, not `jax.linear_transpose`: that keeps the custom JVP of
    `_strategies.pad_first.conv_lax`, whose transpose XLA:CPU runs on its fast path.
    """
    return jax.vjp(f, ad.zeros_like_aval(aval))[1](ct)[0]


def _transpose_x(c: Config, w: jax.Array, dy: jax.Array, x_aval: Any) -> jax.Array:
    """The input gradient alone (the kernel held fixed)."""

    dx = _transpose(lambda x: _zero_conv(c, x, w), x_aval, dy)
    for p, rows in zip(_pieces(c), _frame_rows(c, dy)):
        shape = list(x_aval.shape)
        shape[c.dn.lhs_spec[2 + p.axis]] = p.span[1] - p.span[0]
        d_span = _transpose(lambda s, p=p: _piece_rows(c, p, s, w),
                            x_aval.update(shape=tuple(shape)), rows)
        dx = _add_rows(dx, d_span, p.span[0], c.dn.lhs_spec[2 + p.axis])
    return dx


def _transpose_w(c: Config, x: jax.Array, dy: jax.Array, w_aval: Any) -> jax.Array:
    """The kernel gradient alone (the input held fixed)."""

    dw = _transpose(lambda w: _zero_conv(c, x, w), w_aval, dy)
    for p, rows in zip(_pieces(c), _frame_rows(c, dy)):
        dw = dw + _transpose(lambda w, p=p: _piece_rows(c, p, _span(c, x, p), w), w_aval, rows)
    return dw


def _backward(c: Config, x: jax.Array, w: jax.Array, dy: jax.Array, *, ordered: bool
              ) -> tuple[jax.Array, jax.Array]:
    """Both gradients: the zero-padded convolution's backward pass, then the frame's.

    On XLA:CPU (`ordered`), data dependencies order the steps so that the big
    buffers of the main backward are dead before the frame's small ones exist:
    the input gradient, then dy's frame rows (inside a conditional, so that
    they are cut from dy rather than recomputed from dy's producer, which
    would keep that alive), then the kernel gradient, then the pieces. Left
    to itself, XLA:CPU schedules the pieces' buffers amid the main backward.
    """
    after, call_after = (_after, _call_after) if ordered else (
        lambda a, *deps: a, lambda dep, f, *args: f(*args))
    dx = jax.vjp(lambda x: _zero_conv(c, x, w), x)[1](dy)[0]
    dy_rows = call_after(dx, functools.partial(_frame_rows, c), dy)
    dw = jax.vjp(lambda w: _zero_conv(c, after(x, *dy_rows[:1]), w), w)[1](dy)[0]
    for p, rows in zip(_pieces(c), dy_rows):
        _, vjp = jax.vjp(functools.partial(_piece_rows, c, p), after(_span(c, x, p), dw),
                         after(w, dw))
        d_span, d_w = vjp(rows)
        dx = _add_rows(dx, d_span, p.span[0], c.dn.lhs_spec[2 + p.axis])
        dw = dw + d_w
    return dx, dw


def _transpose_both(c: Config, x: jax.Array, w: jax.Array, dy: jax.Array
                    ) -> tuple[jax.Array, jax.Array]:
    """Both gradients, as a training step takes them."""

    return _policy.tuned("frame_ordered_backward", x, w, dy,
                         tuned=functools.partial(_backward, c, ordered=True),
                         plain=functools.partial(_backward, c, ordered=False))


# The frame convolution is bilinear in (x, w), like `lax.conv_general_dilated_p`: a
# primitive with JVP, transpose and batching rules, so that every transformation
# composes. Its tangent `F(tx, w) + F(x, tw)` is a primitive of its own, whose
# transpose takes both gradients at once: the order of `_backward`, which keeps a
# training step's memory within zero padding's, spans the two.
_frame_p = Primitive("jaxpad_frame_conv")
_frame_tangent_p = Primitive("jaxpad_frame_conv_tangent")


@functools.cache
def frame_conv(c: Config) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The convolution of a batched input padded as `c` says, by frame decomposition."""
    return functools.partial(_bind, c)


def _bind(c: Config, x: jax.Array, w: jax.Array) -> jax.Array:
    return _frame_p.bind(*vary_alike(x, w), config=c)


def _tangent(c: Config, x: jax.Array, w: jax.Array, tx: Any, tw: Any) -> Any:
    """`F(tx, w) + F(x, tw)` with symbolic zeros left out (None if both are zero)."""
    zero_x, zero_w = type(tx) is ad.Zero, type(tw) is ad.Zero
    if zero_x and zero_w:
        return None
    if zero_w:
        return _bind(c, tx, w)
    if zero_x:
        return _bind(c, x, tw)
    return _frame_tangent_p.bind(*vary_alike(x, w, tx, tw), config=c)


def _sum(terms: list[Any], like: jax.Array) -> Any:
    terms = [t for t in terms if t is not None]
    return sum(terms[1:], terms[0]) if terms else ad.Zero.from_primal_value(like)


def _frame_shape(x, w, *_, config: Config):
    c = config
    shape = list(x.shape)
    shape[c.dn.out_spec[1]] = w.shape[c.dn.rhs_spec[0]]
    for a, o in zip(c.dn.out_spec[2:], _output_shape(c)):
        shape[a] = o
    dtype = x.dtype if c.preferred_element_type is None else jnp.dtype(c.preferred_element_type)
    return x.update(shape=tuple(shape), dtype=dtype, weak_type=False)


def _frame_impl(x, w, *, config):
    return _forward(config, x, w)


def _frame_tangent_impl(x, w, tx, tw, *, config):
    return _forward(config, tx, w) + _forward(config, x, tw)


def _frame_jvp(primals, tangents, *, config):
    x, w = primals
    y = _frame_p.bind(x, w, config=config)
    return y, _sum([_tangent(config, x, w, *tangents)], y)


def _frame_tangent_jvp(primals, tangents, *, config):
    x, w, tx, tw = primals
    sx, sw, stx, stw = tangents
    y = _frame_tangent_p.bind(x, w, tx, tw, config=config)
    # F(tx, w) + F(x, tw) moved along (sx, sw, stx, stw).
    terms = [_tangent(config, x, w, stx, stw),
             None if type(sw) is ad.Zero else _bind(config, tx, sw),
             None if type(sx) is ad.Zero else _bind(config, sx, tw)]
    return y, _sum(terms, y)


def _transpose_terms(c: Config, ct: Any, args: tuple[Any, ...],
                     terms: tuple[tuple[int, int], ...]) -> list[Any]:
    """Cotangents of `args` for `ct` through the sum of `F(args[i], args[j])` over `terms`.

    Each term is linear in whichever of its two operands is undefined.
    """
    undefined = [ad.is_undefined_primal(a) for a in args]
    if type(ct) is ad.Zero:
        return [ad.Zero(a.aval) if u else None for a, u in zip(args, undefined)]
    cts: list[Any] = [None] * len(args)

    def add(i, value):
        cts[i] = value if cts[i] is None else cts[i] + value

    for i, j in terms:
        if undefined[i]:
            add(i, _transpose_x(c, args[j], ct, args[i].aval))
        if undefined[j]:
            add(j, _transpose_w(c, args[i], ct, args[j].aval))
    return cts


def _frame_transpose(ct, x, w, *, config):
    return _transpose_terms(config, ct, (x, w), ((0, 1),))


def _frame_tangent_transpose(ct, x, w, tx, tw, *, config):
    args = (x, w, tx, tw)
    if (type(ct) is not ad.Zero
            and [ad.is_undefined_primal(a) for a in args] == [False, False, True, True]):
        return [None, None, *_transpose_both(config, x, w, ct)]
    return _transpose_terms(config, ct, args, ((2, 1), (0, 3)))


def _merge(a: jax.Array, axis: int) -> jax.Array:
    """`a` with axes `axis` and `axis + 1` merged into one."""
    return a.reshape(*a.shape[:axis], -1, *a.shape[axis + 2:])


def _split(a: jax.Array, axis: int, size: int) -> jax.Array:
    """`a` with axis `axis` split into `(size, rest)`."""
    return a.reshape(*a.shape[:axis], size, -1, *a.shape[axis + 1:])


def _batched(c: Config, x: jax.Array, w: jax.Array, bx: int | None, bw: int | None
             ) -> tuple[jax.Array, int | None]:
    """`F(x, w)` with a vmapped axis `bx` of x and/or `bw` of w, as lax batches its conv.

    A vmapped input joins the batch; a vmapped kernel becomes feature groups (with
    the input's vmapped axis joining its channels).
    """
    if bx is None and bw is None:
        return _bind(c, x, w), None
    size = x.shape[bx] if bx is not None else w.shape[bw]
    lhs, rhs, out = c.dn
    if size == 0:
        aval = _frame_shape(_unbatched(x, bx), _unbatched(w, bw), config=c)
        return jnp.zeros((0, *aval.shape), aval.dtype), 0
    if bw is None:  # the vmapped axis joins the batch
        y = _bind(c, _merge(jnp.moveaxis(x, bx, lhs[0]), lhs[0]), w)
        return _split(y, out[0], size), out[0]
    w = jnp.moveaxis(w, bw, rhs[0])
    if bx is not None:  # groups of every vmapped pair
        x = _merge(jnp.moveaxis(x, bx, lhs[1]), lhs[1])
        y = _bind(dataclasses.replace(c, groups=c.groups * size), x, _merge(w, rhs[0]))
        return _split(y, out[1], size), out[1]
    # One input, vmapped kernels: more output channels per group, (G, B, O / G).
    g = c.groups
    w = jnp.swapaxes(_split(w, rhs[0] + 1, g), rhs[0], rhs[0] + 1)
    y = _bind(c, x, _merge(_merge(w, rhs[0]), rhs[0]))
    y = jnp.swapaxes(_split(_split(y, out[1], g), out[1] + 1, size), out[1], out[1] + 1)
    return _merge(y, out[1] + 1), out[1]


def _unbatched(a: jax.Array, axis: int | None) -> Any:
    aval = jax.typeof(a)
    return aval if axis is None else aval.update(shape=aval.shape[:axis] + aval.shape[axis + 1:])


def _at_front(a: jax.Array, axis: int | None, size: int) -> jax.Array:
    if axis is None:
        return jnp.broadcast_to(a, (size, *a.shape))
    return jnp.moveaxis(a, axis, 0)


def _frame_batch(args, dims, *, config):
    return _batched(config, *args, *dims)


def _frame_tangent_batch(args, dims, *, config):
    x, w, tx, tw = args
    bx, bw, btx, btw = dims
    size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    a, b = _batched(config, tx, w, btx, bw), _batched(config, x, tw, bx, btw)
    return _at_front(*a, size) + _at_front(*b, size), 0


_frame_p.def_impl(_frame_impl)
_frame_p.def_abstract_eval(_frame_shape)
mlir.register_lowering(_frame_p, mlir.lower_fun(_frame_impl, multiple_results=False))
ad.primitive_jvps[_frame_p] = _frame_jvp
ad.primitive_transposes[_frame_p] = _frame_transpose
batching.primitive_batchers[_frame_p] = _frame_batch

_frame_tangent_p.def_impl(_frame_tangent_impl)
_frame_tangent_p.def_abstract_eval(_frame_shape)
mlir.register_lowering(_frame_tangent_p, mlir.lower_fun(_frame_tangent_impl,
                                                        multiple_results=False))
ad.primitive_jvps[_frame_tangent_p] = _frame_tangent_jvp
ad.primitive_transposes[_frame_tangent_p] = _frame_tangent_transpose
batching.primitive_batchers[_frame_tangent_p] = _frame_tangent_batch

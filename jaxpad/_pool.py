"""`max_pool` and `avg_pool`: pooling with conv's padding specs and PyTorch's/Keras's counts."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

from . import _policy
from ._conv import dimension_numbers
from ._pad import check_widths, pad_validated
from ._padding import (
    ModeLike,
    PaddingLike,
    Pair,
    canonical_ints,
    canonical_modes,
    effective_kernel_size,
    pool_output_shape,
    resolve_padding,
)
from ._sharding import auto_partitioned
from ._strategies import check_impl


def _rank(x: jax.Array, window_shape: Any, strides: Any) -> int:
    for value in (window_shape, strides):
        if isinstance(value, Sequence) and not isinstance(value, str):
            return len(value)
    return x.ndim - 2


class _Geometry:
    """Validated pooling geometry of a batched input (static Python ints)."""

    def __init__(self, x, window_shape, strides, padding, dilation, ceil_mode, channels_last,
                 name):
        if not isinstance(channels_last, bool):
            raise TypeError(f"`channels_last` must be a bool; got {channels_last!r}.")
        if not isinstance(ceil_mode, bool):
            raise TypeError(f"`ceil_mode` must be a bool; got {ceil_mode!r}.")
        nsp = _rank(x, window_shape, strides)
        if nsp < 1 or x.ndim not in (nsp + 1, nsp + 2):
            raise ValueError(
                f"`x` must have rank {nsp + 2} (batched) or {nsp + 1} (unbatched) for "
                f"{name} over {max(nsp, 1)} spatial axes; got shape {tuple(x.shape)}. An int "
                f"`window_shape` means a batched input; pass one size per axis otherwise."
            )
        self.batched = x.ndim == nsp + 2
        self.dn = dimension_numbers(nsp, channels_last)
        self.spatial = self.dn.lhs_spec[2:]
        shape = x.shape if self.batched else (1, *x.shape)
        self.shape = tuple(shape[a] for a in self.spatial)
        self.window = canonical_ints(window_shape, nsp, "window_shape")
        self.strides = self.window if strides is None else canonical_ints(strides, nsp, "strides")
        self.dilation = canonical_ints(dilation, nsp, "dilation")
        self.pads = resolve_padding(padding, self.shape, self.window, self.strides, self.dilation)
        self.out = pool_output_shape(self.shape, self.window, self.strides, self.pads,
                                     self.dilation, ceil_mode)
        # ceil_mode's last windows may run past the padding: that part is left out.
        self.extra = tuple(
            max((o - 1) * s + effective_kernel_size(k, d) - (i + lo + hi), 0)
            for o, s, k, d, i, (lo, hi) in zip(
                self.out, self.strides, self.window, self.dilation, self.shape, self.pads)
        )
        self.ndim = nsp + 2

    def full(self, values: Sequence[Any], fill: Any) -> tuple[Any, ...]:
        """One entry per axis of the batched input: `values` on the spatial axes."""
        out = [fill] * self.ndim
        for a, v in zip(self.spatial, values):
            out[a] = v
        return tuple(out)


@auto_partitioned
@partial(jax.jit, static_argnames=("window", "strides", "dilation", "pads"))
def _max_pool(x, *, window, strides, dilation, pads):
    # Concrete numpy inits let lax pick its differentiable max/add window reductions.
    if jnp.issubdtype(x.dtype, jnp.integer):
        init = np.array(jnp.iinfo(x.dtype).min, x.dtype)
    else:
        init = np.array(-np.inf, x.dtype)
    if all(d == 1 for d in dilation):
        return lax.reduce_window(x, init, lax.max, window, strides, pads)
    # lax has no VJP for dilated max windows: the maximum of one strided slice per tap.
    x = lax.pad(x, init, [(lo, hi, 0) for lo, hi in pads])
    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(x.shape, window, strides,
                                                                 dilation)]
    y = None
    for taps in itertools.product(*(range(k) for k in window)):
        start = [t * d for t, d in zip(taps, dilation)]
        limit = [b + (o - 1) * s + 1 for b, o, s in zip(start, out, strides)]
        tap = lax.slice(x, start, limit, strides)
        y = tap if y is None else jnp.maximum(y, tap)
    return y


def max_pool(
    x: ArrayLike,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    *,
    padding: PaddingLike = "valid",
    ceil_mode: bool = False,
    dilation: int | Sequence[int] = 1,
    channels_last: bool = True,
    impl: str = "auto",
) -> jax.Array:
    """N-dimensional max pooling with `jaxpad.conv`'s padding specs and PyTorch's `ceil_mode`.

    Layouts: `(N, *spatial, C)` or `(*spatial, C)` with `channels_last=True`
    (Flax, Keras), `(N, C, *spatial)` or `(C, *spatial)` otherwise (PyTorch).
    The number of spatial axes is the length of `window_shape` (or of
    `strides`); with ints only, `x` must be batched.

    Padded positions never win: they hold `-inf` (the dtype's minimum for
    integers). Output size per axis, `eff = dilation * (window - 1) + 1`:
    `floor((i + lo + hi - eff) / stride) + 1`, or `ceil` with `ceil_mode` (a
    last window starting past the input and its left padding is dropped, as in
    PyTorch). So integer padding with `ceil_mode`/`dilation` is
    `torch.nn.MaxPoolNd`, and 'same' is Keras/TF 'same' max pooling.

    Args:
      x: the input, batched or not, in the layout chosen by `channels_last`.
      window_shape: an int or one size per spatial axis.
      strides: an int or one per spatial axis; `None` means the window (as in
        PyTorch and Keras).
      padding: 'same', 'same_lower', 'valid', 'causal', 'full', an int (PyTorch's
        symmetric padding), one int per axis, or one `(lo, hi)` pair per axis.
      ceil_mode: PyTorch's rounding up of the output size.
      dilation: the window dilation, an int or one per spatial axis.
      channels_last: layout switch, see above.
      impl: the strategy (`jaxpad._strategies`): 'pad', the one pools have, or
        'auto', the platform's default (`jaxpad._policy`).

    Returns:
      The pooled array, batched iff `x` was, in the layout of `x`.

    Raises:
      ValueError: wrong rank, non-positive sizes, a bad padding spec or `impl`,
        or an empty output.
      TypeError: non-integer sizes or non-bool flags.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.array([1.0, 5.0, 2.0, 4.0, 3.0]).reshape(1, 5, 1)
      >>> jaxpad.max_pool(x, 2, ceil_mode=True)[0, :, 0].tolist()
      [5.0, 4.0, 3.0]
    """
    check_impl("max_pool", impl)
    x = jnp.asarray(x)
    g = _Geometry(x, window_shape, strides, padding, dilation, ceil_mode, channels_last,
                  "max_pool")
    xb = x if g.batched else x[None]
    pads = g.full([(lo, hi + e) for (lo, hi), e in zip(g.pads, g.extra)], (0, 0))
    pool = partial(_max_pool, window=g.full(g.window, 1), strides=g.full(g.strides, 1),
                   dilation=g.full(g.dilation, 1), pads=pads)
    y = _policy.dispatch("max_pool", impl, {"pad": pool}, xb)
    return y if g.batched else y[0]


def _counts(size: int, window: int, stride: int, pad: Pair, out: int, include_pad: bool):
    lo, hi = pad
    low, high = (-lo, size + hi) if include_pad else (0, size)
    starts = np.arange(out) * stride - lo
    return np.clip(np.minimum(starts + window, high) - np.maximum(starts, low), 0, None)


@auto_partitioned
@partial(jax.jit, static_argnames=("window", "strides", "widths", "modes", "pads"))
def _avg_pool(x, divisor, *, window, strides, widths, modes, pads):
    if any(w != (0, 0) for w in widths):
        x = pad_validated(x, jnp.zeros((), x.dtype), widths=widths, modes=modes)
    total = lax.reduce_window(x, np.zeros((), x.dtype), lax.add, window, strides, pads)
    return total / divisor.astype(x.dtype)


def avg_pool(
    x: ArrayLike,
    window_shape: int | Sequence[int],
    strides: int | Sequence[int] | None = None,
    *,
    padding: PaddingLike = "valid",
    padding_mode: ModeLike = "zeros",
    count_include_pad: bool = True,
    ceil_mode: bool = False,
    channels_last: bool = True,
    impl: str = "auto",
) -> jax.Array:
    """N-dimensional average pooling with any padding spec, mode and divisor rule.

    Layouts and output sizes as in `jaxpad.max_pool` (without dilation). The
    window sums the input padded by `padding` in `padding_mode` (a
    `jaxpad.pad` mode, e.g. reflect-padded pooling) and divides by the number
    of window positions inside:

    - `count_include_pad=True` (PyTorch's default): the padded input (the
      padding counts; the extra end that `ceil_mode` adds does not).
    - `count_include_pad=False`: the input alone. This is Keras/TF 'same'
      average pooling: `padding='same', count_include_pad=False`.

    So integer padding gives `torch.nn.AvgPoolNd(padding, ceil_mode,
    count_include_pad)`. On `1 2 3 4` with window 3, stride 1, padding 1:
    'zeros' averages `0 1 2 | 1 2 3 | 2 3 4 | 3 4 0` over 3 (or `1 2`, `3 4`
    over 2 without the padding), 'reflect' averages `2 1 2 | ... | 3 4 3`.

    Args:
      x: a floating or complex input, batched or not, in the layout chosen by
        `channels_last`.
      window_shape: an int or one size per spatial axis.
      strides: an int or one per spatial axis; `None` means the window.
      padding: 'same', 'same_lower', 'valid', 'causal', 'full', an int (PyTorch's
        symmetric padding), one int per axis, or one `(lo, hi)` pair per axis.
      padding_mode: a `jaxpad.pad` mode other than 'constant', or one per axis.
      count_include_pad: whether padded positions count in the divisor; only
        'zeros' padding may leave them out.
      ceil_mode: PyTorch's rounding up of the output size.
      channels_last: layout switch, see above.
      impl: the strategy (`jaxpad._strategies`): 'pad', the one pools have, or
        'auto', the platform's default (`jaxpad._policy`).

    Returns:
      The pooled array, batched iff `x` was, in the layout of `x`.

    Raises:
      ValueError: wrong rank, non-positive sizes, a bad padding spec, mode or `impl`,
        `count_include_pad=False` with a mode other than 'zeros', pads too wide
        for the mode, or an empty output.
      TypeError: an integer or boolean input, non-integer sizes or non-bool flags.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
      >>> jaxpad.avg_pool(x, 3, 1, padding="same", count_include_pad=False)[0, :, 0].tolist()
      [1.5, 2.0, 3.0, 3.5]
    """
    check_impl("avg_pool", impl)
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise TypeError(f"`x` of avg_pool must be floating or complex; got {x.dtype}.")
    if not isinstance(count_include_pad, bool):
        raise TypeError(f"`count_include_pad` must be a bool; got {count_include_pad!r}.")
    g = _Geometry(x, window_shape, strides, padding, 1, ceil_mode, channels_last, "avg_pool")
    modes = canonical_modes(padding_mode, len(g.window), "padding_mode")
    if "constant" in modes:
        raise ValueError(
            f"`padding_mode` of avg_pool must be 'zeros', 'reflect', 'replicate', 'circular' "
            f"or 'symmetric'; got {padding_mode!r}."
        )
    if not count_include_pad and any(m != "zeros" for m in modes):
        raise ValueError(
            f"`count_include_pad=False` leaves the padding out of the average, which only "
            f"'zeros' padding allows; got padding_mode={padding_mode!r}."
        )
    check_widths(g.shape, g.pads, modes, axes=g.spatial)
    counts = [
        _counts(i, k, s, p, o, count_include_pad)
        for i, k, s, p, o in zip(g.shape, g.window, g.strides, g.pads, g.out)
    ]
    divisor = counts[0]
    for c in counts[1:]:
        divisor = np.multiply.outer(divisor, c)
    divisor = np.expand_dims(divisor, g.dn.lhs_spec[:2]).astype(np.float32)
    widths = g.full([p if m != "zeros" else (0, 0) for p, m in zip(g.pads, modes)], (0, 0))
    pads = g.full(
        [(0 if m != "zeros" else lo, e + (0 if m != "zeros" else hi))
         for (lo, hi), e, m in zip(g.pads, g.extra, modes)],
        (0, 0),
    )
    xb = x if g.batched else x[None]
    pool = partial(_avg_pool, window=g.full(g.window, 1), strides=g.full(g.strides, 1),
                   widths=widths, modes=g.full(modes, "zeros"), pads=pads)
    y = _policy.dispatch("avg_pool", impl, {"pad": pool}, xb, jnp.asarray(divisor))
    return y if g.batched else y[0]

"""Streaming causal convolutions: chunk by chunk along a time axis, with the offline numbers.

A causal convolution pads the time axis by `eff - 1 = dilation * (k - 1)` frames
before the first one. Streamed, only the first chunk sees that padding; every
later chunk sees the last `eff - 1` frames of the input instead, kept in the
state. Here with `k = 3` (`eff - 1 = 2`) and chunks of 4 frames:

    offline   p p | x0 x1 x2 x3 x4 x5 x6 x7 x8 x9      p: the time axis's mode
    chunk 1   p p | x0 x1 x2 x3          -> y0 .. y3   keeps x2 x3
    chunk 2         x2 x3 | x4 x5 x6 x7  -> y4 .. y7   keeps x6 x7
    chunk 3               x6 x7 | x8 x9  -> y8 y9

Each chunk is convolved 'valid' in time after the history, so output `j` (its
window ends on frame `j * stride`) is emitted as soon as that frame arrives.
The other spatial axes are padded by `padding` in their modes, chunk by chunk.

A transposed convolution runs the other way: frame `i` adds `x[i] * w` onto
outputs `i * stride .. i * stride + eff - 1`. A chunk of `n` frames emits its
`n * stride` outputs; the `eff - stride` outputs its last frames reach beyond
them are carried in the state and added to the next chunk's first outputs.
Concatenated, that is the offline transposed convolution cropped causally,
`(0, eff - stride)` (EnCodec's causal decoder).

The state is a pytree of arrays with its configuration as static metadata, so
`conv` and `conv_transpose` work under `jax.jit`, `lax.scan`, `jax.vmap` and
`jax.grad`, and a chunk length traces once. `causal_conv` and
`causal_conv_transpose` are the offline equivalents: train with them, stream
with `conv` and `conv_transpose`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._conv import add_bias, batched_input, dimension_numbers, shape_text
from ._conv import conv as _conv
from ._conv_transpose import conv_transpose as _conv_transpose
from ._pad import pad as _pad
from ._padding import (
    MODE,
    MODE_RECORDS,
    ModeLike,
    PaddingLike,
    Pair,
    as_int,
    canonical_ints,
    canonical_modes,
    effective_kernel_size,
    modes_text,
    resolve_padding,
    transpose_padding,
)

__all__ = [
    "ConvState",
    "ConvTransposeState",
    "causal_conv",
    "causal_conv_transpose",
    "conv",
    "conv_transpose",
    "init_conv",
    "init_conv_transpose",
]

# The modes whose padding before the first frame needs no later frame.
_TIME_MODES = tuple(m.name for m in MODE_RECORDS if m.causal)


@dataclasses.dataclass(frozen=True)
class _Config:
    """One streamed convolution, checked and canonical: the static part of its state."""

    kind: str  # 'conv' or 'conv_transpose'
    batched: bool
    frame_shape: tuple[int, ...]  # a chunk's shape without its time axis
    dtype: str
    kernel_shape: tuple[int, ...]
    time_axis: int  # among the spatial axes
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    # conv: the other axes' padding; conv_transpose: their crops, with a negative end crop
    # (Keras's 'same'/'valid' for eff < stride) moved into `extra` as output padding.
    # The time axis's entry is (0, 0) and filled in per use.
    pads: tuple[Pair, ...]
    extra: tuple[int, ...]
    padding_mode: tuple[str, ...]
    oversize: str
    groups: int
    channels_last: bool
    precision: Any
    preferred_element_type: Any

    @property
    def time_dim(self) -> int:
        """The time axis of a batched chunk."""
        return dimension_numbers(len(self.stride), self.channels_last).lhs_spec[2 + self.time_axis]

    @property
    def eff(self) -> int:
        t = self.time_axis
        kernel = self.kernel_shape[:-2] if self.channels_last else self.kernel_shape[2:]
        return effective_kernel_size(kernel[t], self.dilation[t])

    @property
    def time_stride(self) -> int:
        return self.stride[self.time_axis]

    @property
    def time_mode(self) -> str:
        return self.padding_mode[self.time_axis]

    def with_time(self, pair: Pair = (0, 0), extra: int = 0, mode: str | None = None):
        """The pads, extra output padding and modes with the time axis's entries set."""
        t = self.time_axis
        pads, extras, modes = list(self.pads), list(self.extra), list(self.padding_mode)
        pads[t], extras[t] = pair, extra
        if mode is not None:
            modes[t] = mode
        return tuple(pads), tuple(extras), tuple(modes)

    def keywords(self) -> dict[str, Any]:
        """The keywords every jaxpad.conv / jaxpad.conv_transpose call of this config shares."""
        return dict(stride=self.stride, dilation=self.dilation, groups=self.groups,
                    channels_last=self.channels_last, precision=self.precision,
                    preferred_element_type=self.preferred_element_type)

    def chunk_text(self) -> str:
        """The chunk shape, `*` standing for any number of frames."""
        shape = [str(s) for s in self.frame_shape]
        shape.insert(self.time_dim - (not self.batched), "*")
        return f"({', '.join(shape)})"


def _canonical_time_axis(time_axis: Any, nsp: int) -> int:
    t = as_int(time_axis, "time_axis")
    if not -nsp <= t < nsp:
        raise ValueError(
            f"`time_axis` must index one of the {nsp} spatial axes (0 to {nsp - 1}, or "
            f"negative from the end); got {time_axis!r}."
        )
    return t % nsp


def _spec_of_all_axes(padding: Any, nsp: int, t: int) -> Any:
    """`padding` of the other axes as a spec of every axis, (0, 0) standing in for time."""
    if isinstance(padding, str) or not isinstance(padding, Sequence):
        return padding
    if len(padding) != nsp - 1:
        raise ValueError(
            f"`padding` must be a string, an int, or {nsp - 1} ints or (lo, hi) pairs: one per "
            f"spatial axis other than the time axis ({t}), which is causal; got {padding!r} of "
            f"length {len(padding)}."
        )
    entries = list(padding)
    entries.insert(t, (0, 0))
    return entries


def _as_array(x: Any) -> jax.Array:
    """An array, or zeros standing for anything with a shape and dtype (jax.ShapeDtypeStruct)."""
    if isinstance(x, jax.ShapeDtypeStruct):
        return jnp.zeros(x.shape, x.dtype)
    return jnp.asarray(x)


def _make_config(kind, x, kernel, *, stride, padding, padding_mode, oversize, dilation, groups,
                 channels_last, time_axis, precision, preferred_element_type) -> _Config:
    """Checks the arguments of a streamed conv (`kind`) and returns its `_Config`.

    Every check of `jaxpad.conv` / `jaxpad.conv_transpose` runs on the offline
    equivalent of one chunk (long enough for the time axis's padding).
    """
    x, kernel, batched, dn = batched_input(_as_array(x), _as_array(kernel), channels_last)
    nsp = kernel.ndim - 2
    t = _canonical_time_axis(time_axis, nsp)
    modes = canonical_modes(padding_mode, nsp, "padding_mode")
    if modes[t] not in _TIME_MODES:
        raise ValueError(
            f"`padding_mode` of the time axis ({t}) cannot be {modes[t]!r}: it would wrap the "
            f"end of the sequence, which has not arrived yet, onto its start. Use one of "
            f"{modes_text(_TIME_MODES)} there."
        )
    strides = canonical_ints(stride, nsp, "stride")
    dilations = canonical_ints(dilation, nsp, "dilation")
    spatial = tuple(x.shape[a] for a in dn.lhs_spec[2:])
    ksize = tuple(kernel.shape[a] for a in dn.rhs_spec[2:])
    spec = _spec_of_all_axes(padding, nsp, t)
    if kind == "conv":
        pairs, extra = resolve_padding(spec, spatial, ksize, strides, dilations), (0,) * nsp
    else:
        crops = transpose_padding(spec, spatial, ksize, strides, dilations)
        pairs = tuple((lo, max(hi, 0)) for lo, hi in crops)
        extra = tuple(max(-hi, 0) for _, hi in crops)
    pairs = tuple((0, 0) if a == t else p for a, p in enumerate(pairs))
    extra = tuple(0 if a == t else e for a, e in enumerate(extra))
    td = dn.lhs_spec[2 + t]
    frame = x.shape[:td] + x.shape[td + 1:]
    config = _Config(
        kind=kind, batched=batched, frame_shape=frame[1:] if not batched else frame,
        dtype=str(x.dtype), kernel_shape=tuple(kernel.shape), time_axis=t, stride=strides,
        dilation=dilations, pads=tuple(pairs), extra=extra, padding_mode=modes,
        oversize=oversize, groups=as_int(groups, "groups"), channels_last=channels_last,
        precision=precision, preferred_element_type=preferred_element_type,
    )
    shape = list(x.shape)
    shape[td] = max(shape[td], config.eff)
    offline = _offline_conv if kind == "conv" else _offline_conv_transpose
    jax.eval_shape(partial(offline, config=config), jax.ShapeDtypeStruct(shape, x.dtype),
                   jax.ShapeDtypeStruct(kernel.shape, kernel.dtype), None, jnp.zeros(()))
    return config


def _offline_conv(x, kernel, bias, padding_value, *, config: _Config) -> jax.Array:
    """`jaxpad.conv` of a whole batched sequence with the time axis padded causally."""
    c = config
    pads, _, modes = c.with_time((c.eff - 1, 0))
    return _conv(x, kernel, bias, padding=pads, padding_mode=modes, padding_value=padding_value,
                 oversize=c.oversize, **c.keywords())


def _offline_conv_transpose(x, kernel, bias, padding_value, *, config: _Config) -> jax.Array:
    """`jaxpad.conv_transpose` of a whole batched sequence cropped causally, output `n * s`."""
    del padding_value
    c = config
    s, eff = c.time_stride, c.eff
    pads, extra, modes = c.with_time((0, max(eff - s, 0)), max(s - eff, 0))
    return _conv_transpose(x, kernel, bias, padding=pads, output_padding=extra,
                           padding_mode=modes, **c.keywords())


def _pad_axes(x, value, config: _Config, time: Pair, others: bool) -> jax.Array:
    """Batched `x` padded by `time` in the time axis's mode, and the other axes by theirs."""
    c = config
    pads, _, modes = c.with_time(time)
    if not others:
        pads = tuple(p if a == c.time_axis else (0, 0) for a, p in enumerate(pads))
    dn = dimension_numbers(len(pads), c.channels_last)
    widths, axis_modes = [(0, 0)] * x.ndim, ["zeros"] * x.ndim
    for a, (p, m) in enumerate(zip(pads, modes)):
        widths[dn.lhs_spec[2 + a]], axis_modes[dn.lhs_spec[2 + a]] = p, m
    return _pad(x, widths, axis_modes, value=value, oversize=c.oversize)


def _frames_read(mode: str, width: int) -> int:
    """How many leading frames `width` frames of padding in `mode` read (at least one)."""
    return max(MODE[mode].reads(width), 1)


def _before_first(x, value, config: _Config, width: int, others: bool) -> jax.Array | None:
    """The `width` frames before the first of batched `x`, filled by the time axis's mode.

    None where `x` is too short to fill them: then it cannot have been the first
    chunk (`_check_first` refuses it where the state is concrete; traced, the
    caller fills NaN, so that a stream begun with it gives NaN rather than numbers
    that look right).
    """
    c = config
    td, need = c.time_dim, _frames_read(c.time_mode, width)
    if x.shape[td] < need:
        return None
    padded = _pad_axes(lax.slice_in_dim(x, 0, need, axis=td), value, c, (width, 0), others)
    return lax.slice_in_dim(padded, 0, width, axis=td)


def _nan_like(a: jax.Array) -> jax.Array:
    """NaN (zeros for integers) in the shape of `a`: a constant, so its gradient is no NaN."""
    return jnp.full(a.shape, jnp.nan if jnp.issubdtype(a.dtype, jnp.inexact) else 0, a.dtype)


def _check_first(started: jax.Array, x: jax.Array, config: _Config, width: int) -> None:
    """Refuses a first chunk too short for the time axis's mode, where `started` is known.

    Long enough chunks return before reading `started`, which would wait for the device.
    """
    n, need = x.shape[config.time_dim], _frames_read(config.time_mode, width)
    if n < need and not isinstance(started, jax.core.Tracer) and not bool(started):
        raise ValueError(
            f"The first chunk must hold at least {need} frames: {config.time_mode} padding of "
            f"the time axis reads {width} frame(s) before the first from the first {need}; "
            f"`x` has {n}. Make the first chunk longer."
        )


@partial(jax.jit, static_argnames=("config",))
def _conv_step(x, kernel, bias, history, started, padding_value, *, config: _Config):
    """One batched chunk: its outputs and the new history."""
    c = config
    td, keep = c.time_dim, c.eff - 1
    fill = _before_first(x, padding_value, c, keep, True)
    history = jnp.where(started, history, _nan_like(history) if fill is None else fill)
    full = lax.concatenate([history, _pad_axes(x, padding_value, c, (0, 0), True)], td)
    y = _conv(full, kernel, bias, padding="valid", **c.keywords())
    return y, lax.slice_in_dim(full, full.shape[td] - keep, full.shape[td], axis=td)


@partial(jax.jit, static_argnames=("config",))
def _conv_transpose_step(x, kernel, bias, overlap, started, *, config: _Config):
    """One batched chunk of `n` frames: its `n * stride` outputs and the new overlap."""
    c = config
    td, s, eff = c.time_dim, c.time_stride, c.eff
    overlap_size, n_out = max(eff - s, 0), x.shape[td] * s
    pads, extra, modes = c.with_time((0, 0), max(s - eff, 0), "zeros")
    full = _conv_transpose(x, kernel, None, padding=pads, output_padding=extra,
                           padding_mode=modes, **c.keywords())
    if overlap_size:
        if c.time_mode != "zeros":
            # The frames before the first, as the offline transposed convolution extends
            # its input by the time axis's mode, reach the first `eff - stride` outputs.
            m = (eff - 1) // s
            virtual = _before_first(x, jnp.zeros((), x.dtype), c, m, False)
            if virtual is None:
                first = _nan_like(overlap)
            else:
                pads, extra, modes = c.with_time((m * s, 0), 0, "zeros")
                first = _conv_transpose(virtual, kernel, None, padding=pads,
                                        output_padding=extra, padding_mode=modes,
                                        **c.keywords()).astype(overlap.dtype)
            overlap = jnp.where(started, overlap, first)
        head = lax.slice_in_dim(full, 0, overlap_size, axis=td) + overlap
        full = lax.concatenate([head, lax.slice_in_dim(full, overlap_size, None, axis=td)], td)
    y = add_bias(lax.slice_in_dim(full, 0, n_out, axis=td), bias,
                 dimension_numbers(len(c.stride), c.channels_last))
    return y, lax.slice_in_dim(full, n_out, n_out + overlap_size, axis=td)


@partial(jax.tree_util.register_dataclass, data_fields=("history", "started"),
         meta_fields=("config", "ended"))
@dataclasses.dataclass(frozen=True)
class ConvState:
    """The state of a streamed `conv`: the input frames its next windows still read.

    A pytree whose leaves are `history` and `started`; the configuration is
    static metadata, so a jitted step that takes and returns the state traces
    once per chunk length, and `lax.scan` can carry it.

    Attributes:
      history: the last `dilation * (k - 1)` frames of the time axis seen so
        far, already padded in the other spatial axes (so
        `(N, eff - 1, H + pad, ..., C)` for a channels-last chunk streamed
        along axis 0); before the first chunk a placeholder.
      started: a bool scalar, False until the first chunk has filled the
        frames before itself by the time axis's mode.
      config: static: the checked shapes and keywords of `init_conv`.
      ended: static: None, or the length of the chunk (not a multiple of the
        time stride) that ended the stream.

    Raises:
      ValueError: not here, but from `conv`, when given a state made for another
        configuration.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> state = jaxpad.streaming.init_conv(jnp.zeros((2, 4, 3)), jnp.ones((5, 3, 8)))
      >>> state.history.shape, state.started.item()
      ((2, 4, 3), False)
    """

    history: jax.Array
    started: jax.Array
    config: _Config
    ended: int | None = None


@partial(jax.tree_util.register_dataclass, data_fields=("overlap", "started"),
         meta_fields=("config",))
@dataclasses.dataclass(frozen=True)
class ConvTransposeState:
    """The state of a streamed `conv_transpose`: the outputs its last frames reach ahead.

    A pytree whose leaves are `overlap` and `started`, with the configuration as
    static metadata (see `ConvState`).

    Attributes:
      overlap: the next `eff - stride` outputs of the time axis (zero frames
        when `eff <= stride`), summed over the frames seen so far, without bias.
      started: a bool scalar, False until the first chunk; where the time axis's
        mode is not 'zeros', the first chunk adds what the frames before it
        (extended by that mode) contribute.
      config: static: the checked shapes and keywords of `init_conv_transpose`.

    Raises:
      ValueError: not here, but from `conv_transpose`, when given a state made for
        another configuration.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x, k = jnp.zeros((2, 4, 3)), jnp.ones((4, 8, 3))   # stride 2: 4 - 2 overlap
      >>> jaxpad.streaming.init_conv_transpose(x, k, stride=2).overlap.shape
      (2, 2, 8)
    """

    overlap: jax.Array
    started: jax.Array
    config: _Config


_FIELD_NAMES = {"pads": "padding", "extra": "padding", "kernel_shape": "the kernel's shape"}


def _check_state(state: Any, cls: type, init: str) -> None:
    if not isinstance(state, cls):
        raise TypeError(
            f"`state` must be a jaxpad.streaming.{cls.__name__}, as `{init}` and the previous "
            f"call return; got {type(state).__name__}."
        )
    if getattr(state, "ended", None) is not None:
        raise ValueError(
            f"The stream has ended: its last chunk had {state.ended} frames, not a multiple "
            f"of the time stride {state.config.time_stride}, and only the last chunk may be "
            f"shorter. Start a new stream with `{init}`."
        )


def _check_chunk(x: jax.Array, config: _Config) -> None:
    """Refuses a chunk whose shape (time aside) or dtype is not the stream's."""
    td = config.time_dim - (not config.batched)
    frame = x.shape[:td] + x.shape[td + 1:] if x.ndim > td else None
    if x.ndim != len(config.frame_shape) + 1 or frame != config.frame_shape:
        raise ValueError(
            f"`x` has shape {shape_text(x)} but the state was made for chunks of shape "
            f"{config.chunk_text()} (`*`: any number of frames); a stream keeps its batch, "
            f"channels and other spatial sizes."
        )
    if str(x.dtype) != config.dtype:
        raise ValueError(f"`x` has dtype {x.dtype} but the state was made for {config.dtype} "
                         f"chunks; cast the chunk or start a new stream.")
    if x.shape[td] < 1:
        raise ValueError(f"`x` must hold at least one frame; got shape {shape_text(x)}.")


def _check_config(state: _Config, call: _Config, init: str) -> None:
    """Refuses a state whose configuration differs from this call's."""
    diffs = [
        f"{_FIELD_NAMES.get(f.name, f.name)} {getattr(call, f.name)!r} here, "
        f"{getattr(state, f.name)!r} in the state"
        for f in dataclasses.fields(_Config) if getattr(call, f.name) != getattr(state, f.name)
    ]
    if diffs:
        raise ValueError(
            f"`state` was made for another configuration: {'; '.join(diffs)}. Pass the "
            f"keywords and the kernel shape that `{init}` got, or start a new stream with it."
        )


def _batched(a: jax.Array, config: _Config) -> jax.Array:
    return a if config.batched else a[None]


def _unbatched(a: jax.Array, config: _Config) -> jax.Array:
    return a if config.batched else a[0]


def init_conv(
    x: ArrayLike,
    kernel: ArrayLike,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "same",
    padding_mode: ModeLike = "zeros",
    padding_value: ArrayLike = 0.0,
    oversize: str = "error",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    time_axis: int = 0,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> ConvState:
    """The state before the first chunk of a streamed causal `conv`.

    Takes the keywords `conv` takes, so one dict of keywords serves both.

    Args:
      x: a chunk (or a `jax.ShapeDtypeStruct`): its batch, channels, other
        spatial sizes and dtype are the stream's; its length and values do
        not matter (the first `conv` call fills the frames before it).
      kernel: the weights, in the layout of `jaxpad.conv` (only its shape is read).
      stride: an int or one per spatial axis, >= 1. Every chunk but the last
        must hold a multiple of the time axis's stride.
      padding: the spec of the spatial axes other than the time axis (which is
        causal): a string `jaxpad.resolve_padding` takes ('same', 'valid', ...)
        applied to each, an int, or one int or `(lo, hi)` pair per other axis.
      padding_mode: one mode, or one per spatial axis (the time axis's
        included). The time axis's mode fills the frames before the first:
        'zeros', 'constant', 'replicate' (the first frame repeated), 'reflect'
        or 'symmetric' (the first chunk must hold `eff` or `eff - 1` frames,
        `eff = dilation * (k - 1) + 1`); 'circular' is refused.
      padding_value: the fill of 'constant' axes (unused here; `conv` takes it).
      oversize: as in `jaxpad.conv`, for the other axes.
      dilation: the kernel dilation, an int or one per spatial axis.
      groups: feature groups.
      channels_last: the layout, as in `jaxpad.conv`.
      time_axis: the index of the streamed spatial axis (negative from the end).
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Returns:
      A `ConvState` holding `dilation * (k - 1)` placeholder frames.

    Raises:
      ValueError: 'circular' on the time axis, a bad `time_axis`, a `padding`
        sequence of the wrong length, or anything `jaxpad.conv` refuses.
      TypeError: non-integer sizes or a non-bool `channels_last`.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> video = jnp.zeros((1, 4, 8, 8, 3))                 # (N, T, H, W, C)
      >>> k = jnp.ones((3, 3, 3, 3, 16))                     # (T, H, W, I, O)
      >>> state = jaxpad.streaming.init_conv(video, k, padding_mode="replicate")
      >>> state.history.shape                                # 2 frames, padded in H and W
      (1, 2, 10, 10, 3)
    """
    del padding_value
    config = _make_config(
        "conv", x, kernel, stride=stride, padding=padding, padding_mode=padding_mode,
        oversize=oversize, dilation=dilation, groups=groups, channels_last=channels_last,
        time_axis=time_axis, precision=precision, preferred_element_type=preferred_element_type)
    td = config.time_dim
    shape = [*config.frame_shape[:td - (not config.batched)], config.eff - 1,
             *config.frame_shape[td - (not config.batched):]]
    dn = dimension_numbers(len(config.stride), config.channels_last)
    for a, (lo, hi) in zip(dn.lhs_spec[2:], config.pads):
        shape[a - (not config.batched)] += lo + hi
    return ConvState(jnp.zeros(shape, config.dtype), jnp.zeros((), bool), config)


def conv(
    x: ArrayLike,
    kernel: ArrayLike,
    state: ConvState,
    bias: ArrayLike | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "same",
    padding_mode: ModeLike = "zeros",
    padding_value: ArrayLike = 0.0,
    oversize: str = "error",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    time_axis: int = 0,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> tuple[jax.Array, ConvState]:
    """One chunk of a causal convolution streamed along `time_axis`.

    For any split of a sequence along the time axis into chunks whose lengths
    are multiples of the time stride `s` (the last may be shorter), the
    concatenated outputs equal `causal_conv` of the whole sequence: `jaxpad.conv`
    with the time axis padded `(dilation * (k - 1), 0)` and the other axes by
    `padding`, all in `padding_mode`. A chunk of `n` frames emits `ceil(n / s)`
    outputs, each as soon as the last frame of its window has arrived. A last
    chunk whose length is not a multiple of `s` ends the stream (its final
    output's window ends on the chunk's last frame whose index is a multiple of
    `s`, as offline), and the state it returns refuses further chunks.

    Layouts are `jaxpad.conv`'s; `x` is batched or not, as `init_conv`'s was.

    Args:
      x: the chunk, e.g. `(N, n, H, W, C)` for channels-last frames on axis 0.
      kernel: the weights, in the layout of `jaxpad.conv`.
      state: `init_conv`'s state, or the state the previous chunk returned.
      bias: optional, shape `(O,)`.
      stride: as in `init_conv`.
      padding: as in `init_conv`.
      padding_mode: as in `init_conv`.
      padding_value: the fill of 'constant' axes (also of the time axis).
      oversize: as in `jaxpad.conv`, for the other axes.
      dilation: as in `init_conv`.
      groups: as in `init_conv`.
      channels_last: as in `init_conv`.
      time_axis: as in `init_conv`.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Returns:
      `(y, state)`: the chunk's outputs, in the layout of `x`, and the state
      for the next chunk.

    Raises:
      ValueError: a state of an ended stream, made for another configuration,
        or for chunks of another shape or dtype; an empty chunk; a first chunk
        too short for reflect or symmetric time padding (checked where the
        state is concrete: under `jit` such a stream's outputs are NaN); or
        anything `init_conv` refuses.
      TypeError: a `state` that is not a `ConvState`.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.arange(1.0, 9.0).reshape(1, 8, 1)          # (N, T, C)
      >>> k = jnp.ones((3, 1, 1))                             # (T, I, O)
      >>> kw = dict(padding_mode="replicate")
      >>> state = jaxpad.streaming.init_conv(x[:, :3], k, **kw)
      >>> y1, state = jaxpad.streaming.conv(x[:, :3], k, state, **kw)
      >>> y2, state = jaxpad.streaming.conv(x[:, 3:], k, state, **kw)
      >>> jnp.concatenate([y1, y2], axis=1)[0, :, 0].tolist()
      [3.0, 4.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0]
      >>> jaxpad.streaming.causal_conv(x, k, **kw)[0, :, 0].tolist()
      [3.0, 4.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0]
    """
    _check_state(state, ConvState, "init_conv")
    x = jnp.asarray(x)
    _check_chunk(x, state.config)
    config = _make_config(
        "conv", x, kernel, stride=stride, padding=padding, padding_mode=padding_mode,
        oversize=oversize, dilation=dilation, groups=groups, channels_last=channels_last,
        time_axis=time_axis, precision=precision, preferred_element_type=preferred_element_type)
    _check_config(state.config, config, "init_conv")
    x = _batched(x, config)
    _check_first(state.started, x, config, config.eff - 1)
    n = x.shape[config.time_dim]
    y, history = _conv_step(
        x, jnp.asarray(kernel), None if bias is None else jnp.asarray(bias),
        _batched(state.history, config), state.started, jnp.asarray(padding_value),
        config=config)
    ended = n if n % config.time_stride else None
    return _unbatched(y, config), ConvState(_unbatched(history, config), jnp.ones((), bool),
                                            config, ended)


def causal_conv(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "same",
    padding_mode: ModeLike = "zeros",
    padding_value: ArrayLike = 0.0,
    oversize: str = "error",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    time_axis: int = 0,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """The whole sequence at once: what the chunks of `conv` concatenate to.

    `jaxpad.conv` with the time axis padded causally, `(dilation * (k - 1), 0)`,
    and the other spatial axes by `padding`, everything in `padding_mode`. Train
    with it, stream with `conv` and the same keywords.

    Args:
      x: the sequence, batched or not, in the layout of `jaxpad.conv`.
      kernel: the weights, in the layout of `jaxpad.conv`.
      bias: optional, shape `(O,)`.
      stride: an int or one per spatial axis, >= 1.
      padding: the spec of the spatial axes other than the time axis (see
        `init_conv`).
      padding_mode: one mode, or one per spatial axis ('circular' refused on
        the time axis).
      padding_value: the fill of 'constant' axes.
      oversize: as in `jaxpad.conv` (for every axis here).
      dilation: the kernel dilation, an int or one per spatial axis.
      groups: feature groups.
      channels_last: the layout, as in `jaxpad.conv`.
      time_axis: the index of the causal spatial axis.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Returns:
      `ceil(T / s)` outputs along the time axis, in the layout of `x`.

    Raises:
      ValueError: as `init_conv`, and as `jaxpad.conv` for the whole sequence.
      TypeError: non-integer sizes or a non-bool `channels_last`.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.arange(1.0, 6.0).reshape(1, 5, 1)
      >>> jaxpad.streaming.causal_conv(x, jnp.ones((2, 1, 1)), stride=2)[0, :, 0].tolist()
      [1.0, 5.0, 9.0]
    """
    config = _make_config(
        "conv", x, kernel, stride=stride, padding=padding, padding_mode=padding_mode,
        oversize=oversize, dilation=dilation, groups=groups, channels_last=channels_last,
        time_axis=time_axis, precision=precision, preferred_element_type=preferred_element_type)
    x = _batched(jnp.asarray(x), config)
    y = _offline_conv(x, jnp.asarray(kernel), bias, padding_value, config=config)
    return _unbatched(y, config)


def _transpose_config(x, kernel, stride, padding, padding_mode, dilation, groups, channels_last,
                      time_axis, precision, preferred_element_type) -> _Config:
    return _make_config(
        "conv_transpose", x, kernel, stride=stride, padding=padding, padding_mode=padding_mode,
        oversize="error", dilation=dilation, groups=groups, channels_last=channels_last,
        time_axis=time_axis, precision=precision, preferred_element_type=preferred_element_type)


def init_conv_transpose(
    x: ArrayLike,
    kernel: ArrayLike,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "same",
    padding_mode: ModeLike = "zeros",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    time_axis: int = 0,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> ConvTransposeState:
    """The state before the first chunk of a streamed causal `conv_transpose`.

    Takes the keywords `conv_transpose` takes, so one dict of keywords serves both.

    Args:
      x: a chunk (or a `jax.ShapeDtypeStruct`): its batch, channels, other
        spatial sizes and dtype are the stream's; its length and values do
        not matter.
      kernel: the weights, in the layout of `jaxpad.conv_transpose` (only its
        shape is read).
      stride: an int or one per spatial axis, >= 1.
      padding: the crop of the spatial axes other than the time axis (which is
        cropped causally): a spec `jaxpad.conv_transpose` takes ('same',
        'valid') applied to each, an int, or one int or `(lo, hi)` pair per
        other axis.
      padding_mode: one mode, or one per spatial axis, as in
        `jaxpad.conv_transpose`. On the time axis 'zeros', 'replicate',
        'reflect' or 'symmetric' (the input extended before its first frame;
        the first chunk must hold the frames that reads); 'circular' is refused.
      dilation: the kernel dilation, an int or one per spatial axis.
      groups: feature groups.
      channels_last: the layout, as in `jaxpad.conv_transpose`.
      time_axis: the index of the streamed spatial axis (negative from the end).
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Returns:
      A `ConvTransposeState` with a zero overlap of `max(eff - stride, 0)` outputs.

    Raises:
      ValueError: 'circular' on the time axis, a bad `time_axis`, a `padding`
        sequence of the wrong length, or anything `jaxpad.conv_transpose` refuses.
      TypeError: non-integer sizes or a non-bool `channels_last`.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x, k = jnp.zeros((1, 5, 4)), jnp.ones((7, 2, 4))  # (N, T, C), (T, O, C)
      >>> jaxpad.streaming.init_conv_transpose(x, k, stride=3).overlap.shape
      (1, 4, 2)
    """
    config = _transpose_config(x, kernel, stride, padding, padding_mode, dilation, groups,
                               channels_last, time_axis, precision, preferred_element_type)
    x = _batched(_as_array(x), config)
    out = jax.eval_shape(partial(_offline_conv_transpose, config=config), x,
                         _as_array(kernel), None, None)
    td = config.time_dim
    shape = (*out.shape[:td], max(config.eff - config.time_stride, 0), *out.shape[td + 1:])
    overlap = _unbatched(jnp.zeros(shape, out.dtype), config)
    return ConvTransposeState(overlap, jnp.zeros((), bool), config)


def conv_transpose(
    x: ArrayLike,
    kernel: ArrayLike,
    state: ConvTransposeState,
    bias: ArrayLike | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "same",
    padding_mode: ModeLike = "zeros",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    time_axis: int = 0,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> tuple[jax.Array, ConvTransposeState]:
    """One chunk of a causal transposed convolution streamed along `time_axis`.

    A chunk of `n` frames emits `n * s` outputs (`s` the time stride); what
    its frames add beyond them, `eff - s` outputs with
    `eff = dilation * (k - 1) + 1`, is carried in the state and added to the
    next chunk's first outputs. For any split of a sequence into chunks, the
    concatenated outputs equal `causal_conv_transpose` of the whole sequence:
    `jaxpad.conv_transpose` with the time axis cropped causally,
    `(0, eff - s)` (EnCodec's causal decoder trims so), and the other axes by
    `padding`, `T * s` outputs in all. What is left in the state after the
    last chunk is the part that crop drops.

    Args:
      x: the chunk, e.g. `(N, n, C)` for channels-last 1-D frames.
      kernel: the weights, in the layout of `jaxpad.conv_transpose`.
      state: `init_conv_transpose`'s state, or the previous call's.
      bias: optional, shape `(O,)`.
      stride: as in `init_conv_transpose`.
      padding: as in `init_conv_transpose`.
      padding_mode: as in `init_conv_transpose`.
      dilation: as in `init_conv_transpose`.
      groups: as in `init_conv_transpose`.
      channels_last: as in `init_conv_transpose`.
      time_axis: as in `init_conv_transpose`.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Returns:
      `(y, state)`: the chunk's `n * s` outputs along the time axis, in the
      layout of `x`, and the state for the next chunk.

    Raises:
      ValueError: a state made for another configuration or for chunks of
        another shape or dtype, an empty chunk, a bias of the wrong shape, a
        first chunk too short for the time axis's mode (checked where the
        state is concrete: under `jit` such a stream's outputs are NaN), or
        anything `init_conv_transpose` refuses.
      TypeError: a `state` that is not a `ConvTransposeState`.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)     # (N, T, C)
      >>> k = jnp.ones((3, 1, 1))                               # (T, O, C)
      >>> state = jaxpad.streaming.init_conv_transpose(x, k, stride=2)
      >>> y1, state = jaxpad.streaming.conv_transpose(x[:, :2], k, state, stride=2)
      >>> y2, state = jaxpad.streaming.conv_transpose(x[:, 2:], k, state, stride=2)
      >>> jnp.concatenate([y1, y2], axis=1)[0, :, 0].tolist()
      [1.0, 1.0, 3.0, 2.0, 5.0, 3.0]
      >>> state.overlap[0, :, 0].tolist()     # the last output the causal crop drops
      [3.0]
    """
    _check_state(state, ConvTransposeState, "init_conv_transpose")
    x = jnp.asarray(x)
    _check_chunk(x, state.config)
    config = _transpose_config(x, kernel, stride, padding, padding_mode, dilation, groups,
                               channels_last, time_axis, precision, preferred_element_type)
    _check_config(state.config, config, "init_conv_transpose")
    kernel = jnp.asarray(kernel)
    if bias is not None:
        bias = jnp.asarray(bias)
        out = kernel.shape[-2 if channels_last else 1] * config.groups
        if bias.shape != (out,):
            raise ValueError(f"`bias` must have shape ({out},) (the output channels); got "
                             f"{shape_text(bias)}.")
    x = _batched(x, config)
    eff, s = config.eff, config.time_stride
    if config.time_mode != "zeros" and eff > s:
        _check_first(state.started, x, config, (eff - 1) // s)
    y, overlap = _conv_transpose_step(x, kernel, bias, _batched(state.overlap, config),
                                      state.started, config=config)
    return _unbatched(y, config), ConvTransposeState(_unbatched(overlap, config),
                                                     jnp.ones((), bool), config)


def causal_conv_transpose(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "same",
    padding_mode: ModeLike = "zeros",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    time_axis: int = 0,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """The whole sequence at once: what the chunks of `conv_transpose` concatenate to.

    `jaxpad.conv_transpose` with the time axis cropped causally,
    `(0, eff - stride)` with `eff = dilation * (k - 1) + 1` (where
    `eff < stride`, `stride - eff` zeros appended instead, as Keras's 'same'
    does), so `T` frames give `T * stride` outputs; the other axes are cropped
    by `padding`. Train with it, stream with `conv_transpose`.

    Args:
      x: the sequence, batched or not, in the layout of `jaxpad.conv_transpose`.
      kernel: the weights, in the layout of `jaxpad.conv_transpose`.
      bias: optional, shape `(O,)`.
      stride: an int or one per spatial axis, >= 1.
      padding: the crop of the spatial axes other than the time axis (see
        `init_conv_transpose`).
      padding_mode: one mode, or one per spatial axis ('circular' refused on
        the time axis).
      dilation: the kernel dilation, an int or one per spatial axis.
      groups: feature groups.
      channels_last: the layout, as in `jaxpad.conv_transpose`.
      time_axis: the index of the causal spatial axis.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Returns:
      `T * stride` outputs along the time axis, in the layout of `x`.

    Raises:
      ValueError: as `init_conv_transpose`, and as `jaxpad.conv_transpose`.
      TypeError: non-integer sizes or a non-bool `channels_last`.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
      >>> y = jaxpad.streaming.causal_conv_transpose(x, jnp.ones((3, 1, 1)), stride=2)
      >>> y[0, :, 0].tolist()
      [1.0, 1.0, 3.0, 2.0, 5.0, 3.0]
    """
    config = _transpose_config(x, kernel, stride, padding, padding_mode, dilation, groups,
                               channels_last, time_axis, precision, preferred_element_type)
    x = _batched(jnp.asarray(x), config)
    y = _offline_conv_transpose(x, jnp.asarray(kernel), bias, None, config=config)
    return _unbatched(y, config)

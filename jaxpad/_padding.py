"""Padding specs: modes, widths, the 'same'/'causal'/... rules and output shapes.

Everything here is static Python on ints: it runs once at trace time, never on
device. Every entry point of jaxpad canonicalises its padding arguments through
the functions in this module, so one spec means one thing everywhere.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from typing import Any

Pair = tuple[int, int]
PaddingLike = str | int | Sequence[int] | Sequence[tuple[int, int]]
ModeLike = str | Sequence[str]

def _replicate(j: int, size: int) -> int:
    return min(max(j, 0), size - 1)


def _circular(j: int, size: int) -> int:
    return j % size


def _reflect(j: int, size: int) -> int:
    if size == 1:
        return 0
    m = j % (2 * size - 2)
    return m if m < size else 2 * size - 2 - m


def _symmetric(j: int, size: int) -> int:
    m = j % (2 * size)
    return m if m < size else 2 * size - 1 - m


@dataclasses.dataclass(frozen=True)
class Mode:
    """One padding mode: everything jaxpad knows of it. Every list of modes derives from
    `MODE_RECORDS`, so a new mode is one entry here (plus its tests).

    Attributes:
      name: the canonical name.
      aliases: other names taken for it (numpy's).
      picture: `1 2 3 4` padded by 2, as the docs show it.
      source: `source(j, size)`, the element of an axis of `size` that position `j`
        (negative before the axis) copies, repeating beyond it as numpy does; None for
        the modes that fill with a value.
      torch_slack: PyTorch's widest pad is `size + torch_slack`; None: any width.
      transposable: whether `conv_transpose` extends its input by this mode.
      causal: whether the padding before an axis reads only its start (so that a
        stream can make it from its first chunk).
      torch_layer: the family of PyTorch's padding layers for it (`ReflectionPad2d`,
        ...), None if PyTorch has none; those but 'zeros' are `F.pad`'s modes.
    """

    name: str
    aliases: tuple[str, ...]
    picture: str
    source: Callable[[int, int], int] | None
    torch_slack: int | None
    transposable: bool
    causal: bool
    torch_layer: str | None

    @property
    def fills(self) -> bool:
        """Whether the padding is a value rather than copies of the input."""
        return self.source is None

    def limit_text(self) -> str:
        """PyTorch's limit in words, e.g. 'width < size'."""
        return {-1: "width < size", 0: "width <= size"}[self.torch_slack]

    def reads(self, width: int) -> int:
        """How far into an axis a pad of `width` at one end reaches: the elements the
        axis needs there (for circular, at the other end)."""
        if width <= 0 or self.fills:
            return 0
        size = 2 * width + 2  # wide enough that the two ends' reads stay apart
        read = [self.source(j, size) for j in range(-width, 0)]
        return max(i + 1 if i < size // 2 else size - i for i in read)


MODE_RECORDS = (
    Mode("zeros", (), "0 0 | 1 2 3 4 | 0 0", None, None, True, True, "ZeroPad"),
    Mode("constant", (), "v v | 1 2 3 4 | v v", None, None, False, True, "ConstantPad"),
    Mode("reflect", (), "3 2 | 1 2 3 4 | 3 2", _reflect, -1, True, True, "ReflectionPad"),
    Mode("replicate", ("edge",), "1 1 | 1 2 3 4 | 4 4", _replicate, None, True, True,
         "ReplicationPad"),
    Mode("circular", ("wrap",), "3 4 | 1 2 3 4 | 1 2", _circular, 0, True, False,
         "CircularPad"),
    Mode("symmetric", (), "2 1 | 1 2 3 4 | 4 3", _symmetric, 0, True, True, None),
)
MODE = {m.name: m for m in MODE_RECORDS}
MODES = tuple(MODE)
_MODE_ALIASES = {a: m.name for m in MODE_RECORDS for a in m.aliases}


def modes_text(modes: Sequence[str] = MODES) -> str:
    """`modes` quoted for a message, with the aliases of all modes when all are allowed."""
    text = ", ".join(map(repr, modes))
    if tuple(modes) == MODES:
        text += f" (or aliases {', '.join(map(repr, _MODE_ALIASES))})"
    return text


SPECS = ("same", "same_lower", "valid", "causal", "full")


def as_int(value: Any, name: str) -> int:
    """Returns `value` as a Python int; bools and floats are refused."""
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be an int; got the bool {value!r}.")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an int; got {value!r}.") from None


def canonical_ints(value: Any, n: int, name: str, *, minimum: int | None = 1) -> tuple[int, ...]:
    """An int, or one int per axis, as a tuple of `n` ints no smaller than `minimum`."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(
                f"`{name}` must be an int or a sequence of {n} ints (one per spatial axis); "
                f"got {value!r} of length {len(value)}."
            )
        out = tuple(as_int(v, name) for v in value)
    else:
        out = (as_int(value, name),) * n
    if minimum is not None and any(v < minimum for v in out):
        raise ValueError(f"`{name}` must be >= {minimum} on every axis; got {value!r}.")
    return out


def canonical_mode(mode: Any, name: str = "mode") -> str:
    """Maps a mode name (any case, numpy aliases allowed) to one of `MODES`."""
    if not isinstance(mode, str):
        raise TypeError(f"`{name}` must be a string, one of {modes_text()}; got {mode!r}.")
    key = mode.lower()
    key = _MODE_ALIASES.get(key, key)
    if key not in MODES:
        raise ValueError(f"`{name}` must be one of {modes_text()}; got {mode!r}.")
    return key


def canonical_modes(mode: ModeLike, n: int, name: str = "mode") -> tuple[str, ...]:
    """One mode for all `n` axes, or a sequence with one mode per axis."""
    if isinstance(mode, str):
        return (canonical_mode(mode, name),) * n
    if not isinstance(mode, Sequence):
        raise TypeError(
            f"`{name}` must be a string or a sequence of {n} strings; got {mode!r}."
        )
    if len(mode) != n:
        raise ValueError(
            f"`{name}` must be one mode or a sequence of {n} modes (one per axis); "
            f"got {len(mode)}: {tuple(mode)!r}."
        )
    return tuple(canonical_mode(m, name) for m in mode)


def source_index(j: int, size: int, mode: str) -> int:
    """The element of an axis of `size` that padded coordinate `j` copies.

    `j` counts from the axis start (negative before it). Beyond the axis the
    non-constant modes repeat with numpy's semantics: reflect has period
    `2 * size - 2`, symmetric `2 * size`, circular `size`.
    """
    if 0 <= j < size:
        return j
    source = MODE[mode].source
    if source is None:
        raise ValueError(f"{mode!r} padding copies no element of the input.")
    return source(j, size)


def _is_pair(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(not isinstance(v, Sequence) for v in value)
    )


def _pair(value: Any, name: str) -> Pair:
    if not _is_pair(value):
        raise ValueError(f"`{name}` entries must be (lo, hi) pairs of ints; got {value!r}.")
    return (as_int(value[0], name), as_int(value[1], name))


def canonical_pad_width(pad_width: Any, ndim: int, name: str = "pad_width") -> tuple[Pair, ...]:
    """`jnp.pad`-style widths (int, one pair, or one pair per axis) as `ndim` pairs."""
    if isinstance(pad_width, Sequence) and not isinstance(pad_width, str):
        if _is_pair(pad_width):
            return (_pair(pad_width, name),) * ndim
        if len(pad_width) == 1:
            return (_pair(pad_width[0], name),) * ndim
        if len(pad_width) != ndim:
            raise ValueError(
                f"`{name}` must be an int, one (lo, hi) pair, or {ndim} pairs (one per axis "
                f"of the input); got {len(pad_width)} entries: {pad_width!r}."
            )
        return tuple(_pair(p, name) for p in pad_width)
    p = as_int(pad_width, name)
    return ((p, p),) * ndim


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """The extent a dilated kernel covers: `dilation * (kernel_size - 1) + 1`.

    Every padding rule is a function of this size alone (and, for 'same', of
    the input size and stride).

    Args:
      kernel_size: the number of taps along one axis.
      dilation: the spacing between taps.

    Returns:
      The number of input elements one window spans.

    Example:
      >>> import jaxpad
      >>> jaxpad.effective_kernel_size(3, dilation=2)  # x . x . x
      5
    """
    return dilation * (kernel_size - 1) + 1


# Padding rules as functions of the effective kernel size (haiku's pad.py style).
def valid(eff: int) -> Pair:
    """No padding: `(0, 0)`."""
    del eff
    return (0, 0)


def causal(eff: int) -> Pair:
    """Everything before the first element: `(eff - 1, 0)`."""
    return (eff - 1, 0)


def full(eff: int) -> Pair:
    """Every partial overlap: `(eff - 1, eff - 1)`."""
    return (eff - 1, eff - 1)


def same(size: int, eff: int, stride: int = 1, *, lower: bool = False) -> Pair:
    """TF/XLA 'same': output `ceil(size / stride)`, odd pixel at the end (start if `lower`)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


def _shape(input_shape: Any, name: str = "input_shape") -> tuple[int, ...]:
    if isinstance(input_shape, Sequence) and not isinstance(input_shape, str):
        shape = tuple(as_int(s, name) for s in input_shape)
    else:
        shape = (as_int(input_shape, name),)
    if not shape:
        raise ValueError(f"`{name}` must name at least one spatial axis; got {input_shape!r}.")
    if any(s < 0 for s in shape):
        raise ValueError(f"`{name}` must hold sizes >= 0; got {input_shape!r}.")
    return shape


def _geometry(input_shape, kernel_size, stride, dilation):
    shape = _shape(input_shape)
    n = len(shape)
    kernel = canonical_ints(kernel_size, n, "kernel_size")
    strides = canonical_ints(stride, n, "stride")
    dilations = canonical_ints(dilation, n, "dilation")
    effs = tuple(effective_kernel_size(k, d) for k, d in zip(kernel, dilations))
    return shape, strides, effs


def explicit_pairs(padding: Any, n: int, name: str = "padding", *,
                   negative: bool = False) -> tuple[Pair, ...]:
    """An int, or one int or `(lo, hi)` pair per axis, as `n` pairs (>= 0 unless `negative`)."""
    if isinstance(padding, Sequence) and not isinstance(padding, str):
        if len(padding) != n:
            raise ValueError(
                f"`{name}` must be {'a string, ' if name == 'padding' else ''}an int, {n} ints "
                f"or {n} (lo, hi) pairs (one per spatial axis); got {padding!r} of length "
                f"{len(padding)}."
            )
        pairs = tuple(
            _pair(p, name) if isinstance(p, Sequence) else (as_int(p, name),) * 2
            for p in padding
        )
    else:
        pairs = ((as_int(padding, name),) * 2,) * n
    if not negative and any(v < 0 for p in pairs for v in p):
        hint = " (crop the input with jaxpad.pad for negative widths)" if name == "padding" else ""
        raise ValueError(f"`{name}` must be >= 0 on every side{hint}; got {padding!r}.")
    return pairs


def resolve_padding(
    padding: PaddingLike,
    input_shape: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> tuple[Pair, ...]:
    """Turns any padding spec into one `(lo, hi)` pair per spatial axis.

    Specs (strings are case-insensitive), with `eff = dilation * (k - 1) + 1`:

    - `'same'`: TF/XLA rule, output `ceil(size / stride)`; the total
      `max((out - 1) * stride + eff - size, 0)` is split with the odd pixel at
      the end. Works for any stride and dilation.
    - `'same_lower'`: the same total with the odd pixel at the start.
    - `'valid'`: `(0, 0)`.
    - `'causal'`: `(eff - 1, 0)`, everything before the first element.
    - `'full'`: `(eff - 1, eff - 1)`.
    - an int `p` (`(p, p)` on every axis), one int per axis, or one `(lo, hi)`
      pair per axis.

    Args:
      padding: the spec.
      input_shape: the spatial shape of the input (no batch or channel axes).
      kernel_size: an int, or one int per spatial axis.
      stride: an int, or one int per spatial axis.
      dilation: the kernel dilation, an int or one int per spatial axis.

    Returns:
      A tuple with one `(lo, hi)` pair of ints per spatial axis.

    Raises:
      ValueError: unknown spec, wrong number of entries, negative widths, or
        non-positive kernel size, stride or dilation.
      TypeError: non-integer entries.

    Example:
      >>> import jaxpad
      >>> jaxpad.resolve_padding("same", (7, 8), kernel_size=4, stride=2)
      ((1, 2), (1, 1))
    """
    shape, strides, effs = _geometry(input_shape, kernel_size, stride, dilation)
    if isinstance(padding, str):
        spec = padding.lower()
        if spec in ("same", "same_lower"):
            lower = spec == "same_lower"
            return tuple(same(i, e, s, lower=lower) for i, e, s in zip(shape, effs, strides))
        rule = {"valid": valid, "causal": causal, "full": full}.get(spec)
        if rule is None:
            raise ValueError(
                f"`padding` must be one of {', '.join(repr(s) for s in SPECS)}, an int, "
                f"ints or (lo, hi) pairs; got {padding!r}."
            )
        return tuple(rule(e) for e in effs)
    return explicit_pairs(padding, len(shape))


def same_padding(
    input_shape: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    *,
    lower: bool = False,
) -> tuple[Pair, ...]:
    """TF/XLA 'same' padding for every spatial axis.

    The output size is `ceil(size / stride)`; the odd pixel of an odd total
    goes at the end (TF, Keras, XLA 'SAME'), or at the start with `lower=True`
    (ONNX/XLA 'SAME_LOWER').

    Args:
      input_shape: the spatial shape of the input.
      kernel_size: an int, or one int per spatial axis.
      stride: an int, or one int per spatial axis.
      dilation: an int, or one int per spatial axis.
      lower: put the odd pixel at the start.

    Returns:
      One `(lo, hi)` pair per spatial axis.

    Raises:
      ValueError: non-positive kernel size, stride or dilation, or a wrong count.

    Example:
      >>> import jaxpad
      >>> jaxpad.same_padding((8, 8), kernel_size=16)
      ((7, 8), (7, 8))
      >>> jaxpad.same_padding(5, kernel_size=3, stride=2, lower=True)
      ((1, 1),)
    """
    return resolve_padding("same_lower" if lower else "same", input_shape, kernel_size, stride,
                           dilation)


def conv_output_shape(
    input_shape: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "valid",
    dilation: int | Sequence[int] = 1,
) -> tuple[int, ...]:
    """Spatial output shape: `floor((i + lo + hi - dilation * (k - 1) - 1) / stride) + 1`.

    Args:
      input_shape: the spatial shape of the input.
      kernel_size: an int, or one int per spatial axis.
      stride: an int, or one int per spatial axis.
      padding: any spec `resolve_padding` takes.
      dilation: an int, or one int per spatial axis.

    Returns:
      The output size of every spatial axis.

    Raises:
      ValueError: if any output size would be zero or negative (the kernel
        does not fit), or for any bad argument `resolve_padding` refuses.

    Example:
      >>> import jaxpad
      >>> jaxpad.conv_output_shape((224, 224), 7, stride=2, padding=3)
      (112, 112)
    """
    pads = resolve_padding(padding, input_shape, kernel_size, stride, dilation)
    shape, strides, effs = _geometry(input_shape, kernel_size, stride, dilation)
    out = tuple(
        (i + lo + hi - e) // s + 1 for i, (lo, hi), e, s in zip(shape, pads, effs, strides)
    )
    for axis, (o, i, (lo, hi), e) in enumerate(zip(out, shape, pads, effs)):
        if o < 1:
            raise ValueError(
                f"The output would be empty: spatial axis {axis} has size {i}, padding "
                f"({lo}, {hi}) and effective kernel size {e} (dilation * (k - 1) + 1), "
                f"so the kernel does not fit; pad more or use a smaller kernel or dilation."
            )
    return out


# flax.linen.Conv / flax.nnx.Conv padding strings. 'SAME', 'VALID' and 'SAME_LOWER' are lax's
# (the TF rule, as jaxpad's lowercase specs); the other three are flax's own.
FLAX_PADDINGS = ("SAME", "VALID", "SAME_LOWER", "CIRCULAR", "REFLECT", "CAUSAL")
_FLAX_MODE = {"CIRCULAR": "circular", "REFLECT": "reflect"}


def flax_padding(
    padding: PaddingLike,
    kernel_size: Sequence[int],
    kernel_dilation: int | Sequence[int] = 1,
    padding_mode: ModeLike = "zeros",
    oversize: str = "error",
) -> tuple[str | tuple[Pair, ...], tuple[str, ...], str]:
    """Translates a flax `Conv` padding argument into `jaxpad.conv`'s terms.

    Flax's strings keep flax's meaning, so a flax model gives the same numbers:

    - `'SAME'`, `'VALID'`, `'SAME_LOWER'`: lax's rules, which are jaxpad's
      `'same'`, `'valid'` and `'same_lower'` (stride-aware TF geometry), in
      `padding_mode`.
    - `'CIRCULAR'`, `'REFLECT'`: flax pads `((eff - 1) // 2, eff // 2)` with
      `eff = kernel_dilation * (k - 1) + 1`, **whatever the stride**, with
      `jnp.pad`'s repeating wrap/reflection (so `oversize='repeat'`). They fix
      the mode: `padding_mode` may only be left at 'zeros' or name the same mode.
    - `'CAUSAL'`: `(eff - 1, 0)`, 1-D only as in flax (lowercase `'causal'` is
      jaxpad's, on any number of axes).

    Anything else is a jaxpad spec (lowercase strings, an int, one int or
    `(lo, hi)` pair per axis) and passes through `resolve_padding`'s rules.

    Args:
      padding: the flax or jaxpad padding argument.
      kernel_size: one int per spatial axis.
      kernel_dilation: an int or one per spatial axis.
      padding_mode: a `jaxpad.pad` mode, or one per spatial axis.
      oversize: the caller's oversize policy, returned unless flax's strings
        force `'repeat'`.

    Returns:
      `(padding, padding_mode, oversize)` for `jaxpad.conv`: a lowercase spec or
      one `(lo, hi)` pair per axis, one canonical mode per axis, and the policy.

    Raises:
      ValueError: an unknown string, a mode name given as `padding`, 'CAUSAL'
        on more than one axis, a mode conflicting with 'CIRCULAR'/'REFLECT',
        or any spec or mode `resolve_padding`/`canonical_modes` refuse.
      TypeError: non-integer entries or non-string modes.

    Example:
      >>> from jaxpad._padding import flax_padding
      >>> flax_padding("REFLECT", (4,), kernel_dilation=1)  # even kernel: odd pixel at the end
      (((1, 2),), ('reflect',), 'repeat')
      >>> flax_padding("SAME", (3, 3), padding_mode="replicate")
      ('same', ('replicate', 'replicate'), 'error')
    """
    n = len(kernel_size)
    dilations = canonical_ints(kernel_dilation, n, "kernel_dilation")
    modes = canonical_modes(padding_mode, n, "padding_mode")
    if not isinstance(padding, str):
        return explicit_pairs(padding, n), modes, oversize
    if padding in _FLAX_MODE:
        mode = _FLAX_MODE[padding]
        if any(m not in ("zeros", mode) for m in modes):
            raise ValueError(
                f"`padding_mode` {padding_mode!r} conflicts with padding={padding!r}, which is "
                f"flax's {mode} padding; leave `padding_mode` at 'zeros', or pass a jaxpad spec "
                f"such as padding='same' with padding_mode={padding_mode!r}."
            )
        effs = (effective_kernel_size(k, d) for k, d in zip(kernel_size, dilations))
        return tuple(((e - 1) // 2, e // 2) for e in effs), (mode,) * n, "repeat"
    if padding == "CAUSAL" and n != 1:
        raise ValueError(
            f"`padding` 'CAUSAL' is flax's 1-D causal padding; got a {n}-D kernel_size "
            f"{tuple(kernel_size)!r}. Pass lowercase 'causal' for (eff - 1, 0) on every axis."
        )
    spec = padding.lower()
    if spec in (*MODES, *_MODE_ALIASES):
        raise ValueError(
            f"`padding` must be a padding spec, not a mode; got {padding!r}. Pass "
            f"padding='same', padding_mode={spec!r} (jaxpad's stride-aware geometry), or "
            f"flax's padding='CIRCULAR'/'REFLECT'."
        )
    if spec not in SPECS:
        raise ValueError(
            f"`padding` must be one of flax's {', '.join(map(repr, FLAX_PADDINGS))}, one of "
            f"jaxpad's {', '.join(map(repr, SPECS))}, an int, ints or (lo, hi) pairs; "
            f"got {padding!r}."
        )
    return spec, modes, oversize


# Transposed convolutions: the padding crops the full output `(i - 1) * stride + eff`.
TRANSPOSE_SPECS = ("same", "valid")


def transpose_padding(
    padding: PaddingLike,
    input_shape: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
) -> tuple[Pair, ...]:
    """What a transposed convolution crops from its full output, per spatial axis.

    The full output of a transposed convolution has `(i - 1) * stride + eff`
    elements (`eff = dilation * (k - 1) + 1`); the spec says how many to drop
    at each end. A negative `hi` appends that many zeros instead.

    - an int `p`, one int per axis or one `(lo, hi)` pair per axis:
      PyTorch's `ConvTransposeNd(padding=...)`, so `(p, p)` crops `p` each side.
    - `'same'`: Keras/lax, output `i * stride`; crops `eff - stride` with the
      odd pixel at the end, or appends `stride - eff` zeros when `eff < stride`.
    - `'valid'`: Keras/lax, output `i * stride + max(eff - stride, 0)`: no crop,
      and `stride - eff` zeros appended when `eff < stride`.

    Args:
      padding: the spec.
      input_shape: the spatial shape of the input (unused by the rules above but
        checked, as in `resolve_padding`).
      kernel_size: an int, or one int per spatial axis.
      stride: an int, or one int per spatial axis.
      dilation: an int, or one int per spatial axis.

    Returns:
      One `(lo, hi)` crop per spatial axis.

    Raises:
      ValueError: unknown spec, wrong number of entries, negative widths, or
        non-positive kernel size, stride or dilation.
      TypeError: non-integer entries.

    Example:
      >>> from jaxpad._padding import transpose_padding
      >>> transpose_padding("same", (5, 5), kernel_size=(4, 3), stride=2)
      ((1, 1), (0, 1))
      >>> transpose_padding("valid", 5, kernel_size=1, stride=2)
      ((0, -1),)
    """
    shape, strides, effs = _geometry(input_shape, kernel_size, stride, dilation)
    if isinstance(padding, str):
        spec = padding.lower()
        if spec == "same":
            return tuple(
                ((e - s) // 2, e - s - (e - s) // 2) if e >= s else (0, e - s)
                for e, s in zip(effs, strides)
            )
        if spec == "valid":
            return tuple((0, min(e - s, 0)) for e, s in zip(effs, strides))
        raise ValueError(
            f"`padding` of a transposed convolution must be 'same', 'valid', an int, ints or "
            f"(lo, hi) pairs; got {padding!r}."
        )
    return explicit_pairs(padding, len(shape))


# flax.linen.ConvTranspose / flax.nnx.ConvTranspose padding strings. 'SAME' and 'VALID' are
# lax's, which are jaxpad's 'same' and 'valid'; 'CIRCULAR' is flax's own; 'SAME_LOWER' reaches
# the forward convolution's padding through lax.conv_transpose at stride 1 only.
FLAX_TRANSPOSE_PADDINGS = ("SAME", "VALID", "CIRCULAR", "SAME_LOWER")


def flax_transpose_padding(
    padding: str | int | Sequence[int] | Sequence[Pair],
    input_shape: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    *,
    transpose_kernel: bool = False,
) -> tuple[tuple[Pair, ...], tuple[int, ...], tuple[Pair, ...]]:
    """flax's ConvTranspose 'CIRCULAR', 'SAME_LOWER' or explicit `padding` in jaxpad's terms.

    Flax computes `lax.conv_transpose`: the input dilated by the stride, padded
    by `padding`, correlated with the dilated kernel. Per axis of size `i`, with
    `eff = dilation * (k - 1) + 1` and the full transposed output of
    `(i - 1) * stride + eff` elements:

    - explicit pads (an int, or one int or `(lo, hi)` pair per axis; negative
      ones crop, as in lax): the full output with `lo - (eff - 1)` zeros before
      it and `hi - (eff - 1)` after, a negative count cropping instead. So
      flax's pad `p` is PyTorch's crop `eff - 1 - p`.
    - `'CIRCULAR'`: lax's 'VALID' output, `i * stride + max(eff - stride, 0)`
      elements, wrapped onto the period `i * stride` after flax's centring pad
      (the odd element before the output, after it with `transpose_kernel`).
      Full-output element `lo` lands on 0, `lo = (eff - stride) // 2` (rounded
      up with `transpose_kernel`) when `eff - stride` is in `[0, 2 * i * stride]`.
    - `'SAME_LOWER'` (any case), at stride 1 only: lax pads the input as the
      forward convolution's 'SAME_LOWER', `(eff - 1) - (eff - 1) // 2` before
      and `(eff - 1) // 2` after (output `i`); at a larger stride flax refuses it.

    Args:
      padding: `'CIRCULAR'`, `'SAME_LOWER'` or explicit pads, as flax takes them.
      input_shape: the spatial shape of the input.
      kernel_size: an int, or one int per spatial axis.
      stride: an int, or one int per spatial axis.
      dilation: the kernel dilation, an int or one int per spatial axis.
      transpose_kernel: flax's `transpose_kernel` (it moves 'CIRCULAR''s odd element).

    Returns:
      `(crops, output_padding, zeros)`, one entry per spatial axis:
      `jaxpad.conv_transpose` with `padding=crops` and `output_padding` (and
      `padding_mode='circular'` for 'CIRCULAR'), then padded with `zeros`
      `(before, after)`, gives flax's output.

    Raises:
      ValueError: another string, 'SAME_LOWER' with a stride, a wrong number of
        entries, an empty input axis, or pads that crop away the whole full output.
      TypeError: non-integer entries.

    Example:
      >>> from jaxpad._padding import flax_transpose_padding
      >>> flax_transpose_padding((4, 2), (24, 9), (7, 4), dilation=(2, 3))
      (((8, 8), (7, 7)), (0, 0), ((0, 0), (0, 0)))
      >>> flax_transpose_padding(14, 4, 3)  # 12 zeros after the full output of 6, each side
      (((0, 0),), (0,), ((12, 12),))
      >>> flax_transpose_padding("CIRCULAR", 15, 6, stride=2)
      (((2, 2),), (0,), ((0, 0),))
    """
    shape, strides, effs = _geometry(input_shape, kernel_size, stride, dilation)
    n = len(shape)
    if isinstance(padding, str) and padding.upper() == "SAME_LOWER":
        if any(s != 1 for s in strides):
            raise ValueError(
                f"`padding` {padding!r} of a transposed convolution is flax's at stride 1 only "
                f"(lax.conv_transpose hands it to the forward convolution, which refuses it "
                f"with an input dilation); got stride {strides}."
            )
        padding = tuple(same(1, e, lower=True) for e in effs)  # stride 1: no size dependence
    if isinstance(padding, str):
        if padding != "CIRCULAR":
            raise ValueError(
                f"`padding` must be 'CIRCULAR', 'SAME_LOWER', an int, ints or (lo, hi) pairs "
                f"here (flax's 'SAME' and 'VALID' are jaxpad's 'same' and 'valid'); got "
                f"{padding!r}."
            )
        if min(shape) < 1:
            raise ValueError(
                f"`inputs` must have at least one element on every spatial axis for flax's "
                f"'CIRCULAR' padding (the period is size * stride); got spatial shape {shape}."
            )
        crops, extra = [], []
        for i, s, e in zip(shape, strides, effs):
            period, excess = i * s, max(e - s, 0)  # lax's 'VALID' output is period + excess
            total = -excess % (2 * period)  # flax pads it to an odd number of periods
            before = total // 2 if transpose_kernel else (total + 1) // 2
            lo = -before % period
            op = max(lo - (e - s), 0)  # only where eff < stride: the period exceeds the output
            crops.append((lo, e - s - lo + op))
            extra.append(op)
        return tuple(crops), tuple(extra), ((0, 0),) * n
    pairs = explicit_pairs(padding, n, negative=True)
    crops = tuple((e - 1 - lo, e - 1 - hi) for (lo, hi), e in zip(pairs, effs))
    for axis, (i, s, e, (lo, hi)) in enumerate(zip(shape, strides, effs, crops)):
        if (i - 1) * s + e - max(lo, 0) - max(hi, 0) < 1:
            raise ValueError(
                f"`padding` {padding!r} (flax's, the padding of lax.conv_transpose) leaves "
                f"nothing of the transposed convolution on spatial axis {axis}: input size "
                f"{i}, stride {s} and effective kernel size {e} make {(i - 1) * s + e} "
                f"elements and the pads crop {max(lo, 0)} + {max(hi, 0)}; pad more."
            )
    return (tuple((max(lo, 0), max(hi, 0)) for lo, hi in crops), (0,) * n,
            tuple((max(-lo, 0), max(-hi, 0)) for lo, hi in crops))


def output_padding_ints(
    output_padding: int | Sequence[int],
    stride: Sequence[int],
    dilation: int | Sequence[int] = 1,
) -> tuple[int, ...]:
    """`output_padding` as one int per axis, each below its axis's stride or dilation.

    Args:
      output_padding: an int or one per spatial axis, >= 0.
      stride: one int per spatial axis.
      dilation: an int or one per spatial axis.

    Returns:
      One int per spatial axis.

    Raises:
      ValueError: a negative value, a wrong count, or a value not smaller than
        the stride or the dilation (PyTorch's rule).
      TypeError: non-integer entries.

    Example:
      >>> from jaxpad._padding import output_padding_ints
      >>> output_padding_ints(1, (2, 1), dilation=(1, 2))
      (1, 1)
    """
    n = len(stride)
    extra = canonical_ints(output_padding, n, "output_padding", minimum=0)
    dilations = canonical_ints(dilation, n, "dilation")
    for op, s, d in zip(extra, stride, dilations):
        if op >= max(s, d):
            raise ValueError(
                f"`output_padding` must be smaller than the stride or the dilation on every "
                f"axis (as PyTorch requires); got output_padding={output_padding!r} with "
                f"stride={tuple(stride)!r} and dilation={dilation!r}."
            )
    return extra


def conv_transpose_output_shape(
    input_shape: int | Sequence[int],
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    dilation: int | Sequence[int] = 1,
    output_padding: int | Sequence[int] = 0,
) -> tuple[int, ...]:
    """Spatial output shape: `(i - 1) * stride - lo - hi + eff + output_padding`.

    Args:
      input_shape: the spatial shape of the input.
      kernel_size: an int, or one int per spatial axis.
      stride: an int, or one int per spatial axis.
      padding: any spec `transpose_padding` takes.
      dilation: an int, or one int per spatial axis.
      output_padding: an int or one per axis, each smaller than the stride or
        the dilation of its axis (PyTorch's rule).

    Returns:
      The output size of every spatial axis.

    Raises:
      ValueError: an `output_padding` not below the stride or the dilation, an
        empty output, or anything `transpose_padding` refuses.

    Example:
      >>> from jaxpad._padding import conv_transpose_output_shape
      >>> conv_transpose_output_shape((7, 7), 3, stride=2, padding=1, output_padding=1)
      (14, 14)
    """
    crops = transpose_padding(padding, input_shape, kernel_size, stride, dilation)
    shape, strides, effs = _geometry(input_shape, kernel_size, stride, dilation)
    extra = output_padding_ints(output_padding, strides, dilation)
    out = tuple(
        (i - 1) * s + e - lo - hi + op
        for i, s, e, (lo, hi), op in zip(shape, strides, effs, crops, extra)
    )
    for axis, (o, i) in enumerate(zip(out, shape)):
        if o < 1 or i < 1:
            raise ValueError(
                f"The output would be empty: spatial axis {axis} has input size {i}, crop "
                f"{crops[axis]} and effective kernel size {effs[axis]}; crop less."
            )
    return out


def pool_output_shape(
    input_shape: int | Sequence[int],
    window_shape: int | Sequence[int],
    stride: int | Sequence[int],
    padding: Sequence[Pair],
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> tuple[int, ...]:
    """Pooling output shape, PyTorch's rule: `floor` (or `ceil`) of `(i + lo + hi - eff) / s`, + 1.

    With `ceil_mode` a last window that would start past the input and its
    left padding is dropped, as in PyTorch.

    Args:
      input_shape: the spatial shape of the input.
      window_shape: an int, or one int per spatial axis.
      stride: an int, or one int per spatial axis.
      padding: one resolved `(lo, hi)` pair per spatial axis.
      dilation: the window dilation, an int or one per spatial axis.
      ceil_mode: round up instead of down.

    Returns:
      The output size of every spatial axis.

    Raises:
      ValueError: if any output size would be zero or negative.

    Example:
      >>> from jaxpad._padding import pool_output_shape
      >>> pool_output_shape((5, 6), 2, 2, ((0, 0), (0, 0)), ceil_mode=True)
      (3, 3)
    """
    shape, strides, effs = _geometry(input_shape, window_shape, stride, dilation)
    out = []
    for axis, (i, (lo, hi), e, s) in enumerate(zip(shape, padding, effs, strides)):
        span = i + lo + hi - e
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and span >= 0 and (o - 1) * s >= i + lo:
            o -= 1
        if span < 0 or o < 1:
            raise ValueError(
                f"The output would be empty: spatial axis {axis} has size {i}, padding "
                f"({lo}, {hi}) and effective window size {e}; pad more or pool less."
            )
        out.append(o)
    return tuple(out)


# Transposed convolutions take every mode that extends an input; 'constant' fills nothing there.
TRANSPOSE_MODES = tuple(m.name for m in MODE_RECORDS if m.transposable)


def canonical_transpose_modes(padding_mode: ModeLike, n: int) -> tuple[str, ...]:
    """`padding_mode` of a transposed convolution as one mode of `TRANSPOSE_MODES` per axis.

    Example:
      >>> from jaxpad._padding import canonical_transpose_modes
      >>> canonical_transpose_modes(["EDGE", "wrap"], 2)
      ('replicate', 'circular')
    """
    modes = canonical_modes(padding_mode, n, "padding_mode")
    for m in modes:
        if m not in TRANSPOSE_MODES:
            raise ValueError(
                f"`padding_mode` of a transposed convolution must be one of "
                f"{modes_text(TRANSPOSE_MODES)}; got {padding_mode!r}."
            )
    return modes


# equinox.nn.Conv / ConvTranspose padding strings (equinox uppercases what it is given).
EQUINOX_PADDINGS = ("SAME", "SAME_LOWER", "VALID")


def equinox_padding(
    padding: PaddingLike, num_spatial_dims: int, *, transpose: bool = False
) -> str | tuple[Pair, ...]:
    """An `equinox.nn.Conv` / `ConvTranspose` padding argument, as equinox stores it.

    Strings are uppercased, as in equinox: 'SAME', 'SAME_LOWER' and 'VALID'
    (lax's rules; for a convolution jaxpad's 'same', 'same_lower', 'valid')
    and, for a convolution only, jaxpad's 'CAUSAL' and 'FULL'. An int, one int
    per axis or one `(lo, hi)` pair per axis become one pair per axis.

    Args:
      padding: the equinox (or jaxpad) padding argument.
      num_spatial_dims: the number of spatial axes.
      transpose: whether it is a transposed convolution's (no 'CAUSAL'/'FULL').

    Returns:
      An uppercase string or one `(lo, hi)` pair per axis.

    Raises:
      ValueError: an unknown string, a mode name, a wrong count or negative widths.
      TypeError: non-integer entries.

    Example:
      >>> from jaxpad._padding import equinox_padding
      >>> equinox_padding("same", 2), equinox_padding((1, (0, 2)), 2)
      ('SAME', ((1, 1), (0, 2)))
    """
    if not isinstance(padding, str):
        return explicit_pairs(padding, num_spatial_dims)
    spec = padding.upper()
    allowed = EQUINOX_PADDINGS if transpose else (*EQUINOX_PADDINGS, "CAUSAL", "FULL")
    if spec in allowed:
        return spec
    if spec.lower() in (*MODES, *_MODE_ALIASES):
        raise ValueError(
            f"`padding` must be a padding spec, not a mode; got {padding!r}. Pass "
            f"padding='SAME' (or ints), padding_mode={spec!r}."
        )
    raise ValueError(
        f"`padding` must be one of {', '.join(map(repr, allowed))} (any case), an int, "
        f"{num_spatial_dims} ints or {num_spatial_dims} (lo, hi) pairs; got {padding!r}."
    )


def equinox_transpose_crops(
    padding: str | Sequence[Pair],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    output_padding: Sequence[int],
) -> tuple[tuple[Pair, ...], tuple[int, ...]]:
    """`equinox.nn.ConvTranspose`'s stored padding as `jaxpad.conv_transpose`'s crops.

    Pairs are PyTorch's crops and 'VALID' crops nothing, both with
    `output_padding` appended. 'SAME' and 'SAME_LOWER' give the output
    `i * stride - output_padding` (the input of the forward 'SAME' conv that
    `output_padding` picks): they crop `eff - stride + output_padding` split
    evenly, the odd element at the end ('SAME') or the start ('SAME_LOWER'),
    and append zeros where that is negative.

    Args:
      padding: what `equinox_padding(..., transpose=True)` returned.
      kernel_size: one int per spatial axis.
      stride: one int per spatial axis.
      dilation: one int per spatial axis.
      output_padding: one int per spatial axis.

    Returns:
      `(crops, output_padding)`: one `(lo, hi)` pair and one int per axis.

    Example:
      >>> from jaxpad._padding import equinox_transpose_crops
      >>> equinox_transpose_crops("SAME", (3, 1), (2, 3), (2, 1), (1, 0))
      (((2, 2), (0, 0)), (0, 2))
    """
    if not isinstance(padding, str):
        return tuple(padding), tuple(output_padding)
    if padding == "VALID":
        return ((0, 0),) * len(stride), tuple(output_padding)
    lower = padding == "SAME_LOWER"
    crops, extra = [], []
    for k, s, d, a in zip(kernel_size, stride, dilation, output_padding):
        total = effective_kernel_size(k, d) - s + a
        lo = (max(total, 0) + lower) // 2
        crops.append((lo, max(total, 0) - lo))
        extra.append(max(-total, 0))
    return tuple(crops), tuple(extra)

"""`pad` and `torch_pad`: padding modes with PyTorch's semantics and limits."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._padding import (
    MODE,
    MODE_RECORDS,
    ModeLike,
    Pair,
    as_int,
    canonical_modes,
    canonical_pad_width,
    source_index,
)
from ._sharding import auto_partitioned

OVERSIZE = ("error", "repeat")


def check_widths(
    shape: Sequence[int],
    widths: Sequence[Pair],
    modes: Sequence[str],
    oversize: str = "error",
    axes: Sequence[int] | None = None,
) -> None:
    """Raises ValueError for widths a mode cannot honour, before any computation.

    Args:
      shape: sizes of the padded axes.
      widths: one `(lo, hi)` pair per padded axis; negative widths crop.
      modes: one canonical mode per padded axis.
      oversize: 'error' refuses what PyTorch refuses; 'repeat' allows numpy's
        repeated reflection/wrapping.
      axes: the axis numbers to name in messages (default `0, 1, ...`).
    """
    if oversize not in OVERSIZE:
        raise ValueError(f"`oversize` must be 'error' or 'repeat'; got {oversize!r}.")
    axes = range(len(shape)) if axes is None else axes
    for axis, size, (lo, hi), mode in zip(axes, shape, widths, modes):
        out = size + lo + hi
        if out < 0:
            raise ValueError(
                f"Negative padding ({lo}, {hi}) on axis {axis} of size {size} would leave "
                f"{out} elements."
            )
        # Constant modes and circular crop the input before padding; the others crop the
        # padded axis, which `out` already covers.
        left = size - max(-lo, 0) - max(-hi, 0)
        if left < 0 and mode in ("zeros", "constant", "circular"):
            raise ValueError(
                f"Negative padding ({lo}, {hi}) on axis {axis} of size {size} crops "
                f"{size - left} elements, more than the axis holds."
            )
        record = MODE[mode]
        if record.fills:
            continue
        # Circular wraps what is left after cropping; the others read the whole axis.
        source = left if mode == "circular" else size
        if source == 0 and (lo > 0 or hi > 0):
            raise ValueError(
                f"Cannot {mode}-pad axis {axis}: it has no elements to read "
                f"(size {size}, padding ({lo}, {hi}))."
            )
        slack = record.torch_slack
        if oversize == "error" and slack is not None and max(lo, hi) > size + slack:
            raise ValueError(
                f"{mode} padding needs {record.limit_text()} on each axis; axis {axis} has size "
                f"{size} and width ({lo}, {hi}). Pass oversize='repeat' for "
                f"numpy's repeated {'wrapping' if mode == 'circular' else 'reflection'}."
            )


def _runs(index: Sequence[int]) -> list[list[int]]:
    """`index` cut into runs of steps +1, -1 or 0 (slices, reversals, broadcasts)."""
    runs: list[list[int]] = []
    for i in index:
        run = runs[-1] if runs else None
        if run and i - run[-1] in (1, 0, -1) and (len(run) == 1 or i - run[-1] == run[1] - run[0]):
            run.append(i)
        else:
            runs.append([i])
    return runs


def _take_run(x: jax.Array, axis: int, run: list[int], concat_repeats: bool) -> jax.Array:
    part = lax.slice_in_dim(x, min(run), max(run) + 1, axis=axis)
    if len(run) > 1 and run[1] == run[0]:
        if concat_repeats:
            return lax.concatenate([part] * len(run), axis)
        shape = list(x.shape)
        shape[axis] = len(run)
        return jnp.broadcast_to(part, shape)
    return lax.rev(part, (axis,)) if len(run) > 1 and run[1] < run[0] else part


def take(x: jax.Array, axis: int, index: Sequence[int], *, concat_repeats: bool = False
         ) -> jax.Array:
    """`x` gathered along `axis` at static indices, as slices, reversals, broadcasts, one concat.

    With `concat_repeats`, a repeated element is copied into the concat instead of
    broadcast: the transpose is then a sum of slices, which XLA:CPU can fuse into an
    in-place update of a bigger buffer, where a broadcast's transpose (a reduction)
    makes it copy that buffer.
    """
    return _take_nested(x, {axis: _runs(index)}, [axis], concat_repeats)


def _take_nested(x: jax.Array, runs: dict[int, list[list[int]]], axes: list[int],
                 concat_repeats: bool = False) -> jax.Array:
    """`take` of `runs` along every axis in `axes`, block by block: XLA fuses it into one pass."""
    if not axes:
        return x
    axis, rest = axes[0], axes[1:]
    if not runs[axis]:
        return _take_nested(lax.slice_in_dim(x, 0, 0, axis=axis), runs, rest, concat_repeats)
    parts = [_take_nested(_take_run(x, axis, run, concat_repeats), runs, rest, concat_repeats)
             for run in runs[axis]]
    return parts[0] if len(parts) == 1 else lax.concatenate(parts, axis)


def _copy_index(size: int, lo: int, hi: int, mode: str) -> list[int]:
    """The element of the input that each element of an axis padded in a copying mode reads."""
    if mode == "circular":  # torch crops first, then wraps what is left
        first = max(-lo, 0)
        left = size - first - max(-hi, 0)
        return [first + source_index(j, left, mode) for j in range(-max(lo, 0), left + max(hi, 0))]
    # torch reads the pad from the uncropped axis, then crops.
    return [source_index(j, size, mode) for j in range(-lo, size + hi)]


def _copy_runs(size: int, lo: int, hi: int, mode: str) -> list[list[int]]:
    """The runs of `_copy_index`, cut where the pads meet the input that is kept.

    Uncut, reflect's `2 1 | 1 2 3 4` would run as `2 1`, `2 3 4`. Cut, the kept input
    is one slice, so the transpose is the cotangent's interior plus thin strips, which
    XLA fuses into one cheap pass instead of summing shifted pieces at every element
    (`jaxpad.pad`'s table in benchmarks/results/cpu-2026-11-22-layers.md).
    """
    index = _copy_index(size, lo, hi, mode)
    cuts = [0, max(lo, 0), len(index) - max(hi, 0), len(index)]
    return [run for a, b in zip(cuts, cuts[1:]) for run in _runs(index[a:b])]


# Blocks beyond which the copying modes are gathered axis by axis (oversize repeats).
_MAX_BLOCKS = 64


@auto_partitioned
@partial(jax.jit, static_argnames=("widths", "modes"))
def pad_validated(
    x: jax.Array, value: jax.Array, *, widths: tuple[Pair, ...], modes: tuple[str, ...]
) -> jax.Array:
    """Pads every axis of `x` by `widths` in `modes`; widths already checked.

    The copying modes of all axes are one gather of static slices, reversals and
    broadcasts, nested block by block so that XLA fuses it (and its transpose)
    into one pass. Then the constant fills, axes in order: only two different
    fills meeting in a corner can tell the order (a copying mode commutes with
    a fill of another axis), and the later axis wins.
    """
    copying = [a for a, (m, w) in enumerate(zip(modes, widths))
               if m not in ("zeros", "constant") and w != (0, 0)]
    runs = {a: _copy_runs(x.shape[a], *widths[a], modes[a]) for a in copying}
    if math.prod(len(runs[a]) for a in copying) <= _MAX_BLOCKS:
        x = _take_nested(x, runs, copying)
    else:
        for a in copying:
            x = _take_nested(x, runs, [a])
    for mode, run in itertools.groupby(range(len(modes)), key=modes.__getitem__):
        if mode not in ("zeros", "constant"):
            continue
        config = [(0, 0, 0)] * x.ndim
        for i in run:
            config[i] = (*widths[i], 0)
        if any(c != (0, 0, 0) for c in config):
            # lax.pad crops on negative widths, exactly like torch's constant mode.
            fill = jnp.zeros((), x.dtype) if mode == "zeros" else value.astype(x.dtype)
            x = lax.pad(x, fill, config)
    return x


def pad(
    x: ArrayLike,
    pad_width: int | Sequence[int] | Sequence[Sequence[int]],
    mode: ModeLike = "zeros",
    *,
    value: ArrayLike = 0.0,
    oversize: str = "error",
) -> jax.Array:
    """Pads an array with PyTorch's padding modes and limits.

    Modes, padding `1 2 3 4` by 2 on each side:

    - `'zeros'`:      `0 0 | 1 2 3 4 | 0 0`
    - `'constant'`:   `v v | 1 2 3 4 | v v` with `v = value`
    - `'reflect'`:    `3 2 | 1 2 3 4 | 3 2` (edge not repeated)
    - `'symmetric'`:  `2 1 | 1 2 3 4 | 4 3` (edge repeated)
    - `'replicate'`:  `1 1 | 1 2 3 4 | 4 4` (numpy's `'edge'`)
    - `'circular'`:   `3 4 | 1 2 3 4 | 1 2` (numpy's `'wrap'`)

    Negative widths crop, as in `torch.nn.functional.pad`: constant modes crop
    and pad independently; reflect, symmetric and replicate take the pad from
    the uncropped axis and then crop (`1 2 3 4` by `(-1, 2)` in reflect is
    `2 3 4 3 2`); circular crops first and then wraps what is left (`(2, -1)`
    gives `2 3 1 2 3`). Per-axis modes pad the axes in order, so where constant
    fills of two axes meet in a corner, the later axis's fill wins.
    Where torch's circular pad reads uninitialised memory
    (a wrap wider than the cropped axis), the result here is the crop-then-wrap
    one, wrapping more than once.

    Args:
      x: the array, any rank and layout.
      pad_width: as in `jnp.pad`: an int, one `(lo, hi)` pair for every axis,
        or one pair per axis of `x`.
      mode: one of 'zeros', 'constant', 'reflect', 'replicate', 'circular',
        'symmetric' (numpy's 'edge' and 'wrap' are aliases; any case), or a
        sequence with one mode per axis of `x`.
      value: the fill of 'constant' axes (ignored by the other modes).
      oversize: 'error' refuses widths PyTorch refuses (reflect needs
        width < size, circular and symmetric width <= size); 'repeat' follows
        numpy and reflects or wraps as often as needed.

    Returns:
      The padded array, with `x.shape[i] + lo_i + hi_i` on every axis.

    Raises:
      ValueError: unknown mode, wrong number of widths or modes, widths too
        wide for the mode, a crop leaving an axis empty where the mode needs one
        element, or padding an empty axis in a non-constant mode.
      TypeError: non-integer widths or non-string modes.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> jaxpad.pad(jnp.arange(1, 5), 3, "reflect").tolist()
      [4, 3, 2, 1, 2, 3, 4, 3, 2, 1]
      >>> jaxpad.pad(jnp.arange(1, 5), (1, 2), ["circular"]).tolist()
      [4, 1, 2, 3, 4, 1, 2]
    """
    x = jnp.asarray(x)
    return _checked_pad(x, canonical_pad_width(pad_width, x.ndim),
                        canonical_modes(mode, x.ndim, "mode"), value, oversize)


def _checked_pad(x, widths, modes, value, oversize) -> jax.Array:
    check_widths(x.shape, widths, modes, oversize)
    return pad_validated(x, jnp.asarray(value), widths=widths, modes=modes)


# F.pad's modes: those of PyTorch's padding layers, zeros being its 'constant'.
_TORCH_MODES = tuple(m.name for m in MODE_RECORDS if m.torch_layer and m.name != "zeros")


def torch_pad(
    x: ArrayLike,
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> jax.Array:
    """`torch.nn.functional.pad`, same signature and semantics, for line-by-line ports.

    `pad` is flat and starts from the last axis: `(left, right)` pads the last
    axis, `(left, right, top, bottom)` the last two, and so on. Negative values
    crop, as described in `jaxpad.pad`.

    Unlike torch, the non-constant modes are not limited to the last 1-3 axes
    of a 2-5D input: any number of trailing axes can be padded.

    Args:
      x: the array.
      pad: flat tuple of an even number of ints, at most `2 * x.ndim`.
      mode: 'constant', 'reflect', 'replicate' or 'circular'.
      value: fill for 'constant' (default 0); other modes accept only None or 0,
        as in torch.

    Returns:
      The padded array.

    Raises:
      ValueError: odd or too long `pad`, unknown mode, a value with a
        non-constant mode, or widths torch refuses.
      TypeError: non-integer entries.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> jaxpad.torch_pad(jnp.arange(1.0, 5.0), (2, 1), mode="replicate").tolist()
      [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    """
    x = jnp.asarray(x)
    if not isinstance(pad, Sequence) or isinstance(pad, str):
        raise TypeError(f"`pad` must be a flat tuple of ints; got {pad!r}.")
    flat = [as_int(p, "pad") for p in pad]
    if len(flat) % 2 or len(flat) > 2 * x.ndim:
        raise ValueError(
            f"`pad` must have an even length of at most 2 * x.ndim = {2 * x.ndim}; "
            f"got {len(flat)} values: {tuple(pad)!r}."
        )
    if mode not in _TORCH_MODES:
        raise ValueError(
            f"`mode` must be one of {', '.join(map(repr, _TORCH_MODES))} (torch's modes; "
            f"jaxpad.pad takes more); got {mode!r}."
        )
    if mode != "constant" and value is not None and value != 0:
        raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument; got {value!r}.')
    pairs = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)][::-1]
    widths = ((0, 0),) * (x.ndim - len(pairs)) + tuple(pairs)
    return _checked_pad(x, widths, (mode,) * x.ndim, 0.0 if value is None else value, "error")

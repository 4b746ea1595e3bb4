"""`jaxpad.pad` and `jaxpad.torch_pad` against NumPy and PyTorch."""

from __future__ import annotations

import itertools
import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import assert_close, cpu_only, examples, requires_torch, torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jaxpad
from jaxpad import _pad

F = torch.nn.functional if torch is not None else None

MODES = ("zeros", "constant", "reflect", "replicate", "circular", "symmetric")
TORCH_MODES = ("constant", "reflect", "replicate", "circular")
# torch's limit on the pad width of each mode, as a function of the axis size.
TORCH_LIMIT = {
    "reflect": lambda n: n - 1,
    "circular": lambda n: n,
    "symmetric": lambda n: n,
    "replicate": lambda n: float("inf"),
    "constant": lambda n: float("inf"),
    "zeros": lambda n: float("inf"),
}


def _accepts(shape, widths, modes) -> bool:
    """Whether PyTorch's rules accept these widths (torch has no symmetric: like circular)."""
    for n, (lo, hi), m in zip(shape, widths, modes):
        if n + lo + hi < 0:
            return False
        left = n - max(-lo, 0) - max(-hi, 0)
        if left < 0 and m in ("zeros", "constant", "circular"):  # crops more than the axis
            return False
        if max(lo, hi) > TORCH_LIMIT[m](n):
            return False
        left = n - max(-lo, 0) - max(-hi, 0) if m == "circular" else n
        if m not in ("zeros", "constant") and left == 0 and max(lo, hi) > 0:
            return False
    return True


def _torch_flat(widths):
    return tuple(v for pair in reversed(widths) for v in pair)


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


SEED = reference.SEED_ARTICLE_4X4


@requires_torch
@pytest.mark.parametrize("mode", list(SEED))
def test_seed_article_4x4(mode):
    x = np.arange(1.0, 17.0, dtype=np.float32).reshape(1, 1, 4, 4)
    expected = np.asarray(SEED[mode], np.float32)
    np.testing.assert_array_equal(jaxpad.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)], mode)[0, 0],
                                  expected)
    np.testing.assert_array_equal(
        jaxpad.torch_pad(x, (1, 1, 1, 1), "constant" if mode == "zeros" else mode)[0, 0],
        expected,
    )
    conv = torch.nn.Conv2d(1, 1, 1, padding=1, padding_mode=mode, bias=False)
    conv.weight.data.fill_(1.0)
    np.testing.assert_array_equal(conv(torch.from_numpy(x)).detach().numpy()[0, 0], expected)


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("zeros", [0, 0, 1, 2, 3, 4, 0, 0]),
        ("constant", [9, 9, 1, 2, 3, 4, 9, 9]),
        ("reflect", [3, 2, 1, 2, 3, 4, 3, 2]),
        ("symmetric", [2, 1, 1, 2, 3, 4, 4, 3]),
        ("replicate", [1, 1, 1, 2, 3, 4, 4, 4]),
        ("edge", [1, 1, 1, 2, 3, 4, 4, 4]),
        ("circular", [3, 4, 1, 2, 3, 4, 1, 2]),
        ("WRAP", [3, 4, 1, 2, 3, 4, 1, 2]),
    ],
)
def test_documented_examples(mode, expected):
    assert jaxpad.pad(jnp.arange(1, 5), 2, mode, value=9).tolist() == expected


WIDTHS_1D = [(0, 0), (1, 2), (3, 0), (0, 3), (4, 4), (5, 1), (-1, 2), (2, -1), (-3, 3), (1, -3),
             (-2, -1), (-4, 1), (3, -1), (6, 6), (-4, 0)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lo, hi", WIDTHS_1D)
def test_1d_grid_against_reference(mode, lo, hi):
    x = np.arange(1.0, 5.0, dtype=np.float32)
    if _accepts(x.shape, [(lo, hi)], [mode]):
        got = jaxpad.pad(x, (lo, hi), mode, value=-7.0)
        np.testing.assert_array_equal(got, reference.pad(x, [(lo, hi)], [mode], -7.0))
    else:
        with pytest.raises(ValueError):
            jaxpad.pad(x, (lo, hi), mode, value=-7.0)


@st.composite
def pad_configs(draw, modes=MODES, min_size=0, max_rank=4):
    rank = draw(st.integers(1, max_rank))
    shape = draw(st.lists(st.integers(min_size, 5), min_size=rank, max_size=rank))
    widths = [tuple(draw(st.lists(st.integers(-5, 6), min_size=2, max_size=2))) for _ in shape]
    per_axis = draw(st.booleans())
    modes = (draw(st.lists(st.sampled_from(modes), min_size=rank, max_size=rank)) if per_axis
             else [draw(st.sampled_from(modes))] * rank)
    return tuple(shape), widths, modes


@settings(max_examples=examples(300))
@given(pad_configs())
def test_random_configs_against_reference(config):
    shape, widths, modes = config
    x = _rand(shape)
    if _accepts(shape, widths, modes):
        np.testing.assert_array_equal(jaxpad.pad(x, widths, modes, value=2.5),
                                      reference.pad(x, widths, modes, 2.5))
    else:
        with pytest.raises(ValueError):
            jaxpad.pad(x, widths, modes, value=2.5)


@settings(max_examples=examples(100))
@given(pad_configs(min_size=1, max_rank=3))
def test_forward_and_reverse_mode_are_the_same_linear_map(config):
    # Padding is linear: its tangent is the padded tangent, and reverse mode (also
    # jax.linear_transpose) adds each cotangent element onto the element it copies.
    shape, widths, modes = config
    if not _accepts(shape, widths, modes):
        return
    x, t = jnp.asarray(_rand(shape)), jnp.asarray(_rand(shape, seed=1))
    fn = partial(jaxpad.pad, pad_width=widths, mode=modes, oversize="repeat")
    y, tangent = jax.jvp(fn, (x,), (t,))
    np.testing.assert_array_equal(tangent, fn(t))
    ct = _rand(y.shape, seed=2)
    index = np.arange(1, x.size + 1, dtype=np.float64).reshape(shape)
    reads = reference.pad(index, widths, modes, 0).ravel().astype(int) - 1  # -1: a fill
    expected = np.zeros(x.size, np.float64)
    np.add.at(expected, reads[reads >= 0], ct.ravel()[reads >= 0].astype(np.float64))
    assert_close(jax.vjp(fn, x)[1](jnp.asarray(ct))[0], expected.reshape(shape))
    assert_close(jax.linear_transpose(fn, x)(jnp.asarray(ct))[0], expected.reshape(shape))


@given(pad_configs(modes=("reflect", "symmetric", "replicate", "circular"), min_size=1))
def test_oversize_repeat_matches_numpy(config):
    shape, widths, modes = config
    widths = [(abs(lo), abs(hi)) for lo, hi in widths]
    x = _rand(shape)
    np_mode = {"reflect": "reflect", "symmetric": "symmetric", "replicate": "edge",
               "circular": "wrap"}
    expected = x
    for axis, (w, m) in enumerate(zip(widths, modes)):
        full = [(0, 0)] * x.ndim
        full[axis] = w
        expected = np.pad(expected, full, mode=np_mode[m])
    np.testing.assert_array_equal(jaxpad.pad(x, widths, modes, oversize="repeat"), expected)
    # The reference's periodic index maps are numpy's repeated reflection too.
    np.testing.assert_array_equal(reference.pad(x, widths, modes), expected)


def _torch_config(draw):
    """Shapes and widths F.pad supports: non-constant modes pad the last 1-3 axes of 2-5D."""
    mode = draw(st.sampled_from(TORCH_MODES))
    padded = draw(st.integers(1, 3))
    lead = draw(st.integers(1, 2)) if mode != "constant" else draw(st.integers(0, 2))
    shape = [draw(st.integers(1, 3)) for _ in range(lead)]
    shape += [draw(st.integers(1, 5)) for _ in range(padded)]
    widths = [(0, 0)] * lead + [
        tuple(draw(st.lists(st.integers(-4, 5), min_size=2, max_size=2))) for _ in range(padded)
    ]
    return tuple(shape), widths, mode, _torch_flat(widths[lead:])


def _torch_garbage(shape, widths, mode) -> bool:
    """torch's circular pad reads unwritten memory when a wrap is wider than the cropped axis."""
    return mode == "circular" and any(
        max(lo, hi) > n - max(-lo, 0) - max(-hi, 0) for n, (lo, hi) in zip(shape, widths)
    )


@requires_torch
@settings(max_examples=examples(500))
@given(st.data())
def test_random_configs_against_torch_forward_and_backward(data):
    shape, widths, mode, flat = _torch_config(data.draw)
    x = _rand(shape, seed=len(shape))
    accepted = _accepts(shape, widths, [mode] * len(shape))
    if not accepted:
        with pytest.raises(ValueError):
            jaxpad.pad(x, widths, mode)
        if not _torch_garbage(shape, widths, mode):
            with pytest.raises(RuntimeError):
                F.pad(torch.from_numpy(x), flat, mode=mode)
        return
    if _torch_garbage(shape, widths, mode):
        np.testing.assert_array_equal(jaxpad.pad(x, widths, mode),
                                      reference.pad(x, widths, [mode] * len(shape)))
        return
    if any(n + lo + hi == 0 for n, (lo, hi) in zip(shape, widths)):
        # Empty results: torch's 1-D reflect/replicate kernels refuse them, its 2-D and 3-D
        # ones and constant/circular return them; jaxpad returns them in every mode.
        expected = tuple(n + lo + hi for n, (lo, hi) in zip(shape, widths))
        assert jaxpad.pad(x, widths, mode).shape == expected
        return
    xt = torch.from_numpy(x).requires_grad_()
    yt = F.pad(xt, flat, mode=mode, value=1.5 if mode == "constant" else None)
    ct = _rand(yt.shape, seed=1)
    yt.backward(torch.from_numpy(ct))
    fn = partial(jaxpad.pad, pad_width=widths, mode=mode, value=1.5)
    y, vjp = jax.vjp(fn, jnp.asarray(x))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    # Gradients sum several reads in float32, in an order that may differ from torch's.
    assert_close(vjp(jnp.asarray(ct))[0], xt.grad.numpy())


def test_torch_circular_garbage_case_gives_crop_then_wrap():
    x = np.arange(24.0, dtype=np.float32).reshape(1, 1, 4, 3, 2)
    got = np.asarray(jaxpad.torch_pad(x, (0, 0, 3, -1, 2, -1), mode="circular"))
    widths = [(0, 0), (0, 0), (2, -1), (3, -1), (0, 0)]
    np.testing.assert_array_equal(got, reference.pad(x, widths, ["circular"] * 5))
    assert set(got.ravel()) <= set(x.ravel())
    assert got.shape == (1, 1, 5, 5, 2)


@requires_torch
@pytest.mark.parametrize("mode", TORCH_MODES)
@pytest.mark.parametrize("flat", [(1, 2), (2, 1, 0, 3), (1, -1, -2, 2, 1, 0), (-1, 2)])
@pytest.mark.parametrize("value", [None, 0.0, 3.0])
def test_torch_pad_equals_f_pad(mode, flat, value):
    # torch pads k axes of (k + 1)- or (k + 2)-D inputs in the non-constant modes.
    x = _rand((2, 3, 4, 5, 3)[: len(flat) // 2 + 2])
    if mode != "constant" and value:
        with pytest.raises(ValueError, match=f'Padding mode "{mode}" doesn\'t take in value'):
            jaxpad.torch_pad(x, flat, mode, value)
        return
    expected = F.pad(torch.from_numpy(x), flat, mode=mode, value=value).numpy()
    np.testing.assert_array_equal(jaxpad.torch_pad(x, flat, mode, value), expected)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16, jnp.int32])
@pytest.mark.parametrize("mode", MODES)
def test_dtypes_are_kept_and_values_copied_exactly(dtype, mode):
    x = jnp.arange(12).reshape(3, 4).astype(dtype)
    y = jaxpad.pad(x, [(1, 2), (2, 1)], mode, value=5)
    assert y.dtype == dtype
    expected = reference.pad(np.asarray(x, np.float64), [(1, 2), (2, 1)], [mode] * 2, 5)
    np.testing.assert_array_equal(np.asarray(y, np.float64), expected)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "symmetric"])
def test_signed_zeros_and_non_finite_values_are_copied_exactly(mode):
    # Padding copies: -0.0, inf and nan stay as they are, in the pad and in the
    # interior, in the primal and in the tangent; bools pad too.
    x = jnp.asarray([[-0.0, 0.0, np.inf], [np.nan, -np.inf, -0.0], [1.0, -0.0, 2.0]])
    widths = [(2, 1), (1, 2)]
    fn = partial(jaxpad.pad, pad_width=widths, mode=mode)
    expected = reference.pad(np.asarray(x), widths, [mode] * 2, 0.0)
    y, tangent = jax.jvp(fn, (x,), (x,))
    for got in (y, tangent, jax.jit(fn)(x)):
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))
    flags = x == 0
    np.testing.assert_array_equal(fn(flags), reference.pad(np.asarray(flags), widths,
                                                          [mode] * 2, False))


@pytest.mark.parametrize("mode", MODES)
def test_jit_grad_vmap(mode):
    x = jnp.asarray(_rand((3, 4, 5)))
    widths = [(0, 0), (2, 1), (-1, 3)]
    fn = partial(jaxpad.pad, pad_width=widths, mode=mode, value=1.0)
    np.testing.assert_array_equal(jax.jit(fn)(x), fn(x))
    unbatched = partial(jaxpad.pad, pad_width=widths[1:], mode=mode, value=1.0)
    np.testing.assert_array_equal(jax.vmap(unbatched)(x), fn(x))
    # The gradient of a sum counts how often each input element is read.
    grad = jax.grad(lambda a: fn(a).sum())(x)
    index = np.arange(1, x.size + 1, dtype=np.float64).reshape(x.shape)
    reads = reference.pad(index, widths, [mode] * 3, 0).ravel() - 1  # -1: a filled element
    counts = np.bincount(reads[reads >= 0].astype(int), minlength=x.size).reshape(x.shape)
    np.testing.assert_array_equal(grad, counts)


def test_value_may_be_traced():
    f = jax.jit(lambda x, v: jaxpad.pad(x, 1, "constant", value=v))
    assert f(jnp.zeros(2), 3.0).tolist() == [3.0, 0.0, 0.0, 3.0]
    assert f(jnp.zeros(2), 4.0).tolist() == [4.0, 0.0, 0.0, 4.0]


def test_no_retracing_on_repeated_calls():
    x = jnp.ones((3, 4))
    jaxpad.pad(x, [(1, 2), (3, 1)], "reflect")
    before = _pad.pad_validated.__wrapped__._cache_size()
    for _ in range(3):
        jaxpad.pad(x + 1, [[1, 2], [3, 1]], "REFLECT")
    assert _pad.pad_validated.__wrapped__._cache_size() == before


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (((4,), 1, "mirror"), {}, ValueError,
         re.escape(f"`mode` must be one of {', '.join(map(repr, jaxpad.MODES))} (or aliases "
                   f"'edge', 'wrap'); got 'mirror'")),
        (((4,), 1, 3), {}, TypeError, r"`mode` must be a string"),
        (((4, 4), 1, ["reflect"]), {}, ValueError,
         r"`mode` must be one mode or a sequence of 2 modes .* got 1"),
        (((4, 4, 4), [(1, 1), (1, 1)], "zeros"), {}, ValueError,
         r"`pad_width` must be an int, one \(lo, hi\) pair, or 3 pairs .* got 2 entries"),
        (((4,), 1.0, "zeros"), {}, TypeError, r"`pad_width` must be an int; got 1.0"),
        (((4,), [(1, 2, 3)], "zeros"), {}, ValueError, r"`pad_width` entries must be \(lo, hi\)"),
        (((2, 4), [(0, 0), (4, 4)], "reflect"), {}, ValueError,
         r"reflect padding needs width < size on each axis; axis 1 has size 4 and width "
         r"\(4, 4\)\. Pass oversize='repeat'"),
        (((4,), (5, 0), "circular"), {}, ValueError,
         r"circular padding needs width <= size on each axis; axis 0 has size 4 and width "
         r"\(5, 0\)\. .* repeated wrapping"),
        (((4,), (0, 5), "symmetric"), {}, ValueError, r"symmetric padding needs width <= size"),
        (((4,), 1, "reflect"), dict(oversize="clip"), ValueError,
         r"`oversize` must be 'error' or 'repeat'; got 'clip'"),
        (((4,), (-3, -2), "zeros"), {}, ValueError,
         r"Negative padding \(-3, -2\) on axis 0 of size 4 would leave -1 elements"),
        (((4,), (-2, -3), "replicate"), {}, ValueError, r"would leave -1 elements"),
        (((0,), 1, "replicate"), dict(oversize="repeat"), ValueError,
         r"Cannot replicate-pad axis 0: it has no elements to read \(size 0, padding \(1, 1\)\)"),
        (((3,), (2, -3), "circular"), {}, ValueError, r"Cannot circular-pad axis 0"),
        (((1,), (1, -2), "constant"), {}, ValueError,
         r"Negative padding \(1, -2\) on axis 0 of size 1 crops 2 elements, more than the axis"),
    ],
)
def test_pad_errors(args, kwargs, error, match):
    shape, widths, mode = args
    with pytest.raises(error, match=match):
        jaxpad.pad(jnp.zeros(shape), widths, mode, **kwargs)


@pytest.mark.parametrize(
    "pad, mode, match",
    [
        ((1, 2, 3), "constant", r"`pad` must have an even length of at most 2 \* x.ndim = 4; "
                                r"got 3 values"),
        ((1,) * 6, "constant", r"at most 2 \* x.ndim = 4; got 6"),
        (3, "constant", r"`pad` must be a flat tuple of ints; got 3"),
        ((1, 1), "symmetric", r"`mode` must be one of 'constant', 'reflect', 'replicate', "
                              r"'circular' \(torch's modes"),
    ],
)
def test_torch_pad_errors(pad, mode, match):
    with pytest.raises((ValueError, TypeError), match=match):
        jaxpad.torch_pad(jnp.zeros((2, 3)), pad, mode)


def test_seed_grid_every_mode_every_rank():
    """Every mode on every rank with per-axis widths, including crops, against the reference."""
    for rank, mode in itertools.product((1, 2, 3), MODES):
        shape = (5, 4, 3)[:rank]
        widths = [(2, -1), (-1, 3), (1, 1)][:rank]
        x = _rand(shape)
        np.testing.assert_array_equal(jaxpad.pad(x, widths, mode),
                                      reference.pad(x, widths, [mode] * rank))


@cpu_only
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "symmetric"])
def test_copying_modes_are_one_pass_over_every_axis(mode):
    """No buffer padded along one axis only: the axes are gathered block by block, in one go."""
    x = jnp.zeros((2, 5, 6, 3))
    widths = ((0, 0), (1, 2), (2, 1), (0, 0))
    fn = jax.jit(lambda a: jaxpad.pad(a, widths, mode))

    def buffers(f):  # the entry computation: what is not fused away
        hlo = jax.jit(f).lower(x).compile().as_text()
        return hlo[hlo.index("ENTRY"):]

    assert "f32[2,8,9,3]" in buffers(fn)  # the check can see shapes
    for f in (fn, jax.grad(lambda a: jnp.sum(fn(a) ** 2))):
        assert "f32[2,8,6,3]" not in buffers(f) and "f32[2,5,9,3]" not in buffers(f)


def test_many_repeats_gather_axis_by_axis_and_match_numpy():
    """Past `_MAX_BLOCKS` blocks the axes are gathered one after the other; same numbers."""
    x = _rand((2, 3, 2))
    widths = ((7, 9), (8, 6), (0, 0))
    runs = [_pad._copy_runs(n, lo, hi, "reflect") for n, (lo, hi) in zip(x.shape, widths)]
    assert len(runs[0]) * len(runs[1]) > _pad._MAX_BLOCKS
    expected = np.pad(x, widths, mode="reflect")
    np.testing.assert_array_equal(jaxpad.pad(x, widths, "reflect", oversize="repeat"), expected)


@settings(max_examples=examples(300))
@given(st.integers(1, 6), st.integers(-6, 9), st.integers(-6, 9),
       st.sampled_from(["reflect", "replicate", "circular", "symmetric"]))
def test_the_kept_input_is_one_run(size, lo, hi, mode):
    """The gather's runs cover the same index, and the input that stays is one slice.

    Its transpose is then the cotangent's interior plus thin strips (reflect's backward
    was 2x slower when `2 1 | 1 2 3 4` ran as `2 1`, `2 3 4`).
    """
    crop_lo, crop_hi = max(-lo, 0), max(-hi, 0)
    assume(size - crop_lo - crop_hi >= 1)
    runs = _pad._copy_runs(size, lo, hi, mode)
    assert [i for run in runs for i in run] == _pad._copy_index(size, lo, hi, mode)
    assert list(range(crop_lo, size - crop_hi)) in runs


@pytest.mark.parametrize("index", [(0, 0, 0), (2, 1, 1, 0, 0, 3), (3, 3, 2, 1, 1)])
def test_take_with_repeats_as_copies_is_the_same_linear_map(index):
    """`concat_repeats` (the frame's slabs) changes the lowering, not the numbers."""
    x = _rand((2, 4, 3))
    ct = _rand((2, len(index), 3))
    for concat in (False, True):
        f = partial(_pad.take, axis=1, index=index, concat_repeats=concat)
        y, vjp = jax.vjp(f, x)
        np.testing.assert_array_equal(y, np.take(x, index, axis=1))
        expected = np.zeros_like(x)
        np.add.at(expected, (slice(None), list(index)), ct)
        np.testing.assert_allclose(vjp(ct)[0], expected, rtol=1e-6)

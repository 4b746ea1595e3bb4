"""The frame decomposition (`impl='frame'`): same numbers as padding first, no padded copy."""

from __future__ import annotations

import itertools
import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import assert_close, examples
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxpad
from jaxpad import _frame

MODES = ("reflect", "replicate", "circular", "symmetric")
HIGHEST = jax.lax.Precision.HIGHEST


def _both(x, w, **kw):
    """Forward and gradients (input and kernel) of both implementations."""
    out = {}
    for impl in ("frame", "pad"):
        f = partial(jaxpad.conv, impl=impl, precision=HIGHEST, **kw)
        y, vjp = jax.vjp(f, x, w)
        ct = jnp.asarray(np.random.default_rng(3).standard_normal(y.shape), y.dtype)
        out[impl] = (y, *vjp(ct))
    return out


@st.composite
def configs(draw):
    rank = draw(st.integers(1, 3))
    k = [draw(st.integers(1, 5)) for _ in range(rank)]
    d = [draw(st.integers(1, 3)) for _ in range(rank)]
    shape = [draw(st.integers(1, 7)) for _ in range(rank)]
    s = [draw(st.integers(1, 3)) for _ in range(rank)]
    spec = draw(st.sampled_from(["same", "same_lower", "full", "causal", "pairs"]))
    padding = ([tuple(draw(st.lists(st.integers(0, 4), min_size=2, max_size=2)))
                for _ in range(rank)] if spec == "pairs" else spec)
    modes = [draw(st.sampled_from(MODES + ("zeros",))) for _ in range(rank)]
    groups = draw(st.integers(1, 2))
    return dict(rank=rank, k=k, d=d, shape=shape, s=s, padding=padding, modes=modes,
                groups=groups, channels_last=draw(st.booleans()))


@settings(max_examples=examples(150))
@given(configs())
def test_frame_equals_pad_first_forward_and_backward(c):
    rng = np.random.default_rng(0)
    cin, cout = 2 * c["groups"], 3 * c["groups"]
    if c["channels_last"]:
        x = rng.standard_normal((2, *c["shape"], cin), np.float32)
        w = rng.standard_normal((*c["k"], 2, cout), np.float32)
    else:
        x = rng.standard_normal((2, cin, *c["shape"]), np.float32)
        w = rng.standard_normal((cout, 2, *c["k"]), np.float32)
    kw = dict(stride=c["s"], dilation=c["d"], padding=c["padding"], padding_mode=c["modes"],
              groups=c["groups"], channels_last=c["channels_last"], oversize="repeat")
    try:
        jaxpad.conv(x, w, impl="pad", **kw)
    except ValueError:  # an empty output: both refuse alike
        with pytest.raises(ValueError, match="output would be empty"):
            jaxpad.conv(x, w, impl="frame", **kw)
        return
    got = _both(jnp.asarray(x), jnp.asarray(w), **kw)
    for a, b in zip(got["frame"], got["pad"]):
        assert_close(a, b)


@settings(max_examples=examples(60))
@given(configs(), st.booleans())
def test_both_forward_passes_equal_pad_first(c, pad_first):
    """The frame op's CPU strategies (chosen by cost), against `impl='pad'`.

    Forward: the frame pieces or padding first; backward: the frame's.
    """
    from jaxpad._conv import dimension_numbers
    from jaxpad._frame import Config, frame_conv

    rng = np.random.default_rng(0)
    rank, g = c["rank"], c["groups"]
    if c["channels_last"]:
        x = jnp.asarray(rng.standard_normal((2, *c["shape"], 2 * g)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((*c["k"], 2, 3 * g)), jnp.float32)
    else:
        x = jnp.asarray(rng.standard_normal((2, 2 * g, *c["shape"])), jnp.float32)
        w = jnp.asarray(rng.standard_normal((3 * g, 2, *c["k"])), jnp.float32)
    pads = jaxpad.resolve_padding(c["padding"], c["shape"], c["k"], c["s"], c["d"])
    kw = dict(stride=c["s"], dilation=c["d"], padding=pads, padding_mode=c["modes"], groups=g,
              channels_last=c["channels_last"], oversize="repeat")
    try:
        expected = _both(x, w, **kw)["pad"]
    except ValueError:  # an empty output
        return
    config = Config(tuple(c["shape"]), tuple(c["k"]), tuple(c["s"]), pads, tuple(c["modes"]),
                    tuple(c["d"]), g, dimension_numbers(rank, c["channels_last"]), HIGHEST,
                    None, pad_first=pad_first)
    y, vjp = jax.vjp(frame_conv(config), x, w)
    ct = jnp.asarray(np.random.default_rng(3).standard_normal(y.shape), y.dtype)
    for a, b in zip((y, *vjp(ct)), expected):
        assert_close(a, b)


def test_cost_model_pads_first_where_the_copy_is_cheap():
    """Many multiply-adds per input element and a wide frame pad first; else the frame."""
    from jaxpad._conv import dimension_numbers
    from jaxpad._frame import Config, _pieces, pads_first_on_cpu

    def pads_first(shape, k, channels):
        nsp = len(shape)
        c = Config(shape, k, (1,) * nsp, tuple(((kk - 1) // 2, kk // 2) for kk in k),
                   ("reflect",) * nsp, (1,) * nsp, 1, dimension_numbers(nsp, True), None, None)
        return pads_first_on_cpu(c, _pieces(c), channels)

    assert pads_first((28, 28), (3, 3), 128)
    assert pads_first((56, 56), (5, 5), 64)
    assert not pads_first((112, 112), (3, 3), 32)  # a thin frame around a cheap conv
    assert not pads_first((4096,), (16,), 64)
    assert not pads_first((28, 28), (3, 3), 4)  # copying costs more than 4 outputs' MACs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_frame_against_reference(mode, rank):
    shape, k = [9, 6, 5][:rank], [4, 3, 2][:rank]
    s, d = [2, 1, 3][:rank], [1, 2, 1][:rank]
    x = np.random.default_rng(1).standard_normal((2, 3, *shape)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((2, 3, *k)).astype(np.float32)
    y = jaxpad.conv(x, w, stride=s, dilation=d, padding_mode=mode, channels_last=False,
                    impl="frame", precision=HIGHEST)
    pads = [reference.tf_same(*a) for a in zip(shape, k, s, d)]
    assert_close(y, reference.conv_nchw(x, w, None, s, pads, [mode] * rank, d, 1))


def test_no_padded_copy_in_the_training_step():
    """The compiled forward+backward holds no array of the padded input's shape.

    (Here the cost model keeps the frame forward pass too: 60 multiply-adds per element.)
    """
    x, w = jnp.zeros((2, 16, 12, 4)), jnp.zeros((3, 5, 4, 4))
    loss = lambda impl: lambda x, w: jnp.sum(  # noqa: E731
        jaxpad.conv(x, w, padding_mode="reflect", impl=impl) ** 2)
    padded = r"f32\[2,(18|19),16,4\]"  # 19: the row the convolution drops (`pad_first`)
    hlo = {impl: jax.jit(jax.grad(loss(impl), (0, 1))).lower(x, w).compile().as_text()
           for impl in ("frame", "pad")}
    assert re.search(padded, hlo["pad"])  # the check can see a padded copy
    assert not re.search(padded, hlo["frame"])


def _temp_bytes(loss, *args):
    return jax.jit(jax.grad(loss, tuple(range(len(args))))).lower(*args).compile(
    ).memory_analysis().temp_size_in_bytes


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the backward is ordered for XLA:CPU")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "x_shape, k, stride, dilation",
    [
        ((4, 32, 32, 16), (3, 3), 1, 1),
        ((4, 32, 32, 32), (5, 5), 1, 1),  # replicate reads a row twice: no copy of dx
        ((4, 32, 32, 16), (3, 3), 2, 2),
        ((2, 64, 64, 8), (7, 7), 2, 1),
        ((4, 256, 16), (7,), 1, 1),
        ((1, 16, 16, 16, 8), (3, 3, 3), 1, 1),
    ],
)
@pytest.mark.parametrize("channels_last", [True, False])
def test_training_step_temp_memory_within_zero_padding(mode, x_shape, k, stride, dilation,
                                                       channels_last):
    """Compiled temp memory of grad, one layer and a 3-layer conv-relu stack, vs zeros.

    XLA:CPU left to itself put the frame's buffers amid the zero-padded backward
    (1.06-1.45x here); the ordered backward brings them below it (`_frame.backward`).
    NCHW runs the frame between transposes: in NCHW, 16 of these 24 cases failed.
    """
    c = x_shape[-1]
    x, w = jnp.zeros(x_shape), jnp.zeros((*k, c, c))
    if not channels_last:
        x, w = jnp.moveaxis(x, -1, 1), jnp.zeros((c, c, *k))

    def layer(mode):
        return lambda x, w: jaxpad.conv(x, w, stride=stride, dilation=dilation, padding="same",
                                        padding_mode=mode, channels_last=channels_last,
                                        impl="frame")

    def one(mode):
        return _temp_bytes(lambda x, w: jnp.sum(layer(mode)(x, w) ** 2), x, w)

    def stack(mode):
        def loss(w0, w1, w2):
            y = x
            for w in (w0, w1, w2):
                y = jax.nn.relu(jaxpad.conv(y, w, padding="same", padding_mode=mode,
                                            channels_last=channels_last, impl="frame"))
            return jnp.sum(y**2)
        return _temp_bytes(loss, w, w, w)

    assert one(mode) <= 1.05 * one("zeros")
    assert stack(mode) <= 1.05 * stack("zeros")


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.complex64])
def test_ordering_dependency_adds_an_exact_zero(dtype):
    """`_after` leaves every value bit for bit, whatever the values it waits for."""
    values = [0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan]
    a = jnp.asarray(values, dtype)
    if dtype == jnp.complex64:
        a = a + jnp.asarray(values[::-1], jnp.float32) * 1j
    for dep in (jnp.asarray([v]) for v in values):
        got = jax.jit(_frame._after)(a, dep)
        np.testing.assert_array_equal(np.asarray(got).view(np.uint8), np.asarray(a).view(np.uint8))


@pytest.mark.parametrize("impl", ["frame", "auto"])
def test_empty_batch_forward_and_gradients(impl):
    x, w = jnp.zeros((0, 8, 8, 2)), jnp.ones((3, 3, 2, 64))
    f = partial(jaxpad.conv, padding_mode="reflect", impl=impl)
    assert f(x, w).shape == (0, 8, 8, 64)
    dx, dw = jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w)), (0, 1)))(x, w)
    assert dx.shape == x.shape and not jnp.any(dw)


def test_vmap_jit_and_grad_of_frame():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 8, 7, 2)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).standard_normal((3, 3, 2, 2)), jnp.float32)
    f = partial(jaxpad.conv, kernel=w, stride=2, padding_mode="circular", precision=HIGHEST)
    assert_close(jax.vmap(f)(x), f(x))
    g = jax.jit(jax.vmap(jax.grad(lambda a: jnp.sum(f(a) ** 2))))(x)
    g_pad = jax.vmap(jax.grad(lambda a: jnp.sum(
        jaxpad.conv(a, w, stride=2, padding_mode="circular", impl="pad",
                    precision=HIGHEST) ** 2)))(x)
    assert_close(g, g_pad)


@pytest.mark.parametrize("impl", ["frame", "auto", "pad"])
def test_forward_mode_of_every_impl(impl):
    """jvp through the frame primitive: both tangents, and the input's alone."""
    x, w = jnp.ones((1, 5, 1)), jnp.ones((3, 1, 1))
    f = partial(jaxpad.conv, padding_mode="reflect", impl=impl)
    _, tangent = jax.jvp(partial(f, kernel=w), (x,), (jnp.ones_like(x),))
    assert tangent[0, :, 0].tolist() == [3.0] * 5
    _, tangent = jax.jvp(f, (x, w), (jnp.ones_like(x), 2 * jnp.ones_like(w)))
    assert tangent[0, :, 0].tolist() == [9.0] * 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(impl="fast"), r"`impl` of conv must be one of 'auto', 'pad', 'frame'; got 'fast'"),
        (dict(impl="frame", padding_mode="constant"),
         r"impl='frame' does not take padding_mode 'constant'"),
    ],
)
def test_impl_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxpad.conv(jnp.ones((1, 4, 1)), jnp.ones((3, 1, 1)), **kwargs)


def test_all_zero_pads_and_zero_modes_take_the_plain_path():
    from jaxpad._conv import choose_impl

    for impl, pads, modes, expected in [
        ("auto", ((1, 1),), ("zeros",), "pad"),
        ("frame", ((0, 0),), ("reflect",), "pad"),
        ("auto", ((1, 1), (0, 0)), ("zeros", "reflect"), "pad"),
        ("auto", ((1, 1),), ("reflect",), "auto"),  # the policy's choice
        ("auto", ((1, 1),), ("constant",), "pad"),
    ]:
        assert choose_impl(impl, pads, modes) == expected, (impl, pads, modes)


def test_stride_and_dilation_grid_of_pieces():
    """Low and high frames reached through every tap count, including overlapping pieces."""
    for k, s, d, n in itertools.product((2, 4), (1, 3), (1, 2), (1, 2, 5)):
        x = np.random.default_rng(n).standard_normal((1, n, 1)).astype(np.float32)
        w = np.random.default_rng(k).standard_normal((k, 1, 1)).astype(np.float32)
        kw = dict(stride=s, dilation=d, padding="full", padding_mode="reflect",
                  oversize="repeat", precision=HIGHEST)
        assert_close(jaxpad.conv(x, w, impl="frame", **kw), jaxpad.conv(x, w, impl="pad", **kw))

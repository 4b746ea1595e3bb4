"""`jaxpad.conv` against a NumPy reference, PyTorch and Keras."""

from __future__ import annotations

import itertools
import os
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import assert_close, examples, grid, requires_torch, torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jaxpad
from jaxpad import _conv

MODES = ("zeros", "constant", "reflect", "replicate", "circular", "symmetric")
TORCH_MODES = ("zeros", "reflect", "replicate", "circular")
HIGHEST = jax.lax.Precision.HIGHEST


def _rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _to_last(x, w):
    """NCHW/OIHW arrays as NHWC/HWIO."""
    nsp = w.ndim - 2
    return jnp.moveaxis(x, 1, -1), jnp.transpose(w, (*range(2, nsp + 2), 1, 0))


def _pads(padding, shape, k, s, d):
    """Independent spec -> pairs (the 'same' rule as TF writes it)."""
    if padding == "same":
        return [reference.tf_same(*a) for a in zip(shape, k, s, d)]
    if padding == "valid":
        return [(0, 0)] * len(shape)
    if padding == "causal":
        return [(di * (ki - 1), 0) for ki, di in zip(k, d)]
    if isinstance(padding, int):
        return [(padding, padding)] * len(shape)
    return [tuple(p) if isinstance(p, tuple) else (p, p) for p in padding]


def _valid(shape, k, s, d, pads, modes) -> bool:
    """torch's limits: a non-empty output, reflect pad < size, circular/symmetric pad <= size."""
    limit = {"reflect": -1, "circular": 0, "symmetric": 0}
    for i, ki, di, (lo, hi), m in zip(shape, k, d, pads, modes):
        if i + lo + hi < di * (ki - 1) + 1:
            return False
        if m in limit and max(lo, hi) > i + limit[m]:
            return False
    return True


@st.composite
def conv_configs(draw, rank=None, modes=MODES, per_axis=True,
                 specs=("same", "valid", "causal", "int", "ints", "pairs")):
    rank = rank or draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = [draw(st.integers(1, 4)) for _ in range(rank)]
    s = [draw(st.integers(1, 3)) for _ in range(rank)]
    d = [draw(st.integers(1, 3)) for _ in range(rank)]
    top = 7 if rank < 3 else 5
    shape = [draw(st.integers(max(1, di * (ki - 1) // 2), top + di * (ki - 1) // 2))
             for ki, di in zip(k, d)]
    spec = draw(st.sampled_from(specs))
    padding = {
        "int": lambda: draw(st.integers(0, 3)),
        "ints": lambda: [draw(st.integers(0, 3)) for _ in range(rank)],
        "pairs": lambda: [tuple(draw(st.lists(st.integers(0, 3), min_size=2, max_size=2)))
                          for _ in range(rank)],
    }.get(spec, lambda: spec)()
    per_axis = per_axis and draw(st.booleans())
    mode = ([draw(st.sampled_from(modes)) for _ in range(rank)] if per_axis
            else draw(st.sampled_from(modes)))
    return dict(
        batch=draw(st.integers(1, 2)), cin=cin, cout=cout, shape=shape, k=k, s=s, d=d,
        groups=groups, padding=padding, mode=mode, bias=draw(st.booleans()),
        channels_last=draw(st.booleans()), value=draw(st.sampled_from([0.0, -1.5])),
    )


def _arrays(c, seed=0):
    x = _rand((c["batch"], c["cin"], *c["shape"]), seed)
    w = _rand((c["cout"], c["cin"] // c["groups"], *c["k"]), seed + 1)
    b = _rand((c["cout"],), seed + 2) if c["bias"] else None
    return x, w, b


def _jaxpad(c, x, w, b, **extra):
    """Runs jaxpad.conv on channels-first arrays in the config's layout, returns NCHW."""
    if c["channels_last"]:
        x, w = _to_last(x, w)
    y = jaxpad.conv(x, w, b, stride=c["s"], padding=c["padding"], padding_mode=c["mode"],
                    padding_value=c["value"], dilation=c["d"], groups=c["groups"],
                    channels_last=c["channels_last"], precision=HIGHEST, **extra)
    return np.moveaxis(np.asarray(y), -1, 1) if c["channels_last"] else np.asarray(y)


def _check_against_reference(c):
    x, w, b = _arrays(c)
    rank = len(c["shape"])
    modes = c["mode"] if isinstance(c["mode"], list) else [c["mode"]] * rank
    pads = _pads(c["padding"], c["shape"], c["k"], c["s"], c["d"])
    if not _valid(c["shape"], c["k"], c["s"], c["d"], pads, modes):
        with pytest.raises(ValueError):
            _jaxpad(c, x, w, b)
        return False
    expected = reference.conv_nchw(x, w, b, c["s"], pads, modes, c["d"], c["groups"], c["value"])
    assert_close(_jaxpad(c, x, w, b), expected)
    return True


@grid(mode=MODES, rank=[1, 2, 3], stride=[1, 2, 3], dilation=[1, 2], groups=[1, 2])
def test_grid_against_reference(mode, rank, stride, dilation, groups):
    c = dict(batch=2, cin=2 * groups, cout=2 * groups, shape=[7, 6, 5][:rank], k=[3, 4, 2][:rank],
             s=[stride] * rank, d=[dilation] * rank, groups=groups, padding="same", mode=mode,
             bias=True, channels_last=(stride + dilation) % 2 == 0, value=0.5)
    assert _check_against_reference(c)


@settings(max_examples=examples(400))
@given(conv_configs())
def test_random_configs_against_reference(c):
    _check_against_reference(c)


def test_analytic_ones_kernel_sums_window_and_circular_commutes_with_roll():
    x = jnp.asarray(_rand((1, 9, 8, 1)))
    y = jaxpad.conv(x, jnp.ones((3, 3, 1, 1)), padding="same", padding_mode="circular")
    windows = sum(jnp.roll(x, (i, j), (1, 2)) for i in (-1, 0, 1) for j in (-1, 0, 1))
    assert_close(y, windows)
    k = jnp.asarray(_rand((3, 4, 1, 2), 3))
    f = partial(jaxpad.conv, kernel=k, padding="same", padding_mode="circular", precision=HIGHEST)
    assert_close(f(jnp.roll(x, (2, -3), (1, 2))), jnp.roll(f(x), (2, -3), (1, 2)))


# ---------------------------------------------------------------------------- PyTorch parity

F = torch.nn.functional if torch is not None else None


def _torch_conv(c, x, w, b):
    """PyTorch's result for a channels-first config: nn.ConvNd where it takes the padding,
    else F.pad in the mode (explicit pairs, or TF 'same' for strided convs) then F.convNd."""
    rank = len(c["shape"])
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    bt = None if b is None else torch.from_numpy(b).requires_grad_()
    padding = c["padding"]
    symmetric = padding in ("valid",) or isinstance(padding, int) or (
        isinstance(padding, list) and all(isinstance(p, int) for p in padding))
    if symmetric or (padding == "same" and all(s == 1 for s in c["s"])):
        layer = getattr(torch.nn, f"Conv{rank}d")(
            c["cin"], c["cout"], c["k"], stride=c["s"], padding=padding, dilation=c["d"],
            groups=c["groups"], bias=b is not None, padding_mode=c["mode"])
        with torch.no_grad():
            layer.weight.copy_(wt)
            if b is not None:
                layer.bias.copy_(bt)
        wt, bt = layer.weight, layer.bias
        y = layer(xt)
    else:
        pads = _pads(padding, c["shape"], c["k"], c["s"], c["d"])
        flat = tuple(v for p in reversed(pads) for v in p)
        mode = "constant" if c["mode"] == "zeros" else c["mode"]
        y = getattr(F, f"conv{rank}d")(F.pad(xt, flat, mode=mode), wt, bt, stride=c["s"],
                                       dilation=c["d"], groups=c["groups"])
    return y, (xt, wt, bt)


def _check_against_torch(c):
    x, w, b = _arrays(c, seed=sum(c["shape"]))
    y_t, leaves = _torch_conv(c, x, w, b)
    ct = _rand(tuple(y_t.shape), seed=7)
    y_t.backward(torch.from_numpy(ct))

    # One jitted forward+backward per configuration.
    @jax.jit
    def fwd_bwd(x, w, b, ct):
        if c["channels_last"]:
            x, w = _to_last(x, w)
            ct = jnp.moveaxis(ct, 1, -1)
        y, vjp = jax.vjp(
            lambda x, w, b: jaxpad.conv(
                x, w, b, stride=c["s"], padding=c["padding"], padding_mode=c["mode"],
                dilation=c["d"], groups=c["groups"], channels_last=c["channels_last"],
                precision=HIGHEST),
            x, w, b)
        grads = vjp(ct)
        if c["channels_last"]:
            y = jnp.moveaxis(y, -1, 1)
        return y, grads

    y, (gx, gw, gb) = fwd_bwd(x, w, b, ct)
    if c["channels_last"]:
        gx, gw = np.moveaxis(np.asarray(gx), -1, 1), np.transpose(
            gw, (len(c["k"]) + 1, len(c["k"]), *range(len(c["k"]))))
    xt, wt, bt = leaves
    assert_close(y, y_t.detach().numpy())
    assert_close(gx, xt.grad.numpy())
    assert_close(gw, wt.grad.numpy())
    if b is not None:
        assert_close(gb, bt.grad.numpy())


@requires_torch
@grid(padding=[1, "same"], mode=TORCH_MODES, rank=[1, 2, 3], stride=[1, 2], dilation=[1, 2],
      groups=[1, 2])
def test_grid_against_torch(padding, mode, rank, stride, dilation, groups):
    c = dict(batch=2, cin=2 * groups, cout=3 * groups, shape=[7, 6, 5][:rank],
             k=[3, 2, 3][:rank], s=[stride] * rank, d=[dilation] * rank, groups=groups,
             padding=padding, mode=mode, bias=True, channels_last=rank == 2, value=0.0)
    _check_against_torch(c)


# Thorough: 3 x 700 random configurations, each checked forward and backward (input, kernel
# and bias); at least 2,000 of them valid for torch.
RANDOM_TORCH = 700
RANDOM_TORCH_SPECS = {1: ("same", "valid", "int", "pairs"),
                      2: ("same", "valid", "int", "ints", "pairs"),
                      3: ("same", "valid", "int", "ints", "pairs")}


@requires_torch
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_random_configs_against_torch(rank):
    checked = []

    @settings(max_examples=examples(RANDOM_TORCH))
    @given(conv_configs(rank=rank, modes=TORCH_MODES, per_axis=False,
                        specs=RANDOM_TORCH_SPECS[rank]))
    def check(c):
        pads = _pads(c["padding"], c["shape"], c["k"], c["s"], c["d"])
        assume(_valid(c["shape"], c["k"], c["s"], c["d"], pads, [c["mode"]] * rank))
        _check_against_torch(c)
        checked.append(c)

    check()
    # Thorough: 3 x 700 drawn, at least 2,000 of them checked (assume() drops the rest).
    assert len(checked) >= 2000 / 2100 * examples(RANDOM_TORCH), len(checked)


@requires_torch
@pytest.mark.parametrize("mode", TORCH_MODES)
@pytest.mark.parametrize("shape, k, padding", [((4, 4), (3, 3), 2), ((5,), (3,), 3),
                                                ((3, 4, 2), (2, 2, 1), (2, 3, 1))])
def test_refuses_what_torch_refuses(mode, shape, k, padding):
    """Widths too wide for the mode: both jaxpad and torch refuse (reflect needs pad < size)."""
    rank = len(shape)
    pads = _pads(padding, shape, k, [1] * rank, [1] * rank)
    x, w = _rand((1, 1, *shape)), _rand((1, 1, *k))
    layer = getattr(torch.nn, f"Conv{rank}d")(1, 1, k, padding=padding, padding_mode=mode)
    if _valid(shape, k, [1] * rank, [1] * rank, pads, [mode] * rank):
        layer(torch.from_numpy(x))
        jaxpad.conv(x, w, padding=padding, padding_mode=mode, channels_last=False)
        return
    with pytest.raises(RuntimeError):
        layer(torch.from_numpy(x))
    with pytest.raises(ValueError, match=f"{mode} padding needs width"):
        jaxpad.conv(x, w, padding=padding, padding_mode=mode, channels_last=False)


# ------------------------------------------------------------------------------ Keras parity


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed: TF semantics not checked")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on the {keras.backend.backend()} backend, not torch")
    return keras


KERAS_CASES = [
    # rank, size, kernel, stride, dilation, padding, groups
    (1, 100, 16, 1, 1, "same", 1),  # the seed article's Conv1D(kernel_size=16, padding='same')
    (1, 11, 4, 2, 1, "same", 1),
    (1, 10, 3, 1, 2, "causal", 1),
    (1, 9, 4, 3, 1, "causal", 2),
    (2, 9, 4, 2, 1, "same", 1),
    (2, 8, 3, 3, 1, "same", 2),
    (2, 7, 2, 1, 3, "same", 1),
    (2, 10, 5, 2, 1, "valid", 1),
    (3, 7, 2, 2, 1, "same", 1),
    (3, 6, 3, 1, 2, "same", 1),
]


@pytest.mark.parametrize("rank, size, k, stride, dilation, padding, groups", KERAS_CASES)
def test_same_and_causal_match_keras(keras, rank, size, k, stride, dilation, padding, groups):
    x = _rand((2, *([size] * rank), 2 * groups))
    w = _rand((*([k] * rank), 2, 3 * groups), 1)
    b = _rand((3 * groups,), 2)
    layer = getattr(keras.layers, f"Conv{rank}D")(
        3 * groups, k, strides=stride, padding=padding, dilation_rate=dilation, groups=groups)
    layer.build(x.shape)
    layer.set_weights([w, b])
    expected = keras.ops.convert_to_numpy(layer(x))
    got = jaxpad.conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                      precision=HIGHEST)
    assert got.shape == expected.shape
    assert_close(got, expected)


# ------------------------------------------------------------ transformations, dtypes, errors


@pytest.mark.parametrize("mode", MODES)
def test_jit_grad_vmap(mode):
    x = jnp.asarray(_rand((3, 6, 5, 2)))
    k = jnp.asarray(_rand((3, 2, 2, 4), 1))
    f = partial(jaxpad.conv, kernel=k, stride=(2, 1), padding="same", padding_mode=mode,
                precision=HIGHEST)
    assert_close(jax.jit(f)(x), f(x))
    assert_close(jax.vmap(f)(x), f(x))  # unbatched inputs under vmap
    g = jax.grad(lambda x: (f(x) ** 2).sum())(x)
    eps = 1e-3
    direction = jnp.asarray(_rand(x.shape, 5))
    loss = lambda x: (f(x) ** 2).sum()  # noqa: E731
    numeric = (loss(x + eps * direction) - loss(x - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(float((g * direction).sum()), float(numeric), rtol=2e-2)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_dtypes(dtype, mode):
    x, w = _rand((2, 3, 8, 7)), _rand((4, 3, 3, 3), 1)
    y = jaxpad.conv(jnp.asarray(x, dtype), jnp.asarray(w, dtype), stride=2, padding="same",
                    padding_mode=mode, channels_last=False)
    assert y.dtype == dtype
    pads = _pads("same", (8, 7), (3, 3), (2, 2), (1, 1))
    expected = reference.conv_nchw(np.asarray(jnp.asarray(x, dtype), np.float32),
                                   np.asarray(jnp.asarray(w, dtype), np.float32), None, (2, 2),
                                   pads, [mode] * 2, (1, 1), 1)
    assert_close(y, expected, dtype=np.dtype(dtype))


@pytest.mark.parametrize("mode", ["reflect", "circular", "symmetric"])
def test_oversize_repeat_reflects_and_wraps_like_numpy(mode):
    x, w = _rand((1, 2, 3, 2)), _rand((2, 2, 5, 3), 1)
    with pytest.raises(ValueError, match=f"{mode} padding needs width"):
        jaxpad.conv(x, w, padding=(4, 3), padding_mode=mode, channels_last=False)
    y = jaxpad.conv(x, w, padding=(4, 3), padding_mode=mode, oversize="repeat",
                    channels_last=False, precision=HIGHEST)
    # The reference's periodic index maps are numpy's repeated padding (see test_pad).
    expected = reference.conv_nchw(x, w, None, (1, 1), [(4, 4), (3, 3)], [mode] * 2, (1, 1), 1)
    assert_close(y, expected)


def test_unbatched_and_both_layouts_agree():
    x, w, b = _rand((3, 9, 8)), _rand((5, 3, 3, 2), 1), _rand((5,), 2)
    y_first = jaxpad.conv(x, w, b, stride=2, padding_mode="replicate", channels_last=False)
    xl, wl = _to_last(x[None], w)
    y_last = jaxpad.conv(xl[0], wl, b, stride=2, padding_mode="replicate")
    assert y_first.shape == (5, 5, 4)
    assert_close(np.moveaxis(np.asarray(y_last), -1, 0), y_first)


def test_no_retracing_on_repeated_calls():
    x, k = jnp.ones((1, 8, 8, 2)), jnp.ones((3, 3, 2, 2))
    jaxpad.conv(x, k, padding="same", padding_mode="reflect")
    before = _conv.conv_validated.__wrapped__._cache_size()
    for i in range(3):
        jaxpad.conv(x + i, k, padding="SAME", padding_mode=["reflect", "REFLECT"])
    assert _conv.conv_validated.__wrapped__._cache_size() == before


@pytest.mark.parametrize(
    "x_shape, k_shape, kwargs, error, match",
    [
        ((1, 4, 4, 2), (3, 2), {}, ValueError,
         r"`kernel` must have rank >= 3 .* got shape \(3, 2\)"),
        ((4, 2), (3, 3, 2, 1), {}, ValueError,
         r"`x` must have rank 4 \(batched\) or 3 \(unbatched\) for a 2-D kernel .* got shape "
         r"\(4, 2\)"),
        ((1, 4, 4, 3), (3, 3, 2, 1), {}, ValueError,
         r"`x` has 3 channels but `kernel` of shape \(3, 3, 2, 1\) expects 2 per group x 1 "
         r"groups = 2 \(channels_last layout\)"),
        ((1, 4, 4, 3), (3, 3, 1, 4), dict(groups=2), ValueError,
         r"`groups` must divide the input and output channels; got groups=2 with 3 input and "
         r"4 output"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(groups=0), ValueError, r"`groups` must be >= 1; got 0"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(stride=0), ValueError, r"`stride` must be >= 1"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(dilation=(1, 0)), ValueError,
         r"`dilation` must be >= 1 on every axis; got \(1, 0\)"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(padding=(1, 1, 1)), ValueError,
         r"`padding` must be .* 2 ints or 2 \(lo, hi\) pairs .* length 3"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(padding="valid", dilation=2), ValueError,
         r"The output would be empty: spatial axis 0 has size 4, padding \(0, 0\) and effective "
         r"kernel size 5"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(padding=4, padding_mode="reflect"), ValueError,
         r"reflect padding needs width < size on each axis; axis 1 has size 4 and width \(4, 4\)"),
        ((1, 2, 4, 2), (3, 3, 2, 2), dict(padding=2, padding_mode=["zeros", "circular"]), None,
         None),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(padding_mode="mirror"), ValueError,
         r"`padding_mode` must be one of 'zeros', 'constant', 'reflect', .* \(or aliases "
         r"'edge', 'wrap'\); got 'mirror'"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(padding_mode=["zeros"]), ValueError,
         r"`padding_mode` must be one mode or a sequence of 2 modes"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(bias=np.zeros(3)), ValueError,
         r"`bias` must have shape \(2,\) \(the output channels\); got \(3,\)"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(channels_last="yes"), TypeError,
         r"`channels_last` must be a bool; got 'yes'"),
        ((1, 4, 4, 2), (3, 3, 2, 2), dict(stride=1.0), TypeError, r"`stride` must be an int"),
    ],
)
def test_errors(x_shape, k_shape, kwargs, error, match):
    call = partial(jaxpad.conv, jnp.zeros(x_shape), jnp.zeros(k_shape), **kwargs)
    if error is None:
        assert call().shape == (1, 4, 6, 2)  # circular width 2 on a size-2 axis is allowed
        return
    with pytest.raises(error, match=match):
        call()


def test_errors_come_before_any_computation():
    """Validation is static: a bad call fails even while tracing, with no device work."""
    @jax.jit
    def f(x):
        return jaxpad.conv(x, jnp.zeros((3, 3, 2, 2)), padding=5, padding_mode="reflect")

    with pytest.raises(ValueError, match="reflect padding needs width < size"):
        jax.eval_shape(f, jax.ShapeDtypeStruct((1, 4, 4, 2), jnp.float32))


def test_every_mode_rank_stride_dilation_combination_runs_per_axis_modes():
    for rank, (m1, m2, m3) in itertools.product((1, 2, 3), [MODES[:3], MODES[3:]]):
        c = dict(batch=1, cin=2, cout=2, shape=[6, 5, 4][:rank], k=[3, 2, 3][:rank],
                 s=[1, 2, 3][:rank], d=[2, 1, 1][:rank], groups=2, padding="same",
                 mode=[m1, m2, m3][:rank], bias=False, channels_last=False, value=1.0)
        assert _check_against_reference(c)

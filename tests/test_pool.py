"""`jaxpad.max_pool` / `jaxpad.avg_pool` against a NumPy reference, PyTorch, Keras and Flax."""

from __future__ import annotations

import itertools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import assert_close, examples, requires_torch, torch
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st

import jaxpad


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------------ the NumPy oracle


def pool_reference(x, kind, window, stride, pads, dilation, ceil_mode, mode="zeros",
                   include_pad=True):
    """Channels-first pooling by explicit windows over an explicitly padded array.

    The output size is PyTorch's formula; windows of a `ceil_mode` output may run
    past the padding, where nothing is read or counted. The divisor is the sum
    of a mask over the same windows: ones on the padded input (or the input alone).
    """
    x = np.asarray(x, np.float64)
    nsp = x.ndim - 2
    eff = [d * (k - 1) + 1 for k, d in zip(window, dilation)]
    outs = []
    for i, (lo, hi), e, s in zip(x.shape[2:], pads, eff, stride):
        span = i + lo + hi - e
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= i + lo:
            o -= 1
        outs.append(o)
    fill = -np.inf if kind == "max" else 0.0
    xp = reference.pad(x, [(0, 0), (0, 0), *pads], ["zeros", "zeros"] + [mode] * nsp)
    if kind == "max":
        inside = reference.pad(np.ones(x.shape), [(0, 0), (0, 0), *pads], ["zeros"] * (nsp + 2))
        xp = np.where(inside > 0, xp, fill)
    mask = np.ones(x.shape[2:])
    mask = np.pad(mask, pads, constant_values=1.0 if include_pad else 0.0)
    extra = [max((o - 1) * s + e - n, 0) for o, s, e, n in zip(outs, stride, eff, xp.shape[2:])]
    xp = np.pad(xp, [(0, 0), (0, 0), *[(0, e) for e in extra]], constant_values=fill)
    mask = np.pad(mask, [(0, e) for e in extra])
    y = np.zeros((*x.shape[:2], *outs))
    for index in itertools.product(*(range(o) for o in outs)):
        window_index = tuple(
            slice(j * s, j * s + e, d) for j, s, e, d in zip(index, stride, eff, dilation))
        patch = xp[(slice(None), slice(None), *window_index)].reshape(*x.shape[:2], -1)
        if kind == "max":
            y[(slice(None), slice(None), *index)] = patch.max(-1)
        else:
            y[(slice(None), slice(None), *index)] = patch.sum(-1) / mask[window_index].sum()
    return y


def _pairs(padding, shape, window, stride, dilation):
    """Independent spec -> pairs ('same' as TF writes it)."""
    if padding in ("same", "same_lower"):
        pairs = [reference.tf_same(i, k, s, d) for i, k, s, d in zip(shape, window, stride,
                                                                        dilation)]
        return [(hi, lo) for lo, hi in pairs] if padding == "same_lower" else pairs
    if padding == "valid":
        return [(0, 0)] * len(shape)
    if isinstance(padding, int):
        return [(padding, padding)] * len(shape)
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def _layout(x, channels_last, batched):
    x = np.moveaxis(x, 1, -1) if channels_last else x
    return x if batched else x[0]


def _back(y, channels_last, batched):
    y = np.asarray(y)
    y = y if batched else y[None]
    return np.moveaxis(y, -1, 1) if channels_last else y


@st.composite
def configs(draw, torch_only=False):
    nsp = draw(st.sampled_from((1, 2, 3)))
    window = draw(st.lists(st.integers(1, 4), min_size=nsp, max_size=nsp))
    stride = draw(st.one_of(st.none(), st.lists(st.integers(1, 3), min_size=nsp, max_size=nsp)))
    dilation = draw(st.lists(st.integers(1, 2), min_size=nsp, max_size=nsp))
    shape = draw(st.lists(st.integers(1, 5 if nsp == 3 else 8), min_size=nsp, max_size=nsp))
    if torch_only:
        padding = [draw(st.integers(0, k // 2)) for k in window]
    else:
        padding = draw(st.one_of(
            st.sampled_from(("same", "same_lower", "valid")),
            st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=nsp,
                     max_size=nsp)))
    strides = window if stride is None else stride
    pads = _pairs(padding, shape, window, strides, dilation)
    eff = [d * (k - 1) + 1 for k, d in zip(window, dilation)]
    assume(all(i + lo + hi >= e for i, (lo, hi), e in zip(shape, pads, eff)))
    # windows that lie wholly in the padding have no PyTorch meaning (and crash its backward)
    assume(all(lo < e and hi < e for (lo, hi), e in zip(pads, eff)))
    if torch_only:
        ceil = draw(st.booleans())
        for i, k, s, d, (lo, hi) in zip(shape, window, strides, dilation, pads):
            span = i + lo + hi - (d * (k - 1) + 1)
            out = (-(-span // s) if ceil else span // s) + 1
            assume(all(any(0 <= j * s - lo + t * d < i for t in range(k)) for j in range(out)))
    else:
        ceil = draw(st.booleans())
    return dict(nsp=nsp, window=window, stride=stride, strides=strides, dilation=dilation,
                shape=shape, padding=padding, pads=pads, ceil=ceil,
                channels_last=draw(st.booleans()), batched=draw(st.booleans()))


@settings(max_examples=examples(100))
@given(c=configs())
def test_max_pool_matches_the_numpy_reference(c):
    x = _rand((2 if c["batched"] else 1, 3, *c["shape"]))
    expected = pool_reference(x, "max", c["window"], c["strides"], c["pads"], c["dilation"],
                              c["ceil"])
    got = jaxpad.max_pool(_layout(x, c["channels_last"], c["batched"]), c["window"], c["stride"],
                          padding=c["padding"], ceil_mode=c["ceil"], dilation=c["dilation"],
                          channels_last=c["channels_last"])
    got = _back(got, c["channels_last"], c["batched"])
    assert got.shape == expected.shape
    assert_close(got, expected)


@settings(max_examples=examples(100))
@given(c=configs().filter(lambda c: c["dilation"] == [1] * c["nsp"]),
       mode=st.sampled_from(("zeros", "reflect", "replicate", "circular", "symmetric")),
       include_pad=st.booleans())
def test_avg_pool_matches_the_numpy_reference(c, mode, include_pad):
    assume(mode == "zeros" or include_pad)
    assume(mode != "reflect" or all(max(p) < i for p, i in zip(c["pads"], c["shape"])))
    assume(all(max(p) <= i for p, i in zip(c["pads"], c["shape"])))
    x = _rand((2 if c["batched"] else 1, 3, *c["shape"]))
    expected = pool_reference(x, "avg", c["window"], c["strides"], c["pads"], c["dilation"],
                              c["ceil"], mode, include_pad)
    got = jaxpad.avg_pool(_layout(x, c["channels_last"], c["batched"]), c["window"], c["stride"],
                          padding=c["padding"], padding_mode=mode, count_include_pad=include_pad,
                          ceil_mode=c["ceil"], channels_last=c["channels_last"])
    got = _back(got, c["channels_last"], c["batched"])
    assert got.shape == expected.shape
    assert_close(got, expected)


# ----------------------------------------------------------------------- PyTorch parity


def _torch_pool(kind, nsp):
    return getattr(torch.nn.functional, f"{kind}_pool{nsp}d")


@requires_torch
@settings(max_examples=examples(100))
@given(c=configs(torch_only=True), kind=st.sampled_from(("max", "avg")),
       include_pad=st.booleans())
def test_matches_torch_forward_and_gradients(c, kind, include_pad):
    if kind == "avg":
        assume(c["dilation"] == [1] * c["nsp"])
    x = _rand((2 if c["batched"] else 1, 3, *c["shape"]))
    padding = [lo for lo, _ in c["pads"]]
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    try:
        if kind == "max":
            yt = _torch_pool(kind, c["nsp"])(xt, c["window"], c["stride"], padding,
                                             dilation=c["dilation"], ceil_mode=c["ceil"])
        else:
            yt = _torch_pool(kind, c["nsp"])(xt, c["window"], c["stride"], padding,
                                             ceil_mode=c["ceil"], count_include_pad=include_pad)
    except RuntimeError:  # a configuration PyTorch refuses (e.g. avg_pool3d's size check)
        reject()
    cot = _rand(tuple(yt.shape), 1)
    (yt * torch.tensor(cot, dtype=torch.float64)).sum().backward()

    def f(x):
        x = jnp.moveaxis(x, 1, -1) if c["channels_last"] else x
        if kind == "max":
            y = jaxpad.max_pool(x, c["window"], c["stride"], padding=padding,
                                ceil_mode=c["ceil"], dilation=c["dilation"],
                                channels_last=c["channels_last"])
        else:
            y = jaxpad.avg_pool(x, c["window"], c["stride"], padding=padding,
                                ceil_mode=c["ceil"], count_include_pad=include_pad,
                                channels_last=c["channels_last"])
        return jnp.moveaxis(y, -1, 1) if c["channels_last"] else y

    y = f(x)
    assert y.shape == tuple(yt.shape)
    assert_close(y, yt.detach().numpy())
    grad = jax.jit(jax.grad(lambda x: jnp.sum(f(x) * cot)))(x)
    assert_close(grad, xt.grad.numpy())


@requires_torch
def test_torch_modules_unbatched_channels_first():
    x = _rand((3, 9, 8))
    module = torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
    assert_close(jaxpad.avg_pool(x, (3, 3), 2, padding=1, ceil_mode=True, count_include_pad=False,
                                 channels_last=False), module(torch.tensor(x)).numpy())
    module = torch.nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True)
    assert_close(jaxpad.max_pool(x, (3, 3), 2, padding=1, ceil_mode=True, dilation=2,
                                 channels_last=False), module(torch.tensor(x)).numpy())


# ------------------------------------------------------------------ Keras and Flax parity


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed: TF semantics not checked")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on the {keras.backend.backend()} backend, not torch")
    return keras


KERAS_CASES = [
    # rank, size, window, stride, padding
    (1, 7, 2, 2, "same"),
    (1, 8, 3, 2, "same"),
    (1, 9, 3, 1, "same"),
    (1, 7, 3, 2, "valid"),
    (2, 7, 2, 2, "same"),
    (2, 6, 3, 2, "same"),
    (2, 7, 3, None, "valid"),
    (3, 5, 2, 2, "same"),
    (3, 5, 3, 1, "same"),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("rank, size, window, stride, padding", KERAS_CASES)
def test_matches_keras(keras, kind, rank, size, window, stride, padding):
    x = _rand((2, *([size] * rank), 3))
    name = {"max": "MaxPooling", "avg": "AveragePooling"}[kind]
    layer = getattr(keras.layers, f"{name}{rank}D")(window, stride, padding=padding)
    expected = keras.ops.convert_to_numpy(layer(x))
    if kind == "max":
        got = jaxpad.max_pool(x, (window,) * rank, stride, padding=padding)
    elif padding == "same" and (lambda lo, hi: lo != hi)(
            *reference.tf_same(size, window, stride or window, 1)):
        # Keras on torch pads an uneven 'same' by replication and counts it (TF does not:
        # the NumPy reference tests TF's rule).
        got = jaxpad.avg_pool(x, (window,) * rank, stride, padding=padding,
                              padding_mode="replicate")
    else:
        got = jaxpad.avg_pool(x, (window,) * rank, stride, padding=padding,
                              count_include_pad=False)
    assert got.shape == expected.shape
    assert_close(got, expected)


@pytest.mark.parametrize("include_pad", [True, False])
def test_matches_flax_pooling(include_pad):
    linen = pytest.importorskip("flax.linen")
    x = _rand((2, 7, 6, 3))
    assert_close(jaxpad.avg_pool(x, (3, 3), (2, 2), padding="same", count_include_pad=include_pad),
                 linen.avg_pool(x, (3, 3), (2, 2), padding="SAME",
                                count_include_pad=include_pad))
    assert_close(jaxpad.max_pool(x, (3, 3), (2, 2), padding="same"),
                 linen.max_pool(x, (3, 3), (2, 2), padding="SAME"))


# ------------------------------------------------------------ special values and errors


def test_padding_never_wins_the_max():
    x = -np.arange(1.0, 6.0, dtype=np.float32).reshape(1, 5, 1) * 1e30
    assert jaxpad.max_pool(x, 3, 1, padding=1)[0, :, 0].tolist() == (x[0, [0, 0, 1, 2, 3], 0]
                                                                        ).tolist()
    xi = jnp.array([-5, -7, -9], jnp.int32).reshape(1, 3, 1)
    assert jaxpad.max_pool(xi, 2, 1, padding=1)[0, :, 0].tolist() == [-5, -5, -7, -9]


def test_reflect_padded_average():
    x = jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    y = jaxpad.avg_pool(x, 3, 1, padding=1, padding_mode="reflect")
    assert_close(y[0, :, 0], [5 / 3, 2.0, 3.0, 10 / 3])


def test_jit_vmap_and_no_retracing():
    x = _rand((4, 6, 6, 2))
    f = jax.jit(lambda x: jaxpad.avg_pool(x, (2, 2), padding="same"))
    assert_close(jax.vmap(f)(x[:, None])[:, 0], f(x))


ERRORS = [
    (dict(padding="bogus"), ValueError, "`padding` must be one of"),
    (dict(padding=-1), ValueError, "`padding` must be >= 0"),
    (dict(window_shape=(9, 9)), ValueError, "The output would be empty"),
    (dict(window_shape=(0, 2)), ValueError, "`window_shape` must be >= 1"),
    (dict(strides=(1, 2, 3)), ValueError, "`strides` must be an int or a sequence of 2"),
    (dict(ceil_mode=1), TypeError, "`ceil_mode` must be a bool"),
    (dict(channels_last="yes"), TypeError, "`channels_last` must be a bool"),
    (dict(window_shape=(2, 2, 2, 2)), ValueError, "`x` must have rank 6"),
]


@pytest.mark.parametrize("pool", [jaxpad.max_pool, jaxpad.avg_pool])
@pytest.mark.parametrize("kwargs, error, message", ERRORS)
def test_errors(pool, kwargs, error, message):
    kwargs = {"window_shape": (2, 2), **kwargs}
    with pytest.raises(error, match=message):
        pool(_rand((1, 4, 4, 2)), **kwargs)


def test_avg_pool_errors():
    x = _rand((1, 4, 4, 2))
    with pytest.raises(ValueError, match="`count_include_pad=False` leaves the padding out"):
        jaxpad.avg_pool(x, (3, 3), 1, padding=1, padding_mode="reflect", count_include_pad=False)
    with pytest.raises(ValueError, match="`padding_mode` of avg_pool must be"):
        jaxpad.avg_pool(x, (3, 3), 1, padding=1, padding_mode="constant")
    with pytest.raises(ValueError, match="`padding_mode` must be one of"):
        jaxpad.avg_pool(x, (3, 3), 1, padding=1, padding_mode="mirror")
    with pytest.raises(ValueError, match="reflect padding needs width < size"):
        jaxpad.avg_pool(x, (9, 9), 1, padding=4, padding_mode="reflect")
    with pytest.raises(TypeError, match="`x` of avg_pool must be floating or complex; got int32"):
        jaxpad.avg_pool(jnp.ones((1, 4, 4, 2), jnp.int32), (2, 2))
    with pytest.raises(TypeError, match="`count_include_pad` must be a bool"):
        jaxpad.avg_pool(x, (2, 2), count_include_pad=None)

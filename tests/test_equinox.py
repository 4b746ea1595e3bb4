"""`jaxpad.equinox` against equinox.nn itself, the NumPy references and PyTorch."""

from __future__ import annotations

import dataclasses
import inspect
import io
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import assert_close, examples, requires_torch, torch, torch_convs
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_conv_transpose import _rand, conv_transpose_reference

eqx = pytest.importorskip("equinox", reason="equinox is not installed: jaxpad.equinox skipped")

import jaxpad.equinox  # noqa: E402

HIGHEST = jax.lax.Precision.HIGHEST
KEY = jax.random.key(0)
# What equinox takes: its strings in any case, ints, pairs; its four modes in any case.
EQX_STRINGS = ("SAME", "SAME_LOWER", "VALID", "same", "Same_Lower", "valid")
EQX_MODES = ("ZEROS", "REFLECT", "REPLICATE", "CIRCULAR", "zeros", "Reflect", "circular")


def _per_axis(draw, n, values):
    """An int for every axis, or one per axis (equinox takes both)."""
    return draw(st.one_of(values, st.tuples(*[values] * n)))


def _axes(value, n):
    return tuple(value) if isinstance(value, tuple) else (value,) * n


def _paddings(n):
    return st.one_of(
        st.sampled_from(EQX_STRINGS), st.integers(0, 3), st.tuples(*[st.integers(0, 3)] * n),
        st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3))] * n))


def _pairs(padding, n):
    """Explicit paddings as one (lo, hi) pair per axis (strings are left to the caller)."""
    if isinstance(padding, int):
        return [(padding, padding)] * n
    return [p if isinstance(p, tuple) else (p, p) for p in padding]


@st.composite
def conv_configs(draw, transpose=False, modes=EQX_MODES, per_axis=False, equinox_rules=True):
    """`(args, kwargs, input shape)` of an equinox Conv (or ConvTranspose) with an output.

    `equinox_rules`: only what equinox takes (a transposed 'CIRCULAR' with 'SAME' and no
    `output_padding`, `output_padding` below the stride); else jaxpad's wider rules.
    """
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = _per_axis(draw, n, st.integers(1, 3 if n == 3 else 4))
    s = _per_axis(draw, n, st.integers(1, 3))
    d = _per_axis(draw, n, st.integers(1, 2))
    padding = draw(_paddings(n))
    mode = draw(st.lists(st.sampled_from(modes), min_size=n, max_size=n) if per_axis
                else st.sampled_from(modes))
    kwargs = dict(stride=s, padding=padding, dilation=d, groups=groups,
                  use_bias=draw(st.booleans()), padding_mode=mode)
    shape = [draw(st.integers(1, 5 if n == 3 else 7)) for _ in range(n)]
    ks, ss, ds = _axes(k, n), _axes(s, n), _axes(d, n)
    effs = [di * (ki - 1) + 1 for ki, di in zip(ks, ds)]
    if transpose:
        if equinox_rules and mode in ("CIRCULAR", "circular"):
            kwargs["padding"] = padding = draw(st.sampled_from(("SAME", "SAME_LOWER")))
            op = 0
        else:
            below = ss if equinox_rules else [max(a, b) for a, b in zip(ss, ds)]
            op = tuple(draw(st.integers(0, b - 1)) for b in below)
        kwargs["output_padding"] = op
        if not isinstance(padding, str):
            for i, si, e, (lo, hi), a in zip(shape, ss, effs, _pairs(padding, n),
                                             _axes(op, n)):
                assume((i - 1) * si + e - lo - hi + a >= 1)
    elif not isinstance(padding, str) or padding.upper() == "VALID":
        pairs = _pairs(padding, n) if not isinstance(padding, str) else [(0, 0)] * n
        for i, e, (lo, hi) in zip(shape, effs, pairs):
            assume(i + lo + hi >= e)
    return (n, cin, cout, k), kwargs, (cin, *shape)


@eqx.filter_jit
def _forward_and_gradients(models, x, cotangent=None):
    """Each model's output and its gradients (model, x) for a fixed cotangent, in one program."""
    def run(model):
        y, vjp = eqx.filter_vjp(lambda m, x: m(x), model, x)
        ct = jnp.sin(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape)
        return y, vjp(ct if cotangent is None else cotangent)
    return [run(model) for model in models]


def _check_drop_in(theirs, ours, x, compute=True):
    """Same fields, leaves, checkpoints and (if `compute`) outputs and gradients."""
    base = eqx.nn.ConvTranspose if isinstance(theirs, eqx.nn.ConvTranspose) else eqx.nn.Conv
    assert isinstance(ours, base)
    for field in dataclasses.fields(base):
        if field.name not in ("weight", "bias"):
            assert getattr(ours, field.name) == getattr(theirs, field.name), field.name
    leaves, their_leaves = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    assert [(a.shape, a.dtype) for a in leaves] == [(a.shape, a.dtype) for a in their_leaves]
    for a, b in zip(leaves, their_leaves):
        np.testing.assert_array_equal(a, b)
    # Checkpoints load either way: into a zeroed model of the other class.
    for source, like in ((ours, theirs), (theirs, ours)):
        buffer = io.BytesIO()
        eqx.tree_serialise_leaves(buffer, source)
        buffer.seek(0)
        other = jax.tree.map(jnp.zeros_like, like)
        loaded = eqx.tree_deserialise_leaves(buffer, other)
        assert type(loaded) is type(like)
        for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(source)):
            np.testing.assert_array_equal(a, b)
    if not compute:
        assert jax.eval_shape(ours, x).shape == jax.eval_shape(theirs, x).shape
        return
    (expected, (their_grads, their_dx)), (got, (grads, dx)) = _forward_and_gradients(
        (theirs, ours), x)
    assert got.shape == expected.shape
    assert_close(got, expected)
    assert_close(dx, their_dx)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(their_grads), strict=True):
        assert_close(a, b)


@settings(max_examples=examples(150))
@given(conv_configs())
def test_conv_is_a_drop_in_for_equinox_conv(config):
    args, kwargs, shape = config
    theirs = eqx.nn.Conv(*args, **kwargs, key=KEY)
    ours = jaxpad.equinox.Conv(*args, **kwargs, key=KEY)
    _check_drop_in(theirs, ours, _rand(shape))


@settings(max_examples=examples(100))
@given(conv_configs(transpose=True, modes=("ZEROS", "zeros", "CIRCULAR")))
def test_conv_transpose_is_a_drop_in_for_equinox_conv_transpose(config):
    args, kwargs, shape = config
    theirs = eqx.nn.ConvTranspose(*args, **kwargs, key=KEY)
    ours = jaxpad.equinox.ConvTranspose(*args, **kwargs, key=KEY)
    _check_drop_in(theirs, ours, _rand(shape))


@pytest.mark.parametrize("n, name", [(1, "Conv1d"), (2, "Conv2d"), (3, "Conv3d"),
                                     (1, "ConvTranspose1d"), (2, "ConvTranspose2d"),
                                     (3, "ConvTranspose3d")])
def test_aliases_take_equinox_positional_order(n, name):
    # ConvTransposeNd takes output_padding before padding, ConvNd dilation after it.
    args = (2, 4, 3, 2, 1, (1,) * n) if "Transpose" in name else (2, 4, 3, 2, (1,) * n, 2)
    theirs = getattr(eqx.nn, name)(*args, key=KEY)
    ours = getattr(jaxpad.equinox, name)(*args, key=KEY)
    assert isinstance(ours, getattr(jaxpad.equinox, name.replace(f"{n}d", "")))
    assert ours.num_spatial_dims == n
    # Equal fields make the same computation, which the properties above check.
    _check_drop_in(theirs, ours, _rand((2, *[6, 5, 4][:n])), compute=False)
    # equinox's parameters in equinox's order (jaxpad's extras are keyword-only, after them),
    # and equal defaults: the same fields from the required arguments alone.
    theirs_sig = inspect.signature(getattr(eqx.nn, name)).parameters
    ours_sig = inspect.signature(getattr(jaxpad.equinox, name)).parameters
    assert [(p.name, p.kind) for p in ours_sig.values()][:len(theirs_sig) - 1] == [
        (p.name, p.kind) for p in theirs_sig.values()][:-1]  # up to `key`
    _check_drop_in(getattr(eqx.nn, name)(2, 4, 3, key=KEY),
                   getattr(jaxpad.equinox, name)(2, 4, 3, key=KEY), _rand((2, *[6, 5, 4][:n])),
                   compute=False)


# ------------------------------------------------------------------------ jaxpad's extras


def _reference_pads(padding, shape, ks, ss, ds):
    """Conv paddings from their definitions (TF's 'same' from tests/reference.py)."""
    effs = [d * (k - 1) + 1 for k, d in zip(ks, ds)]
    if not isinstance(padding, str):
        return _pairs(padding, len(ks))
    spec = padding.lower()
    if spec in ("same", "same_lower"):
        pads = [reference.tf_same(i, k, s, d) for i, k, s, d in zip(shape, ks, ss, ds)]
        return [(hi, lo) if spec == "same_lower" else (lo, hi) for lo, hi in pads]
    return {"valid": [(0, 0)] * len(ks), "causal": [(e - 1, 0) for e in effs],
            "full": [(e - 1, e - 1) for e in effs]}[spec]


@settings(max_examples=examples(100))
@given(data=st.data())
def test_conv_extras_match_the_numpy_reference(data):
    """Any spec (also 'causal', 'full') with any mode, per axis, 'constant' with a value."""
    n = data.draw(st.integers(1, 3))
    groups = data.draw(st.integers(1, 2))
    ks = data.draw(st.tuples(*[st.integers(1, 3 if n == 3 else 4)] * n))
    ss = data.draw(st.tuples(*[st.integers(1, 3)] * n))
    ds = data.draw(st.tuples(*[st.integers(1, 2)] * n))
    shape = data.draw(st.tuples(*[st.integers(1, 5 if n == 3 else 7)] * n))
    padding = data.draw(st.one_of(
        st.sampled_from(("same", "SAME_LOWER", "valid", "causal", "FULL")),
        st.tuples(*[st.tuples(st.integers(0, 3), st.integers(0, 3))] * n)))
    modes = data.draw(st.lists(st.sampled_from(jaxpad.MODES), min_size=n, max_size=n))
    value = data.draw(st.floats(-2, 2, width=32))
    pads = _reference_pads(padding, shape, ks, ss, ds)
    for i, k, d, (lo, hi) in zip(shape, ks, ds, pads):
        assume(i + lo + hi >= d * (k - 1) + 1)
    layer = jaxpad.equinox.Conv(n, 2 * groups, 3 * groups, ks, ss, padding, ds, groups,
                                padding_mode=modes, padding_value=value, precision=HIGHEST,
                                key=KEY)
    assert layer.padding_mode == tuple(m.upper() for m in modes)
    x = _rand((2 * groups, *shape))
    expected = reference.conv_nchw(x[None], layer.weight, layer.bias.reshape(-1), ss, pads,
                                   modes, ds, groups, value)[0]
    assert_close(eqx.filter_jit(layer)(x), expected)


def test_strided_same_in_every_mode_keeps_tf_geometry():
    # On 1 2 3 4 5 6, kernel 3, stride 2: 'same' pads (0, 1) whatever the mode.
    x = jnp.arange(1.0, 7.0).reshape(1, 6)
    sums = {"zeros": [6, 12, 11], "reflect": [6, 12, 16], "replicate": [6, 12, 17],
            "circular": [6, 12, 12], "symmetric": [6, 12, 17], "constant": [6, 12, 21]}
    for mode, expected in sums.items():
        layer = jaxpad.equinox.Conv1d(1, 1, 3, 2, "same", padding_mode=mode, padding_value=10,
                                      use_bias=False, key=KEY)
        layer = eqx.tree_at(lambda m: m.weight, layer, jnp.ones((1, 1, 3)))
        assert layer(x)[0].tolist() == expected, mode


# ------------------------------------------------- ConvTranspose in the modes equinox refuses


def _torch_layout(weight, groups):
    """equinox's (O, I // G, *k) correlation weight as the (I, O // G, *k) weight of the
    convolution it transposes, element by element: same group, channels swapped, taps flipped."""
    weight = np.asarray(weight)
    o, ig = weight.shape[:2]
    og = o // groups
    out = np.empty((ig * groups, og, *weight.shape[2:]), weight.dtype)
    for g in range(groups):
        for a in range(og):
            for b in range(ig):
                out[g * ig + b, a] = np.flip(weight[g * og + a, b])
    return out


def _equinox_geometry(padding, shape, ks, ss, ds, op):
    """Crops and output sizes from equinox's lhs-dilated padding (p0t, p1t), re-derived:
    the output starts at full position p0 and has (i - 1) * s + 1 + p0t + p1t - d * (k - 1)."""
    n = len(ks)
    pairs = _pairs(padding, n) if not isinstance(padding, str) else [None] * n
    crops, out = [], []
    for i, k, s, d, a, pair in zip(shape, ks, ss, ds, op, pairs):
        if pair is None and padding.upper() == "VALID":
            pair = (0, 0)
        elif pair is None:  # 'SAME': total d(k - 1) + 1 - s + a; negative adds output_padding
            total = d * (k - 1) + 1 - s + a
            a = max(-total, 0)
            lo = (max(total, 0) + (padding.upper() == "SAME_LOWER")) // 2
            pair = (lo, max(total, 0) - lo)
        else:
            pair = tuple(pair)
        p0t, p1t = d * (k - 1) - pair[0], d * (k - 1) - pair[1] + a
        crops.append((pair[0], pair[1]))
        out.append((i - 1) * s + 1 + p0t + p1t - d * (k - 1))
    return crops, out


REFUSED = ("REFLECT", "REPLICATE", "SYMMETRIC", "CIRCULAR", "edge", "wrap")
ALIASES = {"edge": "replicate", "wrap": "circular"}


@settings(max_examples=examples(100))
@given(st.one_of(
    conv_configs(transpose=True, modes=REFUSED, equinox_rules=False),
    conv_configs(transpose=True, modes=(*REFUSED, "ZEROS"), per_axis=True, equinox_rules=False)))
def test_conv_transpose_modes_equinox_refuses_match_the_reference(config):
    (n, cin, cout, k), kwargs, shape = config
    layer = jaxpad.equinox.ConvTranspose(n, cin, cout, k, **kwargs, precision=HIGHEST, key=KEY)
    mode = kwargs["padding_mode"]
    modes = [ALIASES.get(m.lower(), m.lower()) for m in ([mode] * n if isinstance(mode, str)
                                                          else mode)]
    ks, ss, ds = _axes(k, n), _axes(kwargs["stride"], n), _axes(kwargs["dilation"], n)
    crops, out = _equinox_geometry(kwargs["padding"], shape[1:], ks, ss, ds,
                                   _axes(kwargs["output_padding"], n))
    assume(all(o >= 1 for o in out))
    x = _rand(shape)
    bias = layer.bias.reshape(-1) if layer.use_bias else None
    expected = conv_transpose_reference(x[None], _torch_layout(layer.weight, layer.groups),
                                        bias, ss, crops, out, modes, ds, layer.groups)[0]
    got = eqx.filter_jit(layer)(x)
    assert got.shape == expected.shape
    assert_close(got, expected)


def test_equinox_refuses_what_jaxpad_adds():
    with pytest.raises(NotImplementedError, match="'REFLECT' or 'REPLICATE' padding mode"):
        eqx.nn.ConvTranspose(1, 1, 1, 3, padding_mode="REFLECT", key=KEY)
    with pytest.raises(NotImplementedError, match="only implemented for 'SAME'"):
        eqx.nn.ConvTranspose(1, 1, 1, 3, padding=1, padding_mode="CIRCULAR", key=KEY)
    x = _rand((1, 5))
    # The documented replicate example of jaxpad.conv_transpose, through the layer.
    up = jaxpad.equinox.ConvTranspose1d(1, 1, 3, 2, 1, 1, padding_mode="REPLICATE",
                                        use_bias=False, key=KEY)
    up = eqx.tree_at(lambda m: m.weight, up, jnp.ones((1, 1, 3)))
    assert up(jnp.array([[1.0, 2.0]]))[0].tolist() == [1, 3, 2, 4]
    assert up(x).shape == (1, 10)


# ------------------------------------------------ equinox's own cases, in this suite's words


def _with(layer, weight, bias=None):
    if bias is None:
        return eqx.tree_at(lambda m: m.weight, layer, weight)
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (weight, bias))


@pytest.mark.parametrize(
    "make, shape, out",
    [
        (lambda: jaxpad.equinox.Conv1d(1, 3, 3, key=KEY), (1, 32), (3, 30)),
        (lambda: jaxpad.equinox.Conv1d(1, out_channels=3, kernel_size=(3,), padding=1,
                                       use_bias=False, key=KEY), (1, 32), (3, 32)),
        (lambda: jaxpad.equinox.Conv2d(3, 1, (3, 3), stride=2, padding=1, key=KEY),
         (3, 32, 32), (1, 16, 16)),
        (lambda: jaxpad.equinox.Conv3d(3, 1, 3, stride=2, padding=1, key=KEY),
         (3, 3, 32, 32), (1, 2, 16, 16)),
        (lambda: jaxpad.equinox.Conv2d(3, 8, 1, 2, padding=((0, 1), (0, 3)), key=KEY),
         (3, 32, 32), (8, 17, 18)),
        (lambda: jaxpad.equinox.ConvTranspose1d(1, 3, 3, key=KEY), (1, 32), (3, 34)),
        (lambda: jaxpad.equinox.ConvTranspose2d(3, 1, 3, stride=2, padding=1, output_padding=1,
                                                dilation=2, use_bias=False, key=KEY),
         (3, 31, 31), (1, 64, 64)),
        (lambda: jaxpad.equinox.ConvTranspose3d(1, 3, 3, key=KEY), (1, 3, 8, 8), (3, 5, 10, 10)),
        (lambda: jaxpad.equinox.ConvTranspose2d(8, 3, 1, 2, padding=((0, 1), (0, 3)), key=KEY),
         (8, 17, 18), (3, 32, 32)),
    ],
)
def test_output_shapes_as_equinox_documents_them(make, shape, out):
    assert jax.eval_shape(make(), jnp.ones(shape)).shape == out


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.complex64])
def test_small_convolutions_by_hand(dtype):
    # 1-D, 3 output channels, weights 0..8, padding 1: each output a 3-tap correlation.
    w = np.arange(9.0).reshape(3, 1, 3)
    data = np.arange(-3.0, 3.0)
    padded = np.pad(data, 1)
    expected = np.array([[w[o, 0] @ padded[t:t + 3] for t in range(6)] for o in range(3)])
    scale = (1 + 1j) if dtype == jnp.complex64 else 1
    bias = np.array([[1.0], [2.0], [3.0]]) * scale
    layer = _with(jaxpad.equinox.Conv1d(1, 3, 3, padding=1, dtype=dtype, key=KEY),
                  jnp.asarray(w, dtype), jnp.asarray(bias, dtype))
    np.testing.assert_allclose(layer(jnp.asarray(data[None] * scale, dtype)),
                               expected * scale + bias, rtol=1e-6)
    # Two groups: the second group's weights doubled, so its output is twice the first's.
    w2 = np.concatenate([np.arange(9.0).reshape(1, 1, 3, 3)] * 2) * np.array([1, 2]).reshape(
        2, 1, 1, 1)
    grouped = _with(jaxpad.equinox.Conv2d(2, 2, 3, padding=1, groups=2, use_bias=False,
                                          dtype=dtype, key=KEY), jnp.asarray(w2, dtype))
    y = grouped(jnp.broadcast_to(jnp.arange(-4.0, 5.0, dtype=dtype).reshape(1, 3, 3),
                                 (2, 3, 3)))
    np.testing.assert_allclose(y[1], 2 * y[0])
    np.testing.assert_allclose(y[0, 1, 1], np.arange(9.0) @ np.arange(-4.0, 5.0))
    # The transposed 1-D layer without padding: every input scattered onto 3 outputs.
    up = _with(jaxpad.equinox.ConvTranspose1d(1, 3, 3, use_bias=False, dtype=dtype, key=KEY),
               jnp.asarray(w, dtype))
    full = np.zeros((3, 8))
    for o in range(3):
        for i, v in enumerate(data):
            full[o, i:i + 3] += v * w[o, 0, ::-1]  # equinox's weight is the correlation's
    np.testing.assert_allclose(up(jnp.asarray(data[None], dtype)), full, rtol=1e-6)


def test_circular_conv_is_shift_equivariant():
    layer = jaxpad.equinox.Conv1d(1, 1, 3, padding="SAME", padding_mode="CIRCULAR", key=KEY)
    x = _rand((1, 6))
    np.testing.assert_allclose(jnp.roll(layer(jnp.roll(x, 2, axis=1)), -2, axis=1), layer(x),
                               rtol=1e-6)


@pytest.mark.parametrize(
    "padding, output_padding, mode, shape",
    [("SAME", 1, "ZEROS", (5,)), ("SAME", 0, "CIRCULAR", (6,)),
     # jaxpad's extras: circular with pairs and output_padding, one mode per axis
     (((1, 2), (1, 2)), (0, 1), ("CIRCULAR", "ZEROS"), (6, 5))],
)
def test_conv_transpose_has_the_connectivity_of_the_conv(padding, output_padding, mode, shape):
    n = len(shape)
    kwargs = dict(stride=2, dilation=2, padding=padding, padding_mode=mode, use_bias=False,
                  key=KEY)
    # All taps 1: the Jacobians are the connectivity, in exact integer counts.
    conv = jax.tree.map(jnp.ones_like, jaxpad.equinox.Conv(n, 1, 1, 3, **kwargs))
    up = jax.tree.map(jnp.ones_like, jaxpad.equinox.ConvTranspose(
        n, 1, 1, 3, **kwargs, output_padding=output_padding))
    x = _rand((1, *shape))
    y = conv(x)
    assert up(y).shape == x.shape
    forward = jax.jacobian(conv)(x).reshape(y.size, x.size)
    backward = jax.jacobian(up)(y).reshape(x.size, y.size)
    np.testing.assert_array_equal(forward, backward.T)


# -------------------------------------------------------------------- Pad and the aliases


def test_pad_against_numpy_reference():
    x = _rand((2, 3, 5, 4))
    layer = jaxpad.equinox.Pad(((2, -1), 3), mode=["symmetric", "constant"], value=-2.0)
    expected = reference.pad(x, [(0, 0), (0, 0), (2, -1), (3, 3)],
                             ["zeros", "zeros", "symmetric", "constant"], -2.0)
    np.testing.assert_array_equal(layer(x), expected)
    np.testing.assert_array_equal(layer(x[0]), expected[0])
    assert jax.tree.leaves(layer) == []  # no parameters: nothing for an optimiser


@requires_torch
@pytest.mark.parametrize("name", ["ReflectionPad2d", "ReplicationPad3d", "CircularPad1d",
                                  "ZeroPad2d", "ConstantPad1d"])
def test_pytorch_named_pads_equal_pytorch_channels_first(name):
    rank = int(name[-2])
    x = _rand((3, *[5, 4, 6][:rank]))
    flat = (1, 2, 0, 3, 2, 1)[: 2 * rank]
    args = (flat, 1.5) if name.startswith("Constant") else (flat,)
    expected = getattr(torch.nn, name)(*args)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(getattr(jaxpad.equinox, name)(*args)(x), expected)


# ------------------------------------------------------------------------ equinox usage


def test_swapping_the_layers_of_a_model_changes_nothing_and_it_trains():
    def model(nn):
        keys = jax.random.split(KEY, 3)
        return eqx.nn.Sequential([
            nn.Conv2d(3, 8, 3, padding="SAME", padding_mode="REFLECT", key=keys[0]),
            eqx.nn.Lambda(jax.nn.relu),
            nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode="CIRCULAR", groups=2,
                      key=keys[1]),
            nn.ConvTranspose2d(8, 3, 4, 2, padding=1, key=keys[2]),
        ])

    theirs, ours = model(eqx.nn), model(jaxpad.equinox)
    assert jax.tree.structure(eqx.filter(ours, eqx.is_array)).num_leaves == 6
    x = _rand((4, 3, 8, 8))
    assert_close(jax.vmap(ours)(x), jax.vmap(theirs)(x))

    traces = []

    @eqx.filter_jit
    def step(model, x):
        traces.append(None)
        loss, grads = eqx.filter_value_and_grad(
            lambda m: jnp.mean((jax.vmap(m)(x) - x) ** 2))(model)
        return loss, eqx.apply_updates(model, jax.tree.map(lambda g: -0.1 * g, grads))

    losses = []
    for _ in range(4):
        loss, ours = step(ours, x)
        losses.append(float(loss))
    assert len(traces) == 1  # static configuration: no retracing
    assert losses[-1] < losses[0]


def test_forward_mode_through_every_mode_as_equinox_allows_it():
    # equinox's layers take jax.jvp / jacfwd in every mode; so do these (padding first).
    x = _rand((2, 5, 4))
    kwargs = dict(padding=1, use_bias=False, key=KEY)
    theirs = eqx.nn.Conv2d(2, 3, 3, padding_mode="REFLECT", **kwargs)
    ours = jaxpad.equinox.Conv2d(2, 3, 3, padding_mode="REFLECT", **kwargs)
    assert_close(jax.jacfwd(ours)(x), jax.jacfwd(theirs)(x))
    up = jaxpad.equinox.ConvTranspose2d(2, 3, 3, padding_mode="REPLICATE", **kwargs)
    assert_close(jax.jacfwd(up)(x), jax.jacrev(up)(x))


def test_import_jaxpad_does_not_import_equinox():
    code = ("import sys, jaxpad, jaxpad.interop; assert 'equinox' not in sys.modules; "
            "jaxpad.equinox.Conv; assert 'equinox' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------ torch interop


@requires_torch
@settings(max_examples=examples(100))
@given(torch_convs())
def test_equinox_from_torch_on_random_convs(case):
    conv, (_, *shape) = case
    x = _rand(shape)
    xt = torch.from_numpy(x).requires_grad_()
    y_t = conv(xt)
    cotangent = _rand(tuple(y_t.shape), 1)
    y_t.backward(torch.from_numpy(cotangent))
    layer = jaxpad.interop.equinox_from_torch(conv, precision=HIGHEST)
    [(y, (grads, dx))] = _forward_and_gradients([layer], x, jnp.asarray(cotangent))
    assert_close(y, y_t.detach().numpy())
    assert_close(dx, xt.grad.numpy())
    assert_close(grads.weight, conv.weight.grad.numpy())
    if conv.bias is not None:
        assert_close(grads.bias.reshape(-1), conv.bias.grad.numpy())
    else:
        assert layer.bias is None and not layer.use_bias


@requires_torch
@settings(max_examples=examples(60))
@given(data=st.data())
def test_equinox_from_torch_on_random_conv_transposes(data):
    n = data.draw(st.integers(1, 3))
    groups = data.draw(st.integers(1, 2))
    ks = data.draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    ss = data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    ds = data.draw(st.lists(st.integers(1, 2), min_size=n, max_size=n))
    ps = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    ops = [data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(ss, ds)]
    shape = data.draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    for i, k, s, d, p, op in zip(shape, ks, ss, ds, ps, ops):
        assume((i - 1) * s + d * (k - 1) + 1 - 2 * p + op >= 1)
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    module = getattr(torch.nn, f"ConvTranspose{n}d")(
        2 * groups, 3 * groups, ks, stride=ss, padding=ps, output_padding=ops, groups=groups,
        dilation=ds, bias=data.draw(st.booleans()))
    x = _rand((2 * groups, *shape))
    layer = jaxpad.interop.equinox_from_torch(module, precision=HIGHEST)
    assert layer.weight.shape == (3 * groups, 2, *ks)
    assert_close(eqx.filter_jit(layer)(x), module(torch.from_numpy(x)).detach().numpy())


@requires_torch
def test_equinox_from_torch_keeps_dtype_and_hyperparameters():
    conv = torch.nn.Conv3d(4, 6, (1, 2, 3), stride=(1, 1, 2), padding=(0, 1, 2), dilation=2,
                           groups=2, padding_mode="replicate", bias=False).to(torch.bfloat16)
    layer = jaxpad.interop.equinox_from_torch(conv)
    assert (layer.kernel_size, layer.stride, layer.padding, layer.padding_mode, layer.dilation,
            layer.groups, layer.use_bias, layer.bias) == (
        (1, 2, 3), (1, 1, 2), ((0, 0), (1, 1), (2, 2)), "REPLICATE", (2, 2, 2), 2, False, None)
    assert layer.weight.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(layer.weight, np.float32),
                                  conv.weight.detach().float().numpy())


@requires_torch
@pytest.mark.parametrize(
    "module, error, match",
    [
        (lambda: torch.nn.Linear(2, 2), TypeError,
         r"`module` must be a torch.nn.Conv1d, Conv2d, Conv3d, ConvTranspose1d, "
         r"ConvTranspose2d or ConvTranspose3d; got Linear"),
        (lambda: torch.nn.LazyConv2d(2, 3), ValueError,
         r"`module` LazyConv2d has uninitialised \(lazy\) weights"),
    ],
)
def test_equinox_from_torch_errors(module, error, match):
    with pytest.raises(error, match=match):
        jaxpad.interop.equinox_from_torch(module())


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_spatial_dims=0), ValueError, r"`num_spatial_dims` must be >= 1; got 0"),
        (dict(in_channels=0), ValueError, r"`in_channels` must be >= 1; got 0"),
        (dict(out_channels=2.0), TypeError, r"`out_channels` must be an int; got 2.0"),
        (dict(groups=0), ValueError, r"`groups` must be >= 1; got 0"),
        (dict(groups=4), ValueError,
         r"`groups` must divide `in_channels`; got groups=4 with in_channels=2"),
        (dict(in_channels=4, groups=4), ValueError,
         r"`groups` must divide `out_channels`; got groups=4 with out_channels=6"),
        (dict(kernel_size=(3, 3, 3)), ValueError,
         r"`kernel_size` must be an int or a sequence of 2 ints \(one per spatial axis\)"),
        (dict(kernel_size=0), ValueError, r"`kernel_size` must be >= 1 on every axis; got 0"),
        (dict(stride=(1, 0)), ValueError, r"`stride` must be >= 1 on every axis"),
        (dict(dilation="2"), TypeError, r"`dilation` must be an int; got '2'"),
        (dict(padding="circular"), ValueError,
         r"`padding` must be a padding spec, not a mode; got 'circular'. Pass "
         r"padding='SAME' \(or ints\), padding_mode='CIRCULAR'"),
        (dict(padding="half"), ValueError,
         r"`padding` must be one of 'SAME', 'SAME_LOWER', 'VALID', 'CAUSAL', 'FULL' \(any "
         r"case\), an int, 2 ints or 2 \(lo, hi\) pairs; got 'half'"),
        (dict(padding=-1), ValueError, r"`padding` must be >= 0 on every side"),
        (dict(padding=(1, 2, 3)), ValueError,
         r"`padding` must be a string, an int, 2 ints or 2 \(lo, hi\) pairs"),
        (dict(padding_mode="mirror"), ValueError,
         r"`padding_mode` must be one of 'zeros', 'constant', 'reflect', .* \(or aliases "
         r"'edge', 'wrap'\); got 'mirror'"),
        (dict(padding_mode=["reflect"] * 3), ValueError,
         r"`padding_mode` must be one mode or a sequence of 2 modes"),
        (dict(padding_mode=None), TypeError, r"`padding_mode` must be a string or a sequence"),
        (dict(padding_value="1"), TypeError, r"`padding_value` must be a number; got '1'"),
    ],
)
def test_conv_errors_name_the_argument(kwargs, error, match):
    args = dict(num_spatial_dims=2, in_channels=2, out_channels=6, kernel_size=3, key=KEY)
    with pytest.raises(error, match=match):
        jaxpad.equinox.Conv(**(args | kwargs))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(padding="causal"), r"`padding` must be one of 'SAME', 'SAME_LOWER', 'VALID' "
                                 r"\(any case\), an int, 1 ints or 1 \(lo, hi\) pairs"),
        (dict(padding_mode="constant"), r"`padding_mode` of a transposed convolution must be "
                                        r"one of 'zeros', 'reflect', 'replicate', 'circular', "
                                        r"'symmetric'; got 'constant'"),
        (dict(stride=2, output_padding=2), r"`output_padding` must be smaller than the stride "
                                           r"or the dilation on every axis"),
    ],
)
def test_conv_transpose_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxpad.equinox.ConvTranspose(1, 2, 2, 3, **kwargs, key=KEY)


def test_call_errors_name_the_input():
    conv = jaxpad.equinox.Conv2d(2, 4, 3, key=KEY)
    with pytest.raises(ValueError, match=r"`x` must be unbatched \(channels, \*spatial\) with 2 "
                                         r"spatial axes, so rank 3, as in equinox \(jax.vmap the "
                                         r"layer over a batch\); got shape \(1, 2, 5, 5\)"):
        conv(jnp.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"The output would be empty"):
        conv(jnp.ones((2, 2, 2)))
    with pytest.raises(ValueError, match=r"`x` has 3 channels but `kernel` of shape "
                                         r"\(4, 2, 3, 3\) expects 2"):
        conv(jnp.ones((3, 5, 5)))
    up = jaxpad.equinox.ConvTranspose1d(2, 2, 3, key=KEY)
    with pytest.raises(ValueError, match=r"`x` must be unbatched \(channels, \*spatial\) with 1"):
        up(jnp.ones((4,)))
    with pytest.raises(ValueError, match=r"`x` must be \(\*batch, channels, \*spatial\) with 2 "
                                         r"spatial axes, so rank >= 3; got shape \(4, 4\)"):
        jaxpad.equinox.Pad((1, 1))(jnp.ones((4, 4)))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: jaxpad.equinox.Pad(1), TypeError,
         r"`padding` must be a non-empty sequence with one int or \(lo, hi\) pair per spatial"),
        (lambda: jaxpad.equinox.Pad((1,), mode="wrapped"), ValueError,
         r"`mode` must be one of 'zeros'"),
        (lambda: jaxpad.equinox.Pad((1,), oversize="yes"), ValueError,
         r"`oversize` must be 'error' or 'repeat'; got 'yes'"),
        (lambda: jaxpad.equinox.ReplicationPad3d((1, 1)), ValueError,
         r"`padding` of ReplicationPad3d must be an int or 6 ints"),
        (lambda: jaxpad.equinox.ConstantPad2d(1), TypeError,
         r"ConstantPad2d\(padding, value\) takes one fill value"),
    ],
)
def test_pad_errors_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()

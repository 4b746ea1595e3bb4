"""`jaxpad.linen` against flax.linen.Conv (the oracle for flax's strings), NumPy and PyTorch."""

from __future__ import annotations

import itertools
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import assert_close, requires_torch, torch

flax = pytest.importorskip("flax", reason="flax is not installed: jaxpad.linen not checked")
import flax.linen as nn  # noqa: E402
from flax import serialization  # noqa: E402

import jaxpad  # noqa: E402
import jaxpad.linen  # noqa: E402

HIGHEST = jax.lax.Precision.HIGHEST
SHAPES = (9, 8, 7)
KERNELS = (3, 4, 2)
# Every padding flax accepts: its strings, lowercase lax strings, an int, ints, pairs.
FLAX_PADDINGS = ["SAME", "VALID", "SAME_LOWER", "CIRCULAR", "REFLECT", "CAUSAL", "same", 2,
                 "ints", "pairs"]


def flax_padding(padding, rank):
    if padding == "ints":
        return [1, 0, 2][:rank]
    if padding == "pairs":
        return [(1, 2), (0, 1), (3, 0)][:rank]
    return padding


def grid():
    for padding, stride, dilation, rank in itertools.product(FLAX_PADDINGS, (1, 2, 3), (1, 2),
                                                             (1, 2, 3)):
        if padding == "CAUSAL" and rank != 1:
            continue
        yield padding, stride, dilation, rank


def _x(shape, seed=0, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape, dtype)


def conv_variables(kernel_shape, seed=0):
    rng = np.random.default_rng(seed)
    return {"params": {"kernel": rng.standard_normal(kernel_shape).astype(np.float32),
                       "bias": rng.standard_normal(kernel_shape[-1:]).astype(np.float32)}}


@pytest.mark.parametrize("padding, stride, dilation, rank", list(grid()))
def test_equals_flax_conv_for_every_flax_padding(padding, stride, dilation, rank):
    padding = flax_padding(padding, rank)
    groups = 2 if stride == 2 else 1
    kwargs = dict(features=4, kernel_size=KERNELS[:rank], strides=stride, padding=padding,
                  kernel_dilation=dilation, feature_group_count=groups, precision=HIGHEST)
    x = _x((2, *SHAPES[:rank], 4))
    variables = conv_variables((*KERNELS[:rank], 4 // groups, 4))
    expected = jax.jit(nn.Conv(**kwargs).apply)(variables, x)
    got = jaxpad.linen.Conv(**kwargs).apply(variables, x)
    assert got.shape == expected.shape
    assert_close(got, expected)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_same_parameters_as_flax_from_the_same_key(rank):
    kwargs = dict(features=4, kernel_size=KERNELS[:rank], padding="CIRCULAR",
                  feature_group_count=2)
    x = _x((2, *SHAPES[:rank], 4))
    variables = nn.Conv(**kwargs).init(jax.random.key(1), x)
    ours = jaxpad.linen.Conv(**kwargs).init(jax.random.key(1), x)
    assert jax.tree.structure(ours) == jax.tree.structure(variables)
    jax.tree.map(np.testing.assert_array_equal, ours, variables)


@pytest.mark.parametrize("padding", ["CIRCULAR", "REFLECT"])
@pytest.mark.parametrize("stride", [1, 2])
def test_flax_wrap_and_reflect_repeat_when_the_pad_is_wider_than_the_axis(padding, stride):
    # Kernel 7 on an axis of 2: flax pads (3, 3) with jnp.pad's repeated reflection/wrap.
    kwargs = dict(features=2, kernel_size=(7, 3), strides=stride, padding=padding)
    x = _x((1, 2, 5, 3))
    expected, variables = nn.Conv(**kwargs).init_with_output(jax.random.key(0), x)
    assert_close(jaxpad.linen.Conv(**kwargs).apply(variables, x), expected)


def test_flax_and_jaxpad_geometry_differ_on_the_documented_6_element_example():
    x = jnp.arange(1.0, 7.0).reshape(1, 6, 1)
    ones = {"params": {"kernel": jnp.ones((3, 1, 1)), "bias": jnp.zeros(1)}}
    flax_reflect = nn.Conv(1, 3, strides=2, padding="REFLECT").apply(ones, x)
    ours = jaxpad.linen.Conv(1, 3, strides=2, padding="REFLECT").apply(ones, x)
    np.testing.assert_array_equal(ours, flax_reflect)
    np.testing.assert_array_equal(ours[0, :, 0], [5, 9, 15])  # 2|1 2 3 4 5 6|5
    tf = jaxpad.linen.Conv(1, 3, strides=2, padding="same", padding_mode="reflect")
    np.testing.assert_array_equal(tf.apply(ones, x)[0, :, 0], [6, 12, 16])  # 1 2 3 4 5 6|5
    # jaxpad's 'same' in reflect mode reads the windows flax's zero 'SAME' reads.
    zeros = nn.Conv(1, 3, strides=2, padding="SAME").apply(ones, x)
    np.testing.assert_array_equal(zeros[0, :, 0], [6, 12, 11])


MODES = ("zeros", "constant", "reflect", "replicate", "circular", "symmetric")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", ["same", "causal", "full", [(2, 1), (0, 3)]])
def test_padding_modes_against_numpy_reference(mode, padding):
    shape, k, stride, dilation = (7, 6), (3, 2), (2, 1), (1, 2)
    layer = jaxpad.linen.Conv(6, k, strides=stride, padding=padding, padding_mode=mode,
                              padding_value=-0.5, kernel_dilation=dilation,
                              feature_group_count=3, precision=HIGHEST)
    x = _x((2, *shape, 3))
    y, variables = layer.init_with_output(jax.random.key(0), x)
    pads = jaxpad.resolve_padding(padding, shape, k, stride, dilation)
    kernel = np.asarray(variables["params"]["kernel"])
    expected = reference.conv_nchw(np.moveaxis(np.asarray(x), -1, 1),
                                   np.transpose(kernel, (3, 2, 0, 1)),
                                   np.asarray(variables["params"]["bias"]), stride, pads,
                                   [mode] * 2, dilation, 3, -0.5)
    assert_close(y, np.moveaxis(expected, 1, -1))


def test_per_axis_modes_and_oversize():
    x = _x((1, 3, 10, 2))
    layer = jaxpad.linen.Conv(2, (7, 3), padding="same", padding_mode=["reflect", "circular"])
    with pytest.raises(ValueError, match="reflect padding needs width < size on each axis"):
        layer.init(jax.random.key(0), x)
    layer = layer.clone(oversize="repeat")
    y, variables = layer.init_with_output(jax.random.key(0), x)
    # Stride 1: 'same' is flax's ((eff - 1) // 2, eff // 2), so the two geometries agree.
    reflect = jaxpad.linen.Conv(2, (7, 3), padding="REFLECT").apply(variables, x)
    assert_close(y[..., 1:-1, :], reflect[..., 1:-1, :])


def test_checkpoint_round_trip_through_a_whole_model():
    class Net(nn.Module):
        conv: type

        @nn.compact
        def __call__(self, x):
            x = nn.relu(self.conv(8, (3, 3), strides=2, padding="CIRCULAR")(x))
            x = nn.relu(self.conv(8, (3, 3), padding=1, feature_group_count=2)(x))
            return nn.Dense(3)(x.mean(axis=(1, 2)))

    x = _x((2, 11, 10, 3))
    flax_net, jaxpad_net = Net(nn.Conv), Net(jaxpad.linen.Conv)
    variables = flax_net.init(jax.random.key(0), x)
    restored = serialization.from_bytes(jaxpad_net.init(jax.random.key(9), x),
                                        serialization.to_bytes(variables))
    jax.tree.map(np.testing.assert_array_equal, restored, variables)
    assert_close(jaxpad_net.apply(restored, x), flax_net.apply(variables, x))
    # And back: jaxpad-initialised parameters run in the flax model.
    ours = jaxpad_net.init(jax.random.key(3), x)
    assert_close(flax_net.apply(ours, x), jaxpad_net.apply(ours, x))


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
def test_unbatched_and_extra_batch_axes_like_flax(batch):
    x = _x((*batch, 6, 5, 2))
    kwargs = dict(features=3, kernel_size=(3, 2), strides=(2, 1), padding="REFLECT")
    expected, variables = nn.Conv(**kwargs).init_with_output(jax.random.key(0), x)
    got = jaxpad.linen.Conv(**kwargs).apply(variables, x)
    assert got.shape == expected.shape == (*batch, 3, 5, 3)
    assert_close(got, expected)


@pytest.mark.parametrize("padding", [[(1, 2)], 2, [(0, 0)]])
@pytest.mark.parametrize("input_dilation", [2, 3])
def test_input_dilation_equals_flax(padding, input_dilation):
    kwargs = dict(features=2, kernel_size=(3,), strides=2, padding=padding,
                  input_dilation=input_dilation, kernel_dilation=2)
    x = _x((2, 6, 3))
    expected, variables = nn.Conv(**kwargs).init_with_output(jax.random.key(0), x)
    assert_close(jaxpad.linen.Conv(**kwargs).apply(variables, x), expected)


def test_input_dilation_resolves_specs_on_the_dilated_input():
    x = _x((1, 5, 2))  # dilated by 2: 9 elements
    layer = jaxpad.linen.Conv(2, 4, strides=2, padding="same", input_dilation=2)
    y, variables = layer.init_with_output(jax.random.key(0), x)
    assert y.shape == (1, 5, 2)  # ceil(9 / 2)
    pads = jaxpad.same_padding(9, 4, 2)
    explicit = nn.Conv(2, 4, strides=2, padding=pads, input_dilation=2).apply(variables, x)
    assert_close(y, explicit)
    with pytest.raises(ValueError, match=r"`input_dilation` 2 needs zero padding .* got "
                                         r"padding='same' with padding_mode='reflect'"):
        layer.clone(padding_mode="reflect").init(jax.random.key(0), x)


def test_mask_dtype_and_param_dtype_like_flax():
    mask = jnp.tril(jnp.ones((3, 4, 2)))
    x = _x((2, 9, 4), dtype=jnp.bfloat16)
    kwargs = dict(features=2, kernel_size=(3,), padding="CAUSAL", mask=mask,
                  param_dtype=jnp.float16)
    expected, variables = nn.Conv(**kwargs).init_with_output(jax.random.key(0), x)
    got = jaxpad.linen.Conv(**kwargs).apply(variables, x)
    assert got.dtype == expected.dtype == jnp.float32  # mask is float32: flax promotes
    assert_close(got, expected)
    kwargs.update(mask=None, dtype=jnp.bfloat16)
    expected = nn.Conv(**kwargs).apply(variables, x)
    got = jaxpad.linen.Conv(**kwargs).apply(variables, x)
    assert got.dtype == expected.dtype == jnp.bfloat16
    assert_close(got, expected, dtype=np.dtype(jnp.bfloat16))


def test_jit_does_not_retrace_and_grads_match_flax():
    traces = []
    layer = jaxpad.linen.Conv(4, (3, 3), strides=2, padding="same",
                              padding_mode=["reflect", "circular"])
    x = _x((2, 8, 8, 3))
    variables = layer.init(jax.random.key(0), x)

    @jax.jit
    def loss(variables, x):
        traces.append(None)
        return (layer.apply(variables, x) ** 2).sum()

    for i in range(3):
        jax.grad(loss)(variables, x + i)
        loss(variables, x - i)
    assert len(traces) == 1  # one trace serves grad and the plain call

    reflect = jaxpad.linen.Conv(4, (3, 3), strides=2, padding="REFLECT")

    def grads(module):
        return jax.grad(lambda v, x: (module.apply(v, x) ** 2).sum(), argnums=(0, 1))(
            variables, x)

    jax.tree.map(assert_close, grads(reflect),
                 grads(nn.Conv(4, (3, 3), strides=2, padding="REFLECT")))


@pytest.mark.parametrize(
    "kwargs, x_shape, error, match",
    [
        (dict(features=4, kernel_size=()), (1, 5, 2), ValueError,
         r"`kernel_size` must be an int \(a 1-D kernel, as in flax\) or a non-empty sequence"),
        (dict(features=4, kernel_size=(3, 0)), (1, 5, 5, 2), ValueError,
         r"`kernel_size` must be >= 1 on every axis; got \(3, 0\)"),
        (dict(features=4, kernel_size=(3, 3.0)), (1, 5, 5, 2), TypeError,
         r"`kernel_size` must be an int; got 3.0"),
        (dict(features=0, kernel_size=3), (1, 5, 2), ValueError, r"`features` must be >= 1; got 0"),
        (dict(features=4, kernel_size=3, feature_group_count=3), (1, 5, 3), ValueError,
         r"`feature_group_count` must divide `features`; got feature_group_count=3 with "
         r"features=4"),
        (dict(features=4, kernel_size=3, feature_group_count=2), (1, 5, 3), ValueError,
         r"`feature_group_count` must divide `in_features`; got feature_group_count=2 with "
         r"in_features=3"),
        (dict(features=4, kernel_size=3, padding_mode="mirror"), (1, 5, 2), ValueError,
         r"`padding_mode` must be one of 'zeros', .*; got 'mirror'"),
        (dict(features=4, kernel_size=(3, 3), padding="CAUSAL"), (1, 5, 5, 2), ValueError,
         r"`padding` 'CAUSAL' is flax's 1-D causal padding; got a 2-D kernel_size \(3, 3\)"),
        (dict(features=4, kernel_size=3, padding="reflect"), (1, 5, 2), ValueError,
         r"`padding` must be a padding spec, not a mode; got 'reflect'"),
        (dict(features=4, kernel_size=3, padding="SAMEISH"), (1, 5, 2), ValueError,
         r"`padding` must be one of flax's 'SAME', .* got 'SAMEISH'"),
        (dict(features=4, kernel_size=3, padding="REFLECT", padding_mode="circular"),
         (1, 5, 2), ValueError,
         r"`padding_mode` 'circular' conflicts with padding='REFLECT', which is flax's reflect"),
        (dict(features=4, kernel_size=3, strides=(1, 2)), (1, 5, 2), ValueError,
         r"`strides` must be an int or a sequence of 1 ints"),
        (dict(features=4, kernel_size=3, oversize="wrap"), (1, 5, 2), ValueError,
         r"`oversize` must be 'error' or 'repeat'; got 'wrap'"),
        (dict(features=4, kernel_size=3, mask=jnp.ones((3, 3, 4))), (1, 5, 2), ValueError,
         r"`mask` must have the kernel's shape \(3, 2, 4\); got \(3, 3, 4\)"),
        (dict(features=4, kernel_size=(3, 3)), (5, 2), ValueError,
         r"`inputs` must be \(\*batch, \*spatial, features\) with 2 spatial axes, so rank >= 3;"
         r" got shape \(5, 2\)"),
    ],
)
def test_errors_name_the_argument_at_the_first_call(kwargs, x_shape, error, match):
    layer = jaxpad.linen.Conv(**kwargs)  # linen modules are checked when first called
    with pytest.raises(error, match=match):
        layer.init(jax.random.key(0), jnp.ones(x_shape))


# --------------------------------------------------------------------------------------- Pad


@pytest.mark.parametrize("mode", MODES)
def test_pad_layer_against_numpy_reference(mode):
    x = np.asarray(_x((2, 5, 4, 3)))
    layer = jaxpad.linen.Pad(((2, 1), (0, 3)), mode=mode, value=1.5)
    expected = reference.pad(x, [(0, 0), (2, 1), (0, 3), (0, 0)], ["zeros", mode, mode, "zeros"],
                             1.5)
    np.testing.assert_array_equal(layer.apply({}, x), expected)
    # Unbatched input, per-axis modes, an int per axis.
    layer = jaxpad.linen.Pad((1, 2), mode=["replicate", "circular"])
    expected = reference.pad(x[0], [(1, 1), (2, 2), (0, 0)], ["replicate", "circular", "zeros"])
    np.testing.assert_array_equal(layer.apply({}, x[0]), expected)


@requires_torch
@pytest.mark.parametrize("family, rank", list(itertools.product(
    ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"], [1, 2, 3])))
def test_pytorch_named_pads_equal_pytorch(family, rank):
    x = np.array(_x((2, 3, *[5, 4, 6][:rank]), seed=rank))  # NC*spatial, writable for torch
    flat = (1, 2, 0, 3, 2, 1)[: 2 * rank]
    args = (0.25,) if family == "ConstantPad" else ()
    for padding in (2, flat):
        expected = getattr(torch.nn, f"{family}{rank}d")(padding, *args)(torch.from_numpy(x))
        layer = getattr(jaxpad.linen, f"{family}{rank}d")(padding, *args)
        got = layer.apply({}, np.moveaxis(x, 1, -1))
        np.testing.assert_array_equal(np.moveaxis(np.asarray(got), -1, 1), expected.numpy())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: jaxpad.linen.Pad(2), r"`padding` must be a non-empty sequence with one int or "
                                      r"\(lo, hi\) pair per spatial axis"),
        (lambda: jaxpad.linen.Pad((1,), mode="mirror"), r"`mode` must be one of 'zeros'"),
        (lambda: jaxpad.linen.Pad((1, 1), mode=["zeros"]),
         r"`mode` must be one mode or a sequence of 2 modes"),
        (lambda: jaxpad.linen.Pad(((1, 2, 3),)), r"`padding` entries must be \(lo, hi\) pairs"),
        (lambda: jaxpad.linen.Pad((5,), mode="reflect"),
         r"reflect padding needs width < size on each axis; axis 1 has size 4"),
        (lambda: jaxpad.linen.Pad((1, 1, 1)), r"`inputs` must be \(\*batch, \*spatial, features\)"
                                              r" with 3 spatial axes, so rank >= 4"),
        (lambda: jaxpad.linen.ReflectionPad2d((1, 2, 3)),
         r"`padding` of ReflectionPad2d must be an int or 4 ints \(PyTorch's order"),
        (lambda: jaxpad.linen.ConstantPad1d(1), r"ConstantPad1d\(padding, value\) takes one "
                                                r"fill value"),
    ],
)
def test_pad_errors(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make().apply({}, jnp.ones((1, 4, 2)))


def test_import_jaxpad_needs_neither_flax_nor_torch():
    code = ("import sys; sys.modules['flax'] = sys.modules['torch'] = None; "
            "import jaxpad, jaxpad.interop; "
            "assert jaxpad.conv(jaxpad.pad([[1.0]], 1)[None, ..., None], [[[[1.0]]]]).shape "
            "== (1, 3, 3, 1)")
    subprocess.run([sys.executable, "-c", code], check=True)
    # ... and the layers load on first use, without an explicit import.
    code = ("import sys, jaxpad; assert 'flax' not in sys.modules; "
            "jaxpad.linen.Conv, jaxpad.nnx.Conv; assert 'flax' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conv_general_dilated_and_its_cls_convolve_as_in_flax():
    """flax's `conv_general_dilated` / `conv_general_dilated_cls` fields, linen side."""
    calls = []

    def conv_fn(*args, **kwargs):
        calls.append(args[3])
        return jax.lax.conv_general_dilated(*args, **kwargs)

    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 2))
    theirs = nn.Conv(3, (3, 2), 2, padding=((1, 2), (0, 1)), precision=HIGHEST)
    variables = theirs.init(jax.random.key(1), x)
    expected = theirs.apply(variables, x)
    for kwargs in (dict(conv_general_dilated=conv_fn),
                   dict(conv_general_dilated_cls=lambda: conv_fn)):
        ours = jaxpad.linen.Conv(3, (3, 2), 2, padding=((1, 2), (0, 1)), precision=HIGHEST,
                                 **kwargs)
        assert_close(ours.apply(variables, x), expected)
        assert calls.pop() == [(1, 2), (0, 1)]
    reflect = jaxpad.linen.Conv(3, (3, 2), 2, padding="REFLECT", precision=HIGHEST,
                                conv_general_dilated=conv_fn)
    assert_close(reflect.apply(variables, x),
                 jaxpad.linen.Conv(3, (3, 2), 2, padding="REFLECT",
                                   precision=HIGHEST).apply(variables, x))
    assert calls.pop() == [(0, 0), (0, 0)]  # padded first

"""`jaxpad.nnx` against flax.nnx.Conv, and against `jaxpad.linen` with the same parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import assert_close, requires_torch, torch

pytest.importorskip("flax", reason="flax is not installed: jaxpad.nnx not checked")
from flax import nnx  # noqa: E402
from test_linen import KERNELS, SHAPES, flax_padding, grid  # noqa: E402

import jaxpad.linen  # noqa: E402
import jaxpad.nnx  # noqa: E402

HIGHEST = jax.lax.Precision.HIGHEST


def _x(shape, seed=0, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape, dtype)


def _variables(layer):
    params = {"kernel": layer.kernel[...]}
    if layer.bias is not None:
        params["bias"] = layer.bias[...]
    return {"params": params}


@pytest.mark.parametrize("padding, stride, dilation, rank", list(grid()))
def test_equals_flax_nnx_conv_and_jaxpad_linen(padding, stride, dilation, rank):
    padding = flax_padding(padding, rank)
    groups = 2 if stride == 2 else 1
    kwargs = dict(padding=padding, kernel_dilation=dilation, feature_group_count=groups,
                  precision=HIGHEST)
    x = _x((2, *SHAPES[:rank], 4))
    theirs = nnx.Conv(4, 6, KERNELS[:rank], stride, **kwargs, rngs=nnx.Rngs(rank))
    ours = jaxpad.nnx.Conv(4, 6, KERNELS[:rank], stride, **kwargs, rngs=nnx.Rngs(rank))
    # Same parameters from the same Rngs, hence the same checkpoints.
    jax.tree.map(np.testing.assert_array_equal, nnx.state(ours, nnx.Param),
                 nnx.state(theirs, nnx.Param))
    expected = nnx.jit(lambda m, x: m(x))(theirs, x)
    got = ours(x)
    assert got.shape == expected.shape
    assert_close(got, expected)
    linen = jaxpad.linen.Conv(6, KERNELS[:rank], stride, **kwargs)
    np.testing.assert_array_equal(linen.apply(_variables(ours), x), got)


@pytest.mark.parametrize("batch", [(), (2, 3)])
def test_unbatched_extra_batch_axes_mask_and_dtypes_like_flax(batch):
    mask = jnp.tril(jnp.ones((3, 2, 4)))[..., :4]
    kwargs = dict(padding="REFLECT", mask=mask, dtype=jnp.bfloat16, param_dtype=jnp.float16,
                  preferred_element_type=jnp.float32)
    theirs = nnx.Conv(2, 4, 3, 2, **kwargs, rngs=nnx.Rngs(0))
    ours = jaxpad.nnx.Conv(2, 4, 3, 2, **kwargs, rngs=nnx.Rngs(0))
    x = _x((*batch, 9, 2))
    expected, got = theirs(x), ours(x)
    assert got.shape == expected.shape == (*batch, 5, 4)
    assert got.dtype == expected.dtype
    assert_close(got, expected, dtype=np.dtype(jnp.bfloat16))


def test_no_bias_input_dilation_and_edited_attributes():
    kwargs = dict(padding=[(2, 1)], input_dilation=2, use_bias=False)
    theirs = nnx.Conv(3, 2, (4,), **kwargs, rngs=nnx.Rngs(0))
    ours = jaxpad.nnx.Conv(3, 2, (4,), **kwargs, rngs=nnx.Rngs(0))
    assert ours.bias is None
    x = _x((2, 7, 3))
    assert_close(ours(x), theirs(x))
    # Attributes stay live, as in flax: the next call uses the edited padding.
    ours.padding, theirs.padding = "CAUSAL", "CAUSAL"
    ours.input_dilation = theirs.input_dilation = 1
    assert_close(ours(x), theirs(x))


def test_padding_modes_against_numpy_reference():
    layer = jaxpad.nnx.Conv(2, 4, (3, 4), strides=(1, 2), padding="same",
                            padding_mode=["symmetric", "constant"], padding_value=2.0,
                            feature_group_count=2, precision=HIGHEST, rngs=nnx.Rngs(0))
    x = np.asarray(_x((2, 6, 7, 2)))
    pads = jaxpad.resolve_padding("same", (6, 7), (3, 4), (1, 2))
    expected = reference.conv_nchw(np.moveaxis(x, -1, 1),
                                   np.transpose(np.asarray(layer.kernel[...]), (3, 2, 0, 1)),
                                   np.asarray(layer.bias[...]), (1, 2), pads,
                                   ["symmetric", "constant"], (1, 1), 2, 2.0)
    assert_close(layer(x), np.moveaxis(expected, 1, -1))


def test_nnx_jit_does_not_retrace_and_trains():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.pad = jaxpad.nnx.ReflectionPad2d((1, 1, 2, 0))
            self.conv = jaxpad.nnx.Conv(3, 4, (3, 3), padding=[(0, 0), (1, 1)],
                                        padding_mode=["zeros", "circular"], rngs=rngs)

        def __call__(self, x):
            return self.conv(self.pad(x))

    traces = []
    net = Net(nnx.Rngs(0))

    @nnx.jit
    def step(net, x):
        traces.append(None)
        loss, grads = nnx.value_and_grad(lambda net: (net(x) ** 2).mean())(net)
        nnx.update(net, jax.tree.map(lambda p, g: p - 0.1 * g, nnx.state(net, nnx.Param),
                                     grads))
        return loss

    x = _x((2, 6, 5, 3))
    losses = [float(step(net, x)) for _ in range(4)]
    assert len(traces) == 1
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(kernel_size=(3, -1)), ValueError,
         r"`kernel_size` must be >= 1 on every axis; got \(3, -1\)"),
        (dict(kernel_size="3"), ValueError, r"`kernel_size` must be an int \(a 1-D kernel"),
        (dict(out_features=6, feature_group_count=4), ValueError,
         r"`feature_group_count` must divide `out_features`; got feature_group_count=4 with "
         r"out_features=6"),
        (dict(in_features=3, feature_group_count=2), ValueError,
         r"`feature_group_count` must divide `in_features`; got feature_group_count=2 with "
         r"in_features=3"),
        (dict(feature_group_count=0), ValueError, r"`feature_group_count` must be >= 1; got 0"),
        (dict(padding_mode="mirror"), ValueError,
         r"`padding_mode` must be one of 'zeros', 'constant', 'reflect', .* \(or aliases "
         r"'edge', 'wrap'\); got 'mirror'"),
        (dict(padding_mode=["reflect"] * 3), ValueError,
         r"`padding_mode` must be one mode or a sequence of 2 modes"),
        (dict(padding=(1, 2, 3)), ValueError,
         r"`padding` must be a string, an int, 2 ints or 2 \(lo, hi\) pairs"),
        (dict(padding=-1), ValueError, r"`padding` must be >= 0 on every side"),
        (dict(padding="CAUSAL"), ValueError, r"`padding` 'CAUSAL' is flax's 1-D causal padding"),
        (dict(kernel_dilation=(1, 0)), ValueError,
         r"`kernel_dilation` must be >= 1 on every axis; got \(1, 0\)"),
        (dict(strides=2.0), TypeError, r"`strides` must be an int; got 2.0"),
        (dict(input_dilation=2, padding_mode="replicate"), ValueError,
         r"`input_dilation` 2 needs zero padding"),
        (dict(mask=jnp.ones((3, 3))), ValueError,
         r"`mask` must have the kernel's shape \(3, 3, 4, 6\); got \(3, 3\)"),
    ],
)
def test_constructor_errors_name_the_argument(kwargs, error, match):
    args = dict(in_features=4, out_features=6, kernel_size=(3, 3), rngs=nnx.Rngs(0)) | kwargs
    with pytest.raises(error, match=match):
        jaxpad.nnx.Conv(**args)


def test_call_errors_name_the_input():
    layer = jaxpad.nnx.Conv(4, 6, (3, 3), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`inputs` must be \(\*batch, \*spatial, features\) "
                                         r"with 2 spatial axes, so rank >= 3; got shape \(5, 4\)"):
        layer(jnp.ones((5, 4)))
    with pytest.raises(ValueError, match=r"`x` has 3 channels but `kernel` of shape "
                                         r"\(3, 3, 4, 6\) expects 4"):
        layer(jnp.ones((1, 5, 5, 3)))


# --------------------------------------------------------------------------------------- Pad


def test_pad_layer_against_numpy_reference_and_linen():
    x = np.asarray(_x((2, 5, 4, 3)))
    layer = jaxpad.nnx.Pad(((2, -1), 3), mode=["symmetric", "constant"], value=-2.0)
    expected = reference.pad(x, [(0, 0), (2, -1), (3, 3), (0, 0)],
                             ["zeros", "symmetric", "constant", "zeros"], -2.0)
    np.testing.assert_array_equal(layer(x), expected)
    linen = jaxpad.linen.Pad(((2, -1), 3), mode=["symmetric", "constant"], value=-2.0)
    np.testing.assert_array_equal(linen.apply({}, x), expected)


@requires_torch
@pytest.mark.parametrize("name", ["ReflectionPad2d", "ReplicationPad3d", "CircularPad1d",
                                  "ZeroPad2d"])
def test_pytorch_named_pads_equal_pytorch(name):
    rank = int(name[-2])
    x = np.array(_x((2, 3, *[5, 4, 6][:rank])))
    flat = (1, 2, 0, 3, 2, 1)[: 2 * rank]
    expected = getattr(torch.nn, name)(flat)(torch.from_numpy(x)).numpy()
    got = getattr(jaxpad.nnx, name)(flat)(np.moveaxis(x, 1, -1))
    np.testing.assert_array_equal(np.moveaxis(np.asarray(got), -1, 1), expected)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: jaxpad.nnx.Pad(1), TypeError,
         r"`padding` must be a non-empty sequence with one int or \(lo, hi\) pair per spatial"),
        (lambda: jaxpad.nnx.Pad(()), TypeError, r"`padding` must be a non-empty sequence"),
        (lambda: jaxpad.nnx.Pad((1,), mode="wrapped"), ValueError,
         r"`mode` must be one of 'zeros'"),
        (lambda: jaxpad.nnx.Pad((1,), oversize="yes"), ValueError,
         r"`oversize` must be 'error' or 'repeat'; got 'yes'"),
        (lambda: jaxpad.nnx.ReplicationPad3d((1, 1)), ValueError,
         r"`padding` of ReplicationPad3d must be an int or 6 ints"),
        (lambda: jaxpad.nnx.ReflectionPad1d(1, 2.0), TypeError,
         r"ReflectionPad1d\(padding\) takes one positional argument"),
    ],
)
def test_pad_errors_at_construction(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("padding, mode", [("CIRCULAR", "zeros"), ((1, 2), "zeros"),
                                           ("same", ["constant", "reflect"])])
def test_conv_general_dilated_convolves_as_in_flax(padding, mode):
    """flax's `conv_general_dilated=`: the given function convolves (it sees the zero pads,
    jaxpad.pad the rest); lax's own, the default, is jaxpad's convolution."""
    calls = []

    def conv_fn(*args, **kwargs):
        calls.append(args[3])
        return jax.lax.conv_general_dilated(*args, **kwargs)

    kwargs = dict(padding=padding, precision=HIGHEST)
    ours = jaxpad.nnx.Conv(2, 3, (3, 2), 2, padding_mode=mode, padding_value=0.5,
                           conv_general_dilated=conv_fn, **kwargs, rngs=nnx.Rngs(0))
    default = jaxpad.nnx.Conv(2, 3, (3, 2), 2, padding_mode=mode, padding_value=0.5, **kwargs,
                              rngs=nnx.Rngs(0))
    x = _x((2, 7, 6, 2))
    assert_close(ours(x), default(x))
    assert calls and default.conv_general_dilated is jax.lax.conv_general_dilated
    if mode == "zeros" and padding != "CIRCULAR":
        assert calls[-1] == [(1, 1), (2, 2)]  # flax's pads, passed on
        flax_conv = nnx.Conv(2, 3, (3, 2), 2, conv_general_dilated=conv_fn, **kwargs,
                             rngs=nnx.Rngs(0))
        assert_close(ours(x), flax_conv(x))
    else:
        assert all(p == (0, 0) for p in calls[-1])  # padded first

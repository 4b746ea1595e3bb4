"""`jaxpad.interop`: converted PyTorch convolutions and state dicts against PyTorch itself."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import TORCH_MODES, assert_close, examples, torch_convs
from hypothesis import given, settings
from reference import SEED_ARTICLE_4X4

torch = pytest.importorskip("torch", reason="torch is not installed: interop not checked")
pytest.importorskip("flax", reason="flax is not installed: interop not checked")
import flax.linen as nn  # noqa: E402

import jaxpad.interop  # noqa: E402
import jaxpad.linen  # noqa: E402
from jaxpad.interop import (  # noqa: E402
    linen_from_torch,
    linen_params_from_torch_state_dict,
    nnx_from_torch,
)

HIGHEST = jax.lax.Precision.HIGHEST


def _last(a):
    return np.moveaxis(np.asarray(a), 1, -1)


def _first(a):
    return np.moveaxis(np.asarray(a), -1, 1)


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@settings(max_examples=examples(120))
@given(torch_convs())
def test_random_torch_convs_forward_and_gradients(case):
    conv, x_shape = case
    x = _rand(x_shape, 0)
    xt = torch.from_numpy(x).requires_grad_()
    y_t = conv(xt)
    ct = _rand(tuple(y_t.shape), 1)
    y_t.backward(torch.from_numpy(ct))

    layer, variables = linen_from_torch(conv, precision=HIGHEST)
    y, vjp = jax.vjp(layer.apply, variables, _last(x))
    grads, dx = vjp(jnp.asarray(_last(ct)))
    assert_close(_first(y), y_t.detach().numpy())
    assert_close(_first(dx), xt.grad.numpy())
    kernel_grad = np.asarray(grads["params"]["kernel"])
    assert_close(np.transpose(kernel_grad, (kernel_grad.ndim - 1, kernel_grad.ndim - 2,
                                            *range(kernel_grad.ndim - 2))),
                 conv.weight.grad.numpy())
    if conv.bias is not None:
        assert_close(grads["params"]["bias"], conv.bias.grad.numpy())
    else:
        assert "bias" not in variables["params"]
    assert_close(nnx_from_torch(conv, precision=HIGHEST)(_last(x)), y)


@pytest.mark.parametrize("mode", TORCH_MODES)
def test_the_seed_articles_torch_conv_converts(mode):
    conv = torch.nn.Conv2d(1, 1, 1, padding=1, padding_mode=mode, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = np.arange(1.0, 17.0, dtype=np.float32).reshape(1, 4, 4, 1)
    layer, variables = linen_from_torch(conv)
    np.testing.assert_array_equal(layer.apply(variables, x)[0, ..., 0], SEED_ARTICLE_4X4[mode])
    np.testing.assert_array_equal(nnx_from_torch(conv)(x)[0, ..., 0], SEED_ARTICLE_4X4[mode])


def test_converted_layer_hyperparameters_and_dtypes():
    conv = torch.nn.Conv3d(4, 6, (1, 2, 3), stride=(1, 1, 2), padding=(0, 1, 2), dilation=2,
                           groups=2, padding_mode="replicate", bias=False).to(torch.bfloat16)
    layer, variables = linen_from_torch(conv)
    assert (layer.features, layer.kernel_size, layer.strides, layer.padding, layer.padding_mode,
            layer.kernel_dilation, layer.feature_group_count, layer.use_bias) == (
        6, (1, 2, 3), (1, 1, 2), (0, 1, 2), "replicate", (2, 2, 2), 2, False)
    assert variables["params"]["kernel"].shape == (1, 2, 3, 2, 6)
    assert variables["params"]["kernel"].dtype == layer.param_dtype == jnp.bfloat16
    layer = nnx_from_torch(conv)
    assert layer.kernel[...].dtype == jnp.bfloat16 and layer.bias is None
    np.testing.assert_array_equal(
        np.asarray(layer.kernel[...], np.float32),
        conv.weight.detach().float().permute(2, 3, 4, 1, 0).numpy())


def test_whole_model_from_a_state_dict():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2, padding_mode="circular"),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    )
    with torch.no_grad():  # non-trivial running statistics
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
        net[1].weight.uniform_(0.5, 2)
    net.eval()

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = jaxpad.linen.Conv(8, (3, 3), padding=1, padding_mode="reflect",
                                  precision=HIGHEST)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=True, epsilon=1e-5)(x))
            x = jaxpad.linen.Conv(8, (3, 3), strides=2, padding=1, padding_mode="circular",
                                  feature_group_count=2, precision=HIGHEST)(x)
            return nn.Dense(4, precision=HIGHEST)(nn.relu(x).mean(axis=(1, 2)))

    variables = linen_params_from_torch_state_dict(
        net.state_dict(),
        {r"0": "Conv_0", r"1": "BatchNorm_0", r"3": "Conv_1", r"7": "Dense_0"})
    x = _rand((2, 3, 9, 8), 0)
    expected = net(torch.from_numpy(x)).detach().numpy()
    template = Net().init(jax.random.key(0), _last(x))
    assert jax.tree.structure(variables) == jax.tree.structure(template)
    assert_close(Net().apply(variables, _last(x)), expected)


def test_state_dict_patterns_groups_skips_and_strictness():
    net = torch.nn.ModuleDict({
        "blocks": torch.nn.ModuleList([torch.nn.Conv1d(2, 2, 3) for _ in range(3)]),
        "head": torch.nn.Linear(2, 2),
    })
    state = net.state_dict()
    variables = linen_params_from_torch_state_dict(
        state, {r"blocks\.(\d+)": r"Block_\1/Conv_0", r"head": None})
    assert sorted(variables["params"]) == ["Block_0", "Block_1", "Block_2"]
    np.testing.assert_array_equal(variables["params"]["Block_2"]["Conv_0"]["kernel"],
                                  state["blocks.2.weight"].permute(2, 1, 0).numpy())
    with pytest.raises(ValueError, match=r"`mapping` matches no pattern for 2 state_dict "
                                         r"entries: \['head.weight', 'head.bias'\]"):
        linen_params_from_torch_state_dict(state, {r"blocks\.(\d+)": r"b\1"})
    with pytest.raises(ValueError, match=r"`mapping` sends two state_dict entries to "
                                         r"params/x/kernel \(the second is 'blocks.1.weight'\)"):
        linen_params_from_torch_state_dict(state, {r"blocks\.\d+": "x"}, strict=False)
    variables = linen_params_from_torch_state_dict(state, {r"head": "Dense_0"}, strict=False)
    np.testing.assert_array_equal(variables["params"]["Dense_0"]["kernel"],
                                  state["head.weight"].numpy().T)
    attention = torch.nn.MultiheadAttention(4, 2).state_dict()
    with pytest.raises(ValueError, match=r"`state_dict` entry 'in_proj_weight': cannot convert "
                                         r"a 'in_proj_weight' leaf"):
        linen_params_from_torch_state_dict(attention, {r".*": "attention"})


@pytest.mark.parametrize(
    "module, error, match",
    [
        (torch.nn.Linear(2, 2), TypeError,
         r"`module` must be a torch.nn.Conv1d, Conv2d, Conv3d, ConvTranspose1d, "
         r"ConvTranspose2d or ConvTranspose3d; got Linear"),
        (torch.nn.LazyConvTranspose2d(2, 3), ValueError,
         r"`module` LazyConvTranspose2d has uninitialised \(lazy\) weights"),
        (torch.nn.LazyConv2d(2, 3), ValueError,
         r"`module` LazyConv2d has uninitialised \(lazy\) weights"),
    ],
)
def test_errors(module, error, match):
    with pytest.raises(error, match=match):
        linen_from_torch(module)
    with pytest.raises(error, match=match):
        nnx_from_torch(module)


def test_interop_imports_without_torch_and_says_what_is_missing():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import jaxpad.interop\n"
            "try:\n    jaxpad.interop.linen_from_torch(object())\n"
            "except ImportError as e:\n    assert 'jaxpad.interop needs PyTorch' in str(e)\n"
            "else:\n    raise AssertionError")
    subprocess.run([sys.executable, "-c", code], check=True)

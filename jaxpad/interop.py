"""PyTorch -> jaxpad: convert `torch.nn.Conv{1,2,3}d`, `ConvTranspose{1,2,3}d` and state dicts.

torch (and flax or equinox, for the modules) are imported inside the functions,
so this module imports with jax alone. Layouts: PyTorch is channels-first (input
`(N, C, *spatial)`, weight `(O, C // groups, *k)`); the converted flax layers are
channels-last (input `(N, *spatial, C)`, kernel `(*k, C // groups, O)`), and the
converted layer applied to `x.permute(0, 2, 3, 1)` (2-D) equals PyTorch's output
permuted the same way. The equinox layers are channels-first and unbatched, as
equinox is: `layer(x[0])` equals `module(x)[0]`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ._conv import channels_last_kernel

__all__ = [
    "equinox_from_torch",
    "linen_from_torch",
    "linen_params_from_torch_state_dict",
    "nnx_from_torch",
]


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - exercised only without torch
        raise ImportError("jaxpad.interop needs PyTorch: pip install torch.") from e
    return torch


def _to_jax(value: Any) -> jax.Array:
    """A torch tensor (any device, bfloat16 too) or array-like as a jax array."""
    if hasattr(value, "detach"):
        torch = _torch()
        t = value.detach().cpu()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16
            return jnp.asarray(t.float().numpy(), jnp.bfloat16)
        return jnp.asarray(t.numpy())
    return jnp.asarray(value)


def _torch_conv(module: Any) -> tuple[bool, Any, jax.Array, jax.Array | None]:
    """Checks a torch conv; returns (transposed?, padding, weight, bias), torch's layouts."""
    torch = _torch()
    convs = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    transposed = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)
    if not isinstance(module, convs + transposed):
        raise TypeError(
            f"`module` must be a torch.nn.Conv1d, Conv2d, Conv3d, ConvTranspose1d, "
            f"ConvTranspose2d or ConvTranspose3d; got {type(module).__name__}."
        )
    if isinstance(module.weight, torch.nn.parameter.UninitializedParameter):
        raise ValueError(
            f"`module` {type(module).__name__} has uninitialised (lazy) weights; run it once "
            f"on an input before converting."
        )
    # 'same' (stride 1 in torch: the TF rule), 'valid' or ints
    padding = module.padding
    if not isinstance(padding, str):
        padding = tuple(int(p) for p in padding)
    bias = None if module.bias is None else _to_jax(module.bias)
    return isinstance(module, transposed), padding, _to_jax(module.weight), bias


def _conv_arguments(module: Any) -> tuple[dict[str, Any], jax.Array, jax.Array | None]:
    """The jaxpad Conv/ConvTranspose keyword arguments, kernel and bias of a torch module."""
    transposed, padding, weight, bias = _torch_conv(module)
    # Conv: (O, I, *k) -> (*k, I, O); ConvTranspose: (C, O // G, *k) -> (*k, O // G, C).
    kernel = channels_last_kernel(weight)
    kwargs = dict(
        kernel_size=tuple(module.kernel_size),
        strides=tuple(module.stride),
        padding=padding,
        padding_mode=module.padding_mode,  # 'zeros', 'reflect', 'replicate', 'circular'
        kernel_dilation=tuple(module.dilation),
        feature_group_count=module.groups,
        use_bias=bias is not None,
        param_dtype=kernel.dtype,
    )
    if transposed:  # PyTorch's crops, in jaxpad.conv_transpose's layout
        kwargs.update(torch_padding=kwargs.pop("padding"),
                      output_padding=tuple(int(p) for p in module.output_padding),
                      transpose_kernel=True)
    return kwargs, kernel, bias


def linen_from_torch(module: Any, *, precision: Any = None) -> tuple[Any, dict[str, Any]]:
    """Converts a `torch.nn.Conv{1,2,3}d` to a `jaxpad.linen.Conv` and its variables.

    Every torch configuration converts: any `padding` (ints, 'same', 'valid'),
    `padding_mode` ('zeros', 'reflect', 'replicate', 'circular', with torch's
    limits), stride, dilation, groups, with or without bias. The weight
    `(O, I // groups, *k)` becomes the kernel `(*k, I // groups, O)`.
    A `torch.nn.ConvTranspose{1,2,3}d` becomes a `jaxpad.linen.ConvTranspose`
    with `transpose_kernel=True`: its weight `(C, O // groups, *k)` becomes the
    kernel `(*k, O // groups, C)`, its padding becomes `torch_padding` (PyTorch's
    crop), and output_padding, stride, dilation and groups are kept.

    Args:
      module: the torch convolution.
      precision: passed to the layer (e.g. `jax.lax.Precision.HIGHEST` for
        float32 parity on accelerators, which otherwise use reduced precision).

    Returns:
      `(layer, variables)`: apply with `layer.apply(variables, x_channels_last)`.

    Raises:
      TypeError: `module` is not a Conv or ConvTranspose 1d/2d/3d.
      ValueError: lazy modules whose weights are not initialised yet.
      ImportError: torch is not installed.

    Example:
      >>> import numpy as np, torch, jaxpad.interop
      >>> conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, padding_mode="reflect")
      >>> layer, variables = jaxpad.interop.linen_from_torch(conv)
      >>> x = torch.randn(1, 3, 9, 9)
      >>> y = layer.apply(variables, x.permute(0, 2, 3, 1).numpy())
      >>> expected = conv(x).permute(0, 2, 3, 1).detach().numpy()
      >>> y.shape, bool(np.allclose(y, expected, atol=1e-5))
      ((1, 5, 5, 8), True)
    """
    from . import linen

    kwargs, kernel, bias = _conv_arguments(module)
    cls = linen.ConvTranspose if "output_padding" in kwargs else linen.Conv
    layer = cls(features=module.out_channels, precision=precision, **kwargs)
    params = {"kernel": kernel} if bias is None else {"kernel": kernel, "bias": bias}
    return layer, {"params": params}


def nnx_from_torch(module: Any, *, precision: Any = None) -> Any:
    """Converts a `torch.nn.Conv{1,2,3}d` to a `jaxpad.nnx.Conv` holding its weights.

    The same conversion as `linen_from_torch`, into an NNX layer (a
    `jaxpad.nnx.ConvTranspose` for a `torch.nn.ConvTranspose{1,2,3}d`).

    Args:
      module: the torch convolution.
      precision: passed to the layer.

    Returns:
      The `jaxpad.nnx.Conv` (or `ConvTranspose`), to call on channels-last inputs.

    Raises:
      TypeError: `module` is not a Conv or ConvTranspose 1d/2d/3d.
      ValueError: lazy modules whose weights are not initialised yet.
      ImportError: torch is not installed.

    Example:
      >>> import numpy as np, torch, jaxpad.interop
      >>> conv = torch.nn.Conv1d(4, 4, 5, padding="same", padding_mode="circular", groups=2)
      >>> layer = jaxpad.interop.nnx_from_torch(conv)
      >>> x = torch.randn(2, 4, 16)
      >>> y = layer(x.permute(0, 2, 1).numpy())
      >>> bool(np.allclose(y, conv(x).permute(0, 2, 1).detach().numpy(), atol=1e-5))
      True
      >>> up = torch.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
      >>> y = jaxpad.interop.nnx_from_torch(up)(x.permute(0, 2, 1).numpy())
      >>> bool(np.allclose(y, up(x).permute(0, 2, 1).detach().numpy(), atol=1e-5))
      True
    """
    from flax import nnx

    from . import nnx as jaxpad_nnx

    kwargs, kernel, bias = _conv_arguments(module)
    cls = jaxpad_nnx.ConvTranspose if "output_padding" in kwargs else jaxpad_nnx.Conv
    # The "initialisers" hand over the torch weights; the layer does not keep them.
    return cls(module.in_channels, module.out_channels, precision=precision,
                           kernel_init=lambda *_: kernel, bias_init=lambda *_: bias,
                           rngs=nnx.Rngs(0), **kwargs)


def equinox_from_torch(module: Any, *, precision: Any = None) -> Any:
    """Converts a `torch.nn.Conv{1,2,3}d` to a `jaxpad.equinox.Conv` holding its weights.

    Every torch configuration converts: any `padding` (ints, 'same', 'valid'),
    `padding_mode` ('zeros', 'reflect', 'replicate', 'circular'), stride,
    dilation, groups, with or without bias. equinox's layout is PyTorch's, so
    the weight `(O, I // groups, *k)` is kept as it is and the bias `(O,)`
    becomes `(O, 1, ..., 1)`. A `torch.nn.ConvTranspose{1,2,3}d` becomes a
    `jaxpad.equinox.ConvTranspose` with its padding, output_padding, stride,
    dilation and groups; its weight `(I, O // groups, *k)` becomes equinox's
    `(O, I // groups, *k)`, the channels regrouped and the taps flipped.

    Args:
      module: the torch convolution.
      precision: passed to the layer (e.g. `jax.lax.Precision.HIGHEST` for
        float32 parity on accelerators, which otherwise use reduced precision).

    Returns:
      The layer, to call on unbatched channels-first inputs `(C, *spatial)`
      (`jax.vmap` it over a batch).

    Raises:
      TypeError: `module` is not a Conv or ConvTranspose 1d/2d/3d.
      ValueError: lazy modules whose weights are not initialised yet.
      ImportError: torch or equinox is not installed.

    Example:
      >>> import jax, numpy as np, torch, jaxpad.interop
      >>> conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, padding_mode="reflect")
      >>> layer = jaxpad.interop.equinox_from_torch(conv)
      >>> x = torch.randn(2, 3, 9, 9)
      >>> y = jax.vmap(layer)(x.numpy())
      >>> y.shape, bool(np.allclose(y, conv(x).detach().numpy(), atol=1e-5))
      ((2, 8, 5, 5), True)
      >>> up = torch.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
      >>> x = torch.randn(4, 7)
      >>> y = jaxpad.interop.equinox_from_torch(up)(x.numpy())
      >>> y.shape, bool(np.allclose(y, up(x).detach().numpy(), atol=1e-5))
      ((6, 14), True)
    """
    import equinox as eqx

    from . import equinox as jaxpad_eqx
    from ._layers import equinox_transpose_kernel

    transposed, padding, weight, bias = _torch_conv(module)
    kwargs = dict(
        num_spatial_dims=weight.ndim - 2, in_channels=module.in_channels,
        out_channels=module.out_channels, kernel_size=tuple(module.kernel_size),
        stride=tuple(module.stride), padding=padding, dilation=tuple(module.dilation),
        groups=module.groups, use_bias=bias is not None, padding_mode=module.padding_mode,
        dtype=weight.dtype, precision=precision, key=jax.random.key(0))
    if transposed:
        layer = jaxpad_eqx.ConvTranspose(
            output_padding=tuple(int(p) for p in module.output_padding), **kwargs)
        weight = equinox_transpose_kernel(weight, module.groups)
    else:
        layer = jaxpad_eqx.Conv(**kwargs)
    # The layer's own initial weights are replaced, the equinox way.
    if bias is None:
        return eqx.tree_at(lambda m: m.weight, layer, weight)
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer,
                       (weight, bias.reshape(layer.bias.shape)))


# torch state-dict leaf -> (flax collection, flax leaf); weights by rank, see below.
_LEAVES = {
    "bias": ("params", "bias"),
    "running_mean": ("batch_stats", "mean"),
    "running_var": ("batch_stats", "var"),
}


def _leaf(name: str, key: str, value: jax.Array) -> tuple[str, str, jax.Array] | None:
    if name == "num_batches_tracked":
        return None
    if name == "weight":
        if value.ndim >= 3:  # ConvNd: (O, I, *k) -> (*k, I, O)
            return "params", "kernel", channels_last_kernel(value)
        if value.ndim == 2:  # Linear: (out, in) -> (in, out)
            return "params", "kernel", value.T
        return "params", "scale", value  # BatchNorm, GroupNorm, LayerNorm, InstanceNorm
    if name in _LEAVES:
        return (*_LEAVES[name], value)
    raise ValueError(
        f"`state_dict` entry {key!r}: cannot convert a {name!r} leaf (known: 'weight', 'bias', "
        f"'running_mean', 'running_var', 'num_batches_tracked'); map its module to None to skip."
    )


def linen_params_from_torch_state_dict(
    state_dict: Mapping[str, Any],
    mapping: Mapping[str, str | None],
    *,
    strict: bool = True,
) -> dict[str, Any]:
    """Converts a PyTorch `state_dict` into flax linen variables, module by module.

    Each key `'<module path>.<leaf>'` is split at its last dot. The module path
    is matched (`re.fullmatch`, first pattern wins) against the patterns of
    `mapping`, whose value is the flax module path, `'/'`-separated, with
    `\\1`-style group references (`re.Match.expand`); a value of None skips the
    module. Leaves convert as:

    - `weight` of rank >= 3 (Conv1d/2d/3d): 'kernel', `(O, I, *k)` -> `(*k, I, O)`;
    - `weight` of rank 2 (Linear): 'kernel', transposed to `(in, out)`;
    - `weight` of rank 1 (norms): 'scale'; `bias`: 'bias';
    - `running_mean` / `running_var`: 'mean' / 'var' in 'batch_stats';
      `num_batches_tracked` is dropped.

    Transposed convolutions and embeddings (2-D weights flax does not
    transpose) are not told apart by rank: map them to None and convert them
    by hand.

    Args:
      state_dict: `module.state_dict()`, torch tensors or arrays.
      mapping: regex of a torch module path -> flax module path (or None).
      strict: raise for keys no pattern matches (else skip them).

    Returns:
      `{'params': {...}}`, plus `'batch_stats'` when the state dict has
      running statistics, nested by the flax module paths.

    Raises:
      ValueError: unmatched keys (when `strict`), unknown leaves, or two keys
        landing on the same flax leaf.

    Example:
      >>> import torch, jax, jaxpad.interop
      >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
      >>> variables = jaxpad.interop.linen_params_from_torch_state_dict(
      ...     net.state_dict(), {r"0": "Conv_0", r"(\\d+)": r"BatchNorm_\\1"})
      >>> jax.tree_util.tree_map(lambda a: a.shape, variables)["params"]
      {'BatchNorm_1': {'bias': (8,), 'scale': (8,)},
       'Conv_0': {'bias': (8,), 'kernel': (3, 3, 3, 8)}}
    """
    patterns = [(re.compile(p), target) for p, target in mapping.items()]
    variables: dict[str, Any] = {}
    unmatched = []
    for key, value in state_dict.items():
        path, _, name = key.rpartition(".")
        match = next(((m, t) for p, t in patterns if (m := p.fullmatch(path))), None)
        if match is None:
            unmatched.append(key)
            continue
        m, target = match
        if target is None:
            continue
        leaf = _leaf(name, key, _to_jax(value))
        if leaf is None:
            continue
        collection, flax_name, array = leaf
        node = variables.setdefault(collection, {})
        for part in m.expand(target).split("/"):
            node = node.setdefault(part, {})
        if flax_name in node:
            raise ValueError(
                f"`mapping` sends two state_dict entries to {collection}/{m.expand(target)}/"
                f"{flax_name} (the second is {key!r}); make the flax paths distinct."
            )
        node[flax_name] = array
    if strict and unmatched:
        raise ValueError(
            f"`mapping` matches no pattern for {len(unmatched)} state_dict entries: "
            f"{unmatched[:5]!r}{' ...' if len(unmatched) > 5 else ''}; add patterns (None "
            f"skips a module) or pass strict=False."
        )
    return variables


"""Flax NNX layers over jaxpad: `Conv`, `ConvTranspose` (drop-ins for flax's) and `Pad`.

Importing this module imports flax; `import jaxpad` alone does not.

The layers check their hyperparameters at construction, hold the parameters
and call `jaxpad.conv` / `jaxpad.pad`; the padding math lives in the
functional core only, and the checks are the ones `jaxpad.linen` runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn.dtypes import promote_dtype
from flax.nnx.nn.linear import default_bias_init, default_kernel_init

from ._layers import (
    ConvConfig,
    ConvTransposeConfig,
    check_mask,
    conv_apply,
    conv_config,
    conv_transpose_apply,
    conv_transpose_config,
    kernel_shape,
    kernel_shape_transpose,
    pad_apply,
    pad_config,
    torch_aliases,
)

# flax >= 0.12 marks pytree data explicitly; older versions take the plain value.
_data = getattr(nnx, "data", lambda value: value)

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "Conv",
    "ConvTranspose",
    "Pad",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]


def _init_params(module, kernel_shape, *, use_bias, mask, dtype, param_dtype, precision,
                 kernel_init, bias_init, promote_dtype, preferred_element_type, rngs,
                 kernel_metadata, bias_metadata) -> None:
    """The kernel, bias and call settings both conv modules hold, set as flax.nnx.Conv does."""
    module.kernel_shape = kernel_shape
    check_mask(mask, kernel_shape)
    module.kernel = nnx.Param(
        kernel_init(rngs.params(), kernel_shape, param_dtype), **kernel_metadata)
    module.bias = (nnx.Param(bias_init(rngs.params(), (module.out_features,), param_dtype),
                             **bias_metadata) if use_bias else _data(None))
    module.use_bias = use_bias
    module.mask = mask
    module.dtype = dtype
    module.param_dtype = param_dtype
    module.precision = precision
    module.promote_dtype = promote_dtype
    module.preferred_element_type = preferred_element_type


def _operands(module, inputs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Inputs, masked kernel and bias, promoted to the module's dtype."""
    kernel = module.kernel[...]
    if module.mask is not None:
        kernel *= module.mask
    bias = module.bias[...] if module.bias is not None else None
    return module.promote_dtype((inputs, kernel, bias), dtype=module.dtype)


class Conv(nnx.Module):
    """`flax.nnx.Conv` with jaxpad's padding modes: same arguments, same parameters.

    Swapping `flax.nnx.Conv` for this class changes nothing (the `kernel`
    `(*kernel_size, in_features // groups, out_features)` and `bias`
    `(out_features,)` params, drawn from `rngs` in flax's order, dtype
    promotion, unbatched inputs and extra batch axes, and every flax padding
    string give flax's numbers), and adds `padding_mode`. The padding rules are
    `jaxpad.linen.Conv`'s: flax's 'CIRCULAR'/'REFLECT' pad
    `((eff - 1) // 2, eff // 2)` whatever the stride; jaxpad's lowercase specs
    with `padding_mode` use the stride-aware TF geometry (on `1 2 3 4 5 6`,
    kernel 3, stride 2: 'REFLECT' sums `5 9 15`, 'same' + 'reflect' `6 12 16`).

    Args:
      in_features: the number of input channels.
      out_features: the number of output channels.
      kernel_size: an int (a 1-D kernel, as in flax) or one int per spatial axis.
      strides: an int or one per spatial axis (None means 1).
      padding: a flax string ('SAME', 'VALID', 'SAME_LOWER', 'CIRCULAR',
        'REFLECT', 'CAUSAL'), a jaxpad spec ('same', 'same_lower', 'valid',
        'causal', 'full'), an int, or one int or `(lo, hi)` pair per axis.
      padding_mode: a `jaxpad.pad` mode, or one per spatial axis.
      padding_value: the fill of 'constant' axes.
      oversize: 'error' refuses pads wider than PyTorch allows; 'repeat'
        reflects or wraps as often as needed ('CIRCULAR'/'REFLECT' always do).
      input_dilation: an int or one per spatial axis (zero padding only; specs
        then apply to the dilated input).
      kernel_dilation: an int or one per spatial axis.
      feature_group_count: groups; must divide `in_features` and `out_features`.
      use_bias: whether to add a bias.
      mask: optional array of the kernel's shape, multiplied into the kernel.
      dtype: the computation dtype (default: promoted from inputs and params).
      param_dtype: the parameters' dtype.
      precision: passed to `lax.conv_general_dilated`.
      kernel_init: the kernel initialiser (flax's default).
      bias_init: the bias initialiser (flax's default, zeros).
      promote_dtype: flax's dtype promotion function.
      preferred_element_type: passed to `lax.conv_general_dilated`.
      rngs: the `nnx.Rngs` the parameters are drawn from.
      kernel_metadata: metadata of the kernel `nnx.Param`.
      bias_metadata: metadata of the bias `nnx.Param`.

    Raises:
      ValueError: at construction, naming the argument: bad `kernel_size`,
        `feature_group_count` not dividing the channels, unknown `padding` or
        `padding_mode`, a `mask` of the wrong shape.
      TypeError: non-integer sizes.

    Example:
      >>> import jax.numpy as jnp, jaxpad.nnx
      >>> from flax import nnx
      >>> conv = jaxpad.nnx.Conv(3, 8, (3, 3), strides=2, padding="same",
      ...                        padding_mode="reflect", rngs=nnx.Rngs(0))
      >>> conv.kernel.shape, conv(jnp.ones((2, 7, 7, 3))).shape
      ((3, 3, 3, 8), (2, 4, 4, 8))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: None | int | Sequence[int] = 1,
        *,
        padding: Any = "SAME",
        padding_mode: str | Sequence[str] = "zeros",
        padding_value: float = 0.0,
        oversize: str = "error",
        input_dilation: None | int | Sequence[int] = 1,
        kernel_dilation: None | int | Sequence[int] = 1,
        feature_group_count: int = 1,
        use_bias: bool = True,
        mask: jax.Array | None = None,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Any = default_kernel_init,
        bias_init: Any = default_bias_init,
        promote_dtype: Any = promote_dtype,
        preferred_element_type: Any = None,
        rngs: nnx.Rngs,
        kernel_metadata: Mapping[str, Any] = MappingProxyType({}),
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.strides = strides
        self.padding = padding
        self.padding_mode = padding_mode
        self.padding_value = padding_value
        self.oversize = oversize
        self.input_dilation = input_dilation
        self.kernel_dilation = kernel_dilation
        self.feature_group_count = feature_group_count
        self.kernel_size = kernel_size
        config = self._config()
        self.kernel_size = config.kernel_size
        _init_params(
            self, kernel_shape(config, in_features, out_features),
            use_bias=use_bias, mask=mask, dtype=dtype, param_dtype=param_dtype,
            precision=precision, kernel_init=kernel_init, bias_init=bias_init,
            promote_dtype=promote_dtype, preferred_element_type=preferred_element_type,
            rngs=rngs, kernel_metadata=kernel_metadata, bias_metadata=bias_metadata)

    def _config(self) -> ConvConfig:
        # Rebuilt on every call (static, at trace time), so edited attributes take effect.
        return conv_config(
            features=self.out_features, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, padding_mode=self.padding_mode,
            padding_value=self.padding_value, oversize=self.oversize,
            input_dilation=self.input_dilation, kernel_dilation=self.kernel_dilation,
            feature_group_count=self.feature_group_count, in_features=self.in_features,
            features_name="out_features")

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Convolves channels-last `inputs`, `(*batch, *spatial, in_features)`.

        Args:
          inputs: any number of leading batch axes (none: unbatched).

        Returns:
          `(*batch, *out_spatial, out_features)`.
        """
        inputs, kernel, bias = _operands(self, inputs)
        return conv_apply(self._config(), inputs, kernel, bias, precision=self.precision,
                          preferred_element_type=self.preferred_element_type)


class ConvTranspose(nnx.Module):
    """`flax.nnx.ConvTranspose` with PyTorch's geometry, groups, output padding and modes.

    Same arguments, parameters and initialisation order as flax's: `kernel`
    `(*kernel_size, in_features, out_features // groups)`, or with
    `transpose_kernel=True` `(*kernel_size, out_features // groups, in_features)`
    (`jaxpad.conv_transpose`'s layout), and `bias` `(out_features,)`. The
    padding rules are `jaxpad.linen.ConvTranspose`'s: 'SAME'/'VALID' are
    flax's and Keras's, ints and `(lo, hi)` pairs PyTorch's crops.

    Args:
      in_features: the number of input channels.
      out_features: the number of output channels.
      kernel_size: an int (1-D) or one int per spatial axis.
      strides: an int or one per spatial axis (None means 1).
      padding: 'SAME', 'VALID', 'same', 'valid', an int, ints or `(lo, hi)` pairs.
      kernel_dilation: an int or one per spatial axis.
      use_bias: whether to add a bias.
      mask: optional array of the kernel's shape, multiplied into the kernel.
      dtype: the computation dtype (default: promoted from inputs and params).
      param_dtype: the parameters' dtype.
      precision: passed to `lax.conv_general_dilated`.
      kernel_init: the kernel initialiser (flax's default).
      bias_init: the bias initialiser (flax's default, zeros).
      transpose_kernel: flax's kernel layout switch, see above.
      promote_dtype: flax's dtype promotion function.
      preferred_element_type: passed to `lax.conv_general_dilated`.
      output_padding: PyTorch's, an int or one per axis.
      padding_mode: a `jaxpad.conv_transpose` mode, or one per spatial axis.
      feature_group_count: groups; must divide `in_features` and `out_features`.
      rngs: the `nnx.Rngs` the parameters are drawn from.
      kernel_metadata: metadata of the kernel `nnx.Param`.
      bias_metadata: metadata of the bias `nnx.Param`.

    Raises:
      ValueError: at construction, naming the argument: bad sizes, groups,
        padding, `output_padding` or mode, a `mask` of the wrong shape.
      TypeError: non-integer sizes.

    Example:
      >>> import jax.numpy as jnp, jaxpad.nnx
      >>> from flax import nnx
      >>> up = jaxpad.nnx.ConvTranspose(4, 8, (3, 3), strides=2, padding=1, output_padding=1,
      ...                               padding_mode="circular", rngs=nnx.Rngs(0))
      >>> up.kernel.shape, up(jnp.ones((2, 5, 5, 4))).shape
      ((3, 3, 4, 8), (2, 10, 10, 8))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: None | int | Sequence[int] = None,
        *,
        padding: Any = "SAME",
        kernel_dilation: None | int | Sequence[int] = None,
        use_bias: bool = True,
        mask: jax.Array | None = None,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        kernel_init: Any = default_kernel_init,
        bias_init: Any = default_bias_init,
        transpose_kernel: bool = False,
        promote_dtype: Any = promote_dtype,
        preferred_element_type: Any = None,
        output_padding: int | Sequence[int] = 0,
        padding_mode: str | Sequence[str] = "zeros",
        feature_group_count: int = 1,
        rngs: nnx.Rngs,
        kernel_metadata: Mapping[str, Any] = MappingProxyType({}),
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.strides = strides
        self.padding = padding
        self.output_padding = output_padding
        self.padding_mode = padding_mode
        self.kernel_dilation = kernel_dilation
        self.feature_group_count = feature_group_count
        self.transpose_kernel = transpose_kernel
        self.kernel_size = kernel_size
        config = self._config()
        self.kernel_size = config.kernel_size
        _init_params(
            self, kernel_shape_transpose(config, in_features, out_features),
            use_bias=use_bias, mask=mask, dtype=dtype, param_dtype=param_dtype,
            precision=precision, kernel_init=kernel_init, bias_init=bias_init,
            promote_dtype=promote_dtype, preferred_element_type=preferred_element_type,
            rngs=rngs, kernel_metadata=kernel_metadata, bias_metadata=bias_metadata)

    def _config(self) -> ConvTransposeConfig:
        # Rebuilt on every call (static, at trace time), so edited attributes take effect.
        return conv_transpose_config(
            features=self.out_features, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, output_padding=self.output_padding,
            padding_mode=self.padding_mode, kernel_dilation=self.kernel_dilation,
            feature_group_count=self.feature_group_count,
            transpose_kernel=self.transpose_kernel, in_features=self.in_features,
            features_name="out_features")

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Transposed-convolves channels-last `inputs`, `(*batch, *spatial, in_features)`.

        Args:
          inputs: any number of leading batch axes (none: unbatched).

        Returns:
          `(*batch, *out_spatial, out_features)`.
        """
        inputs, kernel, bias = _operands(self, inputs)
        return conv_transpose_apply(self._config(), inputs, kernel, bias,
                                    precision=self.precision,
                                    preferred_element_type=self.preferred_element_type)


class Pad(nnx.Module):
    """Pads the spatial axes of a channels-last input in any `jaxpad.pad` mode.

    Modes, padding `1 2 3 4` by 2: 'zeros' `0 0 1 2 3 4 0 0`, 'constant' fills
    with `value`, 'reflect' `3 2 1 2 3 4 3 2`, 'symmetric' `2 1 1 2 3 4 4 3`,
    'replicate' `1 1 1 2 3 4 4 4`, 'circular' `3 4 1 2 3 4 1 2`. Negative
    widths crop, as in PyTorch.

    `padding` has one entry per spatial axis, in axis order (an int `p` means
    `(p, p)`); its length says how many axes before the channels are padded, so
    `Pad(((1, 1), (2, 2)), "reflect")` pads H by 1 and W by 2 of `(N, H, W, C)`
    (and of an unbatched `(H, W, C)`). PyTorch's layers map as
    `nn.ReflectionPad2d(p)` -> `Pad((p, p), "reflect")`; the aliases
    `ReflectionPad2d`, `ReplicationPad2d`, `CircularPad2d`, `ZeroPad2d`,
    `ConstantPad2d` (and 1d/3d) take PyTorch's int or flat last-axis-first tuple.

    Args:
      padding: one int or `(lo, hi)` pair per spatial axis.
      mode: a `jaxpad.pad` mode, or one per spatial axis.
      value: the fill of 'constant' axes.
      oversize: 'error' (PyTorch's limits) or 'repeat' (numpy's repeated reflection).

    Raises:
      TypeError, ValueError: at construction, naming the argument.

    Example:
      >>> import jax.numpy as jnp, jaxpad.nnx
      >>> x = jnp.arange(1.0, 5.0).reshape(1, 4, 1)
      >>> jaxpad.nnx.Pad((2,), "circular")(x)[0, :, 0].tolist()
      [3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0]
    """

    def __init__(
        self,
        padding: Sequence[int | tuple[int, int]],
        mode: str | Sequence[str] = "zeros",
        value: float = 0.0,
        oversize: str = "error",
    ):
        pad_config(padding, mode, value, oversize)
        self.padding, self.mode, self.value, self.oversize = padding, mode, value, oversize

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Pads `inputs`, `(*batch, *spatial, C)`.

        Args:
          inputs: any number of leading batch axes (none: unbatched).

        Returns:
          The padded array.
        """
        return pad_apply(pad_config(self.padding, self.mode, self.value, self.oversize), inputs)


ZeroPad1d, ZeroPad2d, ZeroPad3d = torch_aliases(Pad, "ZeroPad", "nnx")
ConstantPad1d, ConstantPad2d, ConstantPad3d = torch_aliases(Pad, "ConstantPad", "nnx")
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = torch_aliases(Pad, "ReflectionPad", "nnx")
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = torch_aliases(
    Pad, "ReplicationPad", "nnx")
CircularPad1d, CircularPad2d, CircularPad3d = torch_aliases(Pad, "CircularPad", "nnx")

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
    StreamingConfig,
    check_mask,
    conv_apply,
    conv_config,
    conv_transpose_apply,
    conv_transpose_config,
    kernel_shape,
    kernel_shape_transpose,
    pad_apply,
    pad_config,
    streaming_apply,
    streaming_config,
    streaming_init,
    streaming_restart,
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
    "StreamingConv",
    "StreamingConvTranspose",
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
      conv_general_dilated: flax's: the function that convolves, with
        `lax.conv_general_dilated`'s signature; lax's own (the default) means
        jaxpad's convolution. Any other receives the zero pads, after
        `jaxpad.pad` has filled the other modes.
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
        conv_general_dilated: Any = jax.lax.conv_general_dilated,
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
        self.conv_general_dilated = conv_general_dilated
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
                          preferred_element_type=self.preferred_element_type,
                          conv_general_dilated=self.conv_general_dilated)


class ConvTranspose(nnx.Module):
    """`flax.nnx.ConvTranspose` plus PyTorch's padding, groups, output padding and modes.

    Same arguments, parameters and initialisation order as flax's: `kernel`
    `(*kernel_size, in_features, out_features // groups)`, or with
    `transpose_kernel=True` `(*kernel_size, out_features // groups, in_features)`
    (`jaxpad.conv_transpose`'s layout), and `bias` `(out_features,)`. The
    padding rules are `jaxpad.linen.ConvTranspose`'s: flax's 'SAME', 'VALID',
    'CIRCULAR', ints and `(lo, hi)` pairs keep flax's meaning (ints and pairs
    pad the stride-dilated input, as `lax.conv_transpose`); PyTorch's crop of
    the full output goes in `torch_padding`, with `output_padding` and any
    `padding_mode` (flax's pad `p` is the crop `kernel_dilation * (k - 1) - p`).

    Args:
      in_features: the number of input channels.
      out_features: the number of output channels.
      kernel_size: an int (1-D) or one int per spatial axis.
      strides: an int or one per spatial axis (None means 1).
      padding: 'SAME', 'VALID', 'CIRCULAR', 'SAME_LOWER' (stride 1), an int,
        ints or `(lo, hi)` pairs (flax's).
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
      torch_padding: None, or PyTorch's crop: an int, ints or `(lo, hi)` pairs
        (`padding` left at 'SAME').
      output_padding: PyTorch's, an int or one per axis (with `torch_padding`
        or 'SAME'/'VALID').
      padding_mode: a `jaxpad.conv_transpose` mode, or one per spatial axis
        ('zeros' with flax's ints and pairs, 'zeros' or 'circular' with 'CIRCULAR').
      feature_group_count: groups; must divide `in_features` and `out_features`.
      rngs: the `nnx.Rngs` the parameters are drawn from.
      kernel_metadata: metadata of the kernel `nnx.Param`.
      bias_metadata: metadata of the bias `nnx.Param`.

    Raises:
      ValueError: at construction, naming the argument: bad sizes, groups,
        padding, `output_padding` or mode, `torch_padding` with a `padding`,
        a `mask` of the wrong shape.
      TypeError: non-integer sizes.

    Example:
      >>> import jax.numpy as jnp, jaxpad.nnx
      >>> from flax import nnx
      >>> up = jaxpad.nnx.ConvTranspose(4, 8, (3, 3), strides=2, torch_padding=1,
      ...                               output_padding=1, padding_mode="reflect",
      ...                               rngs=nnx.Rngs(0))
      >>> up.kernel.shape, up(jnp.ones((2, 5, 5, 4))).shape
      ((3, 3, 4, 8), (2, 10, 10, 8))
      >>> periodic = jaxpad.nnx.ConvTranspose(4, 8, (6, 6), strides=2, padding="CIRCULAR",
      ...                                     rngs=nnx.Rngs(0))
      >>> periodic(jnp.ones((2, 15, 15, 4))).shape
      (2, 30, 30, 8)
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
        torch_padding: None | int | Sequence[int] | Sequence[tuple[int, int]] = None,
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
        self.torch_padding = torch_padding
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
            padding=self.padding, torch_padding=self.torch_padding,
            output_padding=self.output_padding, padding_mode=self.padding_mode,
            kernel_dilation=self.kernel_dilation, feature_group_count=self.feature_group_count,
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


class _Streaming(nnx.Module):
    """What the streaming layers share: the whole-sequence call, the cache and the chunk call."""

    def _streaming(self) -> StreamingConfig:
        # Rebuilt on every call (static, at trace time), so edited attributes take effect.
        kw = {} if self._transpose else dict(padding_value=self.padding_value,
                                             oversize=self.oversize)
        return streaming_config(
            transpose=self._transpose, features=self.out_features,
            kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
            padding_mode=self.padding_mode, kernel_dilation=self.kernel_dilation,
            feature_group_count=self.feature_group_count, time_axis=self.time_axis,
            transpose_kernel=getattr(self, "transpose_kernel", False),
            precision=self.precision, preferred_element_type=self.preferred_element_type,
            in_features=self.in_features, features_name="out_features", **kw)

    def init_cache(self, input_shape: Sequence[int], dtype: Any = jnp.float32) -> None:
        """Makes a fresh cache for chunks of `input_shape` (any number of frames) and `dtype`.

        Optional: the first decode call makes one from its chunk. Made here, the
        cache exists before `nnx.jit` or `nnx.scan` first see the layer.

        Args:
          input_shape: a chunk's shape, `(*batch, *spatial, in_features)`; only
            its batch, other spatial sizes and channels matter.
          dtype: the chunks' dtype.

        Raises:
          ValueError: what `jaxpad.streaming` refuses for such chunks.
        """
        x, kernel = jax.eval_shape(lambda x: _operands(self, x)[:2],
                                   jax.ShapeDtypeStruct(tuple(input_shape), dtype))
        self.cache = nnx.Cache(streaming_init(self._streaming(), x, kernel))

    def reset_cache(self) -> None:
        """Starts a new stream: the next decode call is a first chunk again (same shapes)."""
        if self.cache is not None:
            self.cache.set_value(streaming_restart(self.cache.get_value()))

    def __call__(self, inputs: jax.Array, *, decode: bool | None = None) -> jax.Array:
        """The whole sequence, or with `decode` the next chunk (through `cache`, made at the
        first decode call unless `init_cache` made it).

        Args:
          inputs: channels-last `(*batch, *spatial, in_features)`, any number of
            leading batch axes (none: unbatched).
          decode: overrides the `decode` attribute.

        Returns:
          `(*batch, *out_spatial, out_features)`.
        """
        config = self._streaming()
        inputs, kernel, bias = _operands(self, inputs)
        if not (self.decode if decode is None else decode):
            return streaming_apply(config, inputs, kernel, bias)[0]
        if self.cache is None:
            self.cache = nnx.Cache(streaming_init(config, inputs, kernel))
        y, state = streaming_apply(config, inputs, kernel, bias, self.cache.get_value())
        self.cache.set_value(state)
        return y


class StreamingConv(_Streaming):
    """A causal `Conv` along `time_axis` that runs on a whole sequence or chunk by chunk.

    Its parameters are exactly those of `jaxpad.nnx.Conv` (`kernel`
    `(*kernel_size, in_features // groups, out_features)` and `bias`, drawn
    from `rngs` in the same order), so an offline checkpoint streams unchanged
    (`nnx.update(streaming, nnx.state(offline, nnx.Param))`). With
    `decode=False` the call is `jaxpad.streaming.causal_conv`: the time axis
    padded `(kernel_dilation * (k - 1), 0)` in its `padding_mode`, the other
    axes by `padding`. With `decode=True` each call takes the next chunk and
    keeps the history in `cache`, an `nnx.Cache` (as flax's decoding caches),
    made by the first decode call or by `init_cache`; `reset_cache` starts a new
    stream. The chunks' outputs concatenate to the whole sequence's. Chunks
    hold a multiple of the time stride (the last may be shorter); see
    `jaxpad.streaming.conv`.

    Args:
      in_features: the number of input channels.
      out_features: the number of output channels.
      kernel_size: an int (a 1-D kernel, as in flax) or one int per spatial axis.
      strides: an int or one per spatial axis (None means 1).
      padding: the spec of the spatial axes other than the time axis: 'SAME',
        'VALID', any `jaxpad.resolve_padding` string, an int, or one int or
        `(lo, hi)` pair per other axis.
      padding_mode: a mode, or one per spatial axis; on the time axis 'zeros',
        'constant', 'replicate', 'reflect' or 'symmetric' (not 'circular').
      padding_value: the fill of 'constant' axes.
      oversize: as in `jaxpad.conv`, for the other axes.
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
      time_axis: the index of the streamed spatial axis.
      decode: stream chunk by chunk (a call's `decode` argument overrides it).
      rngs: the `nnx.Rngs` the parameters are drawn from.
      kernel_metadata: metadata of the kernel `nnx.Param`.
      bias_metadata: metadata of the bias `nnx.Param`.

    Raises:
      ValueError: at construction, naming the argument, for anything
        `jaxpad.streaming.conv` refuses; at a decode call, a chunk that does not
        fit the cache.
      TypeError: non-integer sizes.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.nnx
      >>> from flax import nnx
      >>> layer = jaxpad.nnx.StreamingConv(2, 4, 3, padding_mode="replicate",
      ...                                  rngs=nnx.Rngs(0))
      >>> x = jax.random.normal(jax.random.key(0), (1, 12, 2))      # (N, T, C)
      >>> full = layer(x)
      >>> ys = [layer(x[:, i:i + 3], decode=True) for i in range(0, 12, 3)]
      >>> bool(jnp.allclose(jnp.concatenate(ys, 1), full, atol=1e-6))
      True
    """

    _transpose = False

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
        time_axis: int = 0,
        decode: bool = False,
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
        self.kernel_dilation = kernel_dilation
        self.feature_group_count = feature_group_count
        self.time_axis = time_axis
        self.decode = decode
        self.kernel_size = kernel_size
        self.precision = precision
        self.preferred_element_type = preferred_element_type
        config = self._streaming()
        self.kernel_size = config.kernel_size
        _init_params(
            self, kernel_shape(config, in_features, out_features),
            use_bias=use_bias, mask=mask, dtype=dtype, param_dtype=param_dtype,
            precision=precision, kernel_init=kernel_init, bias_init=bias_init,
            promote_dtype=promote_dtype, preferred_element_type=preferred_element_type,
            rngs=rngs, kernel_metadata=kernel_metadata, bias_metadata=bias_metadata)
        self.cache = _data(None)


class StreamingConvTranspose(_Streaming):
    """A causal `ConvTranspose` along `time_axis`, on a whole sequence or chunk by chunk.

    Its parameters are exactly those of `jaxpad.nnx.ConvTranspose` (`kernel`
    `(*kernel_size, in_features, out_features // groups)`, or with
    `transpose_kernel=True` `(*kernel_size, out_features // groups,
    in_features)`, and `bias`, drawn in the same order), so an offline
    checkpoint streams unchanged. With `decode=False` the call is
    `jaxpad.streaming.causal_conv_transpose`: the time axis cropped causally,
    `(0, eff - stride)`, `T * stride` outputs (as EnCodec's causal decoder).
    With `decode=True` each chunk of `n` frames gives its `n * stride` outputs
    and the overlap is kept in `cache` (see `StreamingConv`).

    Args:
      in_features: the number of input channels.
      out_features: the number of output channels.
      kernel_size: an int (1-D) or one int per spatial axis.
      strides: an int or one per spatial axis (None means 1).
      padding: the crop of the spatial axes other than the time axis: 'SAME',
        'VALID', 'same', 'valid', an int, or one int or `(lo, hi)` pair per
        other axis.
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
      padding_mode: a `jaxpad.conv_transpose` mode, or one per spatial axis
        (not 'circular' on the time axis).
      feature_group_count: groups; must divide `in_features` and `out_features`.
      time_axis: the index of the streamed spatial axis.
      decode: stream chunk by chunk (a call's `decode` argument overrides it).
      rngs: the `nnx.Rngs` the parameters are drawn from.
      kernel_metadata: metadata of the kernel `nnx.Param`.
      bias_metadata: metadata of the bias `nnx.Param`.

    Raises:
      ValueError: at construction, naming the argument, for anything
        `jaxpad.streaming.conv_transpose` refuses; at a decode call, a chunk
        that does not fit the cache.
      TypeError: non-integer sizes.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.nnx
      >>> from flax import nnx
      >>> up = jaxpad.nnx.StreamingConvTranspose(4, 2, 5, strides=2, rngs=nnx.Rngs(0))
      >>> x = jax.random.normal(jax.random.key(0), (1, 6, 4))       # (N, T, C)
      >>> up.init_cache(x.shape)
      >>> y = jnp.concatenate([up(x[:, :1], decode=True), up(x[:, 1:], decode=True)], 1)
      >>> y.shape, bool(jnp.allclose(y, up(x), atol=1e-6))
      ((1, 12, 2), True)
    """

    _transpose = True

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
        padding_mode: str | Sequence[str] = "zeros",
        feature_group_count: int = 1,
        time_axis: int = 0,
        decode: bool = False,
        rngs: nnx.Rngs,
        kernel_metadata: Mapping[str, Any] = MappingProxyType({}),
        bias_metadata: Mapping[str, Any] = MappingProxyType({}),
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.strides = strides
        self.padding = padding
        self.padding_mode = padding_mode
        self.kernel_dilation = kernel_dilation
        self.feature_group_count = feature_group_count
        self.transpose_kernel = transpose_kernel
        self.time_axis = time_axis
        self.decode = decode
        self.kernel_size = kernel_size
        self.precision = precision
        self.preferred_element_type = preferred_element_type
        config = self._streaming()
        self.kernel_size = config.kernel_size
        _init_params(
            self, kernel_shape_transpose(config, in_features, out_features),
            use_bias=use_bias, mask=mask, dtype=dtype, param_dtype=param_dtype,
            precision=precision, kernel_init=kernel_init, bias_init=bias_init,
            promote_dtype=promote_dtype, preferred_element_type=preferred_element_type,
            rngs=rngs, kernel_metadata=kernel_metadata, bias_metadata=bias_metadata)
        self.cache = _data(None)

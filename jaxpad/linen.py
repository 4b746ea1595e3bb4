"""Flax linen layers over jaxpad: `Conv`, `ConvTranspose` (drop-ins for flax's) and `Pad`.

Importing this module imports flax; `import jaxpad` alone does not.

The layers check their hyperparameters (at the first call, as linen modules
do), hold the parameters and call `jaxpad.conv` / `jaxpad.pad`; the padding
math lives in the functional core only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from flax.linen.linear import default_kernel_init

from ._layers import (
    check_mask,
    conv_apply,
    conv_config,
    conv_transpose_apply,
    conv_transpose_config,
    input_features,
    kernel_shape,
    kernel_shape_transpose,
    pad_apply,
    pad_config,
    streaming_apply,
    streaming_config,
    streaming_init,
    torch_aliases,
)

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


class Conv(nn.Module):
    """`flax.linen.Conv` with jaxpad's padding modes: same arguments, same parameters.

    Swapping `flax.linen.Conv` for this class changes nothing (parameter names
    'kernel' `(*kernel_size, in // groups, features)` and 'bias' `(features,)`,
    initialisers, dtype promotion, unbatched inputs and extra batch axes, and
    every flax padding string give flax's numbers), and adds `padding_mode`.

    Padding: flax's strings keep flax's meaning. 'SAME', 'SAME_LOWER' and 'VALID'
    are lax's (TF) rules, equal to jaxpad's lowercase specs. 'CIRCULAR' and
    'REFLECT' are flax's: they pad `((eff - 1) // 2, eff // 2)`,
    `eff = kernel_dilation * (k - 1) + 1`, **whatever the stride**, and repeat
    the wrap/reflection where the pad is wider than the axis, as `jnp.pad` does.
    'CAUSAL' is flax's 1-D causal padding. jaxpad's lowercase specs ('same',
    'same_lower', 'valid', 'causal', 'full'), an int, or one int or `(lo, hi)`
    pair per axis combine with any `padding_mode` ('zeros', 'constant',
    'reflect', 'replicate', 'circular', 'symmetric', one per axis allowed) with
    jaxpad's stride-aware TF geometry: output `ceil(size / stride)`, odd pixel
    at the end. On `1 2 3 4 5 6` with a ones kernel of 3 and stride 2:

    - `padding='REFLECT'` pads `(1, 1)`: `2 | 1 2 3 4 5 6 | 5`, windows at 0, 2, 4
      sum to `5 9 15`;
    - `padding='same', padding_mode='reflect'` pads `(0, 1)`: `1 2 3 4 5 6 | 5`,
      sums `6 12 16`, the windows TF's 'same' (and jaxpad's zeros) use.

    `input_dilation` (zeros between input elements, as in flax) works with
    zero padding only; padding specs then apply to the dilated input
    (flax accepts only explicit pairs there).

    Attributes:
      features: the number of output channels.
      kernel_size: an int (a 1-D kernel, as in flax) or one int per spatial axis.
      strides: an int or one per spatial axis (None means 1).
      padding: a flax string, a jaxpad spec, an int, or one int or `(lo, hi)`
        pair per spatial axis (see above).
      input_dilation: an int or one per spatial axis (zero padding only).
      kernel_dilation: an int or one per spatial axis.
      feature_group_count: groups; must divide the input channels and `features`.
      use_bias: whether to add a bias.
      mask: optional array of the kernel's shape, multiplied into the kernel.
      dtype: the computation dtype (default: promoted from inputs and params).
      param_dtype: the parameters' dtype.
      precision: passed to `lax.conv_general_dilated`.
      kernel_init: the kernel initialiser (flax's default, LeCun normal).
      bias_init: the bias initialiser (zeros).
      promote_dtype: flax's dtype promotion function.
      conv_general_dilated: flax's: None for jaxpad's convolution, or a function
        with `lax.conv_general_dilated`'s signature that convolves instead (it
        receives the zero pads; `jaxpad.pad` fills the other modes first).
      conv_general_dilated_cls: flax's: a class whose instance is that function.
      padding_mode: a `jaxpad.pad` mode, or one per spatial axis.
      padding_value: the fill of 'constant' axes.
      oversize: 'error' refuses pads wider than PyTorch allows; 'repeat'
        reflects or wraps as often as needed ('CIRCULAR'/'REFLECT' always do).
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Raises:
      ValueError: at the first call, naming the argument: bad `kernel_size`,
        `feature_group_count` not dividing the channels, unknown padding or
        `padding_mode`, a `mask` of the wrong shape, inputs of the wrong rank.
      TypeError: non-integer sizes, at the first call.

    Example:
      >>> import jax.numpy as jnp, jaxpad.linen
      >>> x = jnp.arange(1.0, 7.0).reshape(1, 6, 1)
      >>> ones = {"params": {"kernel": jnp.ones((3, 1, 1)), "bias": jnp.zeros(1)}}
      >>> flax_geometry = jaxpad.linen.Conv(1, 3, strides=2, padding="REFLECT")
      >>> flax_geometry.apply(ones, x)[0, :, 0].tolist()
      [5.0, 9.0, 15.0]
      >>> tf_geometry = jaxpad.linen.Conv(1, 3, strides=2, padding="same",
      ...                                 padding_mode="reflect")
      >>> tf_geometry.apply(ones, x)[0, :, 0].tolist()
      [6.0, 12.0, 16.0]
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = 1
    padding: Any = "SAME"
    input_dilation: None | int | Sequence[int] = 1
    kernel_dilation: None | int | Sequence[int] = 1
    feature_group_count: int = 1
    use_bias: bool = True
    mask: jax.Array | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Any = default_kernel_init
    bias_init: Any = nn.initializers.zeros_init()
    promote_dtype: Any = promote_dtype
    conv_general_dilated: Any = None
    conv_general_dilated_cls: Any = None
    padding_mode: str | Sequence[str] = "zeros"
    padding_value: float = 0.0
    oversize: str = "error"
    preferred_element_type: Any = None

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Convolves channels-last `inputs`, `(*batch, *spatial, in_features)`.

        Args:
          inputs: any number of leading batch axes (none: unbatched).

        Returns:
          `(*batch, *out_spatial, features)`.
        """
        config = conv_config(
            features=self.features, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, padding_mode=self.padding_mode,
            padding_value=self.padding_value, oversize=self.oversize,
            input_dilation=self.input_dilation, kernel_dilation=self.kernel_dilation,
            feature_group_count=self.feature_group_count)
        shape = kernel_shape(config, input_features(inputs, len(config.kernel_size)),
                             self.features)
        check_mask(self.mask, shape)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        if self.mask is not None:
            kernel *= self.mask
        bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
                if self.use_bias else None)
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        user_conv = (self.conv_general_dilated_cls() if self.conv_general_dilated_cls is not None
                     else self.conv_general_dilated)
        return conv_apply(config, inputs, kernel, bias, precision=self.precision,
                          preferred_element_type=self.preferred_element_type,
                          conv_general_dilated=user_conv)


class ConvTranspose(nn.Module):
    """`flax.linen.ConvTranspose` plus PyTorch's padding, groups, output padding and modes.

    Same parameter names, shapes and initialisers as flax's: 'kernel'
    `(*kernel_size, in, features // groups)`, or with `transpose_kernel=True`
    `(*kernel_size, features // groups, in)` (the layout of
    `jaxpad.conv_transpose`, which is PyTorch's `ConvTransposeNd.weight` moved
    to channels-last), and 'bias' `(features,)`.

    Padding: flax's spellings keep flax's meaning, so swapping flax's class for
    this one changes no number. With `eff = kernel_dilation * (k - 1) + 1` and
    an input axis of size `i`:

    - 'SAME', 'VALID': flax's and Keras's, output `i * stride` and
      `i * stride + max(eff - stride, 0)`; with any `padding_mode` and
      `output_padding`. Lowercase 'same'/'valid' are jaxpad's names for these
      rules (flax, at stride 1 only, reads them as the forward convolution's).
    - 'CIRCULAR': flax's periodic transposed convolution, output `i * stride`,
      the 'VALID' output wrapped onto that period (with flax's centring, which
      `transpose_kernel` moves by one for odd overhangs); `padding_mode`
      'zeros' or 'circular'.
    - an int, ints or `(lo, hi)` pairs: flax's, the padding of
      `lax.conv_transpose` (of the stride-dilated input, negative crops),
      output `(i - 1) * stride + lo + hi - eff + 2`; zeros only. 'SAME_LOWER'
      (any case) is flax's at stride 1 only: the pads `(eff - 1 - h, h)`,
      `h = (eff - 1) // 2`, which lax takes from the forward convolution.
    - `torch_padding`, an int, ints or `(lo, hi)` pairs: PyTorch's
      `ConvTransposeNd(padding=...)`, the crop of the full output
      `(i - 1) * stride + eff`, with `output_padding` and any `padding_mode`
      (`padding` left at 'SAME'). flax's pad `p` is the crop `eff - 1 - p`.

    Attributes:
      features: the number of output channels.
      kernel_size: an int (1-D) or one int per spatial axis.
      strides: an int or one per spatial axis (None means 1).
      padding: 'SAME', 'VALID', 'CIRCULAR', 'SAME_LOWER', an int, ints or
        `(lo, hi)` pairs (flax's, see above).
      kernel_dilation: an int or one per spatial axis.
      use_bias: whether to add a bias.
      mask: optional array of the kernel's shape, multiplied into the kernel.
      dtype: the computation dtype (default: promoted from inputs and params).
      param_dtype: the parameters' dtype.
      precision: passed to `lax.conv_general_dilated`.
      kernel_init: the kernel initialiser (flax's default, LeCun normal).
      bias_init: the bias initialiser (zeros).
      transpose_kernel: flax's kernel layout switch, see above.
      promote_dtype: flax's dtype promotion function.
      preferred_element_type: passed to `lax.conv_general_dilated`.
      output_padding: PyTorch's, an int or one per axis (with `torch_padding`
        or 'SAME'/'VALID').
      padding_mode: a `jaxpad.conv_transpose` mode, or one per spatial axis.
      feature_group_count: groups; must divide the input channels and `features`.
      torch_padding: None, or PyTorch's crop: an int, ints or `(lo, hi)` pairs.

    Raises:
      ValueError: at the first call, naming the argument: bad sizes, groups,
        padding, `output_padding` or mode, `torch_padding` with a `padding`,
        a `mask` of the wrong shape.
      TypeError: non-integer sizes, at the first call.

    Example:
      >>> import jax.numpy as jnp, jaxpad.linen
      >>> x = jnp.array([1.0, 2.0]).reshape(1, 2, 1)
      >>> ones = {"params": {"kernel": jnp.ones((3, 1, 1)), "bias": jnp.zeros(1)}}
      >>> torch_style = jaxpad.linen.ConvTranspose(1, 3, strides=2, torch_padding=1,
      ...                                          output_padding=1)
      >>> torch_style.apply(ones, x)[0, :, 0].tolist()
      [1.0, 3.0, 2.0, 2.0]
      >>> flax_style = jaxpad.linen.ConvTranspose(1, 3, strides=2, padding=((1, 2),))
      >>> flax_style.apply(ones, x)[0, :, 0].tolist()
      [1.0, 3.0, 2.0, 2.0]
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = None
    padding: Any = "SAME"
    kernel_dilation: None | int | Sequence[int] = None
    use_bias: bool = True
    mask: jax.Array | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Any = default_kernel_init
    bias_init: Any = nn.initializers.zeros_init()
    transpose_kernel: bool = False
    promote_dtype: Any = promote_dtype
    preferred_element_type: Any = None
    output_padding: int | Sequence[int] = 0
    padding_mode: str | Sequence[str] = "zeros"
    feature_group_count: int = 1
    torch_padding: None | int | Sequence[int] | Sequence[tuple[int, int]] = None

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Transposed-convolves channels-last `inputs`, `(*batch, *spatial, in_features)`.

        Args:
          inputs: any number of leading batch axes (none: unbatched).

        Returns:
          `(*batch, *out_spatial, features)`.
        """
        config = conv_transpose_config(
            features=self.features, kernel_size=self.kernel_size, strides=self.strides,
            padding=self.padding, torch_padding=self.torch_padding,
            output_padding=self.output_padding, padding_mode=self.padding_mode,
            kernel_dilation=self.kernel_dilation, feature_group_count=self.feature_group_count,
            transpose_kernel=self.transpose_kernel)
        shape = kernel_shape_transpose(
            config, input_features(inputs, len(config.kernel_size)), self.features)
        check_mask(self.mask, shape)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        if self.mask is not None:
            kernel *= self.mask
        bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
                if self.use_bias else None)
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        return conv_transpose_apply(config, inputs, kernel, bias, precision=self.precision,
                                    preferred_element_type=self.preferred_element_type)


class Pad(nn.Module):
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

    Attributes:
      padding: one int or `(lo, hi)` pair per spatial axis.
      mode: a `jaxpad.pad` mode, or one per spatial axis.
      value: the fill of 'constant' axes.
      oversize: 'error' (PyTorch's limits) or 'repeat' (numpy's repeated reflection).

    Raises:
      TypeError, ValueError: at the first call, naming the argument.

    Example:
      >>> import jax.numpy as jnp, jaxpad.linen
      >>> x = jnp.arange(1.0, 5.0).reshape(1, 4, 1)
      >>> jaxpad.linen.Pad((2,), "reflect").apply({}, x)[0, :, 0].tolist()
      [3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]
    """

    padding: Sequence[int | tuple[int, int]]
    mode: str | Sequence[str] = "zeros"
    value: float = 0.0
    oversize: str = "error"

    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Pads `inputs`, `(*batch, *spatial, C)`.

        Args:
          inputs: any number of leading batch axes (none: unbatched).

        Returns:
          The padded array.
        """
        return pad_apply(pad_config(self.padding, self.mode, self.value, self.oversize), inputs)


ZeroPad1d, ZeroPad2d, ZeroPad3d = torch_aliases(Pad, "ZeroPad", "linen")
ConstantPad1d, ConstantPad2d, ConstantPad3d = torch_aliases(Pad, "ConstantPad", "linen")
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = torch_aliases(Pad, "ReflectionPad", "linen")
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = torch_aliases(
    Pad, "ReplicationPad", "linen")
CircularPad1d, CircularPad2d, CircularPad3d = torch_aliases(Pad, "CircularPad", "linen")


def _streaming_params(module: nn.Module, shape: tuple[int, ...], inputs: jax.Array):
    """The kernel and bias parameters of a streaming layer, as its offline layer creates them,
    and the operands promoted to the module's dtype."""
    check_mask(module.mask, shape)
    kernel = module.param("kernel", module.kernel_init, shape, module.param_dtype)
    if module.mask is not None:
        kernel *= module.mask
    bias = (module.param("bias", module.bias_init, (module.features,), module.param_dtype)
            if module.use_bias else None)
    return module.promote_dtype(inputs, kernel, bias, dtype=module.dtype)


def _streaming_call(module: nn.Module, config, inputs, kernel, bias) -> jax.Array:
    """The whole sequence, or with `decode` one chunk through the 'cache' collection.

    As flax's decoding caches: the call that creates the cache (`init`) leaves it
    fresh and returns the whole-sequence output of its input.
    """
    if not module.decode:
        return streaming_apply(config, inputs, kernel, bias)[0]
    ready = module.has_variable("cache", "state")
    cache = module.variable("cache", "state", streaming_init, config, inputs, kernel)
    if not ready:
        return streaming_apply(config, inputs, kernel, bias)[0]
    y, cache.value = streaming_apply(config, inputs, kernel, bias, cache.value)
    return y


class StreamingConv(nn.Module):
    """A causal `Conv` along `time_axis` that runs on a whole sequence or chunk by chunk.

    Its parameters are exactly those of `jaxpad.linen.Conv` ('kernel'
    `(*kernel_size, in // groups, features)` and 'bias' `(features,)`, the same
    initialisers), so an offline checkpoint streams unchanged. With
    `decode=False` the call is `jaxpad.streaming.causal_conv`: `jaxpad.conv`
    with the time axis padded `(kernel_dilation * (k - 1), 0)` in its
    `padding_mode` and the other axes by `padding`; an offline `Conv` with those
    pads gives the same numbers. With `decode=True` each call takes the next
    chunk and carries the history in the `'cache'` collection, as flax's
    decoding caches do: `init` creates it fresh, `apply(..., mutable=['cache'])`
    updates it, and the chunks' outputs concatenate to the whole sequence's.
    Chunks hold a multiple of the time stride (the last may be shorter); see
    `jaxpad.streaming.conv`.

    Attributes:
      features: the number of output channels.
      kernel_size: an int (a 1-D kernel, as in flax) or one int per spatial axis.
      strides: an int or one per spatial axis (None means 1).
      padding: the spec of the spatial axes other than the time axis: 'SAME',
        'VALID', any `jaxpad.resolve_padding` string, an int, or one int or
        `(lo, hi)` pair per other axis.
      kernel_dilation: an int or one per spatial axis.
      feature_group_count: groups; must divide the input channels and `features`.
      use_bias: whether to add a bias.
      mask: optional array of the kernel's shape, multiplied into the kernel.
      dtype: the computation dtype (default: promoted from inputs and params).
      param_dtype: the parameters' dtype.
      precision: passed to `lax.conv_general_dilated`.
      kernel_init: the kernel initialiser (flax's default, LeCun normal).
      bias_init: the bias initialiser (zeros).
      promote_dtype: flax's dtype promotion function.
      padding_mode: a mode, or one per spatial axis; on the time axis 'zeros',
        'constant', 'replicate', 'reflect' or 'symmetric' (not 'circular').
      padding_value: the fill of 'constant' axes.
      oversize: as in `jaxpad.conv`, for the other axes.
      preferred_element_type: passed to `lax.conv_general_dilated`.
      time_axis: the index of the streamed spatial axis.
      decode: stream chunk by chunk through the 'cache' collection.

    Raises:
      ValueError: at the first call, naming the argument, for anything
        `jaxpad.streaming.conv` refuses (in decode mode also a chunk that does
        not fit the cache).
      TypeError: non-integer sizes, at the first call.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.linen
      >>> x = jax.random.normal(jax.random.key(0), (1, 12, 2))      # (N, T, C)
      >>> offline = jaxpad.linen.StreamingConv(4, 3, kernel_dilation=2)
      >>> params = offline.init(jax.random.key(1), x)["params"]
      >>> stream = offline.clone(decode=True)
      >>> cache = stream.init(jax.random.key(1), x[:, :4])["cache"]
      >>> ys = []
      >>> for chunk in (x[:, :4], x[:, 4:8], x[:, 8:]):
      ...     y, mutated = stream.apply({"params": params, "cache": cache}, chunk,
      ...                               mutable=["cache"])
      ...     ys.append(y)
      ...     cache = mutated["cache"]
      >>> bool(jnp.allclose(jnp.concatenate(ys, 1), offline.apply({"params": params}, x),
      ...                   atol=1e-6))
      True
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = 1
    padding: Any = "SAME"
    kernel_dilation: None | int | Sequence[int] = 1
    feature_group_count: int = 1
    use_bias: bool = True
    mask: jax.Array | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Any = default_kernel_init
    bias_init: Any = nn.initializers.zeros_init()
    promote_dtype: Any = promote_dtype
    padding_mode: str | Sequence[str] = "zeros"
    padding_value: float = 0.0
    oversize: str = "error"
    preferred_element_type: Any = None
    time_axis: int = 0
    decode: bool = False

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Convolves channels-last `inputs`, `(*batch, *spatial, in_features)`, causally in time.

        Args:
          inputs: the whole sequence, or with `decode` the next chunk; any number
            of leading batch axes (none: unbatched).

        Returns:
          `(*batch, *out_spatial, features)`.
        """
        config = streaming_config(
            transpose=False, features=self.features, kernel_size=self.kernel_size,
            strides=self.strides, padding=self.padding, padding_mode=self.padding_mode,
            kernel_dilation=self.kernel_dilation, feature_group_count=self.feature_group_count,
            time_axis=self.time_axis, precision=self.precision,
            preferred_element_type=self.preferred_element_type,
            padding_value=self.padding_value, oversize=self.oversize)
        shape = kernel_shape(config, input_features(inputs, len(config.kernel_size)),
                             self.features)
        inputs, kernel, bias = _streaming_params(self, shape, inputs)
        return _streaming_call(self, config, inputs, kernel, bias)


class StreamingConvTranspose(nn.Module):
    """A causal `ConvTranspose` along `time_axis`, on a whole sequence or chunk by chunk.

    Its parameters are exactly those of `jaxpad.linen.ConvTranspose` ('kernel'
    `(*kernel_size, in, features // groups)`, or with `transpose_kernel=True`
    `(*kernel_size, features // groups, in)`, and 'bias' `(features,)`), so an
    offline checkpoint streams unchanged. With `decode=False` the call is
    `jaxpad.streaming.causal_conv_transpose`: the time axis cropped causally,
    `(0, eff - stride)`, `T * stride` outputs (as EnCodec's causal decoder), the
    other axes cropped by `padding`. With `decode=True` each chunk of `n` frames
    gives its `n * stride` outputs and carries the overlap in the `'cache'`
    collection (see `StreamingConv`).

    Attributes:
      features: the number of output channels.
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
      kernel_init: the kernel initialiser (flax's default, LeCun normal).
      bias_init: the bias initialiser (zeros).
      transpose_kernel: flax's kernel layout switch, see above.
      promote_dtype: flax's dtype promotion function.
      preferred_element_type: passed to `lax.conv_general_dilated`.
      padding_mode: a `jaxpad.conv_transpose` mode, or one per spatial axis
        (not 'circular' on the time axis).
      feature_group_count: groups; must divide the input channels and `features`.
      time_axis: the index of the streamed spatial axis.
      decode: stream chunk by chunk through the 'cache' collection.

    Raises:
      ValueError: at the first call, naming the argument, for anything
        `jaxpad.streaming.conv_transpose` refuses.
      TypeError: non-integer sizes, at the first call.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.linen
      >>> x = jax.random.normal(jax.random.key(0), (1, 6, 4))       # (N, T, C)
      >>> up = jaxpad.linen.StreamingConvTranspose(2, 4, strides=2, decode=True)
      >>> variables = up.init(jax.random.key(1), x[:, :2])
      >>> y1, mutated = up.apply(variables, x[:, :2], mutable=["cache"])
      >>> y2, _ = up.apply({**variables, **mutated}, x[:, 2:], mutable=["cache"])
      >>> full = up.clone(decode=False).apply(variables, x)
      >>> full.shape, bool(jnp.allclose(jnp.concatenate([y1, y2], 1), full, atol=1e-6))
      ((1, 12, 2), True)
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = None
    padding: Any = "SAME"
    kernel_dilation: None | int | Sequence[int] = None
    use_bias: bool = True
    mask: jax.Array | None = None
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Any = default_kernel_init
    bias_init: Any = nn.initializers.zeros_init()
    transpose_kernel: bool = False
    promote_dtype: Any = promote_dtype
    preferred_element_type: Any = None
    padding_mode: str | Sequence[str] = "zeros"
    feature_group_count: int = 1
    time_axis: int = 0
    decode: bool = False

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Transposed-convolves channels-last `inputs`, `(*batch, *spatial, in_features)`.

        Args:
          inputs: the whole sequence, or with `decode` the next chunk; any number
            of leading batch axes (none: unbatched).

        Returns:
          `(*batch, *out_spatial, features)`, `stride` times as many frames.
        """
        config = streaming_config(
            transpose=True, features=self.features, kernel_size=self.kernel_size,
            strides=self.strides, padding=self.padding, padding_mode=self.padding_mode,
            kernel_dilation=self.kernel_dilation, feature_group_count=self.feature_group_count,
            time_axis=self.time_axis, transpose_kernel=self.transpose_kernel,
            precision=self.precision, preferred_element_type=self.preferred_element_type)
        shape = kernel_shape_transpose(
            config, input_features(inputs, len(config.kernel_size)), self.features)
        inputs, kernel, bias = _streaming_params(self, shape, inputs)
        return _streaming_call(self, config, inputs, kernel, bias)

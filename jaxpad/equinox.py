"""Equinox layers over jaxpad: `Conv`, `ConvTranspose` (drop-ins for equinox's) and `Pad`.

Importing this module imports equinox; `import jaxpad` alone does not.

`Conv` and `ConvTranspose` subclass `equinox.nn.Conv` and `equinox.nn.ConvTranspose`:
the same constructor arguments, fields and parameters (drawn by equinox's own
initialisation, so the same key gives the same weights and checkpoints load
either way), the same unbatched channels-first call, computed by `jaxpad.conv`
and `jaxpad.conv_transpose`. The hyperparameters are checked at construction
(`jaxpad._layers.equinox_config`); the layers hold no padding math of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax

from ._conv import conv
from ._conv_transpose import conv_transpose
from ._layers import (
    PadConfig,
    equinox_config,
    equinox_transpose_kernel,
    pad_apply,
    pad_config,
    torch_aliases,
    unbatched_input,
)
from ._padding import equinox_transpose_crops

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "Conv",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
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

PaddingArg = str | int | Sequence[int] | Sequence[tuple[int, int]]


def _init_fields(layer, base, c, num_spatial_dims, in_channels, out_channels, *, use_bias,
                 dtype, precision, key) -> None:
    """Sets the fields both conv layers share: equinox's `base.__init__` draws the weight
    and bias (its other fields, from placeholders, are then set from the checked `c`)."""
    base.__init__(layer, num_spatial_dims, in_channels, out_channels, c.kernel_size,
                  groups=c.groups, use_bias=use_bias, dtype=dtype, key=key)
    layer.stride, layer.padding, layer.dilation = c.stride, c.padding, c.dilation
    layer.padding_mode, layer.precision = c.padding_mode, precision


class Conv(eqx.nn.Conv):
    """`equinox.nn.Conv` with jaxpad's padding: same arguments, fields and weights.

    Swapping `equinox.nn.Conv` for this class changes nothing: the `weight`
    `(out_channels, in_channels // groups, *kernel_size)` and `bias`
    `(out_channels, 1, ..., 1)` leaves, drawn from `key` by equinox itself, the
    static fields (`padding` and `padding_mode` stored uppercase, as equinox
    does), `isinstance(layer, equinox.nn.Conv)`, the unbatched
    `(in_channels, *spatial)` input and the numbers of every configuration
    equinox accepts ('SAME', 'SAME_LOWER' and 'VALID' are lax's stride-aware
    rules, modes beyond the input repeat as `jnp.pad` does). On top of that:

    - `padding_mode` takes every `jaxpad.pad` mode in any case ('symmetric'
      and 'constant' too), or one per spatial axis, with any padding;
    - `padding` also takes jaxpad's 'causal' and 'full';
    - `padding_value` fills 'constant' axes; `precision` goes to XLA.

    Args:
      num_spatial_dims: the number of spatial axes.
      in_channels: the input channels.
      out_channels: the output channels.
      kernel_size: an int or one per spatial axis.
      stride: an int or one per spatial axis.
      padding: 'SAME', 'SAME_LOWER', 'VALID', 'CAUSAL', 'FULL' (any case), an
        int, one int per axis or one `(lo, hi)` pair per axis (>= 0).
      dilation: an int or one per spatial axis.
      groups: must divide `in_channels` and `out_channels`.
      use_bias: whether to add a bias.
      padding_mode: 'ZEROS', 'REFLECT', 'REPLICATE', 'CIRCULAR', 'SYMMETRIC',
        'CONSTANT' (any case; 'edge' and 'wrap' are aliases), or one per axis.
      dtype: the parameters' dtype (equinox's default floating dtype if None).
      padding_value: the fill of 'constant' axes.
      precision: passed to `lax.conv_general_dilated`.
      key: the `jax.random` key the parameters are drawn from.

    Raises:
      ValueError: at construction, naming the argument: non-positive sizes,
        `groups` not dividing the channels, an unknown `padding` or
        `padding_mode`, negative widths; at the call, an input that is not
        `(in_channels, *spatial)` or an empty output.
      TypeError: non-integer sizes or a non-numeric `padding_value`.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.equinox
      >>> conv = jaxpad.equinox.Conv(2, 3, 8, 3, stride=2, padding="SAME",
      ...                            padding_mode="REFLECT", key=jax.random.key(0))
      >>> conv.weight.shape, conv(jnp.ones((3, 7, 7))).shape
      ((8, 3, 3, 3), (8, 4, 4))
    """

    padding_value: float = eqx.field(static=True)
    precision: Any = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: PaddingArg = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str | Sequence[str] = "ZEROS",
        dtype: Any = None,
        *,
        padding_value: float = 0.0,
        precision: Any = None,
        key: jax.Array,
    ):
        c = equinox_config(num_spatial_dims, in_channels, out_channels, kernel_size, stride,
                           padding, dilation, groups, padding_mode,
                           padding_value=padding_value)
        _init_fields(self, eqx.nn.Conv, c, num_spatial_dims, in_channels, out_channels,
                     use_bias=use_bias, dtype=dtype, precision=precision, key=key)
        self.padding_value = c.padding_value

    def __call__(self, x: jax.Array, *, key: Any = None) -> jax.Array:
        """Convolves an unbatched input.

        Args:
          x: `(in_channels, *spatial)`.
          key: ignored, as in equinox.

        Returns:
          `(out_channels, *out_spatial)`.
        """
        del key
        y = conv(unbatched_input(x, self.num_spatial_dims), self.weight, stride=self.stride,
                 padding=self.padding, padding_mode=self.padding_mode,
                 padding_value=self.padding_value, oversize="repeat", dilation=self.dilation,
                 groups=self.groups, channels_last=False, precision=self.precision)
        return y + self.bias if self.use_bias else y


class _ConvNd(Conv):
    """`Conv` with `num_spatial_dims` set by the subclass: equinox's ConvNd arguments."""

    _num_spatial_dims = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: PaddingArg = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str | Sequence[str] = "ZEROS",
        dtype: Any = None,
        *,
        padding_value: float = 0.0,
        precision: Any = None,
        key: jax.Array,
    ):
        super().__init__(self._num_spatial_dims, in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, use_bias, padding_mode, dtype,
                         padding_value=padding_value, precision=precision, key=key)


class Conv1d(_ConvNd):
    """`Conv` with `num_spatial_dims=1`, as `equinox.nn.Conv1d`.

    Args:
      in_channels: as in `Conv`.
      out_channels: as in `Conv`.
      kernel_size: as in `Conv`.
      stride: as in `Conv`.
      padding: as in `Conv`.
      dilation: as in `Conv`.
      groups: as in `Conv`.
      use_bias: as in `Conv`.
      padding_mode: as in `Conv`.
      dtype: as in `Conv`.
      padding_value: as in `Conv`.
      precision: as in `Conv`.
      key: as in `Conv`.

    Raises:
      ValueError, TypeError: as `Conv`.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.equinox
      >>> conv = jaxpad.equinox.Conv1d(2, 4, 5, padding="same", padding_mode="circular",
      ...                              key=jax.random.key(0))
      >>> conv(jnp.ones((2, 16))).shape
      (4, 16)
    """

    _num_spatial_dims = 1


class Conv2d(_ConvNd):
    """`Conv` with `num_spatial_dims=2`, as `equinox.nn.Conv2d`.

    Args:
      in_channels: as in `Conv`.
      out_channels: as in `Conv`.
      kernel_size: as in `Conv`.
      stride: as in `Conv`.
      padding: as in `Conv`.
      dilation: as in `Conv`.
      groups: as in `Conv`.
      use_bias: as in `Conv`.
      padding_mode: as in `Conv`.
      dtype: as in `Conv`.
      padding_value: as in `Conv`.
      precision: as in `Conv`.
      key: as in `Conv`.

    Raises:
      ValueError, TypeError: as `Conv`.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.equinox
      >>> conv = jaxpad.equinox.Conv2d(3, 4, 3, padding=1,
      ...                              padding_mode=["replicate", "circular"],
      ...                              key=jax.random.key(0))
      >>> conv(jnp.ones((3, 6, 5))).shape
      (4, 6, 5)
    """

    _num_spatial_dims = 2


class Conv3d(_ConvNd):
    """`Conv` with `num_spatial_dims=3`, as `equinox.nn.Conv3d`.

    Args:
      in_channels: as in `Conv`.
      out_channels: as in `Conv`.
      kernel_size: as in `Conv`.
      stride: as in `Conv`.
      padding: as in `Conv`.
      dilation: as in `Conv`.
      groups: as in `Conv`.
      use_bias: as in `Conv`.
      padding_mode: as in `Conv`.
      dtype: as in `Conv`.
      padding_value: as in `Conv`.
      precision: as in `Conv`.
      key: as in `Conv`.

    Raises:
      ValueError, TypeError: as `Conv`.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.equinox
      >>> conv = jaxpad.equinox.Conv3d(1, 2, 3, stride=2, padding="same",
      ...                              padding_mode="symmetric", key=jax.random.key(0))
      >>> conv(jnp.ones((1, 5, 6, 7))).shape
      (2, 3, 3, 4)
    """

    _num_spatial_dims = 3


class ConvTranspose(eqx.nn.ConvTranspose):
    """`equinox.nn.ConvTranspose` in every padding mode: same arguments, fields and weights.

    Swapping `equinox.nn.ConvTranspose` for this class changes nothing (the
    `weight` `(out_channels, in_channels // groups, *kernel_size)`, the kernel
    of a correlation over the stride-dilated input, and `bias`
    `(out_channels, 1, ..., 1)`, drawn from `key` by equinox itself; the static
    fields; the unbatched input; the numbers of every configuration equinox
    accepts). The padding keeps equinox's meaning: pairs crop as PyTorch's
    `ConvTransposeNd(padding=...)` with `output_padding` appended, 'VALID'
    crops nothing, 'SAME'/'SAME_LOWER' give `i * stride - output_padding`
    elements. On top of that, `padding_mode` takes every mode of
    `jaxpad.conv_transpose` with any padding and `output_padding` (equinox
    refuses 'REFLECT' and 'REPLICATE', and takes 'CIRCULAR' only with 'SAME'):

    - 'CIRCULAR': the adjoint of the circular `Conv` with the same kernel,
      stride, dilation and padding (periodic upsampling);
    - 'REFLECT', 'REPLICATE', 'SYMMETRIC': the transposed convolution of the
      input extended without end by that mode, so the border outputs see the
      taps a continued input would give them;

    and `groups` must divide both channel counts; `output_padding` may reach
    the dilation, as in PyTorch.

    Args:
      num_spatial_dims: the number of spatial axes.
      in_channels: the input channels.
      out_channels: the output channels.
      kernel_size: an int or one per spatial axis.
      stride: an int or one per spatial axis.
      padding: 'SAME', 'SAME_LOWER', 'VALID' (any case), an int, one int per
        axis or one `(lo, hi)` pair per axis (>= 0).
      output_padding: an int or one per axis, below the stride or the dilation.
      dilation: an int or one per spatial axis.
      groups: must divide `in_channels` and `out_channels`.
      use_bias: whether to add a bias.
      padding_mode: 'ZEROS', 'REFLECT', 'REPLICATE', 'SYMMETRIC', 'CIRCULAR'
        (any case; 'edge' and 'wrap' are aliases), or one per spatial axis.
      dtype: the parameters' dtype (equinox's default floating dtype if None).
      precision: passed to `lax.conv_general_dilated`.
      key: the `jax.random` key the parameters are drawn from.

    Raises:
      ValueError: at construction, naming the argument: non-positive sizes,
        `groups` not dividing the channels, an unknown `padding` or
        `padding_mode`, an `output_padding` too large; at the call, an input
        that is not `(in_channels, *spatial)` or an empty output.
      TypeError: non-integer sizes.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.equinox
      >>> up = jaxpad.equinox.ConvTranspose(2, 4, 3, 3, stride=2, padding=1, output_padding=1,
      ...                                   padding_mode="REFLECT", key=jax.random.key(0))
      >>> up.weight.shape, up(jnp.ones((4, 5, 5))).shape
      ((3, 4, 3, 3), (3, 10, 10))
    """

    precision: Any = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: PaddingArg = 0,
        output_padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str | Sequence[str] = "ZEROS",
        dtype: Any = None,
        *,
        precision: Any = None,
        key: jax.Array,
    ):
        c = equinox_config(num_spatial_dims, in_channels, out_channels, kernel_size, stride,
                           padding, dilation, groups, padding_mode,
                           output_padding=output_padding)
        _init_fields(self, eqx.nn.ConvTranspose, c, num_spatial_dims, in_channels,
                     out_channels, use_bias=use_bias, dtype=dtype, precision=precision, key=key)
        self.output_padding = c.output_padding

    def __call__(self, x: jax.Array, *, key: Any = None) -> jax.Array:
        """Transposed-convolves an unbatched input.

        Args:
          x: `(in_channels, *spatial)`.
          key: ignored, as in equinox.

        Returns:
          `(out_channels, *out_spatial)`.
        """
        del key
        crops, extra = equinox_transpose_crops(self.padding, self.kernel_size, self.stride,
                                               self.dilation, self.output_padding)
        y = conv_transpose(
            unbatched_input(x, self.num_spatial_dims),
            equinox_transpose_kernel(self.weight, self.groups), stride=self.stride,
            padding=crops, output_padding=extra, padding_mode=self.padding_mode,
            dilation=self.dilation, groups=self.groups, channels_last=False,
            precision=self.precision)
        return y + self.bias if self.use_bias else y


class _ConvTransposeNd(ConvTranspose):
    """`ConvTranspose` with `num_spatial_dims` set by the subclass: equinox's
    ConvTransposeNd arguments, `output_padding` before `padding`."""

    _num_spatial_dims = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        output_padding: int | Sequence[int] = 0,
        padding: PaddingArg = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str | Sequence[str] = "ZEROS",
        dtype: Any = None,
        *,
        precision: Any = None,
        key: jax.Array,
    ):
        super().__init__(self._num_spatial_dims, in_channels, out_channels, kernel_size, stride,
                         padding, output_padding, dilation, groups, use_bias, padding_mode,
                         dtype, precision=precision, key=key)


class ConvTranspose1d(_ConvTransposeNd):
    """`ConvTranspose` with `num_spatial_dims=1`, as `equinox.nn.ConvTranspose1d`.

    Note equinox's argument order here: `output_padding` before `padding`.

    Args:
      in_channels: as in `ConvTranspose`.
      out_channels: as in `ConvTranspose`.
      kernel_size: as in `ConvTranspose`.
      stride: as in `ConvTranspose`.
      output_padding: as in `ConvTranspose`.
      padding: as in `ConvTranspose`.
      dilation: as in `ConvTranspose`.
      groups: as in `ConvTranspose`.
      use_bias: as in `ConvTranspose`.
      padding_mode: as in `ConvTranspose`.
      dtype: as in `ConvTranspose`.
      precision: as in `ConvTranspose`.
      key: as in `ConvTranspose`.

    Raises:
      ValueError, TypeError: as `ConvTranspose`.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.equinox
      >>> up = jaxpad.equinox.ConvTranspose1d(2, 2, 4, 2, padding=1,
      ...                                     padding_mode="replicate", key=jax.random.key(0))
      >>> up(jnp.ones((2, 8))).shape
      (2, 16)
    """

    _num_spatial_dims = 1


class ConvTranspose2d(_ConvTransposeNd):
    """`ConvTranspose` with `num_spatial_dims=2`, as `equinox.nn.ConvTranspose2d`.

    Note equinox's argument order here: `output_padding` before `padding`.

    Args:
      in_channels: as in `ConvTranspose`.
      out_channels: as in `ConvTranspose`.
      kernel_size: as in `ConvTranspose`.
      stride: as in `ConvTranspose`.
      output_padding: as in `ConvTranspose`.
      padding: as in `ConvTranspose`.
      dilation: as in `ConvTranspose`.
      groups: as in `ConvTranspose`.
      use_bias: as in `ConvTranspose`.
      padding_mode: as in `ConvTranspose`.
      dtype: as in `ConvTranspose`.
      precision: as in `ConvTranspose`.
      key: as in `ConvTranspose`.

    Raises:
      ValueError, TypeError: as `ConvTranspose`.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.equinox
      >>> up = jaxpad.equinox.ConvTranspose2d(4, 2, 3, 2, padding="SAME",
      ...                                     padding_mode="circular", key=jax.random.key(0))
      >>> up(jnp.ones((4, 5, 6))).shape
      (2, 10, 12)
    """

    _num_spatial_dims = 2


class ConvTranspose3d(_ConvTransposeNd):
    """`ConvTranspose` with `num_spatial_dims=3`, as `equinox.nn.ConvTranspose3d`.

    Note equinox's argument order here: `output_padding` before `padding`.

    Args:
      in_channels: as in `ConvTranspose`.
      out_channels: as in `ConvTranspose`.
      kernel_size: as in `ConvTranspose`.
      stride: as in `ConvTranspose`.
      output_padding: as in `ConvTranspose`.
      padding: as in `ConvTranspose`.
      dilation: as in `ConvTranspose`.
      groups: as in `ConvTranspose`.
      use_bias: as in `ConvTranspose`.
      padding_mode: as in `ConvTranspose`.
      dtype: as in `ConvTranspose`.
      precision: as in `ConvTranspose`.
      key: as in `ConvTranspose`.

    Raises:
      ValueError, TypeError: as `ConvTranspose`.

    Example:
      >>> import jax, jax.numpy as jnp, jaxpad.equinox
      >>> up = jaxpad.equinox.ConvTranspose3d(2, 2, 2, 2, padding_mode="symmetric",
      ...                                     key=jax.random.key(0))
      >>> up(jnp.ones((2, 3, 3, 3))).shape
      (2, 6, 6, 6)
    """

    _num_spatial_dims = 3


class Pad(eqx.Module):
    """Pads the last spatial axes of a channels-first input in any `jaxpad.pad` mode.

    Modes, padding `1 2 3 4` by 2: 'zeros' `0 0 1 2 3 4 0 0`, 'constant' fills
    with `value`, 'reflect' `3 2 1 2 3 4 3 2`, 'symmetric' `2 1 1 2 3 4 4 3`,
    'replicate' `1 1 1 2 3 4 4 4`, 'circular' `3 4 1 2 3 4 1 2`. Negative
    widths crop, as in PyTorch.

    `padding` has one entry per spatial axis, in axis order (an int `p` means
    `(p, p)`); its length says how many trailing axes are padded, so
    `Pad(((1, 1), (2, 2)), "reflect")` pads H by 1 and W by 2 of `(C, H, W)`
    (and of a batched `(N, C, H, W)`). The module has no parameters: its
    fields are static. PyTorch's layers map as `nn.ReflectionPad2d(p)` ->
    `Pad((p, p), "reflect")`; the aliases `ReflectionPad2d`,
    `ReplicationPad2d`, `CircularPad2d`, `ZeroPad2d`, `ConstantPad2d` (and
    1d/3d) take PyTorch's int or flat last-axis-first tuple.

    Args:
      padding: one int or `(lo, hi)` pair per spatial axis.
      mode: a `jaxpad.pad` mode, or one per spatial axis.
      value: the fill of 'constant' axes.
      oversize: 'error' (PyTorch's limits) or 'repeat' (numpy's repeated reflection).

    Raises:
      TypeError, ValueError: at construction, naming the argument.

    Example:
      >>> import jax.numpy as jnp, jaxpad.equinox
      >>> x = jnp.arange(1.0, 5.0).reshape(1, 4)
      >>> jaxpad.equinox.Pad((2,), "circular")(x)[0].tolist()
      [3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0]
    """

    padding: tuple[tuple[int, int], ...] = eqx.field(static=True)
    mode: tuple[str, ...] = eqx.field(static=True)
    value: float = eqx.field(static=True)
    oversize: str = eqx.field(static=True)

    def __init__(
        self,
        padding: Sequence[int | tuple[int, int]],
        mode: str | Sequence[str] = "zeros",
        value: float = 0.0,
        oversize: str = "error",
    ):
        c = pad_config(padding, mode, value, oversize)
        self.padding, self.mode, self.value, self.oversize = c.widths, c.modes, c.value, c.oversize

    def __call__(self, x: jax.Array, *, key: Any = None) -> jax.Array:
        """Pads `x`, `(*batch, C, *spatial)`.

        Args:
          x: channels first, any number of leading axes before the channels.
          key: ignored, as in equinox.

        Returns:
          The padded array.
        """
        del key
        config = PadConfig(self.padding, self.mode, self.value, self.oversize)
        return pad_apply(config, x, channels_last=False)


ZeroPad1d, ZeroPad2d, ZeroPad3d = torch_aliases(Pad, "ZeroPad", "equinox")
ConstantPad1d, ConstantPad2d, ConstantPad3d = torch_aliases(Pad, "ConstantPad", "equinox")
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = torch_aliases(
    Pad, "ReflectionPad", "equinox")
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = torch_aliases(
    Pad, "ReplicationPad", "equinox")
CircularPad1d, CircularPad2d, CircularPad3d = torch_aliases(Pad, "CircularPad", "equinox")

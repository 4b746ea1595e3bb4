"""`conv_input_dilated`: convolution of a zero-dilated input (flax's `input_dilation`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._conv import dimension_numbers
from ._padding import PaddingLike, as_int, canonical_ints, conv_output_shape, resolve_padding


def conv_input_dilated(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    input_dilation: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "valid",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """Convolution of the input dilated by `input_dilation`, with zero padding.

    The input is spread out first, `input_dilation - 1` zeros between
    neighbours (`1 2 3` dilated by 2 is `1 0 2 0 3`, size `d * (i - 1) + 1`),
    then zero-padded and convolved: `lax.conv_general_dilated`'s `lhs_dilation`,
    which is what `flax.linen.Conv(input_dilation=...)` computes. Padding specs
    resolve on the dilated size, so 'same' gives `ceil((d * (i - 1) + 1) / stride)`
    outputs; explicit pairs pad the dilated input, exactly as lax and flax do.
    Only zero padding is defined here: zeros are what the dilation inserts.

    Layout: `x` is `(N, *spatial, C)`, `kernel` is `(*k, C // groups, O)`.

    Args:
      x: the batched, channels-last input.
      kernel: the channels-last kernel.
      bias: optional, shape `(O,)`.
      input_dilation: an int or one per spatial axis, >= 1.
      stride: an int or one per spatial axis, >= 1.
      padding: any spec `jaxpad.resolve_padding` takes, applied to the dilated input.
      dilation: the kernel dilation, an int or one per spatial axis, >= 1.
      groups: feature groups; must divide the input and output channels.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.

    Returns:
      The output, `(N, *out_spatial, O)`.

    Raises:
      ValueError: wrong ranks, channels or groups, non-positive sizes, a bad
        padding spec, or an empty output.
      TypeError: non-integer sizes.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxpad._dilated import conv_input_dilated
      >>> x = jnp.arange(1.0, 4.0).reshape(1, 3, 1)      # 1 2 3 -> 1 0 2 0 3
      >>> k = jnp.ones((2, 1, 1))
      >>> conv_input_dilated(x, k, input_dilation=2, padding=1)[0, :, 0].tolist()
      [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
    """
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    nsp = kernel.ndim - 2
    if nsp < 1 or x.ndim != nsp + 2:
        raise ValueError(
            f"`x` must be (N, *spatial, C) and `kernel` (*k, C // groups, O) with the same "
            f"spatial rank; got shapes {tuple(x.shape)} and {tuple(kernel.shape)}."
        )
    groups = as_int(groups, "groups")
    channels, k_in, k_out = x.shape[-1], kernel.shape[-2], kernel.shape[-1]
    if groups < 1 or k_out % groups or channels != k_in * groups:
        raise ValueError(
            f"`groups` must be >= 1 and divide the output channels, with x's channels = kernel's "
            f"input channels x groups; got groups={groups}, {channels} input channels and a "
            f"kernel of shape {tuple(kernel.shape)}."
        )
    lhs_dilation = canonical_ints(input_dilation, nsp, "input_dilation")
    strides = canonical_ints(stride, nsp, "stride")
    dilations = canonical_ints(dilation, nsp, "dilation")
    dilated = tuple(d * (i - 1) + 1 for d, i in zip(lhs_dilation, x.shape[1:-1]))
    kernel_size = kernel.shape[:-2]
    pads = resolve_padding(padding, dilated, kernel_size, strides, dilations)
    conv_output_shape(dilated, kernel_size, strides, pads, dilations)
    if bias is not None:
        bias = jnp.asarray(bias)
        if bias.shape != (k_out,):
            raise ValueError(
                f"`bias` must have shape ({k_out},) (the output channels); "
                f"got {tuple(bias.shape)}."
            )
    dtype = jnp.result_type(x, kernel)
    y = lax.conv_general_dilated(
        x.astype(dtype),
        kernel.astype(dtype),
        window_strides=strides,
        padding=pads,
        lhs_dilation=lhs_dilation,
        rhs_dilation=dilations,
        dimension_numbers=dimension_numbers(nsp, channels_last=True),
        feature_group_count=groups,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    if bias is not None:
        y = y + bias.astype(y.dtype)
    return y

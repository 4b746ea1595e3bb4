"""`conv_transpose`: transposed convolutions with PyTorch's and Keras's geometry, any mode.

Non-zero modes become a zero-mode transposed convolution of an extended input
('reflect', 'replicate', 'symmetric') or a fold of the full output ('circular').
The zero-mode core is one of the strategies of `jaxpad._strategies` (the phase
decomposition, or XLA:CPU's routes), chosen by `jaxpad._policy` for `impl='auto'`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from . import _policy
from ._conv import add_bias, batched_input, channels_last_kernel, dimension_numbers, shape_text
from ._pad import check_widths, pad_validated
from ._padding import (
    ModeLike,
    PaddingLike,
    as_int,
    canonical_ints,
    canonical_transpose_modes,
    conv_transpose_output_shape,
    effective_kernel_size,
    transpose_padding,
)
from ._sharding import auto_partitioned
from ._strategies import check_impl, phases, routes

# The strategies of the zero-mode core, by `impl` name.
_CORES = {"phases": phases.transpose_zeros, "routes": routes.transpose_zeros}


def _transpose_zeros(x, kernel, lo, out, *, impl, **static):
    """Zero-mode transposed convolution of batched `x`, cropping `lo` and keeping `out`.

    `kernel` is `(*k, O // G, C)`, the kernel of the forward convolution from O to C
    channels that this one transposes.
    """
    cores = {name: partial(core, lo=lo, out=out, **static) for name, core in _CORES.items()}
    return _policy.dispatch("conv_transpose", impl, cores, x, kernel)


def _fold(y: jax.Array, axis: int, lo: int, size: int) -> jax.Array:
    """Adds the full output onto an axis of `size` modulo `size`, index `lo` landing on 0."""
    full = y.shape[axis]
    before = (-lo) % size
    blocks = -(-(before + full) // size)
    config = [(0, 0, 0)] * y.ndim
    config[axis] = (before, blocks * size - before - full, 0)
    y = lax.pad(y, jnp.zeros((), y.dtype), config)
    shape = list(y.shape)
    shape[axis: axis + 1] = [blocks, size]
    return y.reshape(shape).sum(axis)


@auto_partitioned
@partial(
    jax.jit,
    static_argnames=(
        "stride", "crops", "out", "modes", "dilation", "groups", "channels_last", "precision",
        "preferred_element_type", "impl",
    ),
)
def conv_transpose_validated(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    *,
    stride: tuple[int, ...],
    crops: tuple[tuple[int, int], ...],
    out: tuple[int, ...],
    modes: tuple[str, ...],
    dilation: tuple[int, ...],
    groups: int,
    channels_last: bool,
    precision: Any,
    preferred_element_type: Any,
    impl: str,
) -> jax.Array:
    """The transposed convolution of a batched `x`, with arguments already checked."""
    nsp = len(stride)
    dn = dimension_numbers(nsp, channels_last)
    spatial = dn.lhs_spec[2:]
    if not channels_last:  # (C, O // G, *k) -> (*k, O // G, C)
        kernel = channels_last_kernel(kernel)
    ksize = kernel.shape[:nsp]

    lo_core, out_core, widths = [], [], [(0, 0)] * x.ndim
    for a, (size, k, s, d, (lo, _), o, mode) in enumerate(
        zip((x.shape[i] for i in spatial), ksize, stride, dilation, crops, out, modes)
    ):
        eff = effective_kernel_size(k, d)
        if mode == "circular":  # the full output, folded below
            lo_core.append(0)
            out_core.append((size - 1) * s + eff)
        elif mode == "zeros":
            lo_core.append(lo)
            out_core.append(o)
        else:  # extend the input to every element an output reads
            first, last = -((eff - 1 - lo) // s), (lo + o - 1) // s
            ext = (max(-first, 0), max(last - size + 1, 0))
            widths[spatial[a]] = ext
            lo_core.append(lo + ext[0] * s)
            out_core.append(o)
    if any(w != (0, 0) for w in widths):
        axis_modes = ["zeros"] * x.ndim
        for a, m in enumerate(modes):
            axis_modes[spatial[a]] = m if m not in ("zeros", "circular") else "zeros"
        x = pad_validated(x, jnp.zeros((), x.dtype), widths=tuple(widths),
                          modes=tuple(axis_modes))
    y = _transpose_zeros(
        x, kernel, tuple(lo_core), tuple(out_core), stride=stride, dilation=dilation,
        groups=groups, dn=dn, precision=precision,
        preferred_element_type=preferred_element_type, impl=impl,
    )
    for a, ((lo, _), o, mode) in enumerate(zip(crops, out, modes)):
        if mode == "circular":
            y = _fold(y, spatial[a], lo, o)
    return add_bias(y, bias, dn)


def conv_transpose(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = 0,
    output_padding: int | Sequence[int] = 0,
    padding_mode: ModeLike = "zeros",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    precision: Any = None,
    preferred_element_type: Any = None,
    impl: str = "auto",
) -> jax.Array:
    """N-dimensional transposed convolution with PyTorch's and Keras's padding specs.

    Layouts (`k` the kernel's spatial shape, `C` input and `O` output channels,
    `G` groups); the kernel is in both layouts the kernel of the forward
    `jaxpad.conv` from `O` to `C` channels that this operation transposes:

    - `channels_last=True` (Flax, TF): `x` is `(N, *spatial, C)` or `(*spatial, C)`;
      `kernel` is `(*k, O // G, C)`, as `flax.linen.ConvTranspose(transpose_kernel=True)`.
    - `channels_last=False` (PyTorch): `x` is `(N, C, *spatial)` or `(C, *spatial)`;
      `kernel` is `(C, O // G, *k)`, `torch.nn.ConvTransposeNd.weight` as it is.

    With `eff = dilation * (k - 1) + 1`, the full transposed convolution of an
    axis of size `i` has `(i - 1) * stride + eff` elements; `padding` crops it:

    - an int, one int per axis or `(lo, hi)` pairs: PyTorch's meaning, output
      `(i - 1) * stride - lo - hi + eff + output_padding`.
    - 'same': Keras's, output `i * stride` (+ `output_padding`).
    - 'valid': Keras's, output `i * stride + max(eff - stride, 0)`.

    `output_padding` adds elements at the end (as PyTorch, each smaller than
    the stride or the dilation of its axis).

    `padding_mode` (one, or one per spatial axis):

    - 'zeros': PyTorch's `ConvTransposeNd` (the input is zero outside itself).
    - 'circular': the exact adjoint of `jaxpad.conv(..., padding_mode='circular')`
      with the same kernel, stride, dilation and `padding`: the full output is
      wrapped onto the output size, position `lo` landing on 0 (periodic
      upsampling; `output_padding` picks the size the forward conv came from).
    - 'reflect', 'replicate', 'symmetric': the transposed convolution of the
      input extended without end by that mode (numpy's repeated reflection),
      cropped to the requested output. So the border outputs see the taps a
      continued input would give them: with stride 2, kernel `1 1 1` and
      padding 1 on `x = 1 2`, 'replicate' extends to `... 1 1 | 1 2 | 2 2 ...`
      and gives `1 3 2 4` where 'zeros' gives `1 3 2 2`.

    Args:
      x: the input, batched or not, in the layout chosen by `channels_last`.
      kernel: the weights, see above; its rank fixes the number of spatial axes.
      bias: optional, shape `(O,)`.
      stride: an int or one per spatial axis, >= 1.
      padding: 'same', 'valid', an int, one int per axis or one `(lo, hi)`
        pair per axis, see above.
      output_padding: an int or one per axis, >= 0 and smaller than the stride
        or the dilation.
      padding_mode: 'zeros', 'circular', 'reflect', 'replicate' or 'symmetric'
        (aliases 'wrap', 'edge'), or one per spatial axis.
      dilation: the kernel dilation, an int or one per spatial axis, >= 1.
      groups: feature groups; must divide the input and output channels.
      channels_last: layout switch, see above.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.
      impl: how the zero-mode core is computed, with identical results:
        'phases' (the stride-phase decomposition: one stride-1 convolution per
        output phase), 'routes' (XLA:CPU's: the phases with faster derivatives,
        an overlap-add or zero taps, where each measured faster there) or
        'auto' (the platform's default, `jaxpad._policy`: 'phases' on CPU,
        where whole models train as fast and compile sooner with them, and the
        reference, 'phases', on platforms not measured).

    Returns:
      The output, batched iff `x` was, in the layout of `x`.

    Raises:
      ValueError: wrong ranks, channels not matching the kernel, groups not
        dividing the channels, a bad padding spec, mode, `output_padding` or
        `impl`, or an empty output.
      TypeError: non-integer sizes or a non-bool `channels_last`.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.array([1.0, 2.0]).reshape(1, 2, 1)  # (N, W, C)
      >>> k = jnp.ones((3, 1, 1))                      # (W, O, C)
      >>> jaxpad.conv_transpose(x, k, stride=2)[0, :, 0].tolist()
      [1.0, 1.0, 3.0, 2.0, 2.0]
      >>> jaxpad.conv_transpose(x, k, stride=2, padding=1, output_padding=1,
      ...                       padding_mode="replicate")[0, :, 0].tolist()
      [1.0, 3.0, 2.0, 4.0]
    """
    check_impl("conv_transpose", impl)
    x, kernel, batched, dn = batched_input(x, kernel, channels_last)
    nsp = kernel.ndim - 2
    spatial_shape = tuple(x.shape[a] for a in dn.lhs_spec[2:])
    channels = x.shape[dn.lhs_spec[1]]
    if channels_last:
        kernel_size, k_in, k_out = kernel.shape[:nsp], kernel.shape[-1], kernel.shape[-2]
    else:
        kernel_size, k_in, k_out = kernel.shape[2:], kernel.shape[0], kernel.shape[1]
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"`groups` must be >= 1; got {groups}.")
    if channels % groups:
        raise ValueError(
            f"`groups` must divide the input channels; got groups={groups} with {channels} "
            f"input channels."
        )
    if channels != k_in:
        raise ValueError(
            f"`x` has {channels} channels but `kernel` of shape {shape_text(kernel)} expects "
            f"{k_in} ({'(*k, O // G, C)' if channels_last else '(C, O // G, *k)'} layout)."
        )
    stride_t = canonical_ints(stride, nsp, "stride")
    dilation_t = canonical_ints(dilation, nsp, "dilation")
    modes = canonical_transpose_modes(padding_mode, nsp)
    crops = transpose_padding(padding, spatial_shape, kernel_size, stride_t, dilation_t)
    out = conv_transpose_output_shape(spatial_shape, kernel_size, stride_t, padding, dilation_t,
                                      output_padding)
    if any(m != "zeros" for m in modes):
        check_widths(spatial_shape, [(1, 1)] * nsp, modes, "repeat", axes=dn.lhs_spec[2:])
    if bias is not None:
        bias = jnp.asarray(bias)
        if bias.shape != (k_out * groups,):
            raise ValueError(
                f"`bias` must have shape ({k_out * groups},) (the output channels); "
                f"got {shape_text(bias)}."
            )
    dtype = jnp.result_type(x, kernel)
    y = conv_transpose_validated(
        x.astype(dtype), kernel.astype(dtype), bias,
        stride=stride_t, crops=crops, out=out, modes=modes, dilation=dilation_t,
        groups=groups, channels_last=channels_last, precision=precision,
        preferred_element_type=preferred_element_type, impl=impl,
    )
    return y if batched else y[0]

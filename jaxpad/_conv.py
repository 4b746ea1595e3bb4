"""`conv`: N-dimensional convolution with any padding spec combined with any mode."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from . import _policy
from ._frame import Config, frame_conv
from ._pad import check_widths
from ._padding import (
    ModeLike,
    PaddingLike,
    Pair,
    as_int,
    canonical_ints,
    canonical_modes,
    conv_output_shape,
    resolve_padding,
)
from ._sharding import auto_partitioned
from ._strategies import check_impl
from ._strategies.pad_first import pad_then_conv


def dimension_numbers(nsp: int, channels_last: bool) -> lax.ConvDimensionNumbers:
    """Axis numbers of a batched input/output and of the kernel, in either layout.

    channels_last: x `(N, *spatial, C)`, kernel `(*k, I, O)` (Flax, TF).
    channels first: x `(N, C, *spatial)`, kernel `(O, I, *k)` (PyTorch).
    """
    spatial = tuple(range(1, nsp + 1)) if channels_last else tuple(range(2, nsp + 2))
    if channels_last:
        io = (0, nsp + 1, *spatial)
        kernel = (nsp + 1, nsp, *range(nsp))
    else:
        io = (0, 1, *spatial)
        kernel = (0, 1, *range(2, nsp + 2))
    return lax.ConvDimensionNumbers(lhs_spec=io, rhs_spec=kernel, out_spec=io)


def channels_last_kernel(kernel: jax.Array) -> jax.Array:
    """A channels-first `(O, I, *k)` kernel as `(*k, I, O)` (PyTorch's layout to flax's)."""
    return jnp.transpose(kernel, (*range(2, kernel.ndim), 1, 0))


@auto_partitioned
@partial(
    jax.jit,
    static_argnames=(
        "stride",
        "pads",
        "modes",
        "dilation",
        "groups",
        "channels_last",
        "precision",
        "preferred_element_type",
        "impl",
    ),
)
def conv_validated(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    padding_value: jax.Array,
    *,
    stride: tuple[int, ...],
    pads: tuple[Pair, ...],
    modes: tuple[str, ...],
    dilation: tuple[int, ...],
    groups: int,
    channels_last: bool,
    precision: Any,
    preferred_element_type: Any,
    impl: str,
) -> jax.Array:
    """The convolution of a batched `x`, with arguments already checked."""
    nsp = len(stride)
    dn = dimension_numbers(nsp, channels_last)

    def pad_first(x, kernel, padding_value):
        return pad_then_conv(
            x, kernel, padding_value, stride=stride, pads=pads, modes=modes, dilation=dilation,
            dn=dn, groups=groups, precision=precision,
            preferred_element_type=preferred_element_type,
        )

    def frame(x, kernel, padding_value):
        del padding_value  # the frame takes no 'constant' mode (`choose_impl`)
        # The frame runs channels-last, between explicit transposes. Given NCHW, XLA:CPU
        # assembled the output and dy in NCHW around its NHWC convolutions, and the
        # training step broke the temp-memory bound of tests/test_frame.py.
        if not channels_last:
            x = jnp.moveaxis(x, 1, -1)
            kernel = channels_last_kernel(kernel)
        config = Config(
            shape=x.shape[1:-1], kernel=kernel.shape[:nsp],
            stride=stride, pads=pads, modes=modes, dilation=dilation, groups=groups,
            dn=dimension_numbers(nsp, True), precision=precision,
            preferred_element_type=preferred_element_type,
        )
        y = frame_conv(config)(x, kernel)
        return y if channels_last else jnp.moveaxis(y, -1, 1)

    strategies = {"pad": pad_first, "frame": frame}
    return add_bias(_policy.dispatch("conv", impl, strategies, x, kernel, padding_value),
                    bias, dn)


def add_bias(y: jax.Array, bias: jax.Array | None, dn: lax.ConvDimensionNumbers) -> jax.Array:
    if bias is None:
        return y
    shape = [1] * y.ndim
    shape[dn.out_spec[1]] = -1
    return y + bias.astype(y.dtype).reshape(shape)


def choose_impl(impl: str, pads: Sequence[Pair], modes: Sequence[str]) -> str:
    """`impl` where it applies, else 'pad', the reference (`jaxpad._strategies`).

    'pad' folds zero padding into the convolution, so it is what all-zero modes take,
    and 'auto' takes it where the frame does not apply ('constant').
    """
    check_impl("conv", impl)
    padded = any(m != "zeros" and p != (0, 0) for p, m in zip(pads, modes))
    if impl == "frame" and "constant" in modes:
        raise ValueError(
            "impl='frame' does not take padding_mode 'constant' (its fill is a traced value); "
            "use impl='pad' or 'auto'."
        )
    if not padded or (impl == "auto" and "constant" in modes):
        return "pad"
    return impl


def shape_text(a: jax.Array) -> str:
    return str(tuple(a.shape))


def batched_input(
    x: ArrayLike, kernel: ArrayLike, channels_last: Any
) -> tuple[jax.Array, jax.Array, bool, lax.ConvDimensionNumbers]:
    """Checks the ranks and the layout flag; returns x with a batch axis, and whether it had one."""
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    nsp = kernel.ndim - 2
    if nsp < 1:
        raise ValueError(
            f"`kernel` must have rank >= 3 (spatial axes plus two channel axes); "
            f"got shape {shape_text(kernel)}."
        )
    if x.ndim not in (nsp + 1, nsp + 2):
        raise ValueError(
            f"`x` must have rank {nsp + 2} (batched) or {nsp + 1} (unbatched) for a {nsp}-D "
            f"kernel of shape {shape_text(kernel)}; got shape {shape_text(x)}."
        )
    if not isinstance(channels_last, bool):
        raise TypeError(f"`channels_last` must be a bool; got {channels_last!r}.")
    batched = x.ndim == nsp + 2
    return (x if batched else x[None]), kernel, batched, dimension_numbers(nsp, channels_last)


def conv(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: int | Sequence[int] = 1,
    padding: PaddingLike = "same",
    padding_mode: ModeLike = "zeros",
    padding_value: ArrayLike = 0.0,
    oversize: str = "error",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    channels_last: bool = True,
    precision: Any = None,
    preferred_element_type: Any = None,
    impl: str = "auto",
) -> jax.Array:
    """N-dimensional convolution with any padding spec in any padding mode.

    Layouts (`k` the kernel's spatial shape, `G` the number of groups):

    - `channels_last=True` (Flax, TF): `x` is `(N, *spatial, C)` or unbatched
      `(*spatial, C)`; `kernel` is `(*k, C // G, O)` (HWIO in 2-D).
    - `channels_last=False` (PyTorch): `x` is `(N, C, *spatial)` or `(C, *spatial)`;
      `kernel` is `(O, C // G, *k)` (OIHW in 2-D), so PyTorch weights work as they are.

    The padding spec fixes the geometry (see `jaxpad.resolve_padding`: 'same' is
    TF's rule, output `ceil(size / stride)` with the odd pixel at the end, for
    any stride and dilation) and `padding_mode` fills it, e.g. on `1 2 3 4`
    with a `(2, 2)` padding:

    - 'zeros' `0 0 1 2 3 4 0 0`, 'reflect' `3 2 1 2 3 4 3 2`,
      'symmetric' `2 1 1 2 3 4 4 3`, 'replicate' `1 1 1 2 3 4 4 4`,
      'circular' `3 4 1 2 3 4 1 2`, 'constant' fills with `padding_value`.

    Zero padding is passed to `lax.conv_general_dilated` as explicit `(lo, hi)`
    pairs; other modes pad the input with `jaxpad.pad` first. On an input split
    along spatial axes over explicit mesh axes (`jax.sharding.AxisType.Explicit`),
    non-zero modes run `jaxpad.sharded.conv`'s halo exchange, which moves the bytes
    of zero padding forward and backward; under `jax.set_mesh` with automatic axes,
    the same exchange is built when XLA has fixed the sharding. Results equal
    PyTorch's `nn.ConvNd(padding=..., padding_mode=...)` wherever PyTorch accepts
    the configuration, and Keras/TF 'same'/'causal' convolutions.

    Args:
      x: the input, batched or not, in the layout chosen by `channels_last`.
      kernel: the weights; its rank fixes the number of spatial axes.
      bias: optional, shape `(O,)`.
      stride: an int or one per spatial axis, >= 1.
      padding: 'same', 'same_lower', 'valid', 'causal', 'full', an int, one int
        per spatial axis, or one `(lo, hi)` pair per spatial axis.
      padding_mode: a `jaxpad.pad` mode, or one per spatial axis.
      padding_value: the fill of 'constant' axes.
      oversize: 'error' refuses pads PyTorch refuses (reflect needs pad < size,
        circular and symmetric pad <= size); 'repeat' reflects or wraps as
        often as needed, like `jnp.pad` (and flax's 'REFLECT'/'CIRCULAR').
      dilation: the kernel dilation, an int or one per spatial axis, >= 1.
      groups: feature groups; must divide the input and output channels.
      channels_last: layout switch, see above.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.
      impl: how non-zero modes are computed, with identical results:
        'frame' runs the zero-padded convolution and corrects the output border
        from the thin frame of padded values (a bilinear primitive like lax's
        convolution, so every transformation applies; its backward pass saves
        only `x` and the kernel and builds no padded copy; on CPU the forward
        pass pads first where a cost model says that is faster; channels-first
        inputs are transposed to run it channels-last); 'pad' pads the input,
        then convolves (the reference); 'auto' takes the platform's default
        (`jaxpad._policy`: 'pad' on CPU, where whole models train and compile
        faster with it, and the reference on platforms not measured).

    Returns:
      The output, batched iff `x` was, in the layout of `x`, with spatial shape
      `jaxpad.conv_output_shape(...)`.

    Raises:
      ValueError: wrong ranks, channels not matching the kernel, groups not
        dividing the channels, non-positive stride or dilation, a bad padding
        spec or mode, an empty output, or pads too wide for the mode.
      TypeError: non-integer sizes.

    Example:
      >>> import jax.numpy as jnp, jaxpad
      >>> x = jnp.arange(1.0, 7.0).reshape(1, 6, 1)  # (N, W, C)
      >>> k = jnp.ones((3, 1, 1))                     # (W, I, O)
      >>> jaxpad.conv(x, k, stride=2, padding_mode="reflect")[0, :, 0].tolist()
      [6.0, 12.0, 16.0]
    """
    x, kernel, batched, dn = batched_input(x, kernel, channels_last)
    nsp = kernel.ndim - 2
    spatial_shape = tuple(x.shape[a] for a in dn.lhs_spec[2:])
    channels = x.shape[dn.lhs_spec[1]]
    kernel_size = tuple(kernel.shape[a] for a in dn.rhs_spec[2:])
    k_in, k_out = kernel.shape[dn.rhs_spec[1]], kernel.shape[dn.rhs_spec[0]]

    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"`groups` must be >= 1; got {groups}.")
    if channels % groups or k_out % groups:
        raise ValueError(
            f"`groups` must divide the input and output channels; got groups={groups} with "
            f"{channels} input and {k_out} output channels."
        )
    if channels != k_in * groups:
        raise ValueError(
            f"`x` has {channels} channels but `kernel` of shape {shape_text(kernel)} expects "
            f"{k_in} per group x {groups} groups = {k_in * groups} "
            f"({'channels_last' if channels_last else 'channels first'} layout)."
        )
    stride_t = canonical_ints(stride, nsp, "stride")
    dilation_t = canonical_ints(dilation, nsp, "dilation")
    modes = canonical_modes(padding_mode, nsp, "padding_mode")
    pads = resolve_padding(padding, spatial_shape, kernel_size, stride_t, dilation_t)
    conv_output_shape(spatial_shape, kernel_size, stride_t, pads, dilation_t)
    check_widths(spatial_shape, pads, modes, oversize, axes=dn.lhs_spec[2:])
    if bias is not None:
        bias = jnp.asarray(bias)
        if bias.shape != (k_out,):
            raise ValueError(
                f"`bias` must have shape ({k_out},) (the output channels); "
                f"got {shape_text(bias)}."
            )

    chosen = choose_impl(impl, pads, modes)
    dtype = jnp.result_type(x, kernel)
    # Spatially split over explicit mesh axes: the halo exchange of jaxpad.sharded, which
    # builds on this module (hence imported here).
    from .sharded import explicit_plan, sharded_conv

    plan = explicit_plan(
        x, kernel, dn=dn, stride=stride_t, dilation=dilation_t, pads=pads, modes=modes,
        oversize=oversize, keywords=dict(
            stride=stride_t, dilation=dilation_t, groups=groups, channels_last=channels_last,
            precision=precision, preferred_element_type=preferred_element_type, impl=impl))
    if plan is not None:
        y = sharded_conv(x.astype(dtype), kernel.astype(dtype), bias, jnp.asarray(padding_value),
                         plan=plan)
        return y if batched else y[0]
    # Under an automatic mesh, the halo exchange chosen when XLA has fixed the sharding.
    from . import _auto_mesh

    axes = _auto_mesh.mesh_axes(modes, pads, preferred_element_type)
    if axes is not None:
        config = _auto_mesh.Config(
            shape=spatial_shape, ksize=kernel_size, stride=stride_t, pads=pads, modes=modes,
            dilation=dilation_t, groups=groups, channels_last=channels_last,
            precision=precision, impl=chosen, oversize=oversize, axes=axes)
        y = add_bias(_auto_mesh.conv(x.astype(dtype), kernel.astype(dtype), config=config),
                     bias, dn)
        return y if batched else y[0]
    y = conv_validated(
        x.astype(dtype),
        kernel.astype(dtype),
        bias,
        jnp.asarray(padding_value),
        stride=stride_t,
        pads=pads,
        modes=modes,
        dilation=dilation_t,
        groups=groups,
        channels_last=channels_last,
        precision=precision,
        preferred_element_type=preferred_element_type,
        impl=chosen,
    )
    return y if batched else y[0]

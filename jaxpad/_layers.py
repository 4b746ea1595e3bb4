"""What the layers share: hyperparameter checks and the call into the core.

Nothing here imports flax or equinox. `jaxpad.linen` and `jaxpad.nnx` validate
through `conv_config` / `pad_config` and compute through `conv_apply` /
`pad_apply`, which call `jaxpad.conv`, `jaxpad.pad` (and, for flax's
`input_dilation`, `conv_input_dilated`), so the two APIs cannot drift apart and
hold no padding math of their own. `jaxpad.equinox` validates through
`equinox_config` and `pad_config`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from ._conv import add_bias, conv, dimension_numbers
from ._conv_transpose import conv_transpose
from ._dilated import conv_input_dilated
from ._pad import OVERSIZE, pad
from ._padding import (
    FLAX_TRANSPOSE_PADDINGS,
    MODE_RECORDS,
    TRANSPOSE_SPECS,
    Pair,
    as_int,
    canonical_ints,
    canonical_modes,
    canonical_pad_width,
    canonical_transpose_modes,
    equinox_padding,
    explicit_pairs,
    flax_padding,
    flax_transpose_padding,
    output_padding_ints,
    resolve_padding,
    transpose_padding,
)


@dataclasses.dataclass(frozen=True)
class ConvConfig:
    """A Conv module's hyperparameters, checked and canonical (static, hashable)."""

    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str | tuple[Pair, ...]
    padding_mode: tuple[str, ...]
    padding_value: float
    oversize: str
    input_dilation: tuple[int, ...]
    kernel_dilation: tuple[int, ...]
    groups: int


def _positive(value: Any, name: str) -> int:
    value = as_int(value, name)
    if value < 1:
        raise ValueError(f"`{name}` must be >= 1; got {value}.")
    return value


def _kernel_size(kernel_size: Any) -> tuple[int, ...]:
    # flax: an int is a 1-D kernel, never broadcast to more axes.
    sizes = (kernel_size,) if not isinstance(kernel_size, Sequence) else tuple(kernel_size)
    if isinstance(kernel_size, str) or not sizes:
        raise ValueError(
            f"`kernel_size` must be an int (a 1-D kernel, as in flax) or a non-empty sequence "
            f"of ints, one per spatial axis; got {kernel_size!r}."
        )
    return canonical_ints(sizes, len(sizes), "kernel_size")


def _per_axis(value: Any, n: int, name: str) -> tuple[int, ...]:
    # flax: None means 1 (backward compatibility), an int is broadcast.
    return canonical_ints(1 if value is None else value, n, name)


def check_divides(groups: int, features: int, name: str,
                  groups_name: str = "feature_group_count") -> None:
    """Raises unless the group count `groups_name` divides the channel count `name`."""
    if features % groups:
        raise ValueError(
            f"`{groups_name}` must divide `{name}`; got {groups_name}={groups} "
            f"with {name}={features}."
        )


def conv_config(
    *,
    features: int,
    kernel_size: int | Sequence[int],
    strides: Any = 1,
    padding: Any = "SAME",
    padding_mode: Any = "zeros",
    padding_value: float = 0.0,
    oversize: str = "error",
    input_dilation: Any = 1,
    kernel_dilation: Any = 1,
    feature_group_count: int = 1,
    in_features: int | None = None,
    features_name: str = "features",
) -> ConvConfig:
    """Checks a Conv module's hyperparameters and returns them canonical.

    Args:
      features: the output channels (`features` in linen, `out_features` in nnx).
      kernel_size: an int (1-D, as in flax) or one int per spatial axis.
      strides: None, an int or one per spatial axis.
      padding: a flax string, a jaxpad spec, ints or pairs (see `flax_padding`).
      padding_mode: a `jaxpad.pad` mode, or one per spatial axis.
      padding_value: the fill of 'constant' axes.
      oversize: 'error' or 'repeat', as in `jaxpad.conv`.
      input_dilation: None, an int or one per spatial axis.
      kernel_dilation: None, an int or one per spatial axis.
      feature_group_count: the number of groups.
      in_features: the input channels when known (nnx: at construction).
      features_name: how the output channels are called in messages.

    Returns:
      The checked `ConvConfig`.

    Raises:
      ValueError: naming the argument, for anything flax or jaxpad would refuse
        later, and for `input_dilation` with a non-zero padding mode.
      TypeError: non-integer sizes.

    Example:
      >>> from jaxpad._layers import conv_config
      >>> conv_config(features=8, kernel_size=(3, 3), strides=2, padding="REFLECT").padding
      ((1, 1), (1, 1))
    """
    features = _positive(features, features_name)
    sizes = _kernel_size(kernel_size)
    n = len(sizes)
    groups = _positive(feature_group_count, "feature_group_count")
    check_divides(groups, features, features_name)
    if in_features is not None:
        check_divides(groups, _positive(in_features, "in_features"), "in_features")
    strides_t = _per_axis(strides, n, "strides")
    input_dilation_t = _per_axis(input_dilation, n, "input_dilation")
    kernel_dilation_t = _per_axis(kernel_dilation, n, "kernel_dilation")
    if oversize not in OVERSIZE:
        raise ValueError(f"`oversize` must be 'error' or 'repeat'; got {oversize!r}.")
    spec, modes, oversize = flax_padding(padding, sizes, kernel_dilation_t, padding_mode,
                                         oversize)
    if any(d != 1 for d in input_dilation_t) and any(m != "zeros" for m in modes):
        raise ValueError(
            f"`input_dilation` {input_dilation!r} needs zero padding (the dilation itself "
            f"inserts zeros); got padding={padding!r} with padding_mode={padding_mode!r}."
        )
    return ConvConfig(sizes, strides_t, spec, modes, float(padding_value), oversize,
                      input_dilation_t, kernel_dilation_t, groups)


def kernel_shape(config: ConvConfig, in_features: int, features: int) -> tuple[int, ...]:
    """flax's kernel shape, `(*kernel_size, in_features // groups, features)`."""
    check_divides(config.groups, in_features, "in_features")
    return (*config.kernel_size, in_features // config.groups, features)


def check_mask(mask: Any, shape: tuple[int, ...]) -> None:
    """Raises unless `mask` is None or has the kernel's shape."""
    if mask is not None and tuple(jnp.shape(mask)) != shape:
        raise ValueError(
            f"`mask` must have the kernel's shape {shape}; got {tuple(jnp.shape(mask))}."
        )


def input_features(x: Any, nsp: int) -> int:
    """The channels of channels-last `x`, `(*batch, *spatial, C)`, after checking its rank."""
    shape = tuple(jnp.shape(x))
    if len(shape) < nsp + 1:
        raise ValueError(
            f"`inputs` must be (*batch, *spatial, features) with {nsp} spatial axes, so rank "
            f">= {nsp + 1}; got shape {shape}."
        )
    return shape[-1]


def _spatial_call(
    x: jax.Array, nsp: int, f: Callable[[jax.Array], jax.Array]
) -> jax.Array:
    """Applies `f` to `x` as `(N, *spatial, C)`: any number of leading batch axes,
    flattened into one and restored (none: unbatched), as flax's Conv does."""
    input_features(x, nsp)
    batch = x.shape[: x.ndim - nsp - 1]
    y = f(x.reshape((-1, *x.shape[len(batch):])))
    return y.reshape((*batch, *y.shape[1:]))


def conv_apply(
    config: ConvConfig,
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    *,
    precision: Any = None,
    preferred_element_type: Any = None,
    conv_general_dilated: Callable[..., jax.Array] | None = None,
) -> jax.Array:
    """The Conv modules' forward pass: `jaxpad.conv` on channels-last `x`.

    `x` is `(*batch, *spatial, C)` with any number of batch axes (none too).
    `conv_general_dilated` is flax's argument of that name: None (or lax's own)
    for `jaxpad.conv`, else the function that convolves, called as flax calls it,
    with the zero pads, after `jaxpad.pad` has filled the other modes.
    """
    c = config
    if conv_general_dilated not in (None, jax.lax.conv_general_dilated):
        def f(x):
            return _user_conv(c, x, kernel, bias, conv_general_dilated, precision=precision,
                              preferred_element_type=preferred_element_type)
    elif any(d != 1 for d in c.input_dilation):
        def f(x):
            return conv_input_dilated(
                x, kernel, bias, input_dilation=c.input_dilation, stride=c.strides,
                padding=c.padding, dilation=c.kernel_dilation, groups=c.groups,
                precision=precision, preferred_element_type=preferred_element_type)
    else:
        def f(x):
            return conv(
                x, kernel, bias, stride=c.strides, padding=c.padding, padding_mode=c.padding_mode,
                padding_value=c.padding_value, oversize=c.oversize, dilation=c.kernel_dilation,
                groups=c.groups, precision=precision,
                preferred_element_type=preferred_element_type)
    return _spatial_call(jnp.asarray(x), len(c.kernel_size), f)


def _user_conv(c: ConvConfig, x, kernel, bias, fn, *, precision, preferred_element_type):
    """A batched conv through the user's `fn` (flax's `conv_general_dilated`)."""
    nsp = len(c.kernel_size)
    dilated = [(i - 1) * d + 1 for i, d in zip(x.shape[1:-1], c.input_dilation)]
    pads = resolve_padding(c.padding, dilated, c.kernel_size, c.strides, c.kernel_dilation)
    # As `jaxpad.conv` pads first: zeros folded into the convolution, except beside a
    # 'constant' axis, where they are materialised to keep `jaxpad.pad`'s corners.
    folded = [m == "zeros" and "constant" not in c.padding_mode for m in c.padding_mode]
    if not all(folded):
        widths = [(0, 0), *(((0, 0) if f else p) for p, f in zip(pads, folded)), (0, 0)]
        modes = ["zeros", *c.padding_mode, "zeros"]
        x = pad(x, widths, modes, value=c.padding_value, oversize=c.oversize)
    extra = {} if preferred_element_type is None else {
        "preferred_element_type": preferred_element_type}
    y = fn(x, kernel, c.strides, [p if f else (0, 0) for p, f in zip(pads, folded)],
           lhs_dilation=c.input_dilation, rhs_dilation=c.kernel_dilation,
           dimension_numbers=dimension_numbers(nsp, True), feature_group_count=c.groups,
           precision=precision, **extra)
    return add_bias(y, bias, dimension_numbers(nsp, True))


@dataclasses.dataclass(frozen=True)
class ConvTransposeConfig:
    """A ConvTranspose module's hyperparameters, checked and canonical (static, hashable).

    `padding` is `jaxpad.conv_transpose`'s ('same', 'valid' or PyTorch's crops),
    or with `flax_pads` flax's 'CIRCULAR' or `lax.conv_transpose` pads, which
    `flax_transpose_padding` turns into crops once the input size is known.
    """

    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str | tuple[Pair, ...]
    flax_pads: bool
    output_padding: tuple[int, ...]
    padding_mode: tuple[str, ...]
    kernel_dilation: tuple[int, ...]
    groups: int
    transpose_kernel: bool


def _transpose_spec(
    padding: Any, torch_padding: Any, padding_mode: Any, n: int,
) -> tuple[str | tuple[Pair, ...], bool, tuple[str, ...]]:
    """A ConvTranspose's `padding`, `torch_padding` and `padding_mode` as
    `(spec, flax_pads, modes)` of `ConvTransposeConfig` (specs not yet checked
    against the kernel)."""
    modes = canonical_modes(padding_mode, n, "padding_mode")
    if torch_padding is not None:
        if padding != "SAME":
            raise ValueError(
                f"`torch_padding` (PyTorch's crop) replaces `padding`, which must be left at "
                f"its default 'SAME'; got padding={padding!r} with "
                f"torch_padding={torch_padding!r}."
            )
        if isinstance(torch_padding, str):
            raise ValueError(
                f"`torch_padding` must be an int, ints or (lo, hi) pairs (PyTorch's crop of "
                f"the full output); got {torch_padding!r}. jaxpad's 'same' and 'valid' go in "
                f"`padding`."
            )
        return explicit_pairs(torch_padding, n, "torch_padding"), False, modes
    if isinstance(padding, str):
        if padding.lower() in TRANSPOSE_SPECS:
            return padding.lower(), False, modes
        if padding != "CIRCULAR" and padding.upper() != "SAME_LOWER":
            raise ValueError(
                f"`padding` of ConvTranspose must be one of flax's "
                f"{', '.join(map(repr, FLAX_TRANSPOSE_PADDINGS))}, an int, ints or (lo, hi) "
                f"pairs (flax's, the padding of lax.conv_transpose), or 'same'/'valid'; got "
                f"{padding!r}. PyTorch's crop goes in `torch_padding`, periodic upsampling is "
                f"padding_mode='circular'."
            )
    if isinstance(padding, str) and padding == "CIRCULAR":
        if any(m not in ("zeros", "circular") for m in modes):
            raise ValueError(
                f"`padding_mode` {padding_mode!r} conflicts with padding='CIRCULAR', which is "
                f"flax's circular transposed convolution; leave `padding_mode` at 'zeros', or "
                f"pass padding='same' (or torch_padding=) with padding_mode={padding_mode!r}."
            )
        modes = ("circular",) * n
    else:
        if not isinstance(padding, str):
            padding = explicit_pairs(padding, n, negative=True)
        if any(m != "zeros" for m in modes):
            raise ValueError(
                f"`padding_mode` {padding_mode!r} needs PyTorch's crop: flax's `padding` "
                f"{padding!r} pads the stride-dilated input with zeros, as "
                f"lax.conv_transpose does. Pass torch_padding= (the crop, "
                f"kernel_dilation * (k - 1) - padding) with padding_mode={padding_mode!r}."
            )
    return padding, True, modes


def conv_transpose_config(
    *,
    features: int,
    kernel_size: int | Sequence[int],
    strides: Any = 1,
    padding: Any = "SAME",
    torch_padding: Any = None,
    output_padding: Any = 0,
    padding_mode: Any = "zeros",
    kernel_dilation: Any = 1,
    feature_group_count: int = 1,
    transpose_kernel: bool = False,
    in_features: int | None = None,
    features_name: str = "features",
) -> ConvTransposeConfig:
    """Checks a ConvTranspose module's hyperparameters and returns them canonical.

    Args:
      features: the output channels (`features` in linen, `out_features` in nnx).
      kernel_size: an int (1-D, as in flax) or one int per spatial axis.
      strides: None, an int or one per spatial axis.
      padding: flax's 'SAME', 'VALID', 'CIRCULAR', 'SAME_LOWER' (stride 1), int,
        ints or `(lo, hi)` pairs (the padding of `lax.conv_transpose`), or
        jaxpad's 'same'/'valid'.
      torch_padding: None, or PyTorch's crop (an int, ints or pairs); then
        `padding` must be left at 'SAME'.
      output_padding: an int or one per axis, below the stride or dilation;
        with `torch_padding` or 'same'/'valid' only.
      padding_mode: a `jaxpad.conv_transpose` mode, or one per spatial axis;
        'zeros' with flax's pads and 'SAME_LOWER', 'zeros' or 'circular' with
        'CIRCULAR'.
      kernel_dilation: None, an int or one per spatial axis.
      feature_group_count: the number of groups.
      transpose_kernel: flax's kernel layout switch (see `kernel_shape_transpose`).
      in_features: the input channels when known (nnx: at construction).
      features_name: how the output channels are called in messages.

    Returns:
      The checked `ConvTransposeConfig`.

    Raises:
      ValueError: naming the argument, for anything jaxpad would refuse later,
        and for a `padding_mode` or `output_padding` flax's paddings cannot take.
      TypeError: non-integer sizes or a non-bool `transpose_kernel`.

    Example:
      >>> from jaxpad._layers import conv_transpose_config
      >>> conv_transpose_config(features=8, kernel_size=(3, 3), strides=2).padding
      'same'
      >>> conv_transpose_config(features=8, kernel_size=3, torch_padding=1).padding
      ((1, 1),)
    """
    features = _positive(features, features_name)
    sizes = _kernel_size(kernel_size)
    n = len(sizes)
    groups = _positive(feature_group_count, "feature_group_count")
    check_divides(groups, features, features_name)
    if in_features is not None:
        check_divides(groups, _positive(in_features, "in_features"), "in_features")
    if not isinstance(transpose_kernel, bool):
        raise TypeError(f"`transpose_kernel` must be a bool; got {transpose_kernel!r}.")
    strides_t = _per_axis(strides, n, "strides")
    dilation_t = _per_axis(kernel_dilation, n, "kernel_dilation")
    spec, flax_pads, modes = _transpose_spec(padding, torch_padding, padding_mode, n)
    if not flax_pads:
        transpose_padding(spec, (1,) * n, sizes, strides_t, dilation_t)  # checks the spec
    elif isinstance(spec, str):  # 'SAME_LOWER' needs stride 1
        flax_transpose_padding(spec, (1,) * n, sizes, strides_t, dilation_t)
    extra = output_padding_ints(output_padding, strides_t, dilation_t)
    if flax_pads and any(extra):
        raise ValueError(
            f"`output_padding` {output_padding!r} goes with torch_padding= or 'same'/'valid'; "
            f"flax's padding={padding!r} sets the output size itself (its high pads)."
        )
    return ConvTransposeConfig(sizes, strides_t, spec, flax_pads, extra, modes, dilation_t,
                               groups, transpose_kernel)


def kernel_shape_transpose(
    config: ConvTransposeConfig, in_features: int, features: int
) -> tuple[int, ...]:
    """The kernel's shape: flax's `(*k, in, features // groups)`, or with
    `transpose_kernel` `(*k, features // groups, in)`, jaxpad's channels-last layout."""
    check_divides(config.groups, in_features, "in_features")
    og = features // config.groups
    if config.transpose_kernel:
        return (*config.kernel_size, og, in_features)
    return (*config.kernel_size, in_features, og)


def conv_transpose_apply(
    config: ConvTransposeConfig,
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    *,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """The ConvTranspose modules' forward pass: `jaxpad.conv_transpose` on channels-last `x`.

    Without `transpose_kernel` the kernel is flax's: the lhs-dilated correlation
    kernel, i.e. jaxpad's kernel flipped with its channel axes swapped. flax's
    'CIRCULAR' and explicit pads become crops (and zeros around the output)
    once the input size is known (`flax_transpose_padding`).
    """
    c = config
    nsp = len(c.kernel_size)
    if not c.transpose_kernel:
        kernel = jnp.swapaxes(jnp.flip(kernel, tuple(range(nsp))), -1, -2)

    def f(x):
        crops, extra, zeros = c.padding, c.output_padding, ((0, 0),) * nsp
        if c.flax_pads:
            crops, extra, zeros = flax_transpose_padding(
                c.padding, x.shape[1:-1], c.kernel_size, c.strides, c.kernel_dilation,
                transpose_kernel=c.transpose_kernel)
        padded = any(w != (0, 0) for w in zeros)
        y = conv_transpose(
            x, kernel, None if padded else bias, stride=c.strides, padding=crops,
            output_padding=extra, padding_mode=c.padding_mode, dilation=c.kernel_dilation,
            groups=c.groups, precision=precision, preferred_element_type=preferred_element_type)
        if padded:  # flax's pads beyond the full output: zeros there, the bias added after
            y = add_bias(jnp.pad(y, ((0, 0), *zeros, (0, 0))), bias, dimension_numbers(nsp, True))
        return y
    return _spatial_call(jnp.asarray(x), nsp, f)


@dataclasses.dataclass(frozen=True)
class EquinoxConfig:
    """An equinox Conv/ConvTranspose's hyperparameters, checked, in the form equinox stores."""

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: str | tuple[Pair, ...]
    dilation: tuple[int, ...]
    groups: int
    padding_mode: str | tuple[str, ...]
    output_padding: tuple[int, ...]
    padding_value: float


def equinox_config(
    num_spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: Any = "ZEROS",
    *,
    output_padding: Any = None,
    padding_value: Any = 0.0,
) -> EquinoxConfig:
    """Checks an `equinox.nn.Conv` (or, with `output_padding`, `ConvTranspose`) configuration.

    Sizes become one int per axis and `padding` what `equinox_padding` makes
    of it, as equinox stores them; `padding_mode` is uppercased as in equinox
    ('ZEROS', 'REFLECT', ...; the aliases 'edge'/'wrap' as 'REPLICATE'/'CIRCULAR'),
    or a tuple of those when given one per axis.

    Args:
      num_spatial_dims: the number of spatial axes.
      in_channels: the input channels.
      out_channels: the output channels.
      kernel_size: an int or one per spatial axis.
      stride: an int or one per spatial axis.
      padding: equinox's strings, jaxpad's 'causal'/'full' (convolutions only),
        an int, ints or `(lo, hi)` pairs.
      dilation: an int or one per spatial axis.
      groups: must divide `in_channels` and `out_channels`.
      padding_mode: a `jaxpad.pad` mode (any case), or one per spatial axis;
        for a transposed convolution one of `TRANSPOSE_MODES`.
      output_padding: None for a convolution; for a transposed one an int or
        one per axis, each below the stride or the dilation.
      padding_value: the fill of 'constant' axes, a number.

    Returns:
      The checked `EquinoxConfig` (`output_padding` is `()` for a convolution).

    Raises:
      ValueError: naming the argument, for anything equinox or jaxpad would refuse.
      TypeError: non-integer sizes or a non-numeric `padding_value`.

    Example:
      >>> from jaxpad._layers import equinox_config
      >>> c = equinox_config(2, 4, 8, 3, padding="same", padding_mode=["reflect", "wrap"])
      >>> c.kernel_size, c.padding, c.padding_mode
      ((3, 3), 'SAME', ('REFLECT', 'CIRCULAR'))
    """
    n = _positive(num_spatial_dims, "num_spatial_dims")
    groups = _positive(groups, "groups")
    check_divides(groups, _positive(in_channels, "in_channels"), "in_channels", "groups")
    check_divides(groups, _positive(out_channels, "out_channels"), "out_channels", "groups")
    sizes = canonical_ints(kernel_size, n, "kernel_size")
    strides = canonical_ints(stride, n, "stride")
    dilations = canonical_ints(dilation, n, "dilation")
    transpose = output_padding is not None
    spec = equinox_padding(padding, n, transpose=transpose)
    if transpose:
        modes = canonical_transpose_modes(padding_mode, n)
        extra = output_padding_ints(output_padding, strides, dilations)
    else:
        modes, extra = canonical_modes(padding_mode, n, "padding_mode"), ()
    stored = modes[0].upper() if isinstance(padding_mode, str) else tuple(
        m.upper() for m in modes)
    if isinstance(padding_value, bool) or not isinstance(padding_value, numbers.Real):
        raise TypeError(f"`padding_value` must be a number; got {padding_value!r}.")
    return EquinoxConfig(sizes, strides, spec, dilations, groups, stored, extra,
                         float(padding_value))


def equinox_transpose_kernel(weight: jax.Array, groups: int) -> jax.Array:
    """equinox's ConvTranspose weight as `jaxpad.conv_transpose`'s channels-first kernel.

    equinox holds `(O, I // G, *k)`, the kernel of a correlation over the
    stride-dilated input; `jaxpad.conv_transpose(channels_last=False)` (and
    PyTorch) take `(I, O // G, *k)`, the kernel of the forward convolution it
    transposes: the channels regrouped, the taps flipped. The map is its own
    inverse, so it also turns PyTorch's `ConvTransposeNd.weight` into equinox's.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxpad._layers import equinox_transpose_kernel
      >>> w = jnp.arange(12.0).reshape(4, 1, 3)  # O=4, I // G = 1, k=3, G=2
      >>> equinox_transpose_kernel(w, 2).shape
      (2, 2, 3)
      >>> bool((equinox_transpose_kernel(equinox_transpose_kernel(w, 2), 2) == w).all())
      True
    """
    o, ig, *k = weight.shape
    w = weight.reshape(groups, o // groups, ig, *k)
    w = jnp.swapaxes(w, 1, 2).reshape(groups * ig, o // groups, *k)
    return jnp.flip(w, tuple(range(2, w.ndim)))


def unbatched_input(x: Any, nsp: int) -> jax.Array:
    """`x` as an array after checking it is equinox's unbatched `(C, *spatial)`."""
    x = jnp.asarray(x)
    if x.ndim != nsp + 1:
        raise ValueError(
            f"`x` must be unbatched (channels, *spatial) with {nsp} spatial axes, so rank "
            f"{nsp + 1}, as in equinox (jax.vmap the layer over a batch); got shape "
            f"{tuple(x.shape)}."
        )
    return x


@dataclasses.dataclass(frozen=True)
class PadConfig:
    """A Pad module's arguments, checked and canonical."""

    widths: tuple[Pair, ...]
    modes: tuple[str, ...]
    value: float
    oversize: str


def pad_config(padding: Any, mode: Any = "zeros", value: float = 0.0,
               oversize: str = "error") -> PadConfig:
    """Checks a Pad module's arguments: one int or `(lo, hi)` pair per spatial axis.

    Example:
      >>> from jaxpad._layers import pad_config
      >>> pad_config((1, (0, 2)), "reflect").widths
      ((1, 1), (0, 2))
    """
    if not isinstance(padding, Sequence) or isinstance(padding, str) or not padding:
        raise TypeError(
            f"`padding` must be a non-empty sequence with one int or (lo, hi) pair per spatial "
            f"axis (its length is the number of spatial axes, e.g. (1, 1) for images); got "
            f"{padding!r}. The PyTorch-named aliases (ReflectionPad2d(1), ...) take an int."
        )
    widths = canonical_pad_width(
        [(p, p) if not isinstance(p, Sequence) else p for p in padding], len(padding), "padding")
    if oversize not in OVERSIZE:
        raise ValueError(f"`oversize` must be 'error' or 'repeat'; got {oversize!r}.")
    return PadConfig(widths, canonical_modes(mode, len(widths), "mode"), float(value), oversize)


def pad_apply(config: PadConfig, x: jax.Array, *, channels_last: bool = True) -> jax.Array:
    """Pads the spatial axes of `x`, `(*batch, *spatial, C)` or, channels first,
    `(*batch, C, *spatial)`."""
    x = jnp.asarray(x)
    nsp = len(config.widths)
    if channels_last:
        input_features(x, nsp)
    elif x.ndim < nsp + 1:
        raise ValueError(
            f"`x` must be (*batch, channels, *spatial) with {nsp} spatial axes, so rank "
            f">= {nsp + 1}; got shape {tuple(x.shape)}."
        )
    after = 1 if channels_last else 0
    lead = x.ndim - nsp - after
    widths = ((0, 0),) * lead + config.widths + ((0, 0),) * after
    modes = ("zeros",) * lead + config.modes + ("zeros",) * after
    return pad(x, widths, modes, value=config.value, oversize=config.oversize)


# PyTorch's padding layers: family -> jaxpad mode.
TORCH_PAD_FAMILIES = {m.torch_layer: m.name for m in MODE_RECORDS if m.torch_layer}


def torch_padding(padding: Any, rank: int, name: str) -> tuple[Pair, ...]:
    """PyTorch's int or flat `(left, right, top, bottom, ...)` as one pair per axis, in order."""
    if isinstance(padding, Sequence) and not isinstance(padding, str):
        flat = [as_int(p, "padding") for p in padding]
        if len(flat) != 2 * rank:
            raise ValueError(
                f"`padding` of {name} must be an int or {2 * rank} ints (PyTorch's order: "
                f"last axis first, (left, right, top, bottom, front, back)); got {padding!r}."
            )
        return tuple((flat[i], flat[i + 1]) for i in range(0, 2 * rank, 2))[::-1]
    p = as_int(padding, "padding")
    return ((p, p),) * rank


_ALIAS_DOC = """PyTorch's `nn.{name}`: `{pad}(widths, mode={mode!r}{value})` on {rank} spatial axes.

    `padding` is an int or PyTorch's flat tuple of {n} ints, last axis first
    (`(left, right{more})`); the layer pads {layout}.

    Args:
      padding: an int, or {n} ints in PyTorch's order.{value_arg}
      **kwargs: passed to `{pad}` (e.g. `oversize`{name_kw}).

    Returns:
      A `{module}.{pad}` layer.

    Raises:
      ValueError: `padding` neither an int nor {n} ints, or what `{pad}` refuses.
      TypeError: non-integer widths, or a wrong number of positional arguments.

    Example:
      >>> import jax.numpy as jnp, jaxpad.{api}
      >>> layer = jaxpad.{api}.{name}({example_args})
      >>> x = jnp.ones({x_shape})
      >>> {call}.shape
      {y_shape}
"""


def torch_alias(pad_cls: type, family: str, rank: int, api: str) -> Callable[..., Any]:
    """Builds PyTorch's `{family}{rank}d(padding[, value])` over a Pad layer class."""
    name = f"{family}{rank}d"
    mode = TORCH_PAD_FAMILIES[family]

    def make(padding, *args, **kwargs):
        widths = torch_padding(padding, rank, name)
        if mode == "constant":
            if len(args) + ("value" in kwargs) != 1:
                raise TypeError(f"{name}(padding, value) takes one fill value, as in PyTorch.")
            kwargs["value"] = args[0] if args else kwargs.pop("value")
        elif args:
            raise TypeError(f"{name}(padding) takes one positional argument, as in PyTorch.")
        return pad_cls(widths, mode=mode, **kwargs)

    axes = ("D", "H", "W")[3 - rank:]
    spatial = ", ".join(axes)
    if api == "equinox":  # channels first, the padded axes last
        layout = f"the last {rank} axes of a channels-first input `(*batch, C, {spatial})`"
        x_shape, y_shape = (2, *[4] * rank), (2, *[6] * rank)
    else:
        layout = (f"the {rank} axes before the channels of a channels-last input "
                  f"`(*batch, {spatial}, C)`")
        x_shape, y_shape = (1, *[4] * rank, 2), (1, *[6] * rank, 2)
    make.__name__ = make.__qualname__ = name
    make.__module__ = pad_cls.__module__
    make.__doc__ = _ALIAS_DOC.format(
        name=name, pad=pad_cls.__name__, mode=mode, rank=rank, n=2 * rank, api=api,
        module=pad_cls.__module__,
        value=", value=value" if mode == "constant" else "",
        value_arg="\n      value: the fill, as in PyTorch." if mode == "constant" else "",
        more=", top, bottom" + (", front, back" if rank == 3 else "") if rank > 1 else "",
        layout=layout,
        name_kw=", `name`" if api == "linen" else "",
        example_args="1, 0.5" if mode == "constant" else "1",
        call="layer.apply({}, x)" if api == "linen" else "layer(x)",
        x_shape=x_shape, y_shape=y_shape,
    )
    return make


def torch_aliases(pad_cls: type, family: str, api: str) -> tuple[Callable[..., Any], ...]:
    """The 1d, 2d and 3d aliases of one PyTorch family."""
    return tuple(torch_alias(pad_cls, family, rank, api) for rank in (1, 2, 3))


@dataclasses.dataclass(frozen=True)
class StreamingConfig:
    """A streaming layer's hyperparameters, checked: `jaxpad.streaming`'s keywords (static)."""

    transpose: bool
    kernel_size: tuple[int, ...]
    groups: int
    transpose_kernel: bool
    keywords: tuple[tuple[str, Any], ...]


def streaming_config(
    *,
    transpose: bool,
    features: int,
    kernel_size: int | Sequence[int],
    strides: Any = 1,
    padding: Any = "SAME",
    padding_mode: Any = "zeros",
    kernel_dilation: Any = 1,
    feature_group_count: int = 1,
    time_axis: int = 0,
    transpose_kernel: bool = False,
    precision: Any = None,
    preferred_element_type: Any = None,
    in_features: int | None = None,
    features_name: str = "features",
    **conv_only: Any,
) -> StreamingConfig:
    """Checks a streaming layer's hyperparameters and returns them as `StreamingConfig`.

    `padding` is the spec of the spatial axes other than `time_axis` (flax's
    'SAME'/'VALID' or any `jaxpad.streaming` spec); the time axis is causal.
    With `in_features` known (nnx), every check of `jaxpad.streaming` runs now,
    on a stand-in input.

    Args:
      transpose: a transposed convolution (ConvTranspose's parameters).
      features: the output channels (`features` in linen, `out_features` in nnx).
      kernel_size: an int (1-D, as in flax) or one int per spatial axis.
      strides: None, an int or one per spatial axis.
      padding: the other axes' spec.
      padding_mode: a mode, or one per spatial axis.
      kernel_dilation: None, an int or one per spatial axis.
      feature_group_count: the number of groups.
      time_axis: the streamed spatial axis.
      transpose_kernel: flax's ConvTranspose kernel layout switch.
      precision: passed to `lax.conv_general_dilated`.
      preferred_element_type: passed to `lax.conv_general_dilated`.
      in_features: the input channels when known (nnx: at construction).
      features_name: how the output channels are called in messages.
      **conv_only: `padding_value` and `oversize` (not for `transpose`).

    Returns:
      The checked `StreamingConfig`.

    Raises:
      ValueError: naming the argument, for anything `jaxpad.streaming` refuses.
      TypeError: non-integer sizes or a non-bool `transpose_kernel`.

    Example:
      >>> from jaxpad._layers import streaming_config
      >>> dict(streaming_config(transpose=False, features=8, kernel_size=(3, 3),
      ...                       in_features=4).keywords)["padding"]
      'SAME'
    """
    features = _positive(features, features_name)
    sizes = _kernel_size(kernel_size)
    n = len(sizes)
    groups = _positive(feature_group_count, "feature_group_count")
    check_divides(groups, features, features_name)
    if not isinstance(transpose_kernel, bool):
        raise TypeError(f"`transpose_kernel` must be a bool; got {transpose_kernel!r}.")
    if conv_only.get("oversize", "error") not in OVERSIZE:
        raise ValueError(f"`oversize` must be 'error' or 'repeat'; got {conv_only['oversize']!r}.")
    padding = tuple(padding) if isinstance(padding, list) else padding
    keywords = dict(
        stride=_per_axis(strides, n, "strides"), padding=padding,
        padding_mode=canonical_modes(padding_mode, n, "padding_mode"),
        dilation=_per_axis(kernel_dilation, n, "kernel_dilation"), groups=groups,
        time_axis=time_axis, precision=precision, preferred_element_type=preferred_element_type,
        **conv_only)
    config = StreamingConfig(transpose, sizes, groups, transpose_kernel,
                             tuple(sorted(keywords.items())))
    if in_features is not None:
        in_features = _positive(in_features, "in_features")
        check_divides(groups, in_features, "in_features")
        # Sizes that fit any pad of these kernels, so that only the configuration is checked.
        shape = (1, *(d * k + 1 for d, k in zip(keywords["dilation"], sizes)), in_features)
        kernel = (kernel_shape_transpose if transpose else kernel_shape)(
            config, in_features, features)
        streaming_init(config, jax.ShapeDtypeStruct(shape, jnp.float32),
                       jax.ShapeDtypeStruct(kernel, jnp.float32))
    return config


def _streaming_kernel(config: StreamingConfig, kernel: jax.Array) -> jax.Array:
    """The kernel in `jaxpad.streaming`'s layout (flax's ConvTranspose kernel flipped, swapped)."""
    if config.transpose and not config.transpose_kernel:
        return jnp.swapaxes(jnp.flip(kernel, tuple(range(len(config.kernel_size)))), -1, -2)
    return kernel


def streaming_init(config: StreamingConfig, x: Any, kernel: Any) -> Any:
    """The state before the first chunk of channels-last `x` `(*batch, *spatial, C)`.

    `x` and `kernel` may be arrays or `jax.ShapeDtypeStruct`s; the batch axes are
    flattened into one, as the layers' calls flatten them.
    """
    from . import streaming

    nsp = len(config.kernel_size)
    input_features(x, nsp)
    flat = (math.prod(x.shape[: len(x.shape) - nsp - 1]), *x.shape[len(x.shape) - nsp - 1:])
    kernel = jax.eval_shape(partial(_streaming_kernel, config), kernel)
    init = streaming.init_conv_transpose if config.transpose else streaming.init_conv
    return init(jax.ShapeDtypeStruct(flat, x.dtype), kernel, **dict(config.keywords))


def streaming_apply(
    config: StreamingConfig,
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None,
    state: Any = None,
) -> tuple[jax.Array, Any]:
    """The streaming layers' forward pass on channels-last `x`, `(*batch, *spatial, C)`.

    Without `state`, the whole sequence (`causal_conv` / `causal_conv_transpose`);
    with it, one chunk, returning the next state. The batch axes are flattened
    into one around the call, as `conv_apply` does.
    """
    from . import streaming

    kernel = _streaming_kernel(config, kernel)
    kw = dict(config.keywords)
    out = {}

    def f(x):
        if state is None:
            full = streaming.causal_conv_transpose if config.transpose else streaming.causal_conv
            return full(x, kernel, bias, **kw)
        chunk = streaming.conv_transpose if config.transpose else streaming.conv
        y, out["state"] = chunk(x, kernel, state, bias, **kw)
        return y

    return _spatial_call(jnp.asarray(x), len(config.kernel_size), f), out.get("state")


def streaming_restart(state: Any) -> Any:
    """A fresh state of the same stream: zeros, not started (nor ended)."""
    from . import streaming

    fresh = jax.tree.map(jnp.zeros_like, state)
    return dataclasses.replace(fresh, ended=None) if isinstance(fresh, streaming.ConvState) \
        else fresh

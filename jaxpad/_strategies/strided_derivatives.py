"""CPU route: unequal 2-D phases differentiated as the strided convolution they transpose.

Applies to 2-D phases that stay unequal (3x3 and 5x5 stride 2: no zero taps make them
one convolution), at most `STRIDED_DERIVATIVES_CHANNELS` output channels per group or
a phase of more than `PATCH_TAPS` taps at stride 2. `unequal_phases_p` is a primitive
computed by the phase convolutions (undifferentiated, by the overlap-add where it
applies) whose derivatives are XLA's of the strided convolution it transposes: one
pass over the cotangent each for the input and the kernel gradient instead of one or
more per phase (`benchmarks/results/cpu-2026-12-03-routes.md`, the derivatives
section). A primitive, not a custom VJP, so that forward mode stays the phases'
convolutions.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .._conv import dimension_numbers
from .._padding import effective_kernel_size
from .overlap_add import overlap_add as overlap_add_
from .patch_products import phase_conv
from .phases import phase_convs, phase_kernel

STRIDED_DERIVATIVES_CHANNELS = 32
unequal_phases_p = Primitive("jaxpad_unequal_phases_conv_transpose")


def _unequal_phases(x, kernel, *, lo, out, overlap_add, differentiated, **static):
    """`unequal_phases_p`'s computation: the phases, or the overlap-add where it applies.

    The overlap-add only undifferentiated: in a training step XLA:CPU ran its wide
    product beside the backward pass.
    """
    kernel = phase_kernel(kernel, static["groups"])
    if overlap_add and not differentiated:
        return overlap_add_(x, kernel, lo, out, static["stride"], static["dilation"],
                            static["dn"], static["precision"], static["preferred_element_type"])
    return phase_convs(x, kernel, lo, out, conv=phase_conv, **static)


def _unequal_phases_shape(x, kernel, *, out, groups, dn, preferred_element_type, **_):
    shape = list(x.shape)
    shape[dn.out_spec[1]] = kernel.shape[-2] * groups
    for a, o in zip(dn.out_spec[2:], out):
        shape[a] = o
    dtype = (jnp.result_type(x.dtype, kernel.dtype) if preferred_element_type is None
             else jnp.dtype(preferred_element_type))
    # `x.update` keeps the operands' type beyond shape and dtype (varying manual axes).
    return x.update(shape=tuple(shape), dtype=dtype, weak_type=False)


def _strided_conv(z, kernel, size, *, lo, out, stride, dilation, groups, dn, precision,
                  preferred_element_type):
    """The forward convolution that `_transpose_zeros` transposes, applied to `z`.

    `z` has the transposed convolution's output shape, `size` is its input's spatial
    shape: the padding `(lo, hi)` gives back that size (`hi` negative crops).
    """
    pads = [(start, (i - 1) * s + effective_kernel_size(k, d) - start - o)
            for i, k, s, d, start, o in zip(size, kernel.shape, stride, dilation, lo, out)]
    internal = lax.ConvDimensionNumbers(
        lhs_spec=dn.lhs_spec, rhs_spec=dimension_numbers(len(stride), True).rhs_spec,
        out_spec=dn.out_spec,
    )
    return lax.conv_general_dilated(
        z, kernel.astype(z.dtype), stride, pads, rhs_dilation=dilation,
        dimension_numbers=internal, feature_group_count=groups, precision=precision,
        preferred_element_type=preferred_element_type,
    )


def _unequal_phases_input_grad(ct, x, kernel, *, overlap_add, differentiated, **params):
    size = [x.aval.shape[a] for a in params["dn"].lhs_spec[2:]]
    return _strided_conv(ct, kernel, size, **params).astype(x.aval.dtype)


def _unequal_phases_kernel_grad(ct, x, kernel, *, overlap_add, differentiated, **params):
    size = [x.shape[a] for a in params["dn"].lhs_spec[2:]]
    conv = partial(_strided_conv, ct, size=size, **params)
    (grad,) = jax.linear_transpose(conv, kernel.aval)(
        x.astype(jax.eval_shape(conv, kernel.aval).dtype))
    return grad


def _unequal_phases_jvp(primals, tangents, **params):
    # Bilinear: the primal as the differentiated computation, the tangents as binds
    # whose transposes are the rules above.
    x, kernel = primals
    tx, tkernel = tangents
    y = unequal_phases_p.bind(x, kernel, **{**params, "differentiated": True})
    terms = [unequal_phases_p.bind(*args, **params)
             for t, args in ((tx, (tx, kernel)), (tkernel, (x, tkernel)))
             if type(t) is not ad.Zero]
    return y, sum(terms[1:], terms[0])  # JAX calls the rule with some tangent not zero


def _unequal_phases_batch(args, dims, **params):
    x, kernel = args
    bx, bkernel = dims
    if bkernel is None:  # the vmapped axis joins the batch
        x = jnp.moveaxis(x, bx, 0)
        y = unequal_phases_p.bind(x.reshape(-1, *x.shape[2:]), kernel, **params)
        return y.reshape(*x.shape[:2], *y.shape[1:]), 0
    return jax.vmap(partial(_unequal_phases, **params), in_axes=(bx, bkernel))(x, kernel), 0


unequal_phases_p.def_impl(_unequal_phases)
unequal_phases_p.def_abstract_eval(_unequal_phases_shape)
mlir.register_lowering(unequal_phases_p, mlir.lower_fun(_unequal_phases,
                                                         multiple_results=False))
ad.defbilinear(unequal_phases_p, _unequal_phases_input_grad, _unequal_phases_kernel_grad)
ad.primitive_jvps[unequal_phases_p] = _unequal_phases_jvp
batching.primitive_batchers[unequal_phases_p] = _unequal_phases_batch

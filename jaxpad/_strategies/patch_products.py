"""CPU route: phase convolutions differentiated through patch products.

Applies in 2-D and 3-D to phase convolutions of at most `PATCH_TAPS` taps and no
groups. XLA:CPU's kernel-gradient convolution for a small kernel between many
channels is slower than the same multiply-adds as one matrix product, so the
forward pass stays a convolution and its tangent, the same linear map, is patch
products (im2col), which reverse mode transposes into products too; the price is
patch buffers (one copy of the phase input per tap) in the backward pass
(`benchmarks/results/cpu-2026-11-22-transpose.md`).
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .phases import valid_conv

# Phase convolutions with at most this many taps differentiate through patch products.
PATCH_TAPS = 8


def patch_product(x, kernel, dilation, dn, precision, preferred_element_type):
    """`valid_conv` as one matrix product of the input's patches (im2col)."""
    nsp = len(dilation)
    spatial, channel = dn.lhs_spec[2:], dn.lhs_spec[1]
    k = kernel.shape[:nsp]
    out = [x.shape[s] - d * (kk - 1) for s, d, kk in zip(spatial, dilation, k)]
    patches = []
    for taps in itertools.product(*map(range, k)):
        p = x
        for s, t, d, o in zip(spatial, taps, dilation, out):
            p = lax.slice_in_dim(p, t * d, t * d + o, axis=s)
        patches.append(p)
    p = patches[0] if len(patches) == 1 else lax.concatenate(patches, channel)
    y = lax.dot_general(p, kernel.reshape(-1, kernel.shape[-1]), (((channel,), (0,)), ((), ())),
                        precision=precision, preferred_element_type=preferred_element_type)
    return jnp.moveaxis(y, -1, channel)


@partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def small_valid_conv(x, kernel, dilation, dn, precision, preferred_element_type):
    """`valid_conv` (2-D or 3-D, no groups) whose derivatives are patch products.

    XLA:CPU's kernel-gradient convolution for a small kernel between many channels
    is slower than the same multiply-adds as one matrix product. So the forward stays
    a convolution and the tangent, the same linear map, is patch products, which
    reverse mode transposes into products too. A 1x1 (or 1x1x1) kernel is a product
    in the forward pass as well: XLA:CPU runs a 2-D 1x1 convolution slower than the
    same dot (`python -m benchmarks.routes`, `benchmarks/results/cpu-2026-12-03-routes.md`).
    """
    if math.prod(kernel.shape[:len(dilation)]) == 1:
        return patch_product(x, kernel, dilation, dn, precision, preferred_element_type)
    return valid_conv(x, kernel, dilation, dn, precision, preferred_element_type)


@partial(small_valid_conv.defjvp, symbolic_zeros=True)
def _small_valid_conv_jvp(dilation, dn, precision, preferred_element_type, primals, tangents):
    x, kernel = primals
    tx, tkernel = tangents
    static = (dilation, dn, precision, preferred_element_type)
    y = small_valid_conv(x, kernel, *static)
    zero = jax.custom_derivatives.SymbolicZero
    terms = []
    if not isinstance(tx, zero):
        terms.append(patch_product(tx, kernel, *static))
    if not isinstance(tkernel, zero):
        terms.append(patch_product(x, tkernel, *static))
    return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)



def patch_derivatives(nsp: int, groups: int, taps: int) -> bool:
    """Whether a phase convolution runs as `small_valid_conv` (patch-product derivatives).

    Not in 1-D, where XLA:CPU's kernel-gradient convolution is the faster one.
    """
    return groups == 1 and nsp >= 2 and taps <= PATCH_TAPS


def phase_conv(x, kernel, dilation, dn, precision, preferred_element_type, groups=1):
    """`valid_conv`, with patch-product derivatives where `patch_derivatives` says."""
    nsp = len(dilation)
    if patch_derivatives(nsp, groups, math.prod(kernel.shape[:nsp])):
        return small_valid_conv(x, kernel, dilation, dn, precision, preferred_element_type)
    return valid_conv(x, kernel, dilation, dn, precision, preferred_element_type, groups)

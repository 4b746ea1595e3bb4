"""CPU route: 3x3 stride 2 and smaller, forward, as one product added per phase.

Applies where the phases differ in their taps at stride 2 with effective kernels of
at most 3 (3x3 stride 2, the usual decoder upsampling), in 2-D and 3-D, no groups.
XLA:CPU runs those 1- to 4-tap phase convolutions at a fraction of the throughput of
one wide product (`benchmarks/results/cpu-2026-12-03-routes.md`). Differentiated
(training), the phase convolutions compute the output.
"""

from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .._padding import effective_kernel_size
from .patch_products import phase_conv
from .phases import crop, depth_to_space, phase_convs, phase_plans, stack_phases, uniform, window


def overlap_adds(ksize, stride, dilation, groups, plans) -> bool:
    """Whether `_transpose_zeros` takes the overlap-add route: 3x3 stride 2 and smaller."""
    return (groups == 1 and len(stride) >= 2 and not uniform(plans)
            and all(s == 2 and effective_kernel_size(k, d) <= 3
                    for k, s, d in zip(ksize, stride, dilation)))


@partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5, 6, 7, 8))
def overlap_add(x, kernel, lo, out, stride, dilation, dn, precision, preferred_element_type):
    """`phase_convs` (no groups) as one product with every tap, added per phase.

    The product `P = x @ kernel` holds, for each input element, its contribution
    through every tap; output phase `rho` adds, per tap of the phase, `P` of that
    tap at the phase's shifted window. Differentiated, it is the phase convolutions.
    """
    nsp = len(stride)
    spatial = dn.lhs_spec[2:]
    ksize, out_channels = kernel.shape[:nsp], kernel.shape[-1]
    # (N, *S, *k, O) in either layout: dot_general keeps x's other axes in order.
    p = lax.dot_general(x, jnp.moveaxis(kernel, nsp, 0).reshape(kernel.shape[nsp], -1),
                        (((dn.lhs_spec[1],), (0,)), ((), ())), precision=precision,
                        preferred_element_type=preferred_element_type)
    p = p.reshape(*p.shape[:-1], *ksize, out_channels)
    plans = phase_plans(x, ksize, lo, out, stride, dilation, spatial)
    blocks_per_axis = [-(-o // s) for o, s in zip(out, stride)]
    block_shape = (x.shape[0], *blocks_per_axis, out_channels)
    blocks = []
    for combo in itertools.product(*(range(s) for s in stride)):
        plan = [plans[a][rho] for a, rho in enumerate(combo)]
        if any(q is None for q in plan):
            blocks.append(jnp.zeros(block_shape, p.dtype))
            continue
        total = []
        # The phase's flipped sub-kernel: its m-th tap reads the window shifted by m.
        for ms in itertools.product(*(range(len(q[0])) for q in plan)):
            taps = tuple(q[0][len(q[0]) - 1 - m] for q, m in zip(plan, ms))
            term = p[(slice(None),) * (1 + nsp) + taps]
            for a, (q, m) in enumerate(zip(plan, ms)):
                term = window(term, 1 + a, q[1] + m * q[3], blocks_per_axis[a])
            total.append(term)
        blocks.append(sum(total[1:], total[0]))
    y = depth_to_space(stack_phases(blocks, nsp + 1, stride), nsp + 1,
                        tuple(range(1, nsp + 1)), stride)
    y = crop(y, tuple(range(1, nsp + 1)), (0,) * nsp, out)
    return y if dn.out_spec[1] == nsp + 1 else jnp.moveaxis(y, -1, 1)


@partial(overlap_add.defjvp, symbolic_zeros=True)
def _overlap_add_jvp(lo, out, stride, dilation, dn, precision, preferred_element_type,
                     primals, tangents):
    perturbed = [not isinstance(t, jax.custom_derivatives.SymbolicZero) for t in tangents]
    if not any(perturbed):
        y = overlap_add(*primals, lo, out, stride, dilation, dn, precision,
                         preferred_element_type)
        return y, jnp.zeros_like(y)

    def phases(*args):  # of the perturbed arguments, the others held
        given = iter(args)
        x, kernel = (next(given) if p else v for p, v in zip(perturbed, primals))
        return phase_convs(x, kernel, lo, out, stride=stride, dilation=dilation, groups=1,
                            dn=dn, precision=precision,
                            preferred_element_type=preferred_element_type, conv=phase_conv)

    # Differentiated, the primal is the phases' too: in a training step XLA:CPU's
    # concurrent schedule ran the product beside the backward, slower.
    return jax.jvp(phases, [v for p, v in zip(perturbed, primals) if p],
                   [t for p, t in zip(perturbed, tangents) if p])


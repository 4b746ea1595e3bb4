"""`_strategies.pad_first.conv_lax`: unpadded 2-D convolutions on XLA:CPU's padded path,
same numbers."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close, cpu_only
from jax import lax

import jaxpad
from jaxpad._conv import dimension_numbers
from jaxpad._strategies.pad_first import conv_lax

HIGHEST = lax.Precision.HIGHEST


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("stride, dilation", [((1, 1), (1, 1)), ((2, 3), (1, 2))])
def test_unpadded_2d_equals_lax_forward_and_backward(channels_last, stride, dilation):
    rng = np.random.default_rng(0)
    dn = dimension_numbers(2, channels_last)
    x = jnp.asarray(rng.standard_normal((2, 9, 8, 4) if channels_last else (2, 4, 9, 8)),
                    jnp.float32)
    w = jnp.asarray(rng.standard_normal((3, 2, 2, 6) if channels_last else (6, 2, 3, 2)),
                    jnp.float32)
    kw = dict(stride=stride, pads=((0, 0), (0, 0)), dilation=dilation, dn=dn, groups=2,
              precision=HIGHEST)

    def ours(x, w):
        return conv_lax(x, w, **kw)

    def plain(x, w):
        return lax.conv_general_dilated(x, w, stride, ((0, 0), (0, 0)), rhs_dilation=dilation,
                                        dimension_numbers=dn, feature_group_count=2,
                                        precision=HIGHEST)

    y, vjp = jax.vjp(ours, x, w)
    y_ref, vjp_ref = jax.vjp(plain, x, w)
    ct = jnp.asarray(rng.standard_normal(y.shape), jnp.float32)
    for a, b in zip((y, *vjp(ct)), (y_ref, *vjp_ref(ct))):
        assert_close(a, b)
    assert_close(jax.vmap(ours)(x[:, None], jnp.stack([w, w]))[:, 0], y_ref)
    hlo = jax.jit(ours).lower(x, w).compile().as_text()
    expected = "pad=-1_0x0_0" if jax.default_backend() == "cpu" else "size="
    assert expected in hlo
    assert "pad=" not in jax.jit(plain).lower(x, w).compile().as_text()  # the check can fail


@cpu_only
def test_padded_and_other_ranks_are_left_alone():
    x, w = jnp.ones((1, 6, 6, 1)), jnp.ones((3, 3, 1, 1))
    dn = dimension_numbers(2, True)
    hlo = jax.jit(lambda x, w: conv_lax(x, w, stride=(1, 1), pads=((1, 1), (0, 0)),
                                        dilation=(1, 1), dn=dn)).lower(x, w).as_text()
    assert "concatenate" not in hlo
    hlo = jax.jit(lambda x, w: conv_lax(x[:, 0], w[0], stride=(1,), pads=((0, 0),),
                                        dilation=(1,), dn=dimension_numbers(1, True))
                  ).lower(x, w).as_text()
    assert "concatenate" not in hlo


@cpu_only
@pytest.mark.parametrize("channels_last", [True, False])
def test_training_step_convolutions_are_those_of_lax(channels_last):
    """The backward convolutions come out as lax's own, forward mode too.

    Differentiated inside the platform switch, they were left uncanonicalised by
    XLA:CPU (a generic path, about 30x slower); the tangent map sits outside it.
    """
    dn = dimension_numbers(2, channels_last)
    x = jnp.zeros((2, 12, 12, 4) if channels_last else (2, 4, 12, 12))
    w = jnp.zeros((3, 3, 4, 4) if channels_last else (4, 4, 3, 3))
    kw = dict(stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), dn=dn)

    def labels(f):
        step = jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), (0, 1)))
        return sorted(re.findall(r"dim_labels=[^,}\s]+", step.lower(x, w).compile().as_text()))

    got = labels(lambda x, w: jaxpad.conv(x, w, padding="valid", channels_last=channels_last))
    assert got and got == labels(lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), ((0, 0), (0, 0)), dimension_numbers=dn))
    tangent = jax.jvp(lambda x: conv_lax(x, w + 1, **kw), (x,), (jnp.ones_like(x),))[1]
    assert_close(tangent, jnp.full(tangent.shape, 36.0))

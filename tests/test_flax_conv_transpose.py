"""`jaxpad.linen/nnx.ConvTranspose` against flax's: every padding flax accepts, flax's numbers.

Fixed cases cover what flax's own ConvTranspose tests exercise (written anew, with NumPy
oracles); a hypothesis property compares both APIs with flax's layers on random
configurations, forward and backward.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close, examples, grid, tolerance
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("flax", reason="flax is not installed: the flax layers not checked")
import flax.linen as nn  # noqa: E402
from flax import nnx  # noqa: E402

import jaxpad.linen  # noqa: E402
import jaxpad.nnx  # noqa: E402
from jaxpad._padding import flax_transpose_padding  # noqa: E402

HIGHEST = jax.lax.Precision.HIGHEST


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _outputs(x, kernel, bias=None, **kwargs):
    """jaxpad.linen's and jaxpad.nnx's ConvTranspose on `x`, holding `kernel` and `bias`."""
    nsp = kernel.ndim - 2
    features = kernel.shape[-2 if kwargs.get("transpose_kernel") else -1]
    kwargs.update(use_bias=bias is not None, precision=HIGHEST)
    params = {"kernel": kernel} if bias is None else {"kernel": kernel, "bias": bias}
    linen = jaxpad.linen.ConvTranspose(features, kernel.shape[:nsp], **kwargs)
    layer = jaxpad.nnx.ConvTranspose(
        x.shape[-1], features, kernel.shape[:nsp], kernel_init=lambda *_: kernel,
        bias_init=lambda *_: bias, rngs=nnx.Rngs(0), **kwargs)
    return linen.apply({"params": params}, x), layer(x)


def lax_transpose_reference(x, kernel, stride, pads, dilation):
    """flax's explicit-padding ConvTranspose by its definition, channels-last, batched.

    The input with `stride - 1` zeros between its elements, padded by `pads`
    (negative pads crop), correlated with the dilated `(*k, C, O)` kernel.
    """
    x, w = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    nsp = w.ndim - 2
    spaced = np.zeros((x.shape[0], *[(i - 1) * s + 1 for i, s in zip(x.shape[1:-1], stride)],
                       x.shape[-1]))
    spaced[(slice(None), *(slice(None, None, s) for s in stride))] = x
    for a, (lo, hi) in enumerate(pads):
        spaced = np.pad(spaced, [(0, 0)] * (1 + a) + [(max(lo, 0), max(hi, 0))]
                        + [(0, 0)] * (nsp - a))
        size = spaced.shape[1 + a]
        spaced = np.take(spaced, range(max(-lo, 0), size - max(-hi, 0)), axis=1 + a)
    out = [size - d * (k - 1) for size, k, d in zip(spaced.shape[1:-1], w.shape, dilation)]
    y = 0.0
    for taps in itertools.product(*map(range, w.shape[:nsp])):
        window = spaced[(slice(None), *(slice(t * d, t * d + o)
                                        for t, d, o in zip(taps, dilation, out)))]
        y = y + window @ w[taps]
    return y


# ---------------------------------------------------------- flax's cases, NumPy oracles


@grid(batch=[(), (1,), (2, 3)], use_bias=[True, False])
def test_valid_ones_count_the_overlapping_taps(batch, use_bias):
    x, kernel = np.ones((*batch, 8, 3), np.float32), np.ones((3, 3, 4), np.float32)
    bias = np.ones(4, np.float32) if use_bias else None
    taps = np.convolve(np.ones(8), np.ones(3))  # 1 2 3 ... 3 2 1 over 10 outputs
    expected = np.broadcast_to(3 * taps[:, None] + use_bias, (*batch, 10, 4))
    for y in _outputs(x, kernel, bias, padding="VALID"):
        np.testing.assert_allclose(y, expected)


def test_masked_kernel():
    x, kernel = np.ones((8, 3), np.float32), np.ones((3, 3, 4), np.float32)
    mask = jnp.tril(jnp.ones((3, 3, 4)))  # output channel o reads the inputs c >= o
    taps = np.convolve(np.ones(8), np.ones(3))[:, None]
    expected = taps * np.maximum(3 - np.arange(4), 0) + 1
    for y in _outputs(x, kernel, np.ones(4, np.float32), padding="VALID", mask=mask):
        np.testing.assert_allclose(y, expected)


@grid(case=[((1,), 1, 1), ((8,), 2, 1), ((6,), 9, 1), ((14, 5), 3, 1), ((5, 4), 4, 2),
            ((6,), 3, 3)], transpose_kernel=[False, True])
def test_circular_ones_give_the_taps_per_output(case, transpose_kernel):
    shape, k, stride = case
    # A ones input wraps onto every output alike: (taps per stride phase) ** rank * channels.
    nsp = len(shape)
    x = np.ones((2, *shape, 3), np.float32)
    kernel = np.ones((*(k,) * nsp, 3, 3), np.float32)
    expected = np.full((2, *(s * stride for s in shape), 3), 3 * (k // stride) ** nsp)
    for y in _outputs(x, kernel, padding="CIRCULAR", strides=stride,
                      transpose_kernel=transpose_kernel):
        np.testing.assert_allclose(y, expected)


def test_circular_stride_equal_to_the_kernel_lays_kernels_side_by_side():
    x = np.arange(1, 6).reshape(1, 5, 1)  # integers, as flax's test uses them
    kernel = np.array([1, 2, 1]).reshape(3, 1, 1)
    expected = np.kron(np.arange(1, 6), [1, 2, 1]).reshape(1, 15, 1)
    for y in _outputs(x, kernel, np.zeros(1, np.int64), padding="CIRCULAR", strides=3):
        np.testing.assert_array_equal(y, expected)


def _circular_reference(x, kernel, transpose_kernel=False):
    """Stride-1 'CIRCULAR' by rolls: flax's kernel tap `t` reads `x[p + t - (eff - 1) + lo]`,
    wrapped, `lo = (eff - 1) // 2` (rounded up with `transpose_kernel`, whose kernel is
    flipped with its channels swapped)."""
    nsp = kernel.ndim - 2
    if transpose_kernel:
        kernel = np.swapaxes(np.flip(kernel, tuple(range(nsp))), -1, -2)
    y = 0.0
    for taps in itertools.product(*map(range, kernel.shape[:nsp])):
        shift = [k - 1 - t - ((k - 1 + transpose_kernel) // 2)
                 for k, t in zip(kernel.shape, taps)]
        y = y + np.roll(x, shift, axis=tuple(range(1, nsp + 1))) @ kernel[taps]
    return y


@pytest.mark.parametrize("transpose_kernel", [False, True])
def test_circular_2d_custom_kernels_against_rolls(transpose_kernel):
    x = np.arange(1.0, 10.0, dtype=np.float32).reshape(1, 3, 3, 1)
    cross = np.array([[0, 1, 0], [1, 2, 1], [0, 1, 0]], np.float32).reshape(3, 3, 1, 1)
    # The cross is symmetric: twice the centre plus the four wrapped neighbours.
    neighbours = sum(np.roll(x, s, axis=a) for s in (1, -1) for a in (1, 2))
    for y in _outputs(x, cross, padding="CIRCULAR", transpose_kernel=transpose_kernel):
        np.testing.assert_allclose(y, 2 * x + neighbours)
    # An even kernel with a bias: the odd tap's side is flax's convention.
    x2 = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32).reshape(1, 2, 2, 1)
    even = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32).reshape(2, 2, 1, 1)
    expected = _circular_reference(x2, even, transpose_kernel) + 1
    for y in _outputs(x2, even, np.ones(1, np.float32), padding="CIRCULAR",
                      transpose_kernel=transpose_kernel):
        np.testing.assert_allclose(y, expected)
    # Random 1-D and 2-D kernels, odd and even, more channels.
    for shape, k in [((7,), 4), ((5, 6), (2, 3)), ((3,), 5)]:
        k = k if isinstance(k, tuple) else (k,)
        xr, kr = _rand((2, *shape, 3)), _rand((*k, 3, 2) if not transpose_kernel else
                                                (*k, 2, 3), 1)
        for y in _outputs(xr, kr, padding="CIRCULAR", transpose_kernel=transpose_kernel):
            assert_close(y, _circular_reference(xr, kr, transpose_kernel))


def test_circular_under_vmap_and_jit():
    layer = jaxpad.linen.ConvTranspose(5, (3,), padding="CIRCULAR")
    x = jnp.asarray(_rand((8, 32, 2)))
    variables = {"params": {"kernel": _rand((3, 2, 5), 1), "bias": _rand((5,), 2)}}
    batched = jax.jit(jax.vmap(layer.apply, in_axes=(None, 0)))(variables, x)
    assert batched.shape == (8, 32, 5)
    assert_close(batched, layer.apply(variables, x))


@pytest.mark.parametrize("use_bias", [True, False])
def test_transpose_kernel_circular_upsampling_shapes(use_bias):
    layer = jaxpad.linen.ConvTranspose(4, (6, 6), strides=2, padding="CIRCULAR",
                                       transpose_kernel=True, use_bias=use_bias)
    y, variables = jax.eval_shape(layer.init_with_output, jax.random.key(0),
                                  jnp.ones((1, 15, 15, 3)))
    assert variables["params"]["kernel"].shape == (6, 6, 4, 3)
    assert y.shape == (1, 30, 30, 4)


@pytest.mark.parametrize("strides, shape", [(None, (20, 4)), ((2, 3), (43, 20))])
def test_explicit_padding_with_kernel_dilation(strides, shape):
    # flax's pads (4, 2) pad the dilated input; PyTorch's crops would give (28, 14) at stride 1.
    x, kernel = _rand((24, 9, 3)), _rand((7, 4, 3, 6), 1)
    bias = _rand((6,), 2)
    expected = lax_transpose_reference(
        x[None], kernel, strides or (1, 1), ((4, 4), (2, 2)), (2, 3))[0] + bias
    for y in _outputs(x, kernel, bias, padding=(4, 2), strides=strides,
                      kernel_dilation=(2, 3)):
        assert y.shape == (*shape, 6)
        assert_close(y, expected)


@pytest.mark.parametrize("padding", [((0, 9),), ((-2, 1),), 7, ((6, -3),)])
def test_pads_beyond_the_full_output_are_zeros_plus_bias(padding):
    x, kernel, bias = _rand((2, 4, 2)), _rand((3, 2, 3), 1), _rand((3,), 2)
    pads = ((padding, padding),) if isinstance(padding, int) else padding
    expected = lax_transpose_reference(x, kernel, (2,), pads, (1,)) + bias
    for y in _outputs(x, kernel, bias, padding=padding, strides=2):
        assert_close(y, expected)


def test_same_lower_at_stride_one_pads_as_the_forward_convolution():
    # lax.conv_transpose hands 'SAME_LOWER' to the forward convolution: (eff - 1) split,
    # the odd element first.
    x, kernel = _rand((2, 6, 5, 2)), _rand((4, 3, 2, 3), 1)
    expected = lax_transpose_reference(x, kernel, (1, 1), ((2, 1), (2, 2)), (1, 2))
    for y in _outputs(x, kernel, padding="SAME_LOWER", kernel_dilation=(1, 2)):
        assert y.shape == (2, 6, 5, 3)
        assert_close(y, expected)


def test_flax_pads_are_pytorch_crops_eff_minus_one_minus_pad():
    x, kernel = _rand((1, 5, 6, 2)), _rand((3, 4, 2, 3), 1)
    flax_style = _outputs(x, kernel, padding=((1, 2), (0, 3)), strides=2, kernel_dilation=2)
    torch_style = _outputs(x, kernel, torch_padding=((3, 2), (6, 3)), strides=2,
                           kernel_dilation=2)
    for a, b in zip(flax_style, torch_style):
        assert_close(a, b)


# ------------------------------------------------------------ random configurations vs flax

DTYPES = [  # (input, dtype, param_dtype, preferred_element_type)
    (jnp.float32, None, jnp.float32, None),
    (jnp.float32, jnp.float32, jnp.float16, None),
    (jnp.float32, None, jnp.bfloat16, jnp.float32),
    (jnp.float16, None, jnp.float16, None),
    (jnp.float32, jnp.bfloat16, jnp.float32, jnp.float32),
]


@st.composite
def flax_configs(draw):
    nsp = draw(st.integers(1, 2))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=nsp, max_size=nsp)))
    k = tuple(draw(st.lists(st.integers(1, 4), min_size=nsp, max_size=nsp)))
    stride = tuple(draw(st.lists(st.integers(1, 3), min_size=nsp, max_size=nsp)))
    dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=nsp, max_size=nsp)))
    pad = st.integers(-2, 5)
    padding = draw(st.one_of(
        st.sampled_from(["SAME", "VALID", "CIRCULAR", "SAME_LOWER"]), pad,
        st.tuples(*[pad] * nsp), st.tuples(*[st.tuples(pad, pad)] * nsp)))
    if padding == "SAME_LOWER":  # flax's at stride 1 only
        stride = (1,) * nsp
    if not isinstance(padding, str):
        pads = ((padding,) * nsp if isinstance(padding, int) else padding)
        pads = [p if isinstance(p, tuple) else (p, p) for p in pads]
        effs = [d * (kk - 1) + 1 for kk, d in zip(k, dilation)]
        # Pads that crop the whole full output: flax gives zeros or nothing, jaxpad refuses.
        assume(all((i - 1) * s + e - max(e - 1 - lo, 0) - max(e - 1 - hi, 0) >= 1
                   for i, s, e, (lo, hi) in zip(shape, stride, effs, pads)))
    return dict(
        shape=shape, k=k, strides=stride, kernel_dilation=dilation, padding=padding,
        transpose_kernel=draw(st.booleans()), use_bias=draw(st.booleans()),
        masked=draw(st.booleans()), batch=draw(st.sampled_from([(), (2,), (1, 2)])),
        dtypes=draw(st.sampled_from(DTYPES)), cin=draw(st.integers(1, 3)),
        cout=draw(st.integers(1, 3)))


@settings(max_examples=examples(200))
@given(c=flax_configs())
def test_linen_and_nnx_equal_flax_on_random_configurations(c):
    x_dtype, dtype, param_dtype, preferred = c["dtypes"]
    kshape = (*c["k"], *((c["cout"], c["cin"]) if c["transpose_kernel"] else
                         (c["cin"], c["cout"])))
    mask = (jnp.asarray(_rand(kshape, 3) > 0, jnp.float32) if c["masked"] else None)
    kwargs = dict(strides=c["strides"], padding=c["padding"],
                  kernel_dilation=c["kernel_dilation"], use_bias=c["use_bias"], mask=mask,
                  dtype=dtype, param_dtype=param_dtype, precision=HIGHEST,
                  transpose_kernel=c["transpose_kernel"], preferred_element_type=preferred)
    x = jnp.asarray(_rand((*c["batch"], *c["shape"], c["cin"])), x_dtype)
    params = {"kernel": jnp.asarray(_rand(kshape, 1) / np.sqrt(kshape[-2]), param_dtype)}
    if c["use_bias"]:
        params["bias"] = jnp.asarray(_rand((c["cout"],), 2), param_dtype)
    variables = {"params": params}
    theirs = nn.ConvTranspose(c["cout"], c["k"], **kwargs)
    ours = jaxpad.linen.ConvTranspose(c["cout"], c["k"], **kwargs)
    nnx_theirs, nnx_ours = (
        cls(c["cin"], c["cout"], c["k"], kernel_init=lambda *_: params["kernel"],
            bias_init=lambda *_: params.get("bias"), rngs=nnx.Rngs(0), **kwargs)
        for cls in (nnx.ConvTranspose, jaxpad.nnx.ConvTranspose))

    tangents = (jax.tree.map(lambda v: jnp.asarray(_rand(v.shape, 5), v.dtype), variables),
                jnp.asarray(_rand(x.shape, 6), x.dtype))

    @jax.jit
    def run(variables, x, tangents):
        ys = (theirs.apply(variables, x), ours.apply(variables, x), nnx_theirs(x), nnx_ours(x))
        # The backward is checked as the adjoint of flax's forward-mode derivative, which
        # is forward convolutions only: flax's own backward (lax's transposed convolutions)
        # reads garbage on XLA:CPU for pads beyond the kernel (openxla/xla#48713).
        _, derivative = jax.jvp(theirs.apply, (variables, x), tangents)
        cotangent = jax.random.normal(jax.random.key(7), ys[1].shape).astype(ys[1].dtype)
        grads = jax.vjp(ours.apply, variables, x)[1](cotangent)
        products = [jnp.sum(a.astype(jnp.float32) * b.astype(jnp.float32)) for a, b in zip(
            jax.tree.leaves(grads), jax.tree.leaves(tangents))]
        expected = (cotangent.astype(jnp.float32) * derivative.astype(jnp.float32))
        return ys, sum(products), jnp.sum(expected), jnp.sum(jnp.abs(expected))

    (expected, got, nnx_expected, nnx_got), adjoint, forward, scale = run(variables, x, tangents)
    computed = np.dtype(dtype or jnp.result_type(x_dtype, param_dtype))
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert nnx_got.shape == nnx_expected.shape and nnx_got.dtype == nnx_expected.dtype
    assert_close(got, expected, computed)
    assert_close(nnx_got, nnx_expected, computed)
    # The gradients come back in the parameters' and the input's dtypes.
    tol = max(tolerance(d) for d in (computed, param_dtype, x_dtype))
    assert abs(float(adjoint) - float(forward)) <= tol * (float(scale) + 1), (adjoint, forward)


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, match", [
    (dict(padding="VALID", torch_padding=1),
     r"`torch_padding` \(PyTorch's crop\) replaces `padding`, which must be left at its "
     r"default 'SAME'; got padding='VALID'"),
    (dict(torch_padding="same"), r"`torch_padding` must be an int, ints or \(lo, hi\) pairs"),
    (dict(torch_padding=-1), r"`torch_padding` must be >= 0 on every side"),
    (dict(torch_padding=(1, 2, 3)), r"`torch_padding` must be an int, 1 ints or 1 \(lo, hi\)"),
    (dict(padding="circular"), r"`padding` of ConvTranspose must be one of flax's 'SAME', "
                               r"'VALID', 'CIRCULAR', 'SAME_LOWER'.*got 'circular'"),
    (dict(padding="REFLECT"), r"`padding` of ConvTranspose must be one of flax's.*'REFLECT'"),
    (dict(padding="CIRCULAR", padding_mode="reflect"),
     r"`padding_mode` 'reflect' conflicts with padding='CIRCULAR'"),
    (dict(padding=1, padding_mode="replicate"),
     r"`padding_mode` 'replicate' needs PyTorch's crop: flax's `padding` \(\(1, 1\),\)"),
    (dict(padding="SAME_LOWER", strides=2),
     r"`padding` 'SAME_LOWER' of a transposed convolution is flax's at stride 1 only"),
    (dict(padding=1, strides=2, output_padding=1),
     r"`output_padding` 1 goes with torch_padding= or 'same'/'valid'; flax's padding=1"),
    (dict(padding="CIRCULAR", strides=2, output_padding=1), r"`output_padding` 1 goes with"),
    (dict(padding=-4), r"`padding` \(\(-4, -4\),\) \(flax's, the padding of "
                       r"lax.conv_transpose\) leaves nothing of the transposed convolution on "
                       r"spatial axis 0"),
])
def test_errors_name_the_argument(kwargs, match):
    x = jnp.ones((1, 3, 2))
    with pytest.raises(ValueError, match=match):
        jaxpad.linen.ConvTranspose(2, 3, **kwargs).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=match):
        jaxpad.nnx.ConvTranspose(2, 2, 3, rngs=nnx.Rngs(0), **kwargs)(x)


def test_flax_transpose_padding_errors():
    with pytest.raises(ValueError, match=r"`padding` must be 'CIRCULAR', 'SAME_LOWER', an int"):
        flax_transpose_padding("SAME", 4, 3)
    with pytest.raises(ValueError, match=r"`inputs` must have at least one element"):
        flax_transpose_padding("CIRCULAR", (4, 0), 3)

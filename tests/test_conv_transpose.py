"""`jaxpad.conv_transpose` against a NumPy reference, PyTorch, Keras, Flax and its adjoint."""

from __future__ import annotations

import itertools
import os
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import assert_close, cpu_only, examples, requires_torch, torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jaxpad

HIGHEST = jax.lax.Precision.HIGHEST
MODES = ("zeros", "reflect", "replicate", "symmetric", "circular")


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _to_last(x, w):
    """NC*/(C, O/G, *k) arrays as N*C/(*k, O/G, C)."""
    nsp = w.ndim - 2
    return np.moveaxis(x, 1, -1), np.transpose(w, (*range(2, nsp + 2), 1, 0))


# ------------------------------------------------------------------------ the NumPy oracle


def conv_transpose_reference(x, w, b, stride, crops, out, modes, dilation, groups):
    """Channels-first transposed convolution by scattering every input element.

    x: (N, C, *spatial); w: (C, O // groups, *k). Non-circular modes: the input is
    extended by its mode (zeros for 'zeros') over every index an output reads,
    each `x[i] * w[t]` lands on full position `i * s + t * d`, and the crop keeps
    `lo .. lo + out`. Circular: the full output wrapped modulo `out`, `lo` on 0.
    """
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    nsp = w.ndim - 2
    ksize, eff = w.shape[2:], [d * (k - 1) + 1 for k, d in zip(w.shape[2:], dilation)]
    firsts, ext = [], x
    for a in range(nsp):
        size, s, (lo, _), o = x.shape[2 + a], stride[a], crops[a], out[a]
        first, last = (0, size - 1) if modes[a] == "circular" else (
            min(-((eff[a] - 1 - lo) // s), 0), max((lo + o - 1) // s, size - 1))
        idx = np.arange(first, last + 1)
        if modes[a] == "zeros":
            taken = np.take(ext, np.clip(idx, 0, size - 1), axis=2 + a)
            mask = ((idx >= 0) & (idx < size)).reshape([-1] + [1] * (nsp - 1 - a))
            ext = taken * mask
        elif modes[a] != "circular":
            src = [reference.source_index(int(j), size, modes[a]) for j in idx]
            ext = np.take(ext, np.asarray(src, np.int64), axis=2 + a)
        firsts.append(first)
    n, c = x.shape[:2]
    og = w.shape[1]
    cg = c // groups
    esize = ext.shape[2:]
    full = np.zeros((n, og * groups, *[(e - 1) * s + f for e, s, f in zip(esize, stride, eff)]))
    for offset in itertools.product(*(range(k) for k in ksize)):
        window = tuple(
            slice(offset[a] * dilation[a], offset[a] * dilation[a] + (esize[a] - 1) * stride[a] + 1,
                  stride[a])
            for a in range(nsp)
        )
        for g in range(groups):
            patch = ext[:, g * cg:(g + 1) * cg]
            wk = w[(slice(g * cg, (g + 1) * cg), slice(None), *offset)]
            full[(slice(None), slice(g * og, (g + 1) * og), *window)] += np.einsum(
                "nc...,co->no...", patch, wk)
    y = full
    for a in range(nsp):
        (lo, _), o, first = crops[a], out[a], firsts[a]
        axis = 2 + a
        if modes[a] == "circular":
            folded = np.zeros((*y.shape[:axis], o, *y.shape[axis + 1:]))
            for j in range(y.shape[axis]):
                np.moveaxis(folded, axis, 0)[(j - lo) % o] += np.moveaxis(y, axis, 0)[j]
            y = folded
        else:
            start = lo - first * stride[a]
            stop = start + o
            if stop > y.shape[axis]:
                widths = [(0, 0)] * y.ndim
                widths[axis] = (0, stop - y.shape[axis])
                y = np.pad(y, widths)
            y = np.take(y, np.arange(start, stop), axis=axis)
    if b is not None:
        y = y + np.asarray(b, np.float64).reshape(1, -1, *([1] * nsp))
    return y


def _crops_and_out(padding, shape, k, s, d, op):
    """Independent spec -> crops: PyTorch's pairs, Keras's 'same'/'valid' output sizes."""
    eff = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
    if padding == "same":
        outs = [i * si for i, si in zip(shape, s)]
        totals = [e - si for e, si in zip(eff, s)]
        crops = [(t // 2, t - t // 2) if t >= 0 else (0, t) for t in totals]
    elif padding == "valid":
        outs = [i * si + max(e - si, 0) for i, si, e in zip(shape, s, eff)]
        crops = [(0, min(e - si, 0)) for e, si in zip(eff, s)]
    else:
        crops = [(p, p) if isinstance(p, int) else tuple(p) for p in padding]
        outs = [(i - 1) * si + e - lo - hi for i, si, e, (lo, hi) in zip(shape, s, eff, crops)]
    return crops, [o + p for o, p in zip(outs, op)]


@st.composite
def configs(draw, modes=MODES, rank=None):
    nsp = draw(st.sampled_from((1, 2, 3))) if rank is None else rank
    groups = draw(st.sampled_from((1, 2)))
    k = draw(st.lists(st.integers(1, 4), min_size=nsp, max_size=nsp))
    s = draw(st.lists(st.integers(1, 3), min_size=nsp, max_size=nsp))
    d = draw(st.lists(st.integers(1, 2), min_size=nsp, max_size=nsp))
    shape = draw(st.lists(st.integers(1, 5 if nsp == 3 else 7), min_size=nsp, max_size=nsp))
    op = [draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d)]
    padding = draw(st.one_of(
        st.just("same"), st.just("valid"), st.integers(0, 3),
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=nsp, max_size=nsp),
    ))
    mode = draw(st.sampled_from(modes))
    crops, out = _crops_and_out(
        [padding] * nsp if isinstance(padding, int) else padding, shape, k, s, d, op)
    assume(all(o >= 1 for o in out))
    return dict(nsp=nsp, groups=groups, k=k, s=s, d=d, shape=shape, op=op, padding=padding,
                mode=mode, crops=crops, out=out)


def _arrays(c, seed=0):
    g = c["groups"]
    x = _rand((2, 2 * g, *c["shape"]), seed)
    w = _rand((2 * g, 3, *c["k"]), seed + 1)
    b = _rand((3 * g,), seed + 2)
    return x, w, b


def _call(c, x, w, b, channels_last=False):
    if channels_last:
        x, w = _to_last(x, w)
    y = jaxpad.conv_transpose(
        x, w, b, stride=c["s"], padding=c["padding"], output_padding=c["op"],
        padding_mode=c["mode"], dilation=c["d"], groups=c["groups"],
        channels_last=channels_last, precision=HIGHEST)
    return np.moveaxis(np.asarray(y), -1, 1) if channels_last else y


@settings(max_examples=examples(120))
@given(c=configs(), channels_last=st.booleans())
def test_matches_the_numpy_reference(c, channels_last):
    x, w, b = _arrays(c)
    expected = conv_transpose_reference(x, w, b, c["s"], c["crops"], c["out"],
                                        [c["mode"]] * c["nsp"], c["d"], c["groups"])
    got = _call(c, x, w, b, channels_last)
    assert got.shape == expected.shape
    assert_close(got, expected)


def test_documented_replicate_example():
    x = np.array([1.0, 2.0], np.float32).reshape(1, 1, 2)
    w = np.ones((1, 1, 3), np.float32)
    for mode, expected in (("zeros", [1, 3, 2, 2]), ("replicate", [1, 3, 2, 4])):
        y = jaxpad.conv_transpose(x, w, stride=2, padding=1, output_padding=1,
                                  padding_mode=mode, channels_last=False)
        assert y[0, 0].tolist() == expected


def test_modes_per_axis_match_the_reference():
    x, w, b = _rand((1, 2, 5, 4)), _rand((2, 3, 3, 2), 1), None
    modes = ("reflect", "circular")
    y = jaxpad.conv_transpose(x, w, stride=(2, 3), padding=1, output_padding=(1, 0),
                              padding_mode=modes, channels_last=False, precision=HIGHEST)
    crops, out = _crops_and_out([1, 1], (5, 4), (3, 2), (2, 3), (1, 1), (1, 0))
    assert_close(y, conv_transpose_reference(x, w, b, (2, 3), crops, out, modes, (1, 1), 1))


# ----------------------------------------------------------------------- PyTorch parity


def _torch_fn(nsp):
    return getattr(torch.nn.functional, f"conv_transpose{nsp}d")


@requires_torch
@settings(max_examples=examples(100))
@given(c=configs(modes=("zeros",)).filter(lambda c: not isinstance(c["padding"], str)
                                          and all(lo == hi for lo, hi in c["crops"])),
       channels_last=st.booleans())
def test_matches_torch_forward_and_gradients(c, channels_last):
    _check_against_torch(c, channels_last)


@requires_torch
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("nsp, k, s, p, d, groups", [
    (1, 8, 4, 2, 1, 1), (1, 4, 2, 1, 1, 2), (1, 6, 3, 2, 1, 1), (1, 4, 2, 3, 2, 1),
    (2, 4, 2, 1, 1, 1), (2, (4, 2), 2, (1, 0), 1, 2), (2, 6, (3, 2), 1, 1, 1),
    (3, 4, 2, 1, 1, 1), (3, (2, 4, 4), (2, 2, 1), (1, 1, 2), 1, 1),
    (1, 4, 2, 1, 3, 1), (2, 4, 2, (2, 1), (3, 1), 2),
])
def test_phases_in_one_convolution_at_shifted_windows_match_torch(nsp, k, s, p, d, groups,
                                                                  channels_last):
    # Kernel a multiple of the stride with padding: all phases have as many taps (one
    # convolution). Counted from the crop, they read windows that start apart; with
    # dilation 1 the blocks are counted from a multiple of the stride instead, and a
    # dilation coprime to the stride (3 here, stride 2) keeps per-phase offsets.
    per_axis = [(v,) * nsp if isinstance(v, int) else v for v in (k, s, p, d)]
    k, s, p, d = (list(v) for v in per_axis)
    c = dict(nsp=nsp, groups=groups, k=k, s=s, d=d, shape=[5 if nsp == 3 else 7] * nsp,
             op=[0] * nsp, crops=[(pi, pi) for pi in p])
    _check_against_torch(c, channels_last)


@cpu_only
@requires_torch
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("nsp, k, p, op, d", [
    (2, 3, 1, 1, 1), (2, (3, 2), (1, 0), (1, 0), 1), (2, (3, 1), 1, 0, 1), (2, 1, 0, 1, 1),
    (2, (2, 2), 1, 1, (2, 1)), (3, 3, 1, 1, 1), (3, (3, 2, 1), (1, 0, 0), (0, 1, 1), 1),
])
def test_overlap_add_route_matches_torch(nsp, k, p, op, d, channels_last):
    # Stride 2 with phases of unequal taps (3x3 stride 2, the usual decoder layer):
    # the forward pass is one product with every tap, added at shifted places, and
    # holds no convolution.
    k, p, op, d = ([v] * nsp if isinstance(v, int) else list(v) for v in (k, p, op, d))
    c = dict(nsp=nsp, groups=1, k=k, s=[2] * nsp, d=d, shape=[5 if nsp == 3 else 7] * nsp,
             op=op, crops=[(pi, pi) for pi in p])
    x, w, b = _arrays(c)
    program = _stablehlo(lambda x, w: _routes(c, x, w, b, channels_last), x, w)
    assert "stablehlo.dot_general" in program and "stablehlo.convolution" not in program
    _check_against_torch(c, channels_last)
    # Differentiated, it computes the phase convolutions: the same bilinear map.
    tx, tw, _ = _arrays(c, seed=3)

    def f(x, w):
        return _routes(c, x, w, None, channels_last)

    y, ty = jax.jvp(f, (x, w), (tx, tw))
    assert_close(y, f(x, w))
    assert_close(ty, f(tx, w) + f(x, tw))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nsp, shape", [(2, (5, 4)), (3, (3, 4, 2))])
def test_overlap_add_route_in_every_mode_matches_the_reference(nsp, shape, mode, channels_last):
    c = dict(nsp=nsp, groups=1, k=[3] * nsp, s=[2] * nsp, d=[1] * nsp, shape=list(shape),
             op=[1] * nsp, padding=1, mode=mode)
    c["crops"], c["out"] = _crops_and_out([1] * nsp, shape, c["k"], c["s"], c["d"], c["op"])
    x, w, b = _arrays(c)
    expected = conv_transpose_reference(x, w, b, c["s"], c["crops"], c["out"], [mode] * nsp,
                                        c["d"], 1)
    assert_close(_call(c, x, w, b, channels_last), expected)


@cpu_only
@requires_torch
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("nsp, k", [(2, 2), (2, (2, 3)), (3, (2, 1, 3)), (1, 2)])
def test_kernel_equal_to_the_stride_is_one_product(nsp, k, channels_last):
    # U-Net's 2x2 stride 2: one tap per phase, all phases side by side in one 1x1
    # convolution, which runs as a dot in 2-D and 3-D (a convolution in 1-D).
    k = [k] * nsp if isinstance(k, int) else list(k)
    c = dict(nsp=nsp, groups=1, k=k, s=k, d=[1] * nsp, shape=[5 if nsp == 3 else 7] * nsp,
             op=[0] * nsp, crops=[(0, 0)] * nsp)
    x, w, b = _arrays(c)
    jaxpr = str(jax.make_jaxpr(lambda x, w: _routes(c, x, w, b, channels_last))(x, w))
    assert ("conv_general_dilated" in jaxpr) == (nsp == 1)
    _check_against_torch(c, channels_last)


@cpu_only
@requires_torch
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("nsp, k, s, groups, convs", [
    (2, (3, 4), (2, 2), 1, 1),   # 4/3 the taps: one convolution of 2x2 taps
    (2, (4, 5), (2, 3), 2, 1),   # 6/5, grouped
    (2, (5, 5), (2, 2), 1, 4),   # 36/25: the four phases
    (3, (3, 4, 4), (2, 2, 2), 1, 1),
    (1, (3,), (2,), 1, 1),       # 4/3
    (1, (5,), (2,), 1, 1),       # 6/5
    (1, (5,), (4,), 1, 4),       # 8/5: the four phases
])
def test_unequal_phases_take_zero_taps_up_to_a_limit(nsp, k, s, groups, convs, channels_last):
    # Zero taps that pad the kernel to a multiple of the stride make every phase
    # as long, so the phases run as one convolution (benchmarks.routes).
    c = dict(nsp=nsp, groups=groups, k=list(k), s=list(s), d=[1] * nsp,
             shape=[5 if nsp == 3 else 6] * nsp, op=[1] * nsp, crops=[(1, 1)] * nsp)
    x, w, b = _arrays(c)
    program = _stablehlo(lambda x, w: _routes(c, x, w, b, channels_last), x, w)
    assert program.count("stablehlo.convolution") == convs
    _check_against_torch(c, channels_last)


@cpu_only
@requires_torch
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("k, s, p, op, crops", [
    (3, 2, 1, 1, 0),   # one zero tap before the kernel: the crop 1 becomes 2
    (7, 2, 3, 1, 0),
    (5, 2, 2, 1, 0),   # already aligned: the zero tap goes after
    (5, 3, 1, 0, 1),   # one zero tap, two needed before: the crop stays
])
def test_zero_taps_before_the_kernel_align_the_crop(k, s, p, op, crops, channels_last):
    # Zero taps before the kernel shift its full output, so the crop starts on a
    # multiple of the stride where they can, and no crop follows the interleave
    # (in 1-D channels-last a copy of the output, the interleave being a reshape).
    c = dict(nsp=1, groups=1, k=[k], s=[s], d=[1], shape=[6], op=[op], crops=[(p, p)])
    x, w, _ = _arrays(c)
    if channels_last:
        x, w = np.moveaxis(x, 1, -1), np.transpose(w, (2, 1, 0))
    closed = jax.make_jaxpr(partial(jaxpad.conv_transpose, stride=s, padding=p, impl="routes",
                                    output_padding=op, channels_last=channels_last))(x, w)
    size = np.prod(closed.out_avals[0].shape)
    eqns = list(_eqns(closed.jaxpr))
    assert [e.primitive.name for e in eqns].count("conv_general_dilated") == 1
    big = [e for e in eqns if e.primitive.name == "slice"
           and np.prod(e.invars[0].aval.shape) >= size]
    assert len(big) == crops
    _check_against_torch(c, channels_last)


def _stablehlo(f, *args):
    """The program `f` lowers to, with the computation of jaxpad's primitives inlined."""
    return jax.jit(f).lower(*args).as_text()


def _eqns(jaxpr):
    """Every equation of `jaxpr`, those of the jaxprs it calls included."""
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                yield from _eqns(inner)


@cpu_only
@requires_torch
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("nsp, k, s, groups, crop", [
    (2, (4, 4), (2, 2), 1, 1),   # DCGAN: phases reading at two offsets
    (2, (2, 2), (2, 2), 2, 0),   # U-Net, grouped
    (1, (2,), (2,), 1, 0),
    (1, (8,), (4,), 1, 2),
    (3, (4, 2, 4), (2, 2, 2), 1, 1),
])
def test_equal_phases_interleave_in_one_transpose(nsp, k, s, groups, crop, channels_last):
    # The depth-to-space of the phases' convolution is one transpose of the output:
    # two with a reshape between cost XLA:CPU a copy of the output each.
    c = dict(nsp=nsp, groups=groups, k=list(k), s=list(s), d=[1] * nsp,
             shape=[4 if nsp == 3 else 6] * nsp, op=[0] * nsp, crops=[(crop, crop)] * nsp)
    x, w, _ = _arrays(c)
    if channels_last:
        x, w = np.moveaxis(x, 1, -1), np.transpose(w, (*range(2, nsp + 2), 1, 0))
    closed = jax.make_jaxpr(partial(jaxpad.conv_transpose, stride=s, padding=crop, impl="routes",
                                    groups=groups, channels_last=channels_last))(x, w)
    size = np.prod(closed.out_avals[0].shape)
    big = [e for e in _eqns(closed.jaxpr) if e.primitive.name == "transpose"
           and np.prod(e.outvars[0].aval.shape) >= size]
    assert len(big) == 1
    _check_against_torch(c, channels_last)


@cpu_only
@requires_torch
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("nsp", [1, 2])
def test_small_phases_differentiate_by_products_in_2d_and_by_convolutions_in_1d(nsp,
                                                                                channels_last):
    # A 2-tap phase (kernel 4, stride 2): its kernel gradient is a patch product in
    # 2-D, XLA's kernel-gradient convolution in 1-D (benchmarks.routes).
    c = dict(nsp=nsp, groups=1, k=[4] * nsp, s=[2] * nsp, d=[1] * nsp, shape=[6] * nsp,
             op=[0] * nsp, crops=[(1, 1)] * nsp)
    x, w, b = _arrays(c)
    cot = _rand(_routes(c, x, w, b, channels_last).shape, 7)

    def kernel_grad(w):
        return jax.grad(lambda w: jnp.sum(_routes(c, x, w, b, channels_last) * cot))(w)

    jaxpr = str(jax.make_jaxpr(kernel_grad)(w))
    assert ("dot_general" in jaxpr) == (nsp == 2)
    _check_against_torch(c, channels_last)


@cpu_only
@requires_torch
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("k, s, d, groups", [
    ((3, 3), (2, 2), (1, 1), 1),   # the overlap-add's forward
    ((5, 5), (2, 2), (1, 1), 1),   # the separate phases' forward
    ((3, 3), (2, 2), (2, 1), 2),   # dilated, grouped
    ((5, 5), (3, 2), (1, 1), 1),   # zero taps would make 36/25 the taps: none
])
def test_unequal_2d_phases_differentiate_as_the_strided_convolution(k, s, d, groups,
                                                                    channels_last):
    # 2-D phases that stay unequal: the input gradient is the strided convolution
    # this one transposes, the kernel gradient that convolution's kernel gradient
    # (XLA's, with the stride as the rhs dilation), not one per phase.
    c = dict(nsp=2, groups=groups, k=list(k), s=list(s), d=list(d), shape=[6, 7], op=[1, 0],
             crops=[(1, 1), (2, 2)])
    x, w, b = _arrays(c)
    cot = _rand(_routes(c, x, w, b, channels_last).shape, 7)
    step = jax.make_jaxpr(jax.grad(
        lambda x, w: jnp.sum(_routes(c, x, w, b, channels_last) * cot), argnums=(0, 1)))
    convs = [e.params for e in _eqns(step(x, w).jaxpr)
             if e.primitive.name == "conv_general_dilated"]
    assert sorted((p["window_strides"], p["rhs_dilation"]) for p in convs) == sorted(
        [(tuple(s), tuple(d)), (tuple(d), tuple(s))])
    _check_against_torch(c, channels_last)


@cpu_only
@pytest.mark.parametrize("k, s, out_channels, strided", [
    ((3, 3), 2, 32, True),     # the patch products are matrix products 32 wide
    ((3, 3), 2, 64, False),
    ((5, 5), 2, 64, True),     # a phase of 9 taps: XLA's convolutions one phase at a time
    ((5, 5), 3, 64, False),
    ((7, 7), 3, 64, False),
    ((7, 7), 3, 32, True),
    ((4, 4), 2, 8, False),     # equal phases: one convolution
    ((3, 4), 2, 8, False),     # zero taps make them equal
    ((3, 3, 3), 2, 8, False),  # 3-D
    ((3,), 2, 8, False),       # 1-D
])
def test_strided_convolution_derivatives_where_they_measured_faster(k, s, out_channels,
                                                                    strided):
    # benchmarks.routes --choice derivatives: 2-D phases that stay unequal, at 32
    # output channels or fewer or with a phase beyond the patch products at stride 2.
    x = jnp.zeros((1, *[6] * len(k), 16))
    w = jnp.zeros((*k, out_channels, 16))
    jaxpr = str(jax.make_jaxpr(partial(jaxpad.conv_transpose, stride=s, padding=1,
                                       impl="routes"))(x, w))
    assert ("jaxpad_unequal_phases" in jaxpr) == strided


@pytest.mark.parametrize("k, s", [((3, 3), (2, 2)), ((5, 5), (2, 3))])
def test_unequal_2d_phases_vmap_and_forward_mode(k, s):
    # vmapped over inputs (which join the batch) or kernels, in every direction of
    # differentiation, against one call per example.
    c = dict(nsp=2, groups=1, k=list(k), s=list(s), d=[1, 1], shape=[5, 6], op=[1, 0],
             crops=[(1, 1), (1, 1)])
    x, w, _ = _arrays(c)
    xs, ws = np.stack([x, _arrays(c, 3)[0]]), np.stack([w, _arrays(c, 5)[1]])

    def f(x, w):
        return _jax_call(c, x, w, None, True)

    cot = _rand(f(x, w).shape, 7)

    def grads(x, w):
        return jax.grad(lambda x, w: jnp.sum(f(x, w) * cot), argnums=(0, 1))(x, w)

    for axes in [(0, None), (None, 0), (0, 0)]:
        args = [a if ax is None else b for a, b, ax in zip((x, w), (xs, ws), axes)]
        one = [[a if ax is None else a[i] for a, ax in zip(args, axes)] for i in range(2)]
        assert_close(jax.vmap(f, axes)(*args), np.stack([f(*o) for o in one]))
        for got, want in zip(jax.vmap(grads, axes)(*args), zip(*(grads(*o) for o in one))):
            assert_close(got, np.stack(want))
        tangents = [_rand(np.shape(a), 9) for a in args]
        _, ty = jax.vmap(lambda *a: jax.jvp(f, a[:2], a[2:]), (*axes, *axes))(*args, *tangents)
        assert_close(ty, jax.vmap(f, axes)(tangents[0], args[1])
                     + jax.vmap(f, axes)(args[0], tangents[1]))


@pytest.mark.parametrize("nsp", [2, 3])
def test_overlap_add_with_a_preferred_element_type(nsp):
    # bfloat16 in, float32 out through the overlap-add and its phase derivatives:
    # the same numbers as float32 inputs holding the same values.
    c = dict(nsp=nsp, groups=1, k=[3] * nsp, s=[2] * nsp, d=[1] * nsp,
             shape=[5 if nsp == 3 else 7] * nsp, op=[1] * nsp, padding=1, mode="zeros")
    x, w, _ = (jnp.asarray(a, jnp.bfloat16) for a in _arrays(c))
    tx, tw, _ = (jnp.asarray(a, jnp.bfloat16) for a in _arrays(c, seed=3))

    def f(x, w, dtype=jnp.float32):
        return jaxpad.conv_transpose(x, w, stride=2, padding=1, output_padding=1,
                                     channels_last=False, precision=HIGHEST,
                                     preferred_element_type=dtype)

    def exact(x, w):  # the same bfloat16 values, in float32
        return f(x.astype(jnp.float32), w.astype(jnp.float32), None)

    y, ty = jax.jvp(f, (x, w), (tx, tw))
    assert y.dtype == ty.dtype == jnp.float32
    assert_close(y, exact(x, w))
    assert_close(ty, exact(tx, w) + exact(x, tw))
    cot = _rand(y.shape, 7)
    grads = jax.grad(lambda x, w: jnp.sum(f(x, w) * cot), argnums=(0, 1))(x, w)
    expected = jax.grad(lambda x, w: jnp.sum(exact(x, w) * cot), argnums=(0, 1))(x, w)
    for got, want in zip(grads, expected):
        assert got.dtype == jnp.bfloat16
        assert_close(got, want, jnp.bfloat16)


def _check_against_torch(c, channels_last):
    x, w, b = _arrays(c)
    padding = [lo for lo, _ in c["crops"]]
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    yt = _torch_fn(c["nsp"])(xt, wt, bt, stride=c["s"], padding=padding,
                             output_padding=c["op"], groups=c["groups"], dilation=c["d"])
    cot = _rand(tuple(yt.shape), 7)
    (yt * torch.tensor(cot, dtype=torch.float64)).sum().backward()

    def loss(x, w, b):
        return jnp.sum(_jax_call(c, x, w, b, channels_last) * cot)

    y = _jax_call(c, x, w, b, channels_last)
    assert y.shape == tuple(yt.shape)
    assert_close(y, yt.detach().numpy())
    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(x, w, b)
    for got, t in zip(grads, (xt, wt, bt)):
        assert_close(got, t.grad.numpy())


def _jax_call(c, x, w, b, channels_last, *, padding=None, mode="zeros", impl="auto"):
    """Like `_call` but differentiable with respect to channels-first `x` and `w`.

    `padding=None` is PyTorch's: the low crop of every axis.
    """
    if channels_last:
        nsp = c["nsp"]
        x, w = jnp.moveaxis(x, 1, -1), jnp.transpose(w, (*range(2, nsp + 2), 1, 0))
    y = jaxpad.conv_transpose(
        x, w, b, stride=c["s"],
        padding=[lo for lo, _ in c["crops"]] if padding is None else padding,
        output_padding=c["op"], padding_mode=mode, dilation=c["d"], groups=c["groups"],
        channels_last=channels_last, precision=HIGHEST, impl=impl)
    return jnp.moveaxis(y, -1, 1) if channels_last else y


def _routes(c, x, w, b, channels_last):
    """`_jax_call` by XLA:CPU's routes, whose structure the `cpu_only` tests check."""
    return _jax_call(c, x, w, b, channels_last, impl="routes")


@requires_torch
@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_torch_module_weights_work_as_they_are(nsp):
    module = getattr(torch.nn, f"ConvTranspose{nsp}d")(
        4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    x = _rand((1, 4, *([4] * nsp)))
    expected = module(torch.tensor(x)).detach().numpy()
    got = jaxpad.conv_transpose(
        x, module.weight.detach().numpy(), module.bias.detach().numpy(), stride=2, padding=1,
        output_padding=1, groups=2, channels_last=False, precision=HIGHEST)
    assert_close(got, expected)


# ---------------------------------------------------------------- circular: the adjoint


@settings(max_examples=examples(60))
@given(data=st.data(), nsp=st.sampled_from((1, 2)), groups=st.sampled_from((1, 2)))
def test_circular_is_the_adjoint_of_the_circular_conv(data, nsp, groups):
    k = data.draw(st.lists(st.integers(1, 4), min_size=nsp, max_size=nsp))
    s = data.draw(st.lists(st.integers(1, 3), min_size=nsp, max_size=nsp))
    d = data.draw(st.lists(st.integers(1, 2), min_size=nsp, max_size=nsp))
    n = data.draw(st.lists(st.integers(1, 8), min_size=nsp, max_size=nsp))
    pads = [data.draw(st.tuples(st.integers(0, ni), st.integers(0, ni))) for ni in n]
    eff = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
    assume(all(ni + lo + hi >= e for ni, (lo, hi), e in zip(n, pads, eff)))
    op = [(ni + lo + hi - e) % si for ni, (lo, hi), e, si in zip(n, pads, eff, s)]
    w = _rand((*k, 2, 3 * groups))  # forward HWIO: 2 * groups channels in, 3 * groups out
    z = jnp.zeros((1, *n, 2 * groups))

    def forward(z):
        return jaxpad.conv(z, w, stride=s, padding=pads, padding_mode="circular", dilation=d,
                           groups=groups, precision=HIGHEST, impl="pad")

    y = forward(z)
    cot = _rand(y.shape, 2)
    (expected,) = jax.linear_transpose(forward, z)(cot)
    got = jaxpad.conv_transpose(cot, w, stride=s, padding=pads, output_padding=op,
                                padding_mode="circular", dilation=d, groups=groups,
                                precision=HIGHEST)
    assert got.shape == expected.shape
    assert_close(got, expected)


def test_circular_same_is_periodic_upsampling():
    x, w = _rand((1, 4, 1)), _rand((3, 1, 1), 1)
    y = jaxpad.conv_transpose(x, w, stride=2, padding="same", padding_mode="circular")
    shifted = jaxpad.conv_transpose(jnp.roll(x, 1, axis=1), w, stride=2, padding="same",
                                    padding_mode="circular")
    assert_close(shifted, jnp.roll(y, 2, axis=1))


# ------------------------------------------------------------------ Keras and Flax parity


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is not installed: TF semantics not checked")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras runs on the {keras.backend.backend()} backend, not torch")
    return keras


KERAS_CASES = [
    # rank, size, kernel, stride, dilation, padding
    (1, 7, 3, 2, 1, "same"),
    (1, 6, 4, 2, 1, "same"),
    (1, 5, 1, 3, 1, "same"),
    (1, 5, 2, 3, 1, "valid"),
    (1, 6, 3, 1, 2, "same"),
    (2, 5, 3, 2, 1, "same"),
    (2, 4, 4, 2, 1, "valid"),
    (2, 5, 5, 3, 1, "same"),
    (3, 3, 3, 2, 1, "same"),
    (3, 3, 2, 2, 1, "valid"),
]


@pytest.mark.parametrize("rank, size, k, stride, dilation, padding", KERAS_CASES)
def test_same_and_valid_match_keras(keras, rank, size, k, stride, dilation, padding):
    x = _rand((2, *([size] * rank), 2))
    w = _rand((*([k] * rank), 3, 2), 1)  # keras: (*k, filters, in_channels)
    b = _rand((3,), 2)
    layer = getattr(keras.layers, f"Conv{rank}DTranspose")(
        3, k, strides=stride, padding=padding, dilation_rate=dilation)
    layer.build(x.shape)
    layer.set_weights([w, b])
    expected = keras.ops.convert_to_numpy(layer(x))
    got = jaxpad.conv_transpose(x, w, b, stride=stride, padding=padding, dilation=dilation,
                                precision=HIGHEST)
    assert got.shape == expected.shape
    assert_close(got, expected)


@pytest.mark.parametrize("padding, k, stride", [("SAME", 3, 2), ("SAME", 4, 2), ("VALID", 3, 2),
                                                ("SAME", 2, 3), ("VALID", 1, 2)])
def test_same_and_valid_match_flax_transpose_kernel(padding, k, stride):
    linen = pytest.importorskip("flax.linen")
    x = _rand((1, 5, 6, 2))
    module = linen.ConvTranspose(3, (k, k), strides=(stride, stride), padding=padding,
                                 transpose_kernel=True, precision=HIGHEST)
    params = module.init(jax.random.key(0), x)
    expected = module.apply(params, x)
    p = params["params"]
    got = jaxpad.conv_transpose(x, p["kernel"], p["bias"], stride=stride, padding=padding.lower(),
                                precision=HIGHEST)
    assert got.shape == expected.shape
    assert_close(got, expected)


# ------------------------------------------------------------ transformations and errors


def test_unbatched_jit_and_vmap():
    x, w = _rand((5, 6, 2)), _rand((3, 3, 3, 2), 1)
    batched = jaxpad.conv_transpose(x[None], w, stride=2, padding=1)
    assert_close(jaxpad.conv_transpose(x, w, stride=2, padding=1), batched[0])
    f = jax.jit(lambda x: jaxpad.conv_transpose(x, w, stride=2, padding=1))
    assert_close(jax.vmap(f)(x[None]), batched)


ERRORS = [
    (dict(stride=2, output_padding=2), "`output_padding` must be smaller than the stride"),
    (dict(stride=1, dilation=1, output_padding=1), "`output_padding` must be smaller"),
    (dict(padding_mode="constant"), "`padding_mode` of a transposed convolution must be"),
    (dict(padding_mode="mirror"), "`padding_mode` must be one of"),
    (dict(padding="causal"), "`padding` of a transposed convolution must be 'same'"),
    (dict(padding=-1), "`padding` must be >= 0"),
    (dict(padding=4), "The output would be empty"),
    (dict(groups=3), "`groups` must divide the input channels"),
    (dict(stride=(1, 2, 3)), "`stride` must be an int or a sequence of 2 ints"),
    (dict(channels_last=1), "`channels_last` must be a bool"),
]


@pytest.mark.parametrize("kwargs, message", ERRORS)
def test_errors(kwargs, message):
    x, w = _rand((1, 4, 4, 2)), _rand((3, 3, 3, 2), 1)
    error = TypeError if "channels_last" in kwargs else ValueError
    with pytest.raises(error, match=message):
        jaxpad.conv_transpose(x, w, **kwargs)


def test_shape_errors():
    w = _rand((3, 3, 3, 2))
    with pytest.raises(ValueError, match="`x` has 3 channels but `kernel`"):
        jaxpad.conv_transpose(_rand((1, 4, 4, 3)), w)
    with pytest.raises(ValueError, match="`x` must have rank 4"):
        jaxpad.conv_transpose(_rand((4, 3)), w)
    with pytest.raises(ValueError, match="`kernel` must have rank >= 3"):
        jaxpad.conv_transpose(_rand((4, 3)), _rand((3, 3)))
    with pytest.raises(ValueError, match=r"`bias` must have shape \(3,\)"):
        jaxpad.conv_transpose(_rand((1, 4, 4, 2)), w, _rand((2,)))


# ------------------------------------------------------------- Flax layers and interop


@pytest.mark.parametrize("transpose_kernel", [False, True])
@pytest.mark.parametrize("padding, k, stride, dilation", [
    ("SAME", (3, 3), 2, 1), ("VALID", (4, 3), (2, 3), 1), ("SAME", (2, 2), 3, 1),
    ("SAME", (3, 2), 1, 2),
])
def test_linen_and_nnx_are_drop_ins_for_flax(transpose_kernel, padding, k, stride, dilation):
    linen = pytest.importorskip("flax.linen")
    from flax import nnx

    import jaxpad.linen
    import jaxpad.nnx

    x = _rand((2, 5, 6, 3))
    kwargs = dict(strides=stride, padding=padding, kernel_dilation=dilation,
                  transpose_kernel=transpose_kernel, precision=HIGHEST)
    theirs = linen.ConvTranspose(4, k, **kwargs)
    ours = jaxpad.linen.ConvTranspose(4, k, **kwargs)
    params = theirs.init(jax.random.key(0), x)
    assert jax.tree_util.tree_map(jnp.shape, ours.init(jax.random.key(0), x)) == \
        jax.tree_util.tree_map(jnp.shape, params)
    expected = theirs.apply(params, x)
    assert_close(ours.apply(params, x), expected)
    assert_close(ours.apply(params, x[0]), expected[0])  # unbatched

    theirs_nnx = nnx.ConvTranspose(3, 4, k, rngs=nnx.Rngs(0), **kwargs)
    ours_nnx = jaxpad.nnx.ConvTranspose(3, 4, k, rngs=nnx.Rngs(0), **kwargs)
    assert_close(ours_nnx.kernel[...], theirs_nnx.kernel[...])
    assert_close(ours_nnx(x), theirs_nnx(x))


def test_layers_add_groups_output_padding_and_modes():
    pytest.importorskip("flax")
    from flax import nnx

    import jaxpad.linen
    import jaxpad.nnx

    x = _rand((2, 5, 5, 4))
    kwargs = dict(strides=2, torch_padding=1, output_padding=1, padding_mode="circular",
                  feature_group_count=2, transpose_kernel=True, precision=HIGHEST)
    layer = jaxpad.nnx.ConvTranspose(4, 6, (3, 3), rngs=nnx.Rngs(0), **kwargs)
    expected = jaxpad.conv_transpose(x, layer.kernel[...], layer.bias[...], stride=2, padding=1,
                                     output_padding=1, padding_mode="circular", groups=2,
                                     precision=HIGHEST)
    assert layer.kernel.shape == (3, 3, 3, 4)
    assert_close(layer(x), expected)
    params = {"params": {"kernel": layer.kernel[...], "bias": layer.bias[...]}}
    assert_close(jaxpad.linen.ConvTranspose(6, (3, 3), **kwargs).apply(params, x), expected)


def test_layer_errors():
    pytest.importorskip("flax")
    from flax import nnx

    import jaxpad.linen
    import jaxpad.nnx

    with pytest.raises(ValueError, match="`output_padding` must be smaller"):
        jaxpad.nnx.ConvTranspose(2, 2, 3, strides=2, output_padding=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`feature_group_count`|`out_features`"):
        jaxpad.nnx.ConvTranspose(2, 3, 3, feature_group_count=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`padding_mode` of a transposed convolution"):
        jaxpad.linen.ConvTranspose(2, 3, padding_mode="constant").init(
            jax.random.key(0), jnp.ones((1, 4, 2)))


@requires_torch
@settings(max_examples=examples(40))
@given(c=configs(modes=("zeros",)).filter(lambda c: not isinstance(c["padding"], str)
                                          and all(lo == hi for lo, hi in c["crops"])),
       api=st.sampled_from(("linen", "nnx")))
def test_interop_converts_torch_conv_transpose(c, api):
    pytest.importorskip("flax")
    import jaxpad.interop

    module = getattr(torch.nn, f"ConvTranspose{c['nsp']}d")(
        2 * c["groups"], 3 * c["groups"], c["k"], stride=c["s"],
        padding=[lo for lo, _ in c["crops"]], output_padding=c["op"], groups=c["groups"],
        dilation=c["d"], bias=bool(c["op"][0] % 2 == 0))
    x = _rand((2, 2 * c["groups"], *c["shape"]))
    expected = module(torch.tensor(x)).detach().numpy()
    xl = np.moveaxis(x, 1, -1)
    if api == "linen":
        layer, variables = jaxpad.interop.linen_from_torch(module, precision=HIGHEST)
        y = layer.apply(variables, xl)
    else:
        y = jaxpad.interop.nnx_from_torch(module, precision=HIGHEST)(xl)
    assert_close(np.moveaxis(np.asarray(y), -1, 1), expected)


@settings(max_examples=examples(40))
@given(c=configs(), channels_last=st.booleans())
def test_forward_mode_and_second_order_match_the_bilinear_map(c, channels_last):
    # Small phase convolutions have hand-written derivatives (patch products), which
    # reverse mode is checked against torch for; forward mode and second order are
    # checked here against the map itself: conv_transpose is bilinear in (x, kernel).
    x, w, _ = _arrays(c)
    tx, tw, _ = _arrays(c, seed=3)

    def f(x, w):
        return _jax_call(c, x, w, None, channels_last, padding=c["padding"], mode=c["mode"])

    _, ty = jax.jvp(f, (x, w), (tx, tw))
    assert_close(ty, f(tx, w) + f(x, tw))
    cot = _rand(ty.shape, 5)

    def input_grad(w):
        return jax.grad(lambda x: jnp.sum(f(x, w) * cot))(x)

    _, mixed = jax.jvp(input_grad, (w,), (tw,))
    assert_close(mixed, input_grad(tw))


def test_circular_gradient_is_the_circular_conv():
    """The other direction of the adjoint: transposing conv_transpose gives conv back."""
    w = _rand((3, 3, 2, 4))  # forward HWIO: 2 channels in, 4 out
    x = jnp.zeros((1, 4, 5, 4))

    def up(x):
        return jaxpad.conv_transpose(x, w, stride=2, padding=1, output_padding=(1, 0),
                                     padding_mode="circular", precision=HIGHEST)

    z = _rand(up(x).shape, 1)
    (got,) = jax.linear_transpose(up, x)(z)
    expected = jaxpad.conv(z, w, stride=2, padding=1, padding_mode="circular", precision=HIGHEST)
    assert_close(got, expected)
    assert_close(jax.grad(lambda x: jnp.sum(up(x) * z))(x), expected)


def test_configuration_is_static_and_jit_does_not_retrace():
    from jaxpad import _conv_transpose

    x, w = _rand((1, 6, 6, 2)), _rand((3, 3, 3, 2), 1)
    jaxpad.conv_transpose(x, w, stride=2, padding=1)
    before = _conv_transpose.conv_transpose_validated.__wrapped__._cache_size()
    jaxpad.conv_transpose(x + 1, w, stride=2, padding=1)
    assert _conv_transpose.conv_transpose_validated.__wrapped__._cache_size() == before

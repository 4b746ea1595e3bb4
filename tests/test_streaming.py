"""`jaxpad.streaming`: chunk by chunk equals `jaxpad.conv` / `jaxpad.conv_transpose` offline.

The oracles are the offline functions with the causal time padding written out
here, `(eff - 1, 0)` for the convolution and the crop `(0, eff - stride)` for the
transposed one. Each random configuration is one compiled program: the offline
output and its vjp, and the streamed outputs (a Python loop over chunks of
random lengths around a `lax.scan` over equal chunks) and their vjp.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close, examples
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxpad
from jaxpad import streaming
from jaxpad._padding import transpose_padding

TIME_MODES = ("zeros", "constant", "replicate", "reflect", "symmetric")
TRANSPOSE_TIME_MODES = ("zeros", "replicate", "reflect", "symmetric")
OTHER_MODES = ("zeros", "constant", "replicate", "reflect", "symmetric", "circular")
TRANSPOSE_OTHER_MODES = ("zeros", "replicate", "reflect", "symmetric", "circular")


def _rand(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _frames_read(mode, width):
    """Leading frames that `width` frames of padding in `mode` read (PyTorch's limits)."""
    return max({"reflect": width + 1, "symmetric": width}.get(mode, 1), 1)


@st.composite
def configs(draw, transpose=False):
    nsp = draw(st.integers(1, 3))
    t = draw(st.integers(0, nsp - 1))
    ksize = [draw(st.integers(1, 4 if a == t else 3)) for a in range(nsp)]
    stride = [draw(st.integers(1, 3 if a == t else 2)) for a in range(nsp)]
    dilation = [draw(st.integers(1, 3 if a == t else 2)) for a in range(nsp)]
    time_modes = TRANSPOSE_TIME_MODES if transpose else TIME_MODES
    other_modes = TRANSPOSE_OTHER_MODES if transpose else OTHER_MODES
    modes = [draw(st.sampled_from(time_modes if a == t else other_modes)) for a in range(nsp)]
    specs = ("same", "valid") if transpose else ("same", "valid", "same_lower", "causal")
    padding = draw(st.one_of(
        st.sampled_from(specs), st.integers(0, 1),
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=nsp - 1,
                 max_size=nsp - 1)))
    groups = draw(st.sampled_from((1, 2)))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    # Sizes of the other axes large enough for PyTorch's reflect limits of their pads.
    sizes = [draw(st.integers(5, 6)) for _ in range(nsp)]
    eff = dilation[t] * (ksize[t] - 1) + 1
    s = stride[t]
    width = (eff - 1) // s if transpose else eff - 1
    need = _frames_read(modes[t], width) if modes[t] != "zeros" else 1
    first = s * draw(st.integers(-(-need // s), -(-need // s) + 1))
    # The middle runs through lax.scan: `count` chunks of `length` frames (1 for single frames).
    length, count = s * draw(st.integers(1, 2)), draw(st.integers(0, 2))
    others = [s * draw(st.integers(1, 2)) for _ in range(draw(st.integers(0, 1)))]
    tail = draw(st.integers(0, 2 * s))  # any length: a non-multiple of the stride ends it
    return dict(
        nsp=nsp, t=t, ksize=ksize, stride=stride, dilation=dilation, modes=modes,
        padding=padding, groups=groups, cin=cin, cout=cout, sizes=sizes,
        channels_last=draw(st.booleans()), batched=draw(st.booleans()),
        chunks=(first, (length, count), *others, *([tail] if tail else [])),
        seed=draw(st.integers(0, 2**16)),
    )


def _shapes(c, transpose):
    """x (with its whole time length) and kernel shapes, the time dim of x, the keywords."""
    t = c["t"]
    first, (length, count), *rest = c["chunks"]
    total = first + length * count + sum(rest)
    spatial = [total if a == t else s for a, s in enumerate(c["sizes"])]
    k_in, k_out = (c["cout"] // c["groups"], c["cin"]) if transpose else (
        c["cin"] // c["groups"], c["cout"])
    if c["channels_last"]:
        x_shape, k_shape, td = [*spatial, c["cin"]], [*c["ksize"], k_in, k_out], t
    else:
        x_shape, k_shape, td = [c["cin"], *spatial], [k_out, k_in, *c["ksize"]], t + 1
    if c["batched"]:
        x_shape, td = [2, *x_shape], td + 1
    padding = c["padding"]
    if isinstance(padding, list):
        padding = [tuple(p) for p in padding]
    kw = dict(stride=c["stride"], padding=padding, padding_mode=c["modes"],
              dilation=c["dilation"], groups=c["groups"], channels_last=c["channels_last"],
              time_axis=t, precision=jax.lax.Precision.HIGHEST)
    return x_shape, k_shape, td, kw


def _spec_of_all_axes(padding, t):
    if isinstance(padding, list):
        padding = list(padding)
        padding.insert(t, (0, 0))
    return padding


def _offline_conv_keywords(c, kw):
    """`jaxpad.conv`'s keywords for the whole sequence: causal in time, `padding` elsewhere."""
    t = c["t"]
    pads = list(jaxpad.resolve_padding(_spec_of_all_axes(c["padding"], t), c["sizes"],
                                       c["ksize"], c["stride"], c["dilation"]))
    pads[t] = (c["dilation"][t] * (c["ksize"][t] - 1), 0)
    kw = {**kw, "padding": pads}
    del kw["time_axis"]
    return kw


def _offline_conv_transpose_keywords(c, kw):
    """`jaxpad.conv_transpose`'s keywords: crop `(0, eff - s)` in time, `padding` elsewhere.

    A negative end crop (Keras's rules where eff < stride) appends zeros, which
    `jaxpad.conv_transpose` takes as `output_padding` of a zero crop.
    """
    t, nsp = c["t"], c["nsp"]
    crops = list(transpose_padding(_spec_of_all_axes(c["padding"], t), [1] * nsp, c["ksize"],
                                   c["stride"], c["dilation"]))
    eff = c["dilation"][t] * (c["ksize"][t] - 1) + 1
    crops[t] = (0, eff - c["stride"][t])
    extra = [max(-hi, 0) for _, hi in crops]
    crops = [(lo, max(hi, 0)) for lo, hi in crops]
    kw = {**kw, "padding": crops, "output_padding": extra}
    del kw["time_axis"]
    return kw


def _split(x, td, chunks):
    """The chunks of `x`: leading ones, the scanned block stacked on a new axis 0, the rest."""
    first, (length, count), *rest = chunks
    take = partial(jax.lax.slice_in_dim, x, axis=td)
    start, head = first, [take(0, first)]
    block = take(start, start + length * count)
    shape = list(block.shape)
    shape[td: td + 1] = [count, length]
    block = jnp.moveaxis(block.reshape(shape), td, 0)
    start += length * count
    tail = []
    for n in rest:
        tail.append(take(start, start + n))
        start += n
    return head, block, tail


def _stream(step, init, x, td, chunks):
    """Every chunk through `step`, the equal ones in `lax.scan`; the outputs concatenated."""
    head, block, tail = _split(x, td, chunks)
    state = init(head[0])
    ys = []
    for chunk in head:
        y, state = step(chunk, state)
        ys.append(y)
    if block.shape[0]:
        state, y = jax.lax.scan(lambda s, c: step(c, s)[::-1], state, block)
        ys.append(jnp.concatenate(list(y), axis=td))
    for chunk in tail:
        y, state = step(chunk, state)
        ys.append(y)
    return jnp.concatenate(ys, axis=td)


def _check(offline, streamed, args, seed):
    """Forward and vjp of both, from one compiled program."""

    def both(args):
        y_off, vjp_off = jax.vjp(offline, *args)
        y_str, vjp_str = jax.vjp(streamed, *args)
        ct = _rand(y_off.shape, seed + 1) if y_off.shape == y_str.shape else y_off
        return y_off, y_str, vjp_off(ct), vjp_str(ct.astype(y_str.dtype))

    y_off, y_str, g_off, g_str = jax.jit(both)(args)
    assert y_str.shape == y_off.shape
    assert_close(y_str, y_off)
    for a, b in zip(g_str, g_off):
        assert_close(a, b)


@settings(max_examples=examples(100))
@given(configs())
def test_chunked_conv_equals_causal_conv(c):
    x_shape, k_shape, td, kw = _shapes(c, transpose=False)
    x, k = _rand(x_shape, c["seed"]), _rand(k_shape, c["seed"] + 2)
    b = _rand((c["cout"],), c["seed"] + 3)
    off_kw = _offline_conv_keywords(c, kw)
    kw["padding_value"] = off_kw["padding_value"] = 0.5

    def offline(x, k, b):
        return jaxpad.conv(x, k, b, **off_kw)

    def streamed(x, k, b):
        def step(chunk, state):
            return streaming.conv(chunk, k, state, b, **kw)

        return _stream(step, lambda chunk: streaming.init_conv(chunk, k, **kw), x, td,
                       c["chunks"])

    _check(offline, streamed, (x, k, b), c["seed"])


@settings(max_examples=examples(100))
@given(configs(transpose=True))
def test_chunked_conv_transpose_equals_causal_conv_transpose(c):
    x_shape, k_shape, td, kw = _shapes(c, transpose=True)
    x, k = _rand(x_shape, c["seed"]), _rand(k_shape, c["seed"] + 2)
    b = _rand((c["cout"],), c["seed"] + 3)
    off_kw = _offline_conv_transpose_keywords(c, kw)

    def offline(x, k, b):
        return jaxpad.conv_transpose(x, k, b, **off_kw)

    def streamed(x, k, b):
        def step(chunk, state):
            return streaming.conv_transpose(chunk, k, state, b, **kw)

        return _stream(step, lambda chunk: streaming.init_conv_transpose(chunk, k, **kw), x,
                       td, c["chunks"])

    _check(offline, streamed, (x, k, b), c["seed"])


def test_a_chunk_length_traces_once_and_the_state_scans():
    """A jitted step retraces only for a new chunk length; the first chunk is no exception."""
    traces = []
    kernel = _rand((3, 3, 2, 4), 0)
    kw = dict(stride=(2, 1), dilation=(2, 1), padding_mode=("replicate", "reflect"))

    @jax.jit
    def step(chunk, state):
        traces.append(chunk.shape)
        return streaming.conv(chunk, kernel, state, **kw)

    x = _rand((1, 12, 5, 2), 1)
    state = streaming.init_conv(x[:, :4], kernel, **kw)
    ys = []
    for start in (0, 4, 8):
        y, state = step(x[:, start:start + 4], state)
        ys.append(y)
    assert len(traces) == 1
    offline = jaxpad.conv(x, kernel, stride=(2, 1), dilation=(2, 1), padding=((4, 0), (1, 1)),
                          padding_mode=("replicate", "reflect"))
    assert_close(jnp.concatenate(ys, 1), offline)
    step(x[:, :2], state)
    assert len(traces) == 2


def test_vmap_over_streams_and_unbatched_chunks():
    """vmap over independent streams equals each stream on its own (unbatched chunks)."""
    kernel, bias = _rand((4, 2, 3), 0), _rand((3,), 1)
    kw = dict(stride=2, padding_mode="symmetric")
    xs = _rand((3, 10, 2), 2)  # three streams of (T, C)
    init = jax.vmap(lambda x: streaming.init_conv(x, kernel, **kw))
    step = jax.vmap(lambda x, s: streaming.conv(x, kernel, s, bias, **kw))
    state = init(xs[:, :4])
    y1, state = step(xs[:, :4], state)
    y2, state = step(xs[:, 4:], state)
    got = jnp.concatenate([y1, y2], 1)
    for x, y in zip(xs, got):
        assert_close(y, streaming.causal_conv(x, kernel, bias, **kw))
        assert_close(y, jaxpad.conv(x, kernel, bias, stride=2, padding=[(3, 0)],
                                    padding_mode="symmetric"))


def test_conv_transpose_overlap_and_tail_by_hand():
    """Kernel 1 2 3 4, stride 2: each frame adds 4 outputs; chunks emit 2 per frame."""
    x = jnp.array([1.0, 10.0, 100.0]).reshape(1, 3, 1)
    k = jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(4, 1, 1)
    # full: 1 2 3+10 4+20 30+100 40+200 300 400; causal crop (0, 2) keeps 6 outputs.
    expected = [1.0, 2.0, 13.0, 24.0, 130.0, 240.0]
    state = streaming.init_conv_transpose(x, k, stride=2)
    ys = []
    for chunk in (x[:, :1], x[:, 1:]):
        y, state = streaming.conv_transpose(chunk, k, state, stride=2)
        ys.append(y)
    assert jnp.concatenate(ys, 1)[0, :, 0].tolist() == expected
    assert state.overlap[0, :, 0].tolist() == [300.0, 400.0]  # what the crop drops
    assert streaming.causal_conv_transpose(x, k, stride=2)[0, :, 0].tolist() == expected


def test_replicate_repeats_the_first_frame_and_the_tail_ends_the_stream():
    x = jnp.arange(1.0, 8.0).reshape(1, 7, 1)
    k = jnp.ones((3, 1, 1))
    kw = dict(stride=2, padding_mode="replicate")
    state = streaming.init_conv(x, k, **kw)
    y1, state = streaming.conv(x[:, :4], k, state, **kw)
    y2, state = streaming.conv(x[:, 4:], k, state, **kw)  # 3 frames: the last chunk
    # 1 1 | 1 2 3 4 5 6 7: windows ending on frames 0, 2, 4, 6.
    assert jnp.concatenate([y1, y2], 1)[0, :, 0].tolist() == [3.0, 6.0, 12.0, 18.0]
    assert state.ended == 3
    with pytest.raises(ValueError, match="The stream has ended: its last chunk had 3 frames, "
                                         "not a multiple of the time stride 2"):
        streaming.conv(x[:, :2], k, state, **kw)


def test_too_short_first_chunk_is_refused_eagerly_and_nan_under_jit():
    k = jnp.ones((4, 1, 1))
    x = jnp.arange(1.0, 9.0).reshape(1, 8, 1)
    state = streaming.init_conv(x, k, padding_mode="reflect")
    with pytest.raises(ValueError, match="The first chunk must hold at least 4 frames: reflect "
                                         "padding of the time axis reads 3 frame"):
        streaming.conv(x[:, :3], k, state, padding_mode="reflect")
    y, _ = jax.jit(lambda c, s: streaming.conv(c, k, s, padding_mode="reflect"))(x[:, :3], state)
    assert bool(jnp.isnan(y).all())
    up = jnp.ones((5, 1, 1))
    state = streaming.init_conv_transpose(x, up, padding_mode="symmetric")
    with pytest.raises(ValueError, match="The first chunk must hold at least 4 frames: "
                                         "symmetric"):
        streaming.conv_transpose(x[:, :3], up, state, padding_mode="symmetric")


def _kw(**kw):
    return dict(stride=2, padding_mode="replicate", **kw)


@pytest.mark.parametrize("make, error, match", [
    (lambda x, k, s: streaming.init_conv(x, k, padding_mode="circular"), ValueError,
     r"`padding_mode` of the time axis \(0\) cannot be 'circular': it would wrap the end"),
    (lambda x, k, s: streaming.init_conv_transpose(x, k, padding_mode=("zeros", "wrap"),
                                                   time_axis=1),
     ValueError, r"`padding_mode` of the time axis \(1\) cannot be 'circular'"),
    (lambda x, k, s: streaming.init_conv(x, k, time_axis=2), ValueError,
     r"`time_axis` must index one of the 2 spatial axes \(0 to 1, or negative from the end\); "
     r"got 2"),
    (lambda x, k, s: streaming.init_conv(x, k, time_axis=0.0), TypeError,
     r"`time_axis` must be an int; got 0.0"),
    (lambda x, k, s: streaming.init_conv(x, k, padding=[1, 1]), ValueError,
     r"`padding` must be a string, an int, or 1 ints or \(lo, hi\) pairs: one per spatial axis "
     r"other than the time axis \(0\)"),
    (lambda x, k, s: streaming.init_conv(x, k, groups=3), ValueError,
     r"`groups` must divide the input and output channels"),
    (lambda x, k, s: streaming.conv(x, k, "state"), TypeError,
     r"`state` must be a jaxpad.streaming.ConvState, as `init_conv` and the previous call "
     r"return; got str"),
    (lambda x, k, s: streaming.conv_transpose(x, k, s), TypeError,
     r"`state` must be a jaxpad.streaming.ConvTransposeState"),
    (lambda x, k, s: streaming.conv(x[:, :, :4], k, s, **_kw()), ValueError,
     r"`x` has shape \(1, 6, 4, 2\) but the state was made for chunks of shape \(1, \*, 5, 2\) "
     r"\(`\*`: any number of frames\)"),
    (lambda x, k, s: streaming.conv(jnp.concatenate([x, x], -1), k, s, **_kw()), ValueError,
     r"`x` has shape \(1, 6, 5, 4\) but the state was made for chunks of shape \(1, \*, 5, 2\)"),
    (lambda x, k, s: streaming.conv(x[0], k, s, **_kw()), ValueError,
     r"`x` has shape \(6, 5, 2\) but the state was made for chunks of shape \(1, \*, 5, 2\)"),
    (lambda x, k, s: streaming.conv(x.astype(jnp.float16), k, s, **_kw()), ValueError,
     r"`x` has dtype float16 but the state was made for float32 chunks"),
    (lambda x, k, s: streaming.conv(x[:, :0], k, s, **_kw()), ValueError,
     r"`x` must hold at least one frame; got shape \(1, 0, 5, 2\)"),
    (lambda x, k, s: streaming.conv(x, k, s, stride=1, padding_mode="replicate"), ValueError,
     r"`state` was made for another configuration: stride \(1, 1\) here, \(2, 2\) in the state\. "
     r"Pass the keywords and the kernel shape that `init_conv` got"),
    (lambda x, k, s: streaming.conv(x, k[:2], s, **_kw()), ValueError,
     r"another configuration: the kernel's shape \(2, 3, 2, 4\) here, \(3, 3, 2, 4\)"),
    (lambda x, k, s: streaming.conv(x, k, s, **_kw(padding="valid")), ValueError,
     r"another configuration: padding \(\(0, 0\), \(0, 0\)\) here, \(\(0, 0\), \(1, 1\)\) in the "
     r"state"),
    (lambda x, k, s: streaming.conv(x, k, s, **_kw(bias=jnp.ones(3))), ValueError,
     r"`bias` must have shape \(4,\) \(the output channels\); got \(3,\)"),
    (lambda x, k, s: streaming.init_conv_transpose(x, k), ValueError,
     r"`x` has 2 channels but `kernel` of shape \(3, 3, 2, 4\) expects 4"),
    (lambda x, k, s: streaming.conv_transpose(
        x, k.swapaxes(2, 3), streaming.init_conv_transpose(x, k.swapaxes(2, 3)), jnp.ones(3)),
     ValueError, r"`bias` must have shape \(4,\) \(the output channels\); got \(3,\)"),
])
def test_errors(make, error, match):
    x, k = _rand((1, 6, 5, 2), 0), _rand((3, 3, 2, 4), 1)
    state = streaming.init_conv(x, k, **_kw())
    with pytest.raises(error, match=match):
        make(x, k, state)


# ----------------------------------------------------------------------------- Flax layers

LAYER_CASES = {
    # (kernel, strides, dilation, time modes, other axis, groups): a time stride and a
    # dilation in 2-D with reflect across, and a 1-D strided upsampler.
    "conv": dict(kernel_size=(3, 3), strides=(2, 1), kernel_dilation=(2, 1),
                 padding_mode=("replicate", "reflect"), feature_group_count=2),
    "conv_transpose": dict(kernel_size=(4, 3), strides=(2, 1), kernel_dilation=1,
                           padding_mode=("zeros", "replicate"), feature_group_count=2),
}


def _offline_padding(kind, c):
    """The offline layer's padding keyword: causal in time (axis 0), 1 on the other axis
    (ConvTranspose: PyTorch's crop, as the streaming layer's `padding`)."""
    eff = c["kernel_size"][0] if kind == "conv_transpose" else 2 * (c["kernel_size"][0] - 1) + 1
    if kind == "conv":
        return {"padding": [(eff - 1, 0), (1, 1)]}
    return {"torch_padding": [(0, eff - c["strides"][0]), (1, 1)]}


def _perturbed(params):
    """Parameters as training leaves them: not the initialiser's."""
    return jax.tree.map(lambda p: p + 0.1 * _rand(p.shape, p.size), params)


# flax's ConvTranspose kernel layout in nnx, jaxpad's (transpose_kernel) in linen.
@pytest.mark.parametrize("kind, extra", [("conv", {}),
                                         ("conv_transpose", {"transpose_kernel": True})])
def test_linen_layers_stream_an_offline_checkpoint(kind, extra):
    pytest.importorskip("flax", reason="flax is not installed: jaxpad.linen not checked")
    import jaxpad.linen

    c = dict(LAYER_CASES[kind], **extra)
    offline_cls, stream_cls = {
        "conv": (jaxpad.linen.Conv, jaxpad.linen.StreamingConv),
        "conv_transpose": (jaxpad.linen.ConvTranspose, jaxpad.linen.StreamingConvTranspose),
    }[kind]
    x = _rand((2, 10, 6, 4), 0)
    offline = offline_cls(6, **_offline_padding(kind, c), **c)
    stream = stream_cls(6, padding=[(1, 1)], **c)
    params = offline.init(jax.random.key(0), x)["params"]
    # The same parameter tree from the same key: checkpoints are interchangeable.
    jax.tree.map(np.testing.assert_array_equal, stream.init(jax.random.key(0), x)["params"],
                 params)
    params = _perturbed(params)
    expected = offline.apply({"params": params}, x)
    assert_close(stream.apply({"params": params}, x), expected)

    decoder = stream.clone(decode=True)
    cache = decoder.init(jax.random.key(0), x[:, :4])["cache"]
    step = jax.jit(lambda cache, chunk: decoder.apply({"params": params, "cache": cache},
                                                      chunk, mutable=["cache"]))
    ys = []
    for chunk in (x[:, :4], x[:, 4:6], x[:, 6:]):
        y, mutated = step(cache, chunk)
        cache = mutated["cache"]
        ys.append(y)
    assert_close(jnp.concatenate(ys, 1), expected)


@pytest.mark.parametrize("kind", ["conv", "conv_transpose"])
def test_nnx_layers_stream_an_offline_checkpoint(kind):
    pytest.importorskip("flax", reason="flax is not installed: jaxpad.nnx not checked")
    from flax import nnx

    import jaxpad.nnx

    c = LAYER_CASES[kind]
    offline_cls, stream_cls = {
        "conv": (jaxpad.nnx.Conv, jaxpad.nnx.StreamingConv),
        "conv_transpose": (jaxpad.nnx.ConvTranspose, jaxpad.nnx.StreamingConvTranspose),
    }[kind]
    kernel_size, strides = c["kernel_size"], c["strides"]
    rest = {k: v for k, v in c.items() if k not in ("kernel_size", "strides")}
    offline = offline_cls(4, 6, kernel_size, strides, **_offline_padding(kind, c), **rest,
                          rngs=nnx.Rngs(0))
    stream = stream_cls(4, 6, kernel_size, strides, padding=[(1, 1)], **rest, rngs=nnx.Rngs(0))
    jax.tree.map(np.testing.assert_array_equal, nnx.state(stream, nnx.Param),
                 nnx.state(offline, nnx.Param))
    nnx.update(offline, _perturbed(nnx.state(offline, nnx.Param)))
    nnx.update(stream, nnx.state(offline, nnx.Param))  # the offline checkpoint, unchanged
    x = _rand((2, 9, 6, 4), 0)  # the last chunk, 3 frames, ends a stream of stride 2
    expected = offline(x)
    assert_close(stream(x), expected)

    if kind == "conv":
        stream.init_cache(x.shape)  # else the first decode call makes it
    step = nnx.jit(lambda layer, chunk: layer(chunk, decode=True))
    for _ in range(2):
        ys = [step(stream, chunk) for chunk in (x[:, :4], x[:, 4:6], x[:, 6:])]
        assert isinstance(stream.cache, nnx.Cache)
        assert_close(jnp.concatenate(ys, 1), expected)
        stream.reset_cache()  # a second stream


def test_nnx_layer_errors():
    pytest.importorskip("flax", reason="flax is not installed: jaxpad.nnx not checked")
    from flax import nnx

    import jaxpad.nnx

    with pytest.raises(ValueError, match=r"`padding_mode` of the time axis \(0\) cannot be "
                                         r"'circular'"):
        jaxpad.nnx.StreamingConv(2, 2, 3, padding_mode="circular", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`feature_group_count` must divide `in_features`"):
        jaxpad.nnx.StreamingConvTranspose(3, 4, 3, feature_group_count=2, rngs=nnx.Rngs(0))
    layer = jaxpad.nnx.StreamingConv(2, 2, (3, 3), strides=2, rngs=nnx.Rngs(0))
    layer(jnp.ones((1, 4, 4, 2)), decode=True)  # makes the cache
    with pytest.raises(ValueError, match=r"`x` has shape \(1, 4, 5, 2\) but the state was made "
                                         r"for chunks of shape \(1, \*, 4, 2\)"):
        layer(jnp.ones((1, 4, 5, 2)), decode=True)

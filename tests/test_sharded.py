"""Every jaxpad function on sharded arrays (8 host devices, see conftest.py), and the halo
exchange of `jaxpad.sharded.conv`: its results and the bytes its compiled program moves."""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close, examples, grid, grid_each
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P
from reference import tf_same

import jaxpad
import jaxpad.sharded

MODES = ("zeros", "constant", "reflect", "replicate", "circular", "symmetric")
AXIS_TYPES = (AxisType.Auto, AxisType.Explicit)
HIGHEST = jax.lax.Precision.HIGHEST


def mesh(shape, names, axis_type=AxisType.Auto):
    devices = jax.devices("cpu")[: math.prod(shape)]
    return jax.make_mesh(shape, names, axis_types=(axis_type,) * len(shape), devices=devices)


def test_eight_host_devices():
    assert len(jax.devices("cpu")) >= 8


def inner(a, b):
    # Not jnp.vdot: its flattening reshape makes XLA gather sharded operands.
    return (a * b).sum()


def normal(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


# ---------------------------------------------------------------------------------------
# Collective bytes, read from compiled HLO.

_ITEMSIZE = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s16": 2, "u16": 2,
             "f32": 4, "s32": 4, "u32": 4, "f64": 8, "s64": 8, "u64": 8}
_COLLECTIVES = ("all-gather", "all-reduce", "all-to-all", "collective-permute",
                "reduce-scatter", "collective-broadcast")
_INSTRUCTION = re.compile(
    r"=\s*(?P<shape>.*?)\s(?P<op>" + "|".join(_COLLECTIVES) + r")(?:-start)?\("
)


def collective_bytes(compiled_text: str) -> dict[str, int]:
    """Bytes each kind of collective moves per device: the sum of its result shapes.

    In an SPMD program every shape is one device's, and each device sends or
    receives a collective's result once. Async '-start' ops are counted, their
    '-done' halves are not.
    """
    total: dict[str, int] = {}
    for line in compiled_text.splitlines():
        match = _INSTRUCTION.search(line)
        if match:
            size = 0
            for dtype, dims in re.findall(r"(\w+)\[([\d,]*)\]", match["shape"]):
                size += _ITEMSIZE[dtype] * math.prod(int(d) for d in dims.split(",") if d)
            total[match["op"]] = total.get(match["op"], 0) + size
    return total


def test_collective_bytes_counts_a_known_program():
    m = mesh((8,), ("x",))

    def shift(a):
        return jax.lax.ppermute(a, "x", [(i, (i + 1) % 8) for i in range(8)])

    def program(a):
        b = jax.shard_map(shift, mesh=m, in_specs=P("x"), out_specs=P("x"))(a)
        return jax.shard_map(lambda c: jax.lax.psum(c, "x"), mesh=m, in_specs=P("x"),
                             out_specs=P())(b)

    text = jax.jit(program).lower(jnp.ones((8 * 5, 3))).compile().as_text()
    # One (5, 3) float32 block sent around the ring, one summed across devices.
    assert collective_bytes(text) == {"collective-permute": 60, "all-reduce": 60}


def _programs(fn, x, kernel, target):
    forward = jax.jit(fn).lower(x, kernel).compile().as_text()
    grad = jax.jit(jax.grad(lambda x, k, t: inner(fn(x, k), t), argnums=(0, 1)))
    return forward, grad.lower(x, kernel, target).compile().as_text()


HALO_CASES = [
    # mesh_shape, spatial_axes, kernel, stride, channels
    ((8,), ("x", None), (3, 3), 1, (16, 16)), ((4, 2), ("x", "y"), (3, 3), 1, (16, 16)),
    ((4, 2), ("x", "y"), (5, 4), 2, (16, 16)), ((8,), ("x", None), (7, 7), 2, (16, 16)),
    ((8,), ("x", None), (3, 3), 1, (16, 8)), ((8,), ("x", None), (3, 3), 1, (8, 16)),
]


@grid_each(mode=MODES, case=HALO_CASES)
def test_halo_exchange_moves_the_bytes_of_zero_padding(mode, case):
    """No all-gather or all-to-all; within 1.1x the bytes of XLA's zero-padded conv.

    The training step too, strided and channel-shrinking convs included: the backward
    pass receives the neighbours' output-gradient rows, as XLA's does.
    """
    mesh_shape, spatial_axes, kernel, stride, channels = case
    m = mesh(mesh_shape, ("x", "y")[: len(mesh_shape)])

    def halo(x, k):
        return jaxpad.sharded.conv(x, k, stride=stride, padding_mode=mode, padding_value=0.5,
                                   mesh=m, spatial_axes=spatial_axes)

    _assert_bytes_of_zero_padding(m, spatial_axes, kernel, stride, channels, halo)


def _assert_bytes_of_zero_padding(m, spatial_axes, kernel, stride, channels, fn):
    """`fn(x, kernel)` moves at most 1.1x the bytes of the zero-padded conv, forward and
    in the training step, with no all-gather or all-to-all."""
    c_in, c_out = channels
    spec = P(None, *spatial_axes)
    x = jax.device_put(jnp.ones((4, 64, 32, c_in)), NamedSharding(m, spec))
    target = jax.device_put(jnp.ones((4, 64 // stride, 32 // stride, c_out)),
                            NamedSharding(m, spec))
    w = jnp.ones((*kernel, c_in, c_out))

    def zeros(x, k):  # the floor: XLA's SPMD partitioner on a zero-padded conv
        return jaxpad.conv(x, k, stride=stride)

    with jax.set_mesh(m):
        programs = list(zip(_programs(zeros, x, w, target), _programs(fn, x, w, target)))
    for floor_text, text in programs:
        floor, moved = collective_bytes(floor_text), collective_bytes(text)
        assert floor.get("collective-permute", 0) > 0  # the halo is there to be moved
        assert not {"all-gather", "all-to-all"} & moved.keys(), moved
        assert sum(moved.values()) <= 1.1 * sum(floor.values()), (moved, floor)


EXPLICIT_CASES = [((4, 2), ("x", "y"), (3, 3), 1, (16, 16)),
                  ((4, 2), ("x", "y"), (5, 4), 2, (16, 16)),
                  ((8,), ("x", None), (3, 3), 1, (16, 8))]


@grid_each(mode=["reflect", "circular"], case=EXPLICIT_CASES)
def test_conv_on_explicit_spatial_sharding_moves_the_bytes_of_zero_padding(mode, case):
    """Plain `jaxpad.conv` under `jax.jit` takes the halo exchange on explicit meshes."""
    mesh_shape, spatial_axes, kernel, stride, channels = case
    m = mesh(mesh_shape, ("x", "y")[: len(mesh_shape)], AxisType.Explicit)

    def conv(x, k):
        return jaxpad.conv(x, k, stride=stride, padding_mode=mode)

    _assert_bytes_of_zero_padding(m, spatial_axes, kernel, stride, channels, conv)


@grid_each(mode=["reflect", "circular"], case=EXPLICIT_CASES, impl=["pad", "frame"])
def test_conv_on_auto_spatial_sharding_moves_the_bytes_of_zero_padding(mode, case, impl):
    """On automatic meshes (`jax.set_mesh`), the halo exchange is chosen when XLA has
    fixed the sharding (`jaxpad._auto_mesh`), forward and in the training step."""
    mesh_shape, spatial_axes, kernel, stride, channels = case
    m = mesh(mesh_shape, ("x", "y")[: len(mesh_shape)])

    def conv(x, k):
        return jaxpad.conv(x, k, stride=stride, padding_mode=mode, impl=impl)

    _assert_bytes_of_zero_padding(m, spatial_axes, kernel, stride, channels, conv)


_NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap",
             "symmetric": "symmetric"}


@grid_each(mode=list(_NP_MODES), stride=[1, 2], layout=["spatial", "both"])
def test_auto_mesh_route_under_every_transformation(mode, stride, layout):
    """On an automatic mesh the partitioned primitives take jit, jvp, linear_transpose,
    vmap and forward-over-reverse, with `jnp.pad` + a 'VALID' lax conv's numbers."""
    shape, names, spec = SHARDINGS[layout]
    m = mesh(shape, names)
    x, w = normal((4, 16, 16, 3), 0), normal((3, 3, 3, 4), 1)
    tx, tw = normal(x.shape, 2), normal(w.shape, 3)
    pads = [(0, 0), *[tf_same(16, 3, stride, 1)] * 2, (0, 0)]

    def ref(x, w):
        return jax.lax.conv_general_dilated(
            jnp.pad(x, pads, mode=_NP_MODES[mode]), w, (stride, stride), "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def f(x, w):
        return jaxpad.conv(x, w, stride=stride, padding_mode=mode)

    xs = jax.device_put(x, NamedSharding(m, spec))
    ct = normal(ref(x, w).shape, 4)
    with jax.set_mesh(m):
        assert "jaxpad_auto_mesh_conv" in str(jax.make_jaxpr(f)(xs, w))
        y, ty = jax.jit(lambda x, w: jax.jvp(f, (x, w), (tx, tw)))(xs, w)
        (gx,) = jax.jit(lambda c: jax.linear_transpose(lambda x: f(x, w), xs)(c))(ct)
        batched = jax.jit(jax.vmap(f, in_axes=(0, None)))(jnp.stack([xs, 2 * xs]), w)

        def loss(x, w):
            return inner(f(x, w), ct)

        hvp = jax.jit(lambda x, w: jax.jvp(jax.grad(loss, (0, 1)), (x, w), (tx, tw))[1])(xs, w)
    ry, rty = jax.jvp(ref, (x, w), (tx, tw))
    assert_close(y, ry)
    assert_close(ty, rty)
    assert_close(inner(gx, x), inner(ct, ry))  # <A^T c, x> == <c, A x>
    assert_close(batched, jnp.stack([ry, 2 * ry]))
    for a, b in zip(hvp, jax.jvp(jax.grad(lambda x, w: inner(ref(x, w), ct), (0, 1)), (x, w),
                                 (tx, tw))[1]):
        assert_close(a, b)


@grid(api=["linen", "nnx"], axis_type=AXIS_TYPES)
def test_flax_conv_on_spatial_sharding_moves_the_bytes_of_zero_padding(api, axis_type):
    """The layers call `jaxpad.conv`: a reflect-padded Conv meets zero padding's bytes,
    forward and in the training step (gradients of the input and the parameters), on
    explicit and automatic meshes."""
    pytest.importorskip("flax")
    from flax import nnx

    import jaxpad.linen
    import jaxpad.nnx

    m = mesh((4, 2), ("x", "y"), axis_type)
    spec = P(None, "x", "y")
    x = jax.device_put(jnp.ones((4, 64, 32, 16)), NamedSharding(m, spec))
    target = jax.device_put(jnp.ones((4, 64, 32, 16)), NamedSharding(m, spec))

    def layer(mode):
        if api == "linen":
            module = jaxpad.linen.Conv(16, (3, 3), padding_mode=mode)
            return module.apply, module.init(jax.random.key(0), jnp.ones((1, 8, 8, 16)))
        graph, state = nnx.split(jaxpad.nnx.Conv(16, 16, (3, 3), padding_mode=mode,
                                                 rngs=nnx.Rngs(0)))
        return (lambda s, x: nnx.merge(graph, s)(x)), state

    moved = {}
    for mode in ("zeros", "reflect"):
        apply, params = layer(mode)
        with jax.set_mesh(m):
            moved[mode] = [collective_bytes(text) for text in _programs(
                lambda x, p, apply=apply: apply(p, x), x, params, target)]
    for floor, ours in zip(moved["zeros"], moved["reflect"]):
        assert not {"all-gather", "all-to-all"} & ours.keys(), ours
        assert sum(ours.values()) <= 1.1 * sum(floor.values()), (ours, floor)


# ---------------------------------------------------------------------------------------
# jaxpad.sharded.conv equals jaxpad.conv.


def _check_sharded_conv(m, x, w, bias, *, spatial_axes, batch_axis=None, **kwargs):
    def ours(x, w):
        return jaxpad.sharded.conv(x, w, bias, mesh=m, spatial_axes=spatial_axes,
                                   batch_axis=batch_axis, precision=HIGHEST, **kwargs)

    def reference(x, w):
        return jaxpad.conv(x, w, bias, precision=HIGHEST, **kwargs)

    target = normal(jax.eval_shape(reference, x, w).shape, 7)
    with jax.set_mesh(m):
        y = jax.jit(ours)(x, w)
        grads = jax.jit(jax.grad(lambda x, w: inner(ours(x, w), target), (0, 1)))(x, w)
    assert_close(y, reference(x, w))
    expected = jax.grad(lambda x, w: inner(reference(x, w), target), (0, 1))(x, w)
    for g, e in zip(grads, expected):
        assert_close(g, e)
    return y


@grid_each(axis_type=AXIS_TYPES, mode=MODES, stride_dilation=[(1, 1), (2, 1), (1, 2), (2, 2)])
def test_sharded_conv_2d_equals_one_device(axis_type, mode, stride_dilation):
    stride, dilation = stride_dilation
    m = mesh((2, 2, 2), ("b", "x", "y"), axis_type)
    x, w, bias = normal((2, 16, 12, 3), 0), normal((3, 4, 3, 4), 1), normal((4,), 2)
    y = _check_sharded_conv(m, x, w, bias, spatial_axes=("x", "y"), batch_axis="b",
                            stride=stride, dilation=dilation, padding_mode=mode,
                            padding_value=0.25)
    assert jax.typeof(y).sharding.spec[:3] == ("b", "x", "y") or axis_type == AxisType.Auto


@pytest.mark.parametrize("mode", MODES)
def test_sharded_conv_channels_first_unbatched_and_one_axis(mode):
    m = mesh((4,), ("x",))
    x, w = normal((3, 8, 20), 0), normal((5, 3, 3, 3), 1)  # (C, H, W), OIHW
    _check_sharded_conv(m, x, w, None, spatial_axes=(None, "x"), channels_last=False,
                        padding_mode=mode, padding_value=-1.0)


@pytest.mark.parametrize("modes", [("zeros", "constant"), ("constant", "zeros", "reflect")])
def test_sharded_conv_keeps_the_axis_order_of_constant_corners(modes):
    """Where a zeros and a 'constant' fill meet, the later axis wins, as in jaxpad.pad."""
    rank = len(modes)
    m = mesh((2,) * rank, ("x", "y", "z")[:rank])
    x, w = normal((1, *(8,) * rank, 2), 0), normal((*(3,) * rank, 2, 2), 1)
    for sharded in range(rank):
        axes = tuple("xyz"[i] if i == sharded else None for i in range(rank))
        _check_sharded_conv(m, x, w, None, spatial_axes=axes, padding_mode=modes,
                            padding_value=3.0)


@settings(max_examples=examples(40))
@given(data=st.data())
def test_sharded_conv_random_configurations(data):
    rank = data.draw(st.integers(1, 3), label="rank")
    devices = data.draw(st.lists(st.sampled_from([1, 2, 4]), min_size=rank, max_size=rank)
                        .filter(lambda d: math.prod(d) <= 8), label="devices")
    strides = data.draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank), label="s")
    dilations = data.draw(st.lists(st.integers(1, 2), min_size=rank, max_size=rank), label="d")
    kernel = data.draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank), label="k")
    modes = data.draw(st.lists(st.sampled_from(MODES), min_size=rank, max_size=rank),
                      label="modes")
    lower = data.draw(st.booleans(), label="same_lower")
    # Blocks of 4 or 6 rows per stride: wider than the halo of any drawn kernel.
    sizes = [n * s * data.draw(st.sampled_from([4, 6]), label="rows")
             for n, s in zip(devices, strides)]
    names = tuple(f"a{i}" for i in range(rank))
    m = mesh(tuple(devices), names)
    x = normal((2, *sizes, 2), 0)
    w = normal((*kernel, 2, 3), 1)
    _check_sharded_conv(m, x, w, None, spatial_axes=names, stride=strides, dilation=dilations,
                        padding="same_lower" if lower else "same", padding_mode=modes,
                        padding_value=0.5)


def test_sharded_conv_takes_the_mesh_of_set_mesh():
    m = mesh((2,), ("x",), AxisType.Explicit)
    x, w = normal((1, 8, 2), 0), normal((3, 2, 2), 1)
    with jax.set_mesh(m):
        y = jaxpad.sharded.conv(x, w, spatial_axes=("x",), padding_mode="circular")
    assert_close(y, jaxpad.conv(x, w, padding_mode="circular"))


@pytest.mark.parametrize("axis_type", AXIS_TYPES)
def test_sharded_conv_outside_jit_without_a_mesh_context(axis_type):
    """Eager calls enter the mesh themselves; no sharded axis at all is a replicated conv."""
    m = mesh((2,), ("x",), axis_type)
    x, w = normal((1, 8, 2), 0), normal((3, 2, 2), 1)
    for axes in (("x",), (None,)):
        y = jaxpad.sharded.conv(x, w, spatial_axes=axes, mesh=m, padding_mode="reflect")
        assert_close(y, jaxpad.conv(x, w, padding_mode="reflect"))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(spatial_axes=("x",)), ValueError, r"one entry per spatial axis \(2\)"),
        (dict(spatial_axes="x"), TypeError, "`spatial_axes` must be a sequence"),
        (dict(spatial_axes=("q", None)), ValueError, r"names mesh axis 'q'.*axes \('x',\)"),
        (dict(spatial_axes=(1, None)), TypeError, "mesh axis names .str. or None; got 1"),
        (dict(spatial_axes=(None, None), batch_axis="b"), ValueError, "names mesh axis 'b'"),
        (dict(spatial_axes=("x", None), x_shape=(1, 10, 8, 2)), ValueError,
         r"spatial axis 0 \(size 10, split over 4 devices of 'x'\) must divide"),
        (dict(spatial_axes=("x", None), stride=4), ValueError,
         "block of 2 .* must divide by the stride 4"),
        (dict(spatial_axes=("x", None), padding="valid"), ValueError,
         r"must be size / stride = 8 \(the 'same' geometry\) .*; padding \(0, 0\) gives 6"),
        (dict(spatial_axes=("x", None), kernel=(5, 3), padding_mode="reflect"), ValueError,
         r"halo \(2, 2\) .* wider than one block allows in 'reflect' mode \(1 rows\)"),
        (dict(spatial_axes=("x", None), padding_mode="wrap-around"), ValueError,
         "padding_mode"),
        (dict(spatial_axes=("x", None), mesh=None), ValueError, "no mesh is set"),
    ],
)
def test_sharded_conv_errors(kwargs, error, match):
    m = mesh((4,), ("x",))
    x = normal(kwargs.pop("x_shape", (1, 8, 8, 2)), 0)
    w = normal((*kwargs.pop("kernel", (3, 3)), 2, 2), 1)
    kwargs.setdefault("mesh", m)
    with pytest.raises(error, match=match):
        jaxpad.sharded.conv(x, w, **kwargs)


# ---------------------------------------------------------------------------------------
# Every public function under jax.jit on batch- and spatially sharded inputs.


def _layer_fns(mode):
    """Callables `(x, params) -> y` of the Flax layers, with their initial params."""
    linen = pytest.importorskip("flax.linen")
    from flax import nnx

    import jaxpad.linen
    import jaxpad.nnx

    fns = {}
    for name, cls, kwargs in [
        ("linen.Conv", jaxpad.linen.Conv, dict(padding="same")),
        ("linen.ConvTranspose", jaxpad.linen.ConvTranspose, dict(strides=2, padding="same")),
    ]:
        layer = cls(4, (3, 3), padding_mode=mode, **kwargs)
        params = layer.init(jax.random.key(0), jnp.ones((1, 8, 8, 3)))
        fns[name] = (lambda x, p, layer=layer: layer.apply(p, x), params)
    del linen
    for name, cls, kwargs in [
        ("nnx.Conv", jaxpad.nnx.Conv, dict(padding="same")),
        ("nnx.ConvTranspose", jaxpad.nnx.ConvTranspose, dict(strides=2, padding="same")),
    ]:
        layer = cls(3, 4, (3, 3), padding_mode=mode, rngs=nnx.Rngs(0), **kwargs)
        graph, state = nnx.split(layer)
        fns[name] = (lambda x, s, graph=graph: nnx.merge(graph, s)(x), state)
    return fns


def _function_fns(mode):
    w, wt = normal((3, 3, 3, 4), 1), normal((3, 3, 4, 3), 2)  # HWIO; transposed: (*k, O, I)
    pool_mode = mode if mode != "constant" else "zeros"
    torch_mode = mode if mode in ("reflect", "replicate", "circular") else "constant"
    return {
        "pad": lambda x: jaxpad.pad(x, ((0, 0), (2, 1), (1, 2), (0, 0)), mode, value=0.5),
        "torch_pad": lambda x: jaxpad.torch_pad(
            x, (1, 2, 2, 1, 0, 0), torch_mode, value=0.5 if torch_mode == "constant" else 0.0),
        "conv": lambda x: jaxpad.conv(x, w, stride=2, padding_mode=mode, padding_value=0.5),
        "conv_transpose": lambda x: jaxpad.conv_transpose(
            x, wt, stride=2, padding="same",
            padding_mode=mode if mode != "constant" else "zeros"),
        "max_pool": lambda x: jaxpad.max_pool(x, (3, 3), (2, 2), padding="same"),
        "avg_pool": lambda x: jaxpad.avg_pool(x, (3, 3), (1, 1), padding="same",
                                              padding_mode=pool_mode),
    }


# Every mesh axis used: XLA's partitioner has a bug otherwise (see the xfail test below).
SHARDINGS = {
    "batch": ((8,), ("b",), P("b")),
    "spatial": ((4, 2), ("x", "y"), P(None, "x", "y")),
    "both": ((2, 4), ("b", "x"), P("b", "x")),
}


@pytest.mark.xfail(strict=True, reason="XLA SPMD (jax 0.10.2): the kernel gradient of a conv "
                   "whose input is replicated over an unused mesh axis is multiplied by its size")
def test_upstream_kernel_gradient_on_a_partly_used_mesh():
    m = mesh((2, 2, 2), ("b", "x", "y"))
    x, w = normal((4, 16, 16, 3), 0), normal((3, 3, 3, 4), 1)
    target = normal((4, 16, 16, 4), 2)

    def loss(x, w):  # plain lax, no jaxpad
        y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return inner(y, target)

    xs = jax.device_put(x, NamedSharding(m, P(None, "x", "y")))
    assert_close(jax.jit(jax.grad(loss, 1))(xs, w), jax.grad(loss, 1)(x, w))


@grid_each(mode=MODES, sharding=SHARDINGS, axis_type=AXIS_TYPES)
def test_functions_on_sharded_inputs(axis_type, sharding, mode):
    shape, names, spec = SHARDINGS[sharding]
    m = mesh(shape, names, axis_type)
    x = normal((8, 16, 16, 3), 0)
    xs = jax.device_put(x, NamedSharding(m, spec))
    for name, fn in _function_fns(mode).items():
        expected = fn(x)
        target = normal(expected.shape, 3)

        def loss(x, fn=fn, target=target):
            return inner(fn(x), target)

        with jax.set_mesh(m):
            y = jax.jit(fn)(xs)
            dx = jax.jit(jax.grad(loss))(xs)
        assert_close(y, expected)
        assert_close(dx, jax.grad(loss)(x))
        if axis_type == AxisType.Explicit:  # a cotangent has the type of its primal
            assert dx.sharding.is_equivalent_to(xs.sharding, x.ndim), name


@grid_each(mode=["zeros", "reflect", "circular"], sharding=SHARDINGS, axis_type=AXIS_TYPES)
def test_flax_layers_on_sharded_inputs(axis_type, sharding, mode):
    shape, names, spec = SHARDINGS[sharding]
    m = mesh(shape, names, axis_type)
    x = normal((8, 16, 16, 3), 0)
    xs = jax.device_put(x, NamedSharding(m, spec))
    for fn, params in _layer_fns(mode).values():
        expected = fn(x, params)
        target = normal(expected.shape, 3)

        def loss(x, p, fn=fn, target=target):
            return inner(fn(x, p), target)

        with jax.set_mesh(m):
            y = jax.jit(fn)(xs, params)
            grads = jax.jit(jax.grad(loss, (0, 1)))(xs, params)
        assert_close(y, expected)
        for g, e in zip(jax.tree.leaves(grads), jax.tree.leaves(jax.grad(loss, (0, 1))(x, params))):
            assert_close(g, e)

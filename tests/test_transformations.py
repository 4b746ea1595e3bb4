"""Every public function and layer under every JAX transformation, against independent references.

One matrix of cells: function x mode x impl (or route) x rank x dtype. In a cell one
jitted program applies every transformation to the jaxpad function and another applies
them to a reference made of `jnp.pad`, lax's convolutions and strided slices (nothing of
jaxpad); the two must agree within the dtype's tolerance, and `linear_transpose` must
satisfy the adjoint identity `<A x, y> == <x, A^T y>`. The default run samples cells
with hypothesis; `JAXPAD_HYPOTHESIS=thorough` runs every cell.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference
from helpers import THOROUGH, examples, tolerance
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

import jaxpad
import jaxpad.sharded
from jaxpad._conv import dimension_numbers
from jaxpad._frame import Config, frame_conv
from jaxpad._strategies import impls

try:
    from flax import nnx

    import jaxpad.linen
    import jaxpad.nnx
except ImportError:  # the Flax layers' cells are left out
    nnx = None
try:
    import equinox as eqx

    import jaxpad.equinox
except ImportError:  # the Equinox layers' cells are left out
    eqx = None

HIGHEST = lax.Precision.HIGHEST
MODES = ("zeros", "constant", "reflect", "replicate", "circular", "symmetric")
TRANSPOSE_MODES = ("zeros", "reflect", "replicate", "symmetric", "circular")
DTYPES = ("float32", "bfloat16", "float16", "float64", "complex64", "complex128")
# `jaxpad.conv`'s impls, and the frame's CPU strategies (chosen by its cost model)
# forced one by one.
CONV_IMPLS = (*impls("conv"), "frame-pieces", "frame-pad-first")
# conv_transpose geometries (kernel, stride, padding), each taking other routes of
# `_strategies.routes._route`: one phase; phases of equal taps (patch-product derivatives
# in 2-D and 3-D); unequal phases (zero taps in 1-D, the overlap-add in 2-D and 3-D,
# `_unequal_phases_p` in 2-D); 5x5 stride 2 (`_unequal_phases_p` without overlap-add).
ROUTES = {"k3-s1": (3, 1, 1), "k4-s2": (4, 2, 1), "k3-s2": (3, 2, 1), "k5-s2": (5, 2, 2)}
_NP_MODE = {"zeros": "constant", "constant": "constant", "reflect": "reflect",
            "replicate": "edge", "circular": "wrap", "symmetric": "symmetric"}
VALUE = 0.5  # the fill of 'constant' padding


@dataclasses.dataclass(frozen=True)
class Cell:
    function: str
    mode: str
    impl: str  # conv's impl or strategy, conv_transpose's route, max_pool's path, or "-"
    rank: int
    dtype: str

    def __str__(self) -> str:
        return f"{self.function}-{self.mode}-{self.impl}-{self.rank}d-{self.dtype}"


def _with_impls(geometries, function: str) -> tuple[str, ...]:
    """Every geometry under every `impl` of `function`, as 'geometry/impl'."""
    return tuple(f"{g}/{i}" for g in geometries for i in impls(function))


# function -> (modes, impls, takes complex)
FUNCTIONS = {
    "pad": (MODES, ("-",), True),
    "torch_pad": (("constant", "reflect", "replicate", "circular"), ("-",), True),
    "conv": (MODES, CONV_IMPLS, True),
    "conv_transpose": (TRANSPOSE_MODES, _with_impls(ROUTES, "conv_transpose"), True),
    # max is no ordering of complex numbers.
    "max_pool": (("-",), _with_impls(("window", "dilated"), "max_pool"), False),
    "avg_pool": (TRANSPOSE_MODES, impls("avg_pool"), True),
    "sharded.conv": (MODES, impls("conv"), True),
    # Plain conv on an input split over an explicit mesh axis: the halo exchange.
    "conv@explicit": (MODES, ("auto",), True),
    "linen.Conv": (MODES, ("-",), True),
    "nnx.Conv": (MODES, ("-",), True),
    "linen.ConvTranspose": (TRANSPOSE_MODES, ("-",), True),
    "nnx.ConvTranspose": (TRANSPOSE_MODES, ("-",), True),
    "linen.Pad": (MODES, ("-",), True),
    "nnx.Pad": (MODES, ("-",), True),
    "equinox.Conv": (MODES, ("-",), True),
    "equinox.ConvTranspose": (TRANSPOSE_MODES, ("-",), True),
    "equinox.Pad": (MODES, ("-",), True),
}
_OPTIONAL = {"linen": nnx, "nnx": nnx, "equinox": eqx}  # the layers' packages


def _applies(function: str, mode: str, impl: str) -> bool:
    if impl.startswith("frame"):  # the frame takes neither 'constant' nor all-zero padding
        return mode not in ("constant", "zeros") or impl == "frame" and mode == "zeros"
    return True


# Impls innermost: their cells share one reference (`_expected`).
CELLS = [Cell(f, m, i, r, d)
         for f, (modes, impls, complex_ok) in FUNCTIONS.items()
         for m, r, d, i in itertools.product(modes, (1, 2, 3), DTYPES, impls)
         if _applies(f, m, i) and (complex_ok or not d.startswith("complex"))
         and _OPTIONAL.get(f.split(".")[0], True) is not None]


# ---------------------------------------------------------------------------------------
# References: jnp.pad, lax convolutions and strided slices.


def _pad_ref(x, widths, mode, value=VALUE):
    """`x` padded by `widths` (one pair per axis of x) in `mode`, with `jnp.pad`."""
    if _NP_MODE[mode] == "constant":
        fill = value if mode == "constant" else 0
        return jnp.pad(x, widths, constant_values=jnp.asarray(fill, x.dtype))
    return jnp.pad(x, widths, mode=_NP_MODE[mode])


def _spatial_widths(x, pairs):
    """`pairs` on the spatial axes of a channels-last `(*batch, *spatial, C)` x."""
    return [(0, 0)] * (x.ndim - len(pairs) - 1) + list(pairs) + [(0, 0)]


def _lax_dn(rank: int):
    letters = "DHW"[-rank:] if rank <= 3 else None
    return ("N" + letters + "C", letters + "IO", "N" + letters + "C")


def _batched(f):
    """`f` of a batched channels-last input, also taking an unbatched one."""

    def g(x, *args, rank, **kwargs):
        if x.ndim == rank + 1:
            return f(x[None], *args, rank=rank, **kwargs)[0]
        return f(x, *args, rank=rank, **kwargs)

    return g


@_batched
def _conv_ref(x, w, *, rank, stride, pads, mode, dilation=None, groups=1):
    xp = _pad_ref(x, _spatial_widths(x, pads), mode)
    return lax.conv_general_dilated(xp, w, stride, "VALID", rhs_dilation=dilation,
                                    dimension_numbers=_lax_dn(rank),
                                    feature_group_count=groups, precision=HIGHEST)


@_batched
def _conv_transpose_ref(x, k, *, rank, stride, padding, mode):
    """PyTorch's transposed convolution (integer `padding`) in jaxpad's modes.

    `k` is `(*k, O, C)`. The full output is lax's lhs-dilated convolution with the kernel
    flipped; 'zeros' crops it, 'circular' wraps it onto the output (index `padding`
    landing on 0), the other modes take it from the input extended by `jnp.pad`.
    """
    ksize = k.shape[:rank]
    rhs = jnp.swapaxes(jnp.flip(k, tuple(range(rank))), -1, -2)
    size = x.shape[1:-1]
    out = [(i - 1) * stride - 2 * padding + kk for i, kk in zip(size, ksize)]

    def full(z):
        return lax.conv_general_dilated(
            z, rhs, (1,) * rank, [(kk - 1, kk - 1) for kk in ksize], lhs_dilation=(stride,) * rank,
            dimension_numbers=_lax_dn(rank), precision=HIGHEST)

    if mode == "circular":
        y = full(x)
        for a, o in enumerate(out):
            fold = np.zeros((y.shape[1 + a], o), np.float32)
            fold[np.arange(y.shape[1 + a]), (np.arange(y.shape[1 + a]) - padding) % o] = 1
            y = jnp.moveaxis(jnp.tensordot(jnp.moveaxis(y, 1 + a, -1), fold.astype(y.dtype), 1,
                                           precision=HIGHEST), -1, 1 + a)
        return y
    extend = [0] * rank
    if mode != "zeros":  # enough input for every output window, on both sides
        extend = [max(0, (kk - 1 - padding) // stride, (padding + o - 1) // stride - i + 1)
                  for kk, o, i in zip(ksize, out, size)]
        x = _pad_ref(x, _spatial_widths(x, [(e, e) for e in extend]), mode)
    y = full(x)
    for a, (e, o) in enumerate(zip(extend, out)):
        y = lax.slice_in_dim(y, e * stride + padding, e * stride + padding + o, axis=1 + a)
    return y


@_batched
def _max_pool_ref(x, *, rank, window, stride, pads, dilation):
    xp = jnp.pad(x, _spatial_widths(x, pads), constant_values=jnp.asarray(-jnp.inf, x.dtype))
    return _window_taps(xp, window, stride, dilation, jnp.maximum)


@_batched
def _avg_pool_ref(x, *, rank, window, stride, pads, mode):
    xp = _pad_ref(x, _spatial_widths(x, pads), mode)
    return _window_taps(xp, window, stride, (1,) * rank, jnp.add) / math.prod(window)


def _window_taps(xp, window, stride, dilation, combine):
    """Every window position of a padded batched input, combined tap by tap."""
    rank = len(window)
    out = [(n - d * (k - 1) - 1) // s + 1
           for n, k, s, d in zip(xp.shape[1:-1], window, stride, dilation)]
    y = None
    for taps in itertools.product(*map(range, window)):
        start = [0, *(t * d for t, d in zip(taps, dilation)), 0]
        limit = [xp.shape[0], *(b + (o - 1) * s + 1 for b, o, s in zip(start[1:], out, stride)),
                 xp.shape[-1]]
        tap = lax.slice(xp, start, limit, (1, *stride, 1))
        y = tap if y is None else combine(y, tap)
    del rank
    return y


# ---------------------------------------------------------------------------------------
# One cell: the jaxpad function, its reference, the input and the parameters.


@dataclasses.dataclass
class Case:
    f: Callable  # f(x, params) -> y, jaxpad
    ref: Callable  # the same map, independently
    x: Any
    params: Any  # a pytree of arrays, possibly empty
    linear: bool  # affine in x: linear_transpose applies to f(., p) - f(0, p)
    ref_key: Any = None  # cells with equal keys share the reference's results
    mesh: Any = None  # x and its tangents split along the first spatial axis over it


_SPATIAL = {1: (6,), 2: (5, 4), 3: (4, 3, 3)}
_TRANSPOSE_SPATIAL = {1: (4,), 2: (3, 4), 3: (2, 3, 2)}
_SHARDED_SPATIAL = {1: (8,), 2: (8, 4), 3: (4, 3, 3)}
_PAD_WIDTHS = ((1, 2), (2, 1), (1, 1))


def _normal(rng, shape, dtype):
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return jnp.asarray(a, dtype)


def _random_like(rng, tree):
    return jax.tree.map(lambda a: _normal(rng, a.shape, a.dtype), tree)


def _conv_geometry(rank):
    """Kernel, stride, dilation and groups of the convolution cells."""
    return ((3, 2, 3)[:rank], (2, 1, 1)[:rank], (1, 2, 1)[:rank], (1, 1, 2)[rank - 1])


def _same_pads(shape, kernel, stride, dilation):
    return [reference.tf_same(*a) for a in zip(shape, kernel, stride, dilation)]


def _frame_strategy(impl, rank, shape, kernel, stride, dilation, groups, mode):
    """`frame_conv` with one CPU strategy forced (`x` batched or not, channels-last)."""
    pads = tuple(map(tuple, _same_pads(shape, kernel, stride, dilation)))
    config = Config(shape, kernel, stride, pads, (mode,) * rank, dilation, groups,
                    dimension_numbers(rank, True), HIGHEST, None,
                    pad_first=impl == "frame-pad-first")

    def f(x, p):
        if x.ndim == rank + 1:
            return f(x[None], p)[0]
        return frame_conv(config)(x, p["kernel"])

    return f


def build(cell: Cell) -> Case:
    rank, mode, dtype = cell.rank, cell.mode, jnp.dtype(cell.dtype)
    rng = np.random.default_rng(rank)
    name = cell.function
    if name in ("pad", "torch_pad", "linen.Pad", "nnx.Pad", "equinox.Pad"):
        x = _normal(rng, (2, *_SPATIAL[rank], 2), dtype)
        widths = _PAD_WIDTHS[:rank]
        if name == "pad":
            def f(x, p):
                return jaxpad.pad(x, _spatial_widths(x, widths), mode, value=VALUE)
        elif name == "torch_pad":
            flat = (0, 0, *itertools.chain(*widths[::-1]))

            def f(x, p):
                return jaxpad.torch_pad(x, flat, mode, VALUE if mode == "constant" else None)
        elif name == "linen.Pad":
            layer = jaxpad.linen.Pad(widths, mode, value=VALUE)

            def f(x, p):
                return layer.apply({}, x)
        elif name == "nnx.Pad":
            nnx_layer = jaxpad.nnx.Pad(widths, mode, value=VALUE)

            def f(x, p):
                return nnx_layer(x)
        else:
            f = _channels_last(jaxpad.equinox.Pad(widths, mode, value=VALUE), rank)
        return Case(f, lambda x, p: _pad_ref(x, _spatial_widths(x, widths), mode), x, {}, True,
                    ("pad", mode, rank, cell.dtype))

    if name in ("conv", "sharded.conv", "conv@explicit", "linen.Conv", "nnx.Conv",
                "equinox.Conv"):
        layer, sharded = name.endswith("Conv"), name in ("sharded.conv", "conv@explicit")
        kernel, stride, dilation, groups = _conv_geometry(rank)
        if sharded or layer:
            kernel, stride, dilation, groups = (3,) * rank, (1,) * rank, (1,) * rank, 1
        shape = _SHARDED_SPATIAL[rank] if sharded else _SPATIAL[rank]
        x = _normal(rng, (2, *shape, 2), dtype)
        w = _normal(rng, (*kernel, 2 // groups, 4), dtype)
        pads = _same_pads(shape, kernel, stride, dilation)
        keywords = dict(stride=stride, dilation=dilation, groups=groups, padding_mode=mode,
                        padding_value=VALUE, precision=HIGHEST)

        def ref(x, p):
            y = _conv_ref(x, p["kernel"], rank=rank, stride=stride, pads=pads, mode=mode,
                          dilation=dilation, groups=groups)
            return y + p["bias"] if "bias" in p else y

        if name == "conv" and cell.impl.startswith("frame-"):
            f = _frame_strategy(cell.impl, rank, shape, kernel, stride, dilation, groups, mode)
        elif name == "conv@explicit":
            def f(x, p):
                return jaxpad.conv(x, p["kernel"], **keywords)

            mesh = jax.make_mesh((2,), ("x",), axis_types=(jax.sharding.AxisType.Explicit,),
                                 devices=jax.devices("cpu")[:2])
            return Case(f, ref, x, {"kernel": w}, True, mesh=mesh)
        elif name == "conv":
            def f(x, p):
                return jaxpad.conv(x, p["kernel"], impl=cell.impl, **keywords)
        elif name == "sharded.conv":
            mesh = jax.make_mesh((2,), ("x",), axis_types=(jax.sharding.AxisType.Auto,),
                                 devices=jax.devices("cpu")[:2])

            def f(x, p):
                return jaxpad.sharded.conv(x, p["kernel"], spatial_axes=("x",) + (None,) * (
                    rank - 1), mesh=mesh, impl=cell.impl, **keywords)
        elif name == "equinox.Conv":
            return _equinox_case(cell, x, ref, dict(
                kernel_size=3, padding=1, padding_mode=mode, padding_value=VALUE))
        else:
            return _layer_case(cell, x, ref, dict(
                kernel_size=kernel, padding="SAME", padding_mode=mode, padding_value=VALUE))
        return Case(f, ref, x, {"kernel": w}, True, (name, mode, rank, cell.dtype))

    if name in ("conv_transpose", "linen.ConvTranspose", "nnx.ConvTranspose",
                "equinox.ConvTranspose"):
        geometry, _, impl = cell.impl.partition("/")
        k, stride, padding = ROUTES[geometry] if name == "conv_transpose" else (3, 2, 1)
        shape = _TRANSPOSE_SPATIAL[rank]
        x = _normal(rng, (2, *shape, 2), dtype)

        def ref(x, p):
            y = _conv_transpose_ref(x, p["kernel"], rank=rank, stride=stride, padding=padding,
                                    mode=mode)
            return y + p["bias"] if "bias" in p else y

        if name == "equinox.ConvTranspose":
            return _equinox_case(cell, x, ref, dict(
                kernel_size=k, stride=stride, padding=padding, padding_mode=mode))
        if name != "conv_transpose":
            return _layer_case(cell, x, ref, dict(
                kernel_size=(k,) * rank, strides=stride, torch_padding=padding,
                padding_mode=mode, transpose_kernel=True))

        def f(x, p):
            return jaxpad.conv_transpose(x, p["kernel"], stride=stride, padding=padding,
                                         padding_mode=mode, precision=HIGHEST, impl=impl)

        return Case(f, ref, x, {"kernel": _normal(rng, (k,) * rank + (3, 2), dtype)}, True)

    x = _normal(rng, (2, *_SPATIAL[rank], 2), dtype)
    if name == "max_pool":
        geometry, _, impl = cell.impl.partition("/")
        window, stride, dilation = ((3,) * rank, (2,) * rank, (1,) * rank) if (
            geometry == "window") else ((2,) * rank, (1,) * rank, (2,) * rank)
        pads = [(1, 1)] * rank

        def f(x, p):
            return jaxpad.max_pool(x, window, stride, padding=1, dilation=dilation, impl=impl)

        return Case(f, lambda x, p: _max_pool_ref(x, rank=rank, window=window, stride=stride,
                                                  pads=pads, dilation=dilation), x, {}, False)
    window, stride = (3,) * rank, (1, 2, 1)[:rank]

    def f(x, p):
        return jaxpad.avg_pool(x, window, stride, padding=1, padding_mode=mode, impl=cell.impl)

    return Case(f, lambda x, p: _avg_pool_ref(x, rank=rank, window=window, stride=stride,
                                              pads=[(1, 1)] * rank, mode=mode), x, {}, True)


def _layer_case(cell: Cell, x, ref, kwargs) -> Case:
    """A Flax layer of `cell.function` with random parameters, as `f(x, params)`."""
    rng = np.random.default_rng(7)
    dtype = jnp.dtype(cell.dtype)
    transpose = "Transpose" in cell.function
    kwargs = dict(kwargs, dtype=dtype, param_dtype=dtype, precision=HIGHEST)
    if cell.function.startswith("linen."):
        layer = getattr(jaxpad.linen, cell.function[6:])(3 if transpose else 4, **kwargs)
        params = _random_like(rng, layer.init(jax.random.key(0), x))

        def f(x, p):
            return layer.apply(p, x)

        def unpack(p):
            return p["params"]
    else:
        module = getattr(jaxpad.nnx, cell.function[4:])(2, 3 if transpose else 4, **kwargs,
                                                       rngs=nnx.Rngs(0))
        graph, params = nnx.split(module)
        params = _random_like(rng, params)

        def f(x, p):
            return nnx.merge(graph, p)(x)

        def unpack(p):
            return {"kernel": p["kernel"][...], "bias": p["bias"][...]}

    return Case(f, lambda x, p: ref(x, unpack(p)), x, params, True)


def _channels_last(module, rank):
    """An Equinox layer (unbatched, channels first) as `f(x, params)` of channels-last x,
    vmapped over the batch as Equinox is used."""

    def f(x, p):
        layer = module if p is None else eqx.combine(p, module)
        if x.ndim == rank + 2:
            return jax.vmap(lambda a: f(a, p))(x)
        return jnp.moveaxis(layer(jnp.moveaxis(x, -1, 0)), 0, -1)

    return lambda x, p: f(x, p or None)


def _equinox_case(cell: Cell, x, ref, kwargs) -> Case:
    """An Equinox layer of `cell.function` with random parameters, as `f(x, params)`.

    Its weight `(O, I, *k)` is the kernel of a correlation, over the stride-dilated
    input for ConvTranspose: the references take it as `(*k, I, O)` (flipped, for the
    transposed convolution's `(*k, O, C)`), its bias `(O, 1, ..., 1)` flat.
    """
    rank = cell.rank
    transpose = "Transpose" in cell.function
    layer = getattr(jaxpad.equinox, cell.function[8:])(
        rank, 2, 3 if transpose else 4, **kwargs, dtype=jnp.dtype(cell.dtype),
        precision=HIGHEST, key=jax.random.key(0))
    params, static = eqx.partition(layer, eqx.is_array)
    params = _random_like(np.random.default_rng(7), params)

    def unpack(p):
        kernel = jnp.moveaxis(p.weight, (0, 1), (-1, -2))  # (*k, I, O)
        if transpose:  # the transposed convolution's kernel, (*k, O, C)
            kernel = jnp.flip(jnp.swapaxes(kernel, -1, -2), tuple(range(rank)))
        return {"kernel": kernel, "bias": p.bias.reshape(-1)}

    return Case(_channels_last(static, rank), lambda x, p: ref(x, unpack(p)), x, params, True)


# ---------------------------------------------------------------------------------------
# Every transformation, as one program.


def _real(dtype) -> Any:
    return jnp.promote_types(dtype, jnp.float32)


def _loss(y, target):
    """A real scalar quadratic in y (so that second derivatives are not zero), in >= 32 bits."""
    y = y.astype(_real(y.dtype))
    return jnp.sum(jnp.real(y * target.astype(y.dtype))) + 0.5 * jnp.sum(jnp.real(y * jnp.conj(y)))


def transformations(f: Callable, linear: bool) -> Callable:
    """`run(x, p, aux) -> {name: results}`: every transformation of `f`."""

    def run(x, p, aux):
        tx, tp, target, xx, txx, pp, y_adjoint = aux
        holomorphic = jnp.iscomplexobj(x)

        def loss(x, p):
            return _loss(f(x, p), target)

        def loss_of(g):
            return lambda x, p: _loss(g(x, p), target)

        out = {"jit": f(x, p), "jvp": jax.jvp(f, (x, p), (tx, tp)),
               "jacfwd": jax.jacfwd(f, holomorphic=holomorphic)(x, p),
               "jacrev": jax.jacrev(f, holomorphic=holomorphic)(x, p)}
        y, tangent = jax.linearize(f, x, p)
        out["linearize"] = (y, tangent(tx, tp))
        if linear:
            y0 = f(jnp.zeros_like(x), p)

            def op(a):
                return f(a, p) - y0

            (back,) = jax.linear_transpose(op, x)(y_adjoint)
            out["linear_transpose"] = back
            products = (op(x) * y_adjoint, x * back)
            out["adjoint"] = tuple(jnp.sum(a.astype(_real(a.dtype))) for a in products) + (
                sum(jnp.sum(jnp.abs(a.astype(_real(a.dtype)))) for a in products),)
        vmapped = jax.vmap(f, (0, None))
        out["vmap"] = (vmapped(x, p), vmapped(xx, p))
        if jax.tree.leaves(p):  # per-example parameters too
            out["vmap"] += (jax.vmap(f)(xx, pp), jax.vmap(f, (None, 0))(x, pp))
        out["vmap_of_jvp"] = jax.vmap(lambda a, t: jax.jvp(f, (a, p), (t, tp)))(xx, txx)
        out["jvp_of_vmap"] = jax.jvp(vmapped, (xx, p), (txx, tp))
        if holomorphic:  # the Hessian of the real loss in the real and imaginary parts
            out["hessian"] = jax.hessian(lambda re, im: loss(lax.complex(re, im), p), (0, 1))(
                x.real, x.imag)
        else:
            out["hessian"] = jax.hessian(loss)(x, p)
        # Forward over reverse: the gradient and the Hessian-vector product.
        out["grad, hvp"] = jax.jvp(jax.grad(loss, (0, 1)), (x, p), (tx, tp))
        out["checkpoint"] = jax.grad(loss_of(jax.checkpoint(f)), (0, 1))(x, p)

        def body(total, a):
            y = f(a, p)
            return total + _loss(y, target), y

        out["scan"] = lax.scan(body, jnp.zeros((), _real(x.dtype)), xx)
        return out

    return run


# JAX gives every collective-permute in a shard_map one channel id, and XLA:CPU keys its host
# devices' rendezvous by it: under the concurrency-optimised schedule, the dozens of halo
# exchanges in one of these programs can pair up wrongly (wrong values, or an abort; see
# docs/scaling.md). The matrix checks values, so it compiles with the memory-optimised one.
_COMPILER_OPTIONS = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}


def _run(program: Callable, *args: Any) -> Any:
    """`program` jitted, its results on the host."""
    options = _COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
    return jax.device_get(jax.jit(program, compiler_options=options)(*args))


def _inputs(case: Case, seed: int = 11):
    """The tangents, cotangent-like target, stacked inputs and adjoint probe of a cell."""
    rng = np.random.default_rng(seed)
    x, p = case.x, case.params
    y = jax.eval_shape(case.f, x, p)
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), p, _random_like(rng, p))
    return (_normal(rng, x.shape, x.dtype), _random_like(rng, p),
            _normal(rng, y.shape, _real(y.dtype) if x.dtype.kind != "c" else y.dtype),
            jnp.stack([x, _normal(rng, x.shape, x.dtype)]),
            _normal(rng, (2, *x.shape), x.dtype), stacked, _normal(rng, y.shape, y.dtype))


def _reference_dtype(dtype):
    """The references run half precision in float32: the oracle is the exact map."""
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 else dtype


def _cast(tree, dtype):
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.inexact)
                        else a, tree)


def _as_real(a):
    a = np.asarray(a)
    if a.dtype.kind == "c":
        return np.stack([a.real, a.imag]).astype(np.float64)
    return a.astype(np.float64)


def _close(name, actual, expected, dtype):
    """Within the dtype's tolerance, relative to the largest expected magnitude."""
    actual, expected = _as_real(actual), _as_real(expected)
    tol = tolerance_of(dtype)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    assert actual.shape == expected.shape, name
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=name)


_EXPECTED: dict[Any, Any] = {}


def _split(mesh, tree):
    """Arrays of x's shape (or stacked ones) split along their first spatial axis over `mesh`."""
    def place(a, lead):
        spec = jax.sharding.PartitionSpec(*(None,) * lead, None, "x")
        return jax.device_put(a, jax.sharding.NamedSharding(mesh, spec))

    x, p, (tx, tp, target, xx, txx, pp, y_adjoint) = tree
    return place(x, 0), p, (place(tx, 0), tp, target, place(xx, 1), place(txx, 1), pp,
                            y_adjoint)


def check(cell: Cell) -> None:
    with jax.enable_x64(cell.dtype in ("float64", "complex128")):
        case = build(cell)
        args = (case.x, case.params, _inputs(case))
        got_shape, want_shape = (jax.eval_shape(g, case.x, case.params)
                                 for g in (case.f, case.ref))
        assert (got_shape.shape, got_shape.dtype) == (want_shape.shape, want_shape.dtype)
        if case.mesh is None:
            got = _run(transformations(case.f, case.linear), *args)
        else:
            with jax.set_mesh(case.mesh):
                got = _run(transformations(case.f, case.linear), *_split(case.mesh, args))
        key = case.ref_key or cell
        if key not in _EXPECTED:
            _EXPECTED.clear()  # cells sharing a reference are neighbours in CELLS
            _EXPECTED[key] = _run(transformations(case.ref, case.linear),
                                  *_cast(args, _reference_dtype(cell.dtype)))
        expected = dict(_EXPECTED[key])
    if case.linear:
        lhs, rhs, scale = got.pop("adjoint")
        expected.pop("adjoint")
        assert abs(lhs - rhs) <= tolerance_of(cell.dtype) * scale, (lhs, rhs)
    assert got.keys() == expected.keys()
    for name in got:
        for a, b in zip(jax.tree.leaves(got[name]), jax.tree.leaves(expected[name]), strict=True):
            _close(f"{cell} {name}", a, b, cell.dtype)


def tolerance_of(dtype: str) -> float:
    return tolerance(np.float32 if dtype.startswith("complex") else np.dtype(jnp.dtype(dtype)))


# The default run samples this many cells (5-10 s each on a 2-core CPU).
SAMPLED = 8


@pytest.mark.skipif(THOROUGH, reason="the thorough sweep runs every cell")
@settings(max_examples=examples(SAMPLED))
@given(cell=st.sampled_from(CELLS))
def test_sampled_cells(cell):
    check(cell)


@pytest.mark.parametrize("cell", CELLS if THOROUGH else [], ids=str)
def test_every_cell(cell):
    check(cell)


@pytest.mark.skipif(nnx is None, reason="flax is not installed: the layers are not checked")
@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_hessian_vector_product_through_a_reflect_padded_conv_layer(api):
    """Forward over reverse in the parameters, as Newton-CG and curvature estimates take it."""
    rng = np.random.default_rng(0)
    x = _normal(rng, (2, 7, 6, 3), jnp.float32)
    target = _normal(rng, (2, 7, 6, 4), jnp.float32)
    if api == "linen":
        layer = jaxpad.linen.Conv(4, (3, 3), padding_mode="reflect", precision=HIGHEST)
        params = _random_like(rng, layer.init(jax.random.key(0), x))

        def apply(p):
            return layer.apply(p, x)

        def unpack(p):
            return p["params"]["kernel"], p["params"]["bias"]
    else:
        graph, params = nnx.split(jaxpad.nnx.Conv(3, 4, (3, 3), padding_mode="reflect",
                                                  precision=HIGHEST, rngs=nnx.Rngs(0)))
        params = _random_like(rng, params)

        def apply(p):
            return nnx.merge(graph, p)(x)

        def unpack(p):
            return p["kernel"][...], p["bias"][...]

    def reference_apply(p):
        kernel, bias = unpack(p)
        return _conv_ref(x, kernel, rank=2, stride=(1, 1), pads=[(1, 1), (1, 1)],
                         mode="reflect") + bias

    def hvp(apply):
        def loss(p):
            return jnp.sum(jnp.tanh(apply(p)) * target)
        return jax.jit(lambda p, v: jax.jvp(jax.grad(loss), (p,), (v,)))(params, direction)

    direction = _random_like(rng, params)
    got, expected = hvp(apply), hvp(reference_apply)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        _close(f"{api} hvp", a, b, "float32")
    assert any(np.abs(np.asarray(a)).max() > 0 for a in jax.tree.leaves(got[1]))

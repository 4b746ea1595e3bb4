"""Whole-model benchmark: `jaxpad bench --models` or `python -m benchmarks.models`.

Five small models, written once against a few operations (`_Ops`), each built from
the same parameters in several ways and measured in one process:

- `jaxpad`: `jaxpad.conv`, `conv_transpose`, `max_pool` and `avg_pool` with their
  defaults; `--variants` adds diagnostic builds that pass keyword arguments to them
  (e.g. `impl=pad`).
- `zeros`: the same model with every padding mode replaced by zeros, the floor:
  `jaxpad.conv` and `jaxpad.conv_transpose` in zero mode (lax's convolution with
  explicit zero pads) and `lax.reduce_window`, so that the ratios isolate the modes.
- `flax way`: what flax and equinox users write today: `jnp.pad` in the mode, then a
  'VALID' convolution (zero axes folded into its padding), and the lhs-dilated
  `lax.conv_transpose` that flax's `ConvTranspose` runs.
- `torch` and `torch zeros`: the same architecture in PyTorch (`F.pad` in the mode,
  then the convolution, as its `padding_mode` does), when torch is installed and
  runs on the JAX backend's device kind.

Before timing, every build's float32 forward output is checked against a reference
(the `jaxpad` build for the padded builds; for `zeros` and `torch zeros`, the model
with every axis padded by `jnp.pad` with zeros and `lax.conv_transpose`), once per
model: in bfloat16 after a passing float32 run, only for finite outputs. A build that
disagrees is reported and not timed, and the command exits with status 1.

Per model, dtype and build: the training step (`jax.value_and_grad` of the loss and
an SGD update, one compiled program), the forward pass, the cold compile time of the
training step (`jax.clear_caches()` before each, median of `--compile-repeats`) and
its compiled temporary memory, each as a ratio to the `zeros` build (torch: to
`torch zeros`) with the absolute values beside. Times are medians of interleaved
rounds in one process, each round starting one build later than the last.
Writes `<out>/<platform>-<YYYY-MM-DD>-models[-quick|-device-check].{json,md,png}`.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import functools
import importlib.metadata
import inspect
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxpad
from jaxpad._conv import dimension_numbers
from jaxpad._padding import MODE_RECORDS, canonical_ints, canonical_modes, resolve_padding

from .layers import JNP_MODE
from .timing import interleaved, temp_bytes

__all__ = ["MODELS", "Build", "Model", "check", "main", "parse_variant", "run"]

PROG = "python -m benchmarks.models"
EPS = 1e-5
LR = 1e-3
LEAK = 0.2
# Float32 forward outputs of two correct builds differ by summation order only (1e-5 on
# CPU); a wrong border moves them by O(0.1). Relative to max(1, max |reference|).
TOLERANCE = 1e-3
ACCELERATOR_TOLERANCE = 3e-2  # GPU and TPU convolutions may take TF32/bf16 passes
DEVICE_CHECK_VARIANTS = ("conv.impl=frame", "conv_transpose.impl=routes")
DEVICE_CHECK_BUDGET_S = 400.0
SIZES = ("tiny", "quick", "full")

# ---------------------------------------------------------------------------------------------
# Operations: the models call these; each build implements the padded ones its own way.


class _Ops:
    """What a model calls. Padding specs resolve once, through `jaxpad.resolve_padding`."""

    framework = ""

    def __init__(self, name: str, *, zeros: bool = False):
        self.name = name
        self.zeros = zeros  # every padding mode replaced by zeros

    def spatial(self, x: Any) -> tuple[int, ...]:
        raise NotImplementedError

    def kernel_size(self, w: Any) -> tuple[int, ...]:
        raise NotImplementedError

    def _geometry(self, x, k, padding, stride, dilation, mode):
        shape = self.spatial(x)
        n = len(shape)
        stride = canonical_ints(stride, n, "stride")
        dilation = canonical_ints(dilation, n, "dilation")
        if isinstance(padding, tuple) and any(isinstance(p, str) for p in padding):
            # one spec per axis, e.g. ('causal', 'same', 'same')
            pads = tuple(resolve_padding(p, i, j, s, d)[0]
                         for p, i, j, s, d in zip(padding, shape, k, stride, dilation))
        else:
            pads = resolve_padding(padding, shape, k, stride, dilation)
        modes = ("zeros",) * n if self.zeros else canonical_modes(mode, n)
        return stride, dilation, pads, modes

    def conv(self, x, p, *, stride=1, padding="same", mode="zeros", dilation=1):
        stride, dilation, pads, modes = self._geometry(
            x, self.kernel_size(p["w"]), padding, stride, dilation, mode)
        return self._conv(x, p["w"], p["b"], stride, pads, modes, dilation)

    def conv_transpose(self, x, p, *, stride, padding):
        """PyTorch's `ConvTransposeNd(stride, padding)` geometry, zero mode."""
        stride = canonical_ints(stride, len(self.spatial(x)), "stride")
        return self._conv_transpose(x, p["w"], p["b"], stride, padding)

    def max_pool(self, x, window, stride, *, padding):
        window = canonical_ints(window, len(self.spatial(x)), "window")
        stride, _, pads, _ = self._geometry(x, window, padding, stride, 1, "zeros")
        return self._max_pool(x, window, stride, pads)

    def avg_pool(self, x, window, stride, *, padding, mode):
        """Average pooling of the padded input, the padding counted (PyTorch's default)."""
        window = canonical_ints(window, len(self.spatial(x)), "window")
        stride, _, pads, modes = self._geometry(x, window, padding, stride, 1, mode)
        return self._avg_pool(x, window, stride, pads, modes)


class _Jax(_Ops):
    """The models' arithmetic in JAX, channels-last (`(N, *spatial, C)`, kernels `(*k, I, O)`)."""

    framework = "jax"

    def spatial(self, x):
        return x.shape[1:-1]

    def kernel_size(self, w):
        return w.shape[:-2]

    def act(self, x, kind):
        return {"relu": jax.nn.relu, "silu": jax.nn.silu, "tanh": jnp.tanh,
                "leaky": lambda v: jax.nn.leaky_relu(v, LEAK)}[kind](x)

    def _normalise(self, x, p, axes, shape):
        v = x.astype(jnp.float32).reshape(shape)
        mean = v.mean(axes, keepdims=True)
        v = (v - mean) * lax.rsqrt(v.var(axes, keepdims=True) + EPS)
        return (v.reshape(x.shape) * p["scale"] + p["bias"]).astype(x.dtype)

    def norm(self, x, p, groups=None):
        """Group norm; `groups=None` is instance norm (one group per channel)."""
        c = x.shape[-1]
        groups = groups or c
        shape = (*x.shape[:-1], groups, c // groups)
        return self._normalise(x, p, (*range(1, x.ndim - 1), x.ndim), shape)

    def batch_norm(self, x, p):
        return self._normalise(x, p, tuple(range(x.ndim - 1)), x.shape)

    def cat(self, xs):
        return jnp.concatenate(xs, axis=-1)

    def mean(self, x):
        return x.mean(axis=tuple(range(1, x.ndim - 1)))

    def dense(self, x, p):
        return x @ p["w"] + p["b"]

    def repeat(self, f, x, n):
        return lax.scan(lambda c, _: (f(c), None), x, None, length=n)[0]

    def mse(self, y, t):
        return jnp.mean((y.astype(jnp.float32) - t) ** 2)

    def xent(self, logits, labels):
        logp = jax.nn.log_softmax(logits.astype(jnp.float32))
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    @staticmethod
    def _bias(y, b):
        return y + b.astype(y.dtype)


FUNCTIONS = {"conv": jaxpad.conv, "conv_transpose": jaxpad.conv_transpose,
             "max_pool": jaxpad.max_pool, "avg_pool": jaxpad.avg_pool}


class _Jaxpad(_Jax):
    """jaxpad's functions, with `kwargs[function]` passed to each (diagnostic variants)."""

    def __init__(self, name: str, kwargs: dict[str, dict[str, Any]] | None = None):
        super().__init__(name)
        self.kwargs = kwargs or {}

    def _conv(self, x, w, b, stride, pads, modes, dilation):
        return jaxpad.conv(x, w, b, stride=stride, padding=pads, padding_mode=modes,
                           dilation=dilation, **self.kwargs.get("conv", {}))

    def _conv_transpose(self, x, w, b, stride, padding):
        return jaxpad.conv_transpose(x, w, b, stride=stride, padding=padding,
                                     **self.kwargs.get("conv_transpose", {}))

    def _max_pool(self, x, window, stride, pads):
        return jaxpad.max_pool(x, window, stride, padding=pads, **self.kwargs.get("max_pool", {}))

    def _avg_pool(self, x, window, stride, pads, modes):
        return jaxpad.avg_pool(x, window, stride, padding=pads, padding_mode=modes,
                               **self.kwargs.get("avg_pool", {}))


class _PadFirst(_Jax):
    """The flax way: `jnp.pad` in each mode, then 'VALID' lax ops; `lax.conv_transpose`.

    `fold_zeros=False` pads zero axes with `jnp.pad` too (the zeros reference).
    """

    def __init__(self, name: str, *, zeros: bool = False, fold_zeros: bool = True):
        super().__init__(name, zeros=zeros)
        self.fold_zeros = fold_zeros

    def _pad(self, x, pads, modes):
        """x padded in every mode that is not folded; the zero pads left to fold."""
        for mode in dict.fromkeys(modes):
            if mode == "zeros" and self.fold_zeros:
                continue
            widths = [p if m == mode else (0, 0) for p, m in zip(pads, modes)]
            x = jnp.pad(x, ((0, 0), *widths, (0, 0)), mode=JNP_MODE[mode])
        rest = tuple(p if m == "zeros" and self.fold_zeros else (0, 0)
                     for p, m in zip(pads, modes))
        return x, rest

    def _conv(self, x, w, b, stride, pads, modes, dilation):
        x, rest = self._pad(x, pads, modes)
        y = lax.conv_general_dilated(x, w, stride, rest, rhs_dilation=dilation,
                                     dimension_numbers=dimension_numbers(len(stride), True))
        return self._bias(y, b)

    def _conv_transpose(self, x, w, b, stride, padding):
        # flax's ConvTranspose(transpose_kernel=True): explicit pads of the dilated input.
        pads = [(k - 1 - padding, k - 1 - padding) for k in w.shape[:-2]]
        y = lax.conv_transpose(x, w, stride, pads, transpose_kernel=True,
                               dimension_numbers=dimension_numbers(len(stride), True))
        return self._bias(y, b)

    def _window(self, x, init, op, window, stride, pads):
        # A NumPy init value: lax recognises the monoid, and only then differentiates it.
        return lax.reduce_window(x, np.array(init, x.dtype), op, (1, *window, 1),
                                 (1, *stride, 1), ((0, 0), *pads, (0, 0)))

    def _max_pool(self, x, window, stride, pads):
        return self._window(x, -jnp.inf, lax.max, window, stride, pads)

    def _avg_pool(self, x, window, stride, pads, modes):
        x, rest = self._pad(x, pads, modes)
        return self._window(x, 0, lax.add, window, stride, rest) / math.prod(window)


class _Zeros(_PadFirst):
    """The floor: jaxpad's zero padding (lax's, explicit pads) and lax's pools.

    jaxpad's rather than lax's convolution: on XLA:CPU, lax's with no padding at all (the
    1x1 shortcuts) is slower (benchmarks/results/cpu-2026-11-22-unpadded.md) and jaxpad's is
    not, which would credit the modes with a gain that is not theirs.
    """

    def __init__(self, name: str):
        super().__init__(name, zeros=True)

    def _conv(self, x, w, b, stride, pads, modes, dilation):
        return jaxpad.conv(x, w, b, stride=stride, padding=pads, dilation=dilation)

    def _conv_transpose(self, x, w, b, stride, padding):
        return jaxpad.conv_transpose(x, w, b, stride=stride, padding=padding)


# F.pad's copying modes, by jaxpad's names (which are torch's)
_TORCH_MODES = {m.name for m in MODE_RECORDS if m.torch_layer and not m.fills}


class _Torch(_Ops):
    """The same models in PyTorch, channels-first (`(N, C, *spatial)`, kernels `(O, I, *k)`)."""

    framework = "torch"

    def __init__(self, name: str, torch: Any, *, zeros: bool = False):
        super().__init__(name, zeros=zeros)
        self.torch = torch
        self.F = torch.nn.functional

    def spatial(self, x):
        return tuple(x.shape[2:])

    def kernel_size(self, w):
        return tuple(w.shape[2:])

    def act(self, x, kind):
        F = self.F
        return {"relu": F.relu, "silu": F.silu, "tanh": self.torch.tanh,
                "leaky": lambda v: F.leaky_relu(v, LEAK)}[kind](x)

    def norm(self, x, p, groups=None):
        return self.F.group_norm(x, groups or x.shape[1], p["scale"], p["bias"], EPS)

    def batch_norm(self, x, p):
        return self.F.batch_norm(x, None, None, p["scale"], p["bias"], training=True, eps=EPS)

    def cat(self, xs):
        return self.torch.cat(xs, dim=1)

    def mean(self, x):
        return x.mean(dim=tuple(range(2, x.ndim)))

    def dense(self, x, p):
        return x @ p["w"] + p["b"]

    def repeat(self, f, x, n):
        for _ in range(n):
            x = f(x)
        return x

    def mse(self, y, t):
        return ((y.float() - t) ** 2).mean()

    def xent(self, logits, labels):
        return self.F.cross_entropy(logits.float(), labels)

    @staticmethod
    def _widths(pads):
        return tuple(w for pair in reversed(pads) for w in pair)  # F.pad: last axis first

    def _pad(self, x, pads, modes):
        """F.pad in each non-zero mode; zero pads as the op's own padding where symmetric."""
        for mode in dict.fromkeys(modes):
            if mode == "zeros":
                continue
            if mode not in _TORCH_MODES:
                raise NotImplementedError(f"torch has no padding mode {mode!r}")
            widths = [p if m == mode else (0, 0) for p, m in zip(pads, modes)]
            x = self.F.pad(x, self._widths(widths), mode=mode)
        zero = [p if m == "zeros" else (0, 0) for p, m in zip(pads, modes)]
        if any(lo != hi for lo, hi in zero):
            return self.F.pad(x, self._widths(zero)), (0,) * len(zero)
        return x, tuple(lo for lo, _ in zero)

    def _conv(self, x, w, b, stride, pads, modes, dilation):
        x, padding = self._pad(x, pads, modes)
        conv = getattr(self.F, f"conv{len(stride)}d")
        return conv(x, w, b, stride, padding, dilation)

    def _conv_transpose(self, x, w, b, stride, padding):
        return getattr(self.F, f"conv_transpose{len(stride)}d")(x, w, b, stride, padding)

    def _max_pool(self, x, window, stride, pads):
        return getattr(self.F, f"max_pool{len(stride)}d")(x, window, stride,
                                                          tuple(lo for lo, _ in pads))

    def _avg_pool(self, x, window, stride, pads, modes):
        x, padding = self._pad(x, pads, modes)
        return getattr(self.F, f"avg_pool{len(stride)}d")(x, window, stride, padding,
                                                          count_include_pad=True)


# ---------------------------------------------------------------------------------------------
# Models: parameters (NumPy, channels-last kernels) and one apply function for every build.


def _conv_p(rng, k, cin, cout):
    fan_in = math.prod(k) * cin
    return {"w": rng.standard_normal((*k, cin, cout)) * math.sqrt(2 / fan_in),
            "b": 0.1 * rng.standard_normal(cout)}


def _conv_transpose_p(rng, k, cin, cout, stride):
    """A `jaxpad.conv_transpose` kernel `(*k, O, C)`: the forward conv's from O to C."""
    fan_in = math.prod(k) * cin / stride ** len(k)
    return {"w": rng.standard_normal((*k, cout, cin)) * math.sqrt(2 / fan_in),
            "b": 0.1 * rng.standard_normal(cout)}


def _norm_p(rng, c):
    return {"scale": 1 + 0.1 * rng.standard_normal(c), "bias": 0.1 * rng.standard_normal(c)}


def _dense_p(rng, cin, cout):
    return {"w": rng.standard_normal((cin, cout)) / math.sqrt(cin),
            "b": 0.1 * rng.standard_normal(cout)}


def _unet_init(rng, cfg):
    c, depth = cfg["width"], cfg["depth"]
    p = {"in": _conv_p(rng, (3, 3), 3, c), "in_norm": _norm_p(rng, c), "down": [], "up": []}
    for i in range(depth):
        ch = c << i
        p["down"].append({"conv": _conv_p(rng, (3, 3), ch, ch), "norm": _norm_p(rng, ch),
                          "pool": _conv_p(rng, (4, 4), ch, 2 * ch),
                          "pool_norm": _norm_p(rng, 2 * ch)})
    ch = c << depth
    p["mid"] = {"conv": _conv_p(rng, (3, 3), ch, ch), "norm": _norm_p(rng, ch)}
    for i in reversed(range(depth)):
        ch = c << i
        p["up"].append({"up": _conv_transpose_p(rng, (4, 4), 2 * ch, ch, 2),
                        "up_norm": _norm_p(rng, ch),
                        "conv": _conv_p(rng, (3, 3), 2 * ch, ch), "norm": _norm_p(rng, ch)})
    p["out"] = _conv_p(rng, (3, 3), c, 3)
    return p


def _unet(ops, p, x, cfg):
    """Reflect-padded 3x3 convs with instance norm, 4x4 stride-2 downsampling (reflect,
    padding 1), 4x4 stride-2 transposed-conv upsampling (padding 1), skip concatenation."""

    def block(h, q, act):
        return ops.act(ops.norm(ops.conv(h, q["conv"], mode="reflect"), q["norm"]), act)

    h = ops.act(ops.norm(ops.conv(x, p["in"], mode="reflect"), p["in_norm"]), "leaky")
    skips = []
    for q in p["down"]:
        h = block(h, q, "leaky")
        skips.append(h)
        h = ops.conv(h, q["pool"], stride=2, padding=1, mode="reflect")
        h = ops.act(ops.norm(h, q["pool_norm"]), "leaky")
    h = block(h, p["mid"], "leaky")
    for q, skip in zip(p["up"], reversed(skips)):
        h = ops.act(ops.norm(ops.conv_transpose(h, q["up"], stride=2, padding=1), q["up_norm"]),
                    "relu")
        h = block(ops.cat([h, skip]), q, "relu")
    return ops.act(ops.conv(h, p["out"], mode="reflect"), "tanh")


def _resnet_init(rng, cfg):
    c = cfg["width"]
    p = {"stem": _conv_p(rng, (7, 7), 3, c), "stem_bn": _norm_p(rng, c), "stages": []}
    cin = c
    for i in range(4):
        ch = c << i
        stage = []
        for j in range(2):
            block = {"c1": _conv_p(rng, (3, 3), cin, ch), "n1": _norm_p(rng, ch),
                     "c2": _conv_p(rng, (3, 3), ch, ch), "n2": _norm_p(rng, ch)}
            if i > 0 and j == 0:  # stride 2 and a 1x1 projection
                block["short"] = _conv_p(rng, (1, 1), cin, ch)
                block["short_n"] = _norm_p(rng, ch)
            stage.append(block)
            cin = ch
        p["stages"].append(stage)
    p["head"] = _dense_p(rng, cin, cfg["classes"])
    return p


def _resnet(ops, p, x, cfg):
    """ResNet-18 (basic blocks 2-2-2-2, batch norm on batch statistics), circular padding."""
    h = ops.conv(x, p["stem"], stride=2, padding=3, mode="circular")
    h = ops.max_pool(ops.act(ops.batch_norm(h, p["stem_bn"]), "relu"), 3, 2, padding=1)
    for stage in p["stages"]:
        for q in stage:
            s = 2 if "short" in q else 1
            y = ops.conv(h, q["c1"], stride=s, padding=1, mode="circular")
            y = ops.act(ops.batch_norm(y, q["n1"]), "relu")
            y = ops.batch_norm(ops.conv(y, q["c2"], padding=1, mode="circular"), q["n2"])
            if "short" in q:
                h = ops.batch_norm(ops.conv(h, q["short"], stride=s, padding=0), q["short_n"])
            h = ops.act(y + h, "relu")
    return ops.dense(ops.mean(h), p["head"])


_GROUPS = 4
_CAUSAL = ("causal", "same", "same")
_CAUSAL_MODES = ("replicate", "zeros", "zeros")


def _video_res_p(rng, cin, cout):
    q = {"n1": _norm_p(rng, cin), "c1": _conv_p(rng, (3, 3, 3), cin, cout),
         "n2": _norm_p(rng, cout), "c2": _conv_p(rng, (3, 3, 3), cout, cout)}
    if cin != cout:
        q["short"] = _conv_p(rng, (1, 1, 1), cin, cout)
    return q


def _video_init(rng, cfg):
    c = cfg["width"]
    return {"in": _conv_p(rng, (3, 3, 3), 3, c), "r1": _video_res_p(rng, c, c),
            "down_s": _conv_p(rng, (3, 3, 3), c, c), "r2": _video_res_p(rng, c, 2 * c),
            "down_t": _conv_p(rng, (3, 3, 3), 2 * c, 2 * c),
            "r3": _video_res_p(rng, 2 * c, 2 * c),
            "n_out": _norm_p(rng, 2 * c), "out": _conv_p(rng, (3, 3, 3), 2 * c, 8)}


def _video(ops, p, x, cfg):
    """Causal 3-D VAE encoder block on `(N, T, H, W, C)`: time padded causally by
    replicating the first frame, space 'same' with zeros; group norm and SiLU; stride
    (1, 2, 2) then (2, 1, 1) downsampling; 8 output channels (mean and log-variance)."""

    def conv(h, q, stride=1):
        return ops.conv(h, q, stride=stride, padding=_CAUSAL, mode=_CAUSAL_MODES)

    def res(h, q):
        y = conv(ops.act(ops.norm(h, q["n1"], _GROUPS), "silu"), q["c1"])
        y = conv(ops.act(ops.norm(y, q["n2"], _GROUPS), "silu"), q["c2"])
        return y + (ops.conv(h, q["short"], padding=0) if "short" in q else h)

    h = res(conv(x, p["in"]), p["r1"])
    h = res(conv(h, p["down_s"], stride=(1, 2, 2)), p["r2"])
    h = res(conv(h, p["down_t"], stride=(2, 1, 1)), p["r3"])
    return conv(ops.act(ops.norm(h, p["n_out"], _GROUPS), "silu"), p["out"])


_DILATIONS = (1, 3, 5)


def _audio_init(rng, cfg):
    c = cfg["width"]
    p = {"pre": _conv_p(rng, (7,), cfg["mels"], c), "ups": []}
    for r in cfg["rates"]:
        p["ups"].append({"up": _conv_transpose_p(rng, (2 * r,), c, c // 2, r),
                         "res": [{"c1": _conv_p(rng, (3,), c // 2, c // 2),
                                  "c2": _conv_p(rng, (3,), c // 2, c // 2)}
                                 for _ in _DILATIONS]})
        c //= 2
    p["post"] = _conv_p(rng, (7,), c, 1)
    return p


def _audio(ops, p, x, cfg):
    """HiFi-GAN / EnCodec-style generator on mel frames `(N, T, mels)`: per rate r a
    transposed conv (kernel 2r, stride r, padding r // 2) then residual units of
    reflect-padded k3 convs dilated 1, 3, 5; a tanh waveform `(N, T * prod(rates), 1)`."""
    h = ops.conv(x, p["pre"], mode="reflect")
    for q, r in zip(p["ups"], cfg["rates"]):
        h = ops.conv_transpose(ops.act(h, "leaky"), q["up"], stride=r, padding=r // 2)
        for unit, d in zip(q["res"], _DILATIONS):
            y = ops.conv(ops.act(h, "leaky"), unit["c1"], mode="reflect", dilation=d)
            h = h + ops.conv(ops.act(y, "leaky"), unit["c2"], mode="reflect")
    return ops.act(ops.conv(ops.act(h, "leaky"), p["post"], mode="reflect"), "tanh")


def _pde_init(rng, cfg):
    c, w = cfg["fields"], cfg["width"]
    return {"c1": _conv_p(rng, (3, 3), c, w), "c2": _conv_p(rng, (3, 3), w, w),
            "c3": {"w": 0.1 * _conv_p(rng, (3, 3), w, c)["w"], "b": np.zeros(c)}}


def _pde(ops, p, x, cfg):
    """A learned periodic 2-D stepper: `u + 0.1 * net(u) + 0.5 * (box3(u) - u)`, the net
    three circular 3x3 convs, box3 a circular 3x3 average pool (diffusion); `steps`
    steps under `lax.scan`."""

    def step(u):
        h = ops.act(ops.conv(u, p["c1"], mode="circular"), "silu")
        h = ops.act(ops.conv(h, p["c2"], mode="circular"), "silu")
        h = ops.conv(h, p["c3"], mode="circular")
        smooth = ops.avg_pool(u, 3, 1, padding="same", mode="circular")
        return u + 0.1 * h + 0.5 * (smooth - u)

    return ops.repeat(step, x, cfg["steps"])


@dataclasses.dataclass(frozen=True)
class Model:
    """One architecture of the suite, written once against the builds' operations.

    Attributes:
      name: its name on the command line (`--models`).
      title: a line for the report.
      init: `(rng, config) -> params`, NumPy leaves (kernels `(*k, I, O)`).
      apply: `(ops, params, x, config) -> y`, `ops` one build's operations.
      input_shape: `config -> ` the input's shape without the batch axis.
      loss: 'mse' (against a random target of the output's shape) or 'xent'
        (against random labels).
      sizes: `{'tiny' | 'quick' | 'full': config}`; a value given as
        `{backend: value}` is picked per backend (TPU takes the 'gpu' value).

    Raises:
      KeyError: `config` of a size that is not in `sizes`.

    Example:
      >>> from jaxpad.bench.models import MODELS
      >>> unet = next(m for m in MODELS if m.name == "unet")
      >>> unet.config("full", "cpu")["batch"], unet.config("full", "tpu")["batch"]
      (4, 16)
    """

    name: str
    title: str
    init: Callable[[np.random.Generator, dict], dict]
    apply: Callable[[_Ops, Any, Any, dict], Any]
    input_shape: Callable[[dict], tuple[int, ...]]
    loss: str
    sizes: dict[str, dict[str, Any]]

    def config(self, size: str, backend: str) -> dict[str, Any]:
        return {k: v.get(backend, v["gpu"]) if isinstance(v, dict) else v
                for k, v in self.sizes[size].items()}


MODELS = (
    Model("unet", "pix2pix-style U-Net: reflect, transposed-conv upsampling", _unet_init, _unet,
          lambda c: (c["size"], c["size"], 3), "mse", {
              "tiny": dict(size=16, width=4, depth=2, batch=1),
              "quick": dict(size=32, width=8, depth=2, batch=2),
              "full": dict(size={"cpu": 64, "gpu": 128}, width={"cpu": 16, "gpu": 64}, depth=3,
                           batch={"cpu": 4, "gpu": 16})}),
    Model("resnet", "ResNet-18-style classifier: circular", _resnet_init, _resnet,
          lambda c: (c["size"], c["size"], 3), "xent", {
              "tiny": dict(size=16, width=4, classes=10, batch=2),
              "quick": dict(size=32, width=8, classes=10, batch=4),
              "full": dict(size={"cpu": 64, "gpu": 128}, width={"cpu": 32, "gpu": 64},
                           classes=10, batch={"cpu": 8, "gpu": 64})}),
    Model("video", "causal 3-D video-VAE encoder block: replicate in time, 'same' zeros in space",
          _video_init, _video, lambda c: (c["frames"], c["size"], c["size"], 3), "mse", {
              "tiny": dict(frames=5, size=8, width=4, batch=1),
              "quick": dict(frames=5, size=16, width=8, batch=1),
              "full": dict(frames={"cpu": 9, "gpu": 17}, size={"cpu": 32, "gpu": 64},
                           width={"cpu": 16, "gpu": 64}, batch={"cpu": 2, "gpu": 4})}),
    Model("audio", "1-D HiFi-GAN/EnCodec-style generator: dilated reflect, transposed upsampling",
          _audio_init, _audio, lambda c: (c["frames"], c["mels"]), "mse", {
              "tiny": dict(frames=8, mels=8, width=16, rates=(2, 2), batch=1),
              "quick": dict(frames=16, mels=32, width=64, rates=(4, 4), batch=2),
              "full": dict(frames={"cpu": 64, "gpu": 128}, mels=80,
                           width={"cpu": 256, "gpu": 512}, rates=(4, 4, 4),
                           batch={"cpu": 2, "gpu": 16})}),
    Model("pde", "periodic 2-D PDE stepper: circular, few channels, steps under lax.scan",
          _pde_init, _pde, lambda c: (c["size"], c["size"], c["fields"]), "mse", {
              "tiny": dict(size=8, fields=2, width=4, steps=3, batch=1),
              "quick": dict(size=32, fields=2, width=8, steps=8, batch=2),
              "full": dict(size={"cpu": 64, "gpu": 256}, fields=2, width={"cpu": 16, "gpu": 32},
                           steps={"cpu": 16, "gpu": 32}, batch={"cpu": 4, "gpu": 16})}),
)
MODEL_NAMES = tuple(m.name for m in MODELS)


# ---------------------------------------------------------------------------------------------
# Builds: the programs of one model, compiled, checked and timed.


def parse_variant(text: str) -> dict[str, dict[str, Any]]:
    """The keyword arguments that one `--variants` entry passes to jaxpad's functions.

    An entry is comma-separated `key=value` or `function.key=value` items, `function`
    one of `conv`, `conv_transpose`, `max_pool`, `avg_pool`. A bare key goes to every
    one of them whose signature takes it (`impl` reaches all four, whose strategies
    differ: name the function, as in `conv.impl=frame`). Values are Python literals,
    else strings.

    Args:
      text: the entry, e.g. `'impl=pad'` or `'conv.impl=frame,conv.oversize=repeat'`.

    Returns:
      `{function name: {keyword: value}}`.

    Raises:
      ValueError: an item that is not `key=value`, an unknown function, or a key that
        no function (or not the named one) takes.

    Example:
      >>> from jaxpad.bench.models import parse_variant
      >>> parse_variant("conv.impl=pad,avg_pool.count_include_pad=False")
      {'conv': {'impl': 'pad'}, 'avg_pool': {'count_include_pad': False}}
    """
    out: dict[str, dict[str, Any]] = {}
    for item in text.split(","):
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"`--variants` entries must be key=value or function.key=value; "
                             f"got {item!r}.")
        function, dot, key = key.rpartition(".")
        if dot and function not in FUNCTIONS:
            raise ValueError(f"`--variants`: {function!r} is not one of "
                             f"{', '.join(map(repr, FUNCTIONS))}; got {item!r}.")
        takes = [f for f in ([function] if dot else FUNCTIONS)
                 if key in inspect.signature(FUNCTIONS[f]).parameters]
        if not takes:
            where = (f"jaxpad.{function} takes no" if dot
                     else "no jaxpad function of the models takes a")
            raise ValueError(f"`--variants`: {where} keyword `{key}`; got {item!r}.")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        for f in takes:
            out.setdefault(f, {})[key] = value
    return out


def _torch_device(torch: Any, backend: str) -> str | None:
    """Where the torch builds run: the JAX backend's device kind, or nowhere."""
    if backend == "cpu":
        return "cpu"
    if backend == "gpu" and torch.cuda.is_available():
        return "cuda"
    return None


def _to_torch(torch, tree, dtype, device, *, grad=False):
    """NumPy leaves as torch tensors: kernels `(*k, I, O)` to `(O, I, *k)`."""

    def leaf(a):
        a = np.asarray(a)
        if a.ndim >= 3:
            a = np.transpose(a, (a.ndim - 1, a.ndim - 2, *range(a.ndim - 2)))
        t = torch.from_numpy(np.array(a, order="C")).to(device=device, dtype=dtype)
        return t.requires_grad_() if grad else t

    return jax.tree.map(leaf, tree)


def _channels_first(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, -1, 1) if a.ndim >= 3 else a


def _channels_last(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 1, -1) if a.ndim >= 3 else a


def _float32(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), tree)


@dataclasses.dataclass
class Build:
    """One way of running a model, compiled and ready to time.

    Attributes:
      name: e.g. 'jaxpad', 'jaxpad impl=pad', 'zeros', 'flax way', 'torch'.
      framework: 'jax' or 'torch' (each is timed, and compared, with its own).
      reference: the build whose forward output this one must equal (itself for
        the references).
      step: runs one training step, blocking (None for a reference).
      fwd: runs the forward pass, blocking.
      output: the float32 forward output, channels-last, for `check`.
      finite: whether the forward output in the timed dtype is finite.
      compile_s: seconds per cold compile of the training step.
      temp_bytes: the compiled training step's temporary memory, where reported.
      error: why the build was not timed (a failure or a `check` mismatch).

    Raises:
      Nothing: a build that fails carries its `error`.

    Example:
      >>> import numpy as np
      >>> from jaxpad.bench.models import Build
      >>> Build("zeros", "jax", "reference", output=np.zeros(3)).error is None
      True
    """

    name: str
    framework: str
    reference: str
    step: Callable[[], Any] | None = None
    fwd: Callable[[], Any] | None = None
    output: np.ndarray | None = None
    finite: bool = True
    compile_s: list[float] = dataclasses.field(default_factory=list)
    temp_bytes: int | None = None
    error: str | None = None


def _loss(model: Model, ops: _Ops) -> Callable:
    return ops.mse if model.loss == "mse" else ops.xent


def _jax_build(model, cfg, ops, params, x, target, reference, compile_repeats, verify):
    b = Build(ops.name, "jax", reference)
    loss = _loss(model, ops)

    def fwd(p, x):
        return model.apply(ops, p, x, cfg)

    def train_step(p, x, t):
        value, grads = jax.value_and_grad(lambda q: loss(fwd(q, x), t))(p)
        return jax.tree.map(lambda a, g: a - LR * g, p, grads), value

    for _ in range(compile_repeats):
        jax.clear_caches()  # else every compile after the first is a cache hit
        start = time.perf_counter()
        step = jax.jit(train_step).lower(params, x, target).compile()
        b.compile_s.append(time.perf_counter() - start)
        b.temp_bytes = temp_bytes(step)
        b.step = functools.partial(step, params, x, target)
    b.fwd = functools.partial(jax.jit(fwd).lower(params, x).compile(), params, x)
    y = np.asarray(b.fwd(), np.float32)
    b.finite = bool(np.isfinite(y).all())
    # checked in float32 whatever the dtype timed: half-precision rounding through a deep
    # model reaches the size of a wrong border
    if verify:
        b.output = y if x.dtype == jnp.float32 else np.asarray(jax.jit(fwd)(*_float32((params, x))))
    return b


def _torch_build(model, cfg, ops, params, x, target, reference, dtype, device, verify):
    torch = ops.torch
    tdtype = getattr(torch, dtype)
    tp = _to_torch(torch, params, tdtype, device, grad=True)
    # copies: torch warns about (and may write to) NumPy views of JAX arrays
    tx = torch.from_numpy(np.array(_channels_first(x), order="C")).to(device, tdtype)
    t = np.array(_channels_first(target), order="C")
    tt = torch.from_numpy(t).to(device, torch.float32 if model.loss == "mse" else torch.long)
    leaves = jax.tree.leaves(tp)
    loss = _loss(model, ops)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        for a in leaves:
            a.grad = None
        value = loss(model.apply(ops, tp, tx, cfg), tt)
        value.backward()
        with torch.no_grad():
            for a in leaves:
                a.sub_(LR * a.grad)
        sync()
        return value.detach()

    def fwd():
        with torch.no_grad():
            y = model.apply(ops, tp, tx, cfg)
        sync()
        return y

    b = Build(ops.name, "torch", reference, step=step, fwd=fwd)
    y = fwd().float().cpu().numpy()
    b.finite = bool(np.isfinite(y).all())
    if verify and dtype != "float32":
        with torch.no_grad():
            y = model.apply(ops, _to_torch(torch, params, torch.float32, device),
                            tx.float(), cfg).cpu().numpy()
    b.output = _channels_last(y)
    return b


def check(builds: Sequence[Build], backend: str) -> dict[str, float]:
    """Compares each build's forward output with its reference build's, before timing.

    The difference is the largest absolute one over max(1, max |reference|), in float32
    whatever dtype is timed. A build beyond `TOLERANCE` (on CPU, else
    `ACCELERATOR_TOLERANCE`), of another shape, without a reference output, or with a
    non-finite output in the timed dtype gets an `error` and is not timed.

    Args:
      builds: the builds of one model; their `output` set, `error` None if they ran.
      backend: 'cpu', 'gpu' or 'tpu', for the tolerance.

    Returns:
      `{build name: difference}` for every build compared (not the references).

    Raises:
      Nothing for a mismatch: it is recorded in the build's `error`.

    Example:
      >>> import numpy as np
      >>> from jaxpad.bench.models import Build, check
      >>> y = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
      >>> builds = [Build("jaxpad", "jax", "jaxpad", output=y),
      ...           Build("flax way", "jax", "jaxpad", output=y + 1e-6),
      ...           Build("wrong", "jax", "jaxpad", output=np.roll(y, 1))]
      >>> {k: round(v, 6) for k, v in check(builds, "cpu").items()}
      {'flax way': 1e-06, 'wrong': 2.0}
      >>> builds[2].error
      "MISMATCH: forward differs from 'jaxpad' by 2 (tolerance 0.001)"
    """
    tol = TOLERANCE if backend == "cpu" else ACCELERATOR_TOLERANCE
    by = {b.name: b for b in builds}
    errors = {}
    for b in builds:
        if b.error or b.name == b.reference:
            continue
        ref = by.get(b.reference)
        if ref is None or ref.output is None:
            b.error = f"no output of its reference {b.reference!r} to check against"
            continue
        if b.output is None or b.output.shape != ref.output.shape:
            shape = None if b.output is None else b.output.shape
            b.error = f"output shape {shape} differs from {b.reference!r}'s {ref.output.shape}"
            continue
        scale = max(1.0, float(np.abs(ref.output).max()))
        err = float(np.abs(b.output - ref.output).max()) / scale
        if not (b.finite and np.isfinite(b.output).all()):
            err = math.inf
        errors[b.name] = err
        if not err <= tol:
            b.error = (f"MISMATCH: forward differs from {b.reference!r} by {err:.3g} "
                       f"(tolerance {tol:g})")
    return errors


def _builds(model, cfg, dtype, backend, settings, params, x, target, verify) -> list[Build]:
    """Every build of one model, compiled and run once; failures kept with their error.
    `verify`: compute the float32 outputs that `check` compares (and the reference's)."""
    specs: list[tuple[_Ops, str]] = [(_Jaxpad("jaxpad"), "jaxpad")]
    specs += [(_Jaxpad(f"jaxpad {v}", parse_variant(v)), "jaxpad") for v in settings["variants"]]
    specs += [(_Zeros("zeros"), "reference"), (_PadFirst("flax way"), "jaxpad")]
    if verify:
        specs.append((_PadFirst("reference", zeros=True, fold_zeros=False), "reference"))
    builds = []
    for ops, reference in specs:
        # the reference is only run forward; every other build's step is compiled
        repeats = 0 if ops.name == "reference" else max(settings["compile_repeats"], 1)
        try:
            builds.append(_jax_build(model, cfg, ops, params, x, target, reference, repeats,
                                     verify))
        except Exception as e:  # e.g. a variant the functions refuse: reported, not timed
            builds.append(Build(ops.name, "jax", reference, error=f"{type(e).__name__}: {e}"))
    torch = settings["torch"]
    device = None if torch is None else _torch_device(torch, backend)
    if device is not None:
        # the same values as the JAX builds' (bfloat16 rounding included), as NumPy
        arrays = jax.tree.map(np.asarray, _float32((params, x)))
        for ops, reference in ((_Torch("torch", torch), "jaxpad"),
                               (_Torch("torch zeros", torch, zeros=True), "reference")):
            try:
                builds.append(_torch_build(model, cfg, ops, *arrays, np.asarray(target),
                                           reference, dtype, device, verify))
            except Exception as e:
                builds.append(Build(ops.name, "torch", reference,
                                    error=f"{type(e).__name__}: {e}"))
    return builds


def _inputs(model: Model, cfg: dict, dtype: str):
    """Parameters, input and target (labels or a random output) from a fixed seed."""
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), model.init(rng, cfg))
    x = jnp.asarray(rng.standard_normal((cfg["batch"], *model.input_shape(cfg))), dtype)
    out = jax.eval_shape(lambda p, x: model.apply(_Zeros("shape"), p, x, cfg), params, x)
    if model.loss == "xent":
        target = jnp.asarray(rng.integers(0, out.shape[-1], out.shape[0]), jnp.int32)
    else:
        target = jnp.asarray(0.5 * rng.standard_normal(out.shape), jnp.float32)
    return params, x, target


def _ratio(a, b):
    return None if a is None or not b else a / b


def _measure(model: Model, dtype: str, settings: dict) -> dict:
    """One model in one dtype: every build checked, then timed interleaved.

    A model whose builds all passed the check in float32 earlier in the run is not
    checked again (the same programs in another dtype); its outputs must be finite."""
    backend = settings["backend"]
    cfg = model.config(settings["size"], backend)
    start = time.perf_counter()
    params, x, target = _inputs(model, cfg, dtype)
    verify = model.name not in settings["verified"]
    builds = _builds(model, cfg, dtype, backend, settings, params, x, target, verify)
    if verify:
        differences = check(builds, backend)
    else:
        differences = {}
        for b in builds:
            if b.error is None and not b.finite:
                b.error = "MISMATCH: the forward output is not finite"
    if verify and dtype == "float32" and not any(b.error for b in builds):
        settings["verified"].add(model.name)
    timed = [b for b in builds if b.error is None and b.name != "reference"]
    times = {}
    # One framework at a time: torch's OpenMP threads spin on after each call and slow
    # whichever JAX program runs next.
    for framework in ("jax", "torch"):
        runs = {(b.name, key): getattr(b, key) for b in timed if b.framework == framework
                for key in ("step", "fwd")}
        for _ in range(2):  # warm-up
            for run in runs.values():
                jax.block_until_ready(run())
        if runs:
            times.update(interleaved(runs, settings["repeats"]))
    rows = []
    for b in builds:
        if b.name == "reference":
            continue
        row = dict(build=b.name, framework=b.framework, reference=b.reference,
                   difference=differences.get(b.name), error=b.error, compile_s=b.compile_s,
                   compile_median_s=statistics.median(b.compile_s) if b.compile_s else None,
                   temp_bytes=b.temp_bytes)
        if b.error is None:
            for key in ("step", "fwd"):
                row[f"{key}_s"] = times[b.name, key]
                row[f"{key}_ms"] = 1e3 * statistics.median(times[b.name, key])
        rows.append(row)
    by = {r["build"]: r for r in rows}
    for r in rows:
        base = by.get("zeros" if r["framework"] == "jax" else "torch zeros", {})
        for key in ("step_ms", "fwd_ms", "compile_median_s", "temp_bytes"):
            r[key.split("_")[0] + "_ratio"] = _ratio(r.get(key), base.get(key))
    wall = time.perf_counter() - start
    print(f"{model.name} {dtype}: {wall:.0f} s", flush=True)
    return dict(model=model.name, title=model.title, dtype=dtype, config=cfg,
                input_shape=list(x.shape), wall_s=wall, builds=rows)


# ---------------------------------------------------------------------------------------------
# Reports.


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git() -> str | None:
    """The commit of a jaxpad checkout (with '+dirty' for local changes), else None."""
    where = Path(jaxpad.__file__).parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where, text=True,
                                capture_output=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=where, text=True, capture_output=True, check=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def _machine() -> dict:
    """The platform, processor, accelerator and versions the results were measured with."""
    device = jax.devices()[0]
    return dict(
        platform=jax.default_backend(), device=device.device_kind,
        device_count=jax.device_count(), cpu=_cpu_model(), cores=os.cpu_count(),
        arch=platform.machine(), system=platform.platform(),
        versions=dict(python=platform.python_version(), jax=jax.__version__,
                      jaxlib=_version("jaxlib"), flax=_version("flax"),
                      torch=_version("torch"), numpy=np.__version__,
                      jaxpad=jaxpad.__version__, jaxpad_git=_git()),
    )


def _cell(value, digits=2, suffix="x"):
    return "" if value is None else f"{value:.{digits}f}{suffix}"


def _triple(r: dict | None) -> str:
    """'step / compile / temp' ratios, the issue's way of showing a build."""
    if r is None:
        return ""
    if r["error"]:
        return "failed" if not r["error"].startswith("MISMATCH") else "MISMATCH"
    return " / ".join(_cell(r.get(k), suffix="") or "-"
                      for k in ("step_ratio", "compile_ratio", "temp_ratio"))


def _goals(result: dict) -> dict[str, bool | None]:
    """The targets the report checks for the `jaxpad` build: None where a side is missing."""
    by = {r["build"]: r for r in result["builds"]}
    j, flax, torch = by.get("jaxpad", {}), by.get("flax way", {}), by.get("torch", {})

    def le(a, b):
        return None if a is None or b is None else a <= b

    return {"step <= 1.05x zeros": le(j.get("step_ratio"), 1.05),
            "compile <= flax way's": le(j.get("compile_median_s"), flax.get("compile_median_s")),
            "temp <= zeros'": le(j.get("temp_ratio"), 1.0),
            "step ratio <= torch's": le(j.get("step_ratio"), torch.get("step_ratio"))}


def _markdown(report: dict) -> str:
    meta, settings, results = report["meta"], report["settings"], report["results"]
    m, v = meta["machine"], meta["machine"]["versions"]
    device = "" if m["platform"] == "cpu" else f", {m['device_count']}x {m['device']}"
    lines = [
        f"# Whole-model benchmark: {m['platform']}, {meta['date']}", "",
        f"`{meta['command']}`", "",
        f"- machine: {m['cpu']}, {m['cores']} cores ({m['arch']}, {m['system']}){device}",
        f"- versions: python {v['python']}, jax {v['jax']}, jaxlib {v['jaxlib']}, "
        f"flax {v['flax']}, torch {v['torch']}, numpy {v['numpy']}, jaxpad {v['jaxpad']}"
        + (f" (git {v['jaxpad_git']})" if v["jaxpad_git"] else ""),
        f"- settings: size '{settings['size']}', {settings['repeats']} interleaved rounds "
        f"(medians), compile time the median of {settings['compile_repeats']} cold compiles "
        f"of the training step, dtypes {', '.join(settings['dtypes'])}",
        f"- load average (1 min) at the start {meta['load_start']}, at the end "
        f"{meta.get('load_end')}; wall time {meta.get('wall_s', 0):.0f} s",
    ]
    if meta.get("note"):
        lines.append(f"- note: {meta['note']}")
    lines += [
        "", "Builds share their parameters: `jaxpad` (defaults), `zeros` (every mode replaced "
        "by zeros: jaxpad's zero padding, lax's pools), `flax way` "
        "(`jnp.pad` then 'VALID', flax's `lax.conv_transpose`), `torch` / `torch zeros` "
        "(PyTorch, its modes / its zeros). Ratios are to `zeros` (torch: to `torch zeros`). "
        "step: `value_and_grad` of the loss and an SGD update, jitted; temp: the compiled "
        "step's temporary memory.", "", "## Models", "",
    ]
    seen = set()
    for r in results:
        if r["model"] not in seen:
            seen.add(r["model"])
            cfg = ", ".join(f"{k} {val}" for k, val in r["config"].items())
            lines.append(f"- `{r['model']}`: {r['title']}; {cfg}; input {tuple(r['input_shape'])}")
    if report.get("skipped"):
        lines += ["", f"Skipped (over the time budget): {', '.join(report['skipped'])}"]
    for dtype in settings["dtypes"]:
        rows = [r for r in results if r["dtype"] == dtype]
        if not rows:
            continue
        names = list(dict.fromkeys(b["build"] for r in rows for b in r["builds"]
                                   if b["build"] not in ("zeros", "torch zeros")))
        lines += ["", f"## {dtype}: step / compile / temp, ratios to zeros", "",
                  "| model | " + " | ".join(names) + " |",
                  "| --- |" + " ---: |" * len(names)]
        for r in rows:
            by = {b["build"]: b for b in r["builds"]}
            lines.append(f"| {r['model']} | " + " | ".join(_triple(by.get(n)) for n in names)
                         + " |")
        targets = list(_goals(rows[0]))
        lines += ["", f"Targets for the `jaxpad` build ({dtype}):", "",
                  "| model | " + " | ".join(targets) + " |", "| --- |" + " :---: |" * len(targets)]
        for r in rows:
            g = _goals(r)
            lines.append(f"| {r['model']} | " + " | ".join(
                {True: "yes", False: "**no**", None: "-"}[g[t]] for t in targets) + " |")
        lines += ["", f"### {dtype}: every build", "",
                  "| model | build | step ms | step | fwd ms | fwd | compile s | compile "
                  "| temp MiB | temp | check |",
                  "| --- | --- |" + " ---: |" * 8 + " --- |"]
        for r in rows:
            for b in r["builds"]:
                temp = None if b["temp_bytes"] is None else b["temp_bytes"] / 2**20
                diff = b["difference"]
                status = b["error"] or (
                    "reference" if b["build"] == b["reference"] else
                    "checked in float32" if diff is None else f"ok ({diff:.1g})")
                lines.append("| " + " | ".join([
                    r["model"], b["build"], _cell(b.get("step_ms"), 1, ""),
                    _cell(b.get("step_ratio")), _cell(b.get("fwd_ms"), 1, ""),
                    _cell(b.get("fwd_ratio")), _cell(b["compile_median_s"], 2, ""),
                    _cell(b.get("compile_ratio")), _cell(temp, 1, ""),
                    _cell(b.get("temp_ratio")), status.replace("|", "/")]) + " |")
    return "\n".join(lines) + "\n"


def _chart(report: dict, path: Path) -> bool:
    """Bars of each build's ratios to zeros, per model; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    dtypes = [d for d in report["settings"]["dtypes"]
              if any(r["dtype"] == d for r in report["results"])]
    metrics = (("step_ratio", "training step"), ("fwd_ratio", "forward"),
               ("compile_ratio", "compile"), ("temp_ratio", "temp memory"))
    fig, axes = plt.subplots(len(dtypes), len(metrics), squeeze=False,
                             figsize=(4.2 * len(metrics), 3.4 * len(dtypes)))
    for row, dtype in zip(axes, dtypes):
        results = [r for r in report["results"] if r["dtype"] == dtype]
        names = list(dict.fromkeys(b["build"] for r in results for b in r["builds"]
                                   if b["build"] not in ("zeros", "torch zeros")))
        width = 0.8 / max(len(names), 1)
        xs = np.arange(len(results))
        for ax, (key, title) in zip(row, metrics):
            for i, name in enumerate(names):
                vals = []
                for r in results:
                    b = {b["build"]: b for b in r["builds"]}.get(name, {})
                    vals.append(np.nan if b.get(key) is None else b[key])
                ax.bar(xs + (i - (len(names) - 1) / 2) * width, vals, width, label=name)
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_title(f"{title} / zeros ({dtype})", fontsize=9)
            ax.set_xticks(xs, [r["model"] for r in results], fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _write(report: dict, stem: Path, *, png: bool = True) -> list[Path]:
    """`<stem>.json` and `<stem>.md` (and `<stem>.png`): the files written."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".json"), stem.with_suffix(".md")]
    paths[0].write_text(json.dumps(report, indent=1, default=str) + "\n")
    paths[1].write_text(_markdown(report))
    if png and _chart(report, stem.with_suffix(".png")):
        paths.append(stem.with_suffix(".png"))
    return paths


# ---------------------------------------------------------------------------------------------
# The command line.


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", choices=MODEL_NAMES, metavar="MODEL",
                   help=f"models to run, of {', '.join(MODEL_NAMES)} (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="smaller shapes, rounds and one compile (under 2 minutes on a 2-core CPU)")
    p.add_argument("--size", choices=SIZES, help="shapes: tiny (a smoke test), quick, full")
    p.add_argument("--dtypes", nargs="+", choices=("float32", "bfloat16"), help="default float32")
    p.add_argument("--variants", nargs="*", default=None, metavar="KEY=VALUE",
                   help="diagnostic jaxpad builds, e.g. impl=pad conv.impl=frame "
                        "(a bare key goes to every jaxpad function that takes it)")
    p.add_argument("--repeats", type=int, help="interleaved rounds (default 15, quick 5)")
    p.add_argument("--compile-repeats", type=int,
                   help="cold compiles of each training step (default 3, quick 1)")
    p.add_argument("--batch", type=int, help="one batch size for every model (default per "
                                             "model and backend)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch builds")
    p.add_argument("--device-check", action="store_true",
                   help="the accelerator run: float32 and bfloat16, variants "
                        f"{' '.join(DEVICE_CHECK_VARIANTS)}, one compile each, stops starting "
                        f"models after {DEVICE_CHECK_BUDGET_S:.0f} s (fits 8 minutes on one GPU)")
    p.add_argument("--budget-s", type=float, help="start no model after this many seconds")
    p.add_argument("--out", default="benchmarks/results", help="output folder")
    p.add_argument("--note", default="", help="a remark written into the results")
    return p


def _settings(args: argparse.Namespace) -> dict:
    check = args.device_check
    size = args.size or ("quick" if args.quick else "full")
    small = size != "full"

    def pick(value, default):
        return default if value is None else value

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    variants = pick(args.variants, list(DEVICE_CHECK_VARIANTS) if check else [])
    for v in variants:
        parse_variant(v)  # refuse a bad variant before measuring anything
    if len(set(variants)) < len(variants):
        raise ValueError(f"`--variants` must differ from each other; got {variants}.")
    return dict(
        backend=jax.default_backend(), size=size,
        models=args.models or list(MODEL_NAMES),
        dtypes=pick(args.dtypes, ["float32", "bfloat16"] if check else ["float32"]),
        variants=variants,
        repeats=pick(args.repeats, 5 if small else 10 if check else 15),
        compile_repeats=pick(args.compile_repeats, 1 if small or check else 3),
        batch=args.batch, budget_s=pick(args.budget_s, DEVICE_CHECK_BUDGET_S if check else None),
        torch=torch, verified=set(),  # models whose builds passed the check in float32
        stem_suffix="-device-check" if check else f"-{size}" if small else "",
    )


def run(argv: Sequence[str] | None = None, *, prog: str = PROG) -> dict:
    """Runs the benchmark as the command line asks, writes and prints its report.

    Args:
      argv: the command-line arguments (`--help` lists them); `None`: `sys.argv[1:]`.
      prog: how the command was invoked, recorded with `argv` in the results.

    Returns:
      The report written to JSON: `meta` (command, date, machine, versions, load),
      `settings`, `results` (one per model and dtype, with a row per build: times in
      seconds per round and medians in ms, compile times, temp bytes, ratios, the
      check's difference and any error), `skipped` and `files`.

    Raises:
      SystemExit: bad arguments (argparse's exit status 2).

    Example:
      >>> import tempfile
      >>> from jaxpad.bench.models import run
      >>> report = run(["--models", "pde", "--size", "tiny", "--repeats", "1", "--no-torch",
      ...               "--out", tempfile.mkdtemp()])  # doctest: +ELLIPSIS
      pde float32 ...
      >>> [(b["build"], b["error"]) for b in report["results"][0]["builds"]]
      [('jaxpad', None), ('zeros', None), ('flax way', None)]
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    options = _parser(prog)
    args = options.parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as e:
        options.error(str(e))
    today = datetime.date.today().isoformat()
    meta = dict(command=shlex.join([*prog.split(), *argv]), date=today, note=args.note,
                machine=_machine(), load_start=round(os.getloadavg()[0], 2))
    public = {k: v for k, v in settings.items() if k not in ("torch", "verified")}
    public["torch"] = settings["torch"] is not None
    report = dict(meta=meta, settings=public, results=[], skipped=[])
    stem = Path(args.out) / f"{settings['backend']}-{today}-models{settings['stem_suffix']}"
    start = time.perf_counter()
    for dtype in settings["dtypes"]:
        for name in settings["models"]:
            model = next(m for m in MODELS if m.name == name)
            if settings["batch"]:
                model = dataclasses.replace(model, sizes={
                    k: {**v, "batch": settings["batch"]} for k, v in model.sizes.items()})
            if settings["budget_s"] and time.perf_counter() - start > settings["budget_s"]:
                report["skipped"].append(f"{name} {dtype}")
                continue
            print(f"{name} {dtype} ...", flush=True)
            report["results"].append(_measure(model, dtype, settings))
            meta.update(wall_s=time.perf_counter() - start)
            _write(report, stem, png=False)  # a run cut short keeps what it measured
    meta.update(wall_s=time.perf_counter() - start, load_end=round(os.getloadavg()[0], 2))
    report["files"] = [str(p) for p in _write(report, stem)]
    print(_markdown(report), flush=True)
    return report


def _failures(report: dict) -> list[str]:
    """'model dtype build: error' for every build that failed or disagreed."""
    return [f"{r['model']} {r['dtype']} {b['build']}: {b['error']}"
            for r in report["results"] for b in r["builds"] if b["error"]]


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """The command line: `run`, then the builds that failed or disagreed, on stderr.

    Args:
      argv: the command-line arguments; `None`: `sys.argv[1:]`.
      prog: how the command was invoked (`jaxpad bench` passes its own name).

    Returns:
      The exit status: 0, or 1 when a build failed or disagreed with its reference.

    Raises:
      SystemExit: bad arguments, or `--help` (status 0).

    Example:
      >>> from jaxpad.bench.models import main
      >>> main(["--help"])  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      SystemExit: 0
    """
    report = run(argv, prog=prog)
    bad = _failures(report)
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------------
# The README's performance section, generated from a committed report.

README_BEGIN, README_END = "<!-- models:begin -->", "<!-- models:end -->"


def readme_section(report: dict, stem: str) -> str:
    """The README's chart and table of one report (`stem`: its path without suffix).

    Args:
      report: a report as `run` returns it and the JSON results file holds.
      stem: the results file's path relative to the repository, e.g.
        'benchmarks/results/cpu-2026-12-06-models'.

    Returns:
      Markdown: the chart, then per model jaxpad's, the flax way's and PyTorch's training
      step, compile time and temp memory as ratios to zero padding.
    """
    meta = report["meta"]
    m = meta["machine"]
    dtype = report["settings"]["dtypes"][0]
    lines = [f"![Whole models, ratios to zero padding]({stem}.png)", "",
             f"Training step / compile / compiled temp memory, each a ratio to the same model "
             f"with zero padding ({m['platform']}, {m['cpu']}, {m['cores']} cores, {dtype}, "
             f"{meta['date']}; [{Path(stem).name}.md]({stem}.md)):", "",
             "| model | jaxpad | flax way | PyTorch (step) |", "| --- | ---: | ---: | ---: |"]
    for r in report["results"]:
        if r["dtype"] != dtype:
            continue
        by = {b["build"]: b for b in r["builds"]}
        torch = by.get("torch")
        step = _cell(torch.get("step_ratio")) if torch and not torch["error"] else "-"
        lines.append(f"| {r['model']} | {_triple(by.get('jaxpad'))} | "
                     f"{_triple(by.get('flax way'))} | {step} |")
    return "\n".join(lines)


def with_readme_section(readme: str, section: str) -> str:
    """`readme` with the text between `README_BEGIN` and `README_END` replaced."""
    head, rest = readme.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_BEGIN}\n{section}\n{README_END}{tail}"


def newest_report(folder: Path, platform: str = "cpu") -> tuple[dict, str] | None:
    """The newest `<platform>-<date>-models.json` in `folder` and its stem, or None."""
    found = sorted(Path(folder).glob(f"{platform}-*-models.json"))
    if not found:
        return None
    return json.loads(found[-1].read_text()), str(found[-1].with_suffix(""))

"""Test helpers: example counts per hypothesis profile and backend/dtype tolerances."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest
from hypothesis import assume
from hypothesis import strategies as st

PROFILE = os.environ.get("JAXPAD_HYPOTHESIS", "ci")


def examples(n: int) -> int:
    """`n` hypothesis examples in CI, a handful in the quick 'dev' profile."""
    return n if PROFILE == "ci" else min(n, 25)


# float32 on CPU with precision=HIGHEST matches float64 sums to ~1e-6; accelerators use
# TF32/bf16 passes unless told otherwise, and half types keep ~3 significant digits.
_TOLERANCE = {
    ("cpu", "float32"): 1e-5,
    ("gpu", "float32"): 1e-4,
    ("tpu", "float32"): 1e-3,
    ("cpu", "float16"): 2e-2,
    ("cpu", "bfloat16"): 5e-2,
}


def tolerance(dtype=np.float32) -> float:
    key = (jax.default_backend(), np.dtype(dtype).name)
    return _TOLERANCE.get(key, 5e-2 if np.dtype(dtype).itemsize < 4 else 1e-3)


def assert_close(actual, expected, dtype=np.float32):
    """Within the backend/dtype tolerance, relative to the largest expected magnitude."""
    expected = np.asarray(expected, np.float64)
    tol = tolerance(dtype)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol,
                               atol=tol * scale)


def optional_import(name: str):
    try:
        return __import__(name)
    except ImportError:
        return None


torch = optional_import("torch")
requires_torch = pytest.mark.skipif(
    torch is None, reason="torch is not installed: PyTorch parity not checked"
)


# --------------------------------------------------- random PyTorch convolutions (interop)

TORCH_MODES = ("zeros", "reflect", "replicate", "circular")


def _torch_pads(padding, k, d):
    """The (lo, hi) pairs torch pads, from its documented rules."""
    if padding == "valid":
        return [(0, 0)] * len(k)
    if padding == "same":  # torch: total d * (k - 1), the odd pixel on the right
        return [(di * (ki - 1) // 2, di * (ki - 1) - di * (ki - 1) // 2) for ki, di in zip(k, d)]
    return [(p, p) for p in padding]


@st.composite
def torch_convs(draw):
    """A `torch.nn.Conv{1,2,3}d` torch accepts, with seeded weights, and a batched input shape."""
    rank = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = [draw(st.integers(1, 4)) for _ in range(rank)]
    d = [draw(st.integers(1, 3)) for _ in range(rank)]
    s = [draw(st.integers(1, 3)) for _ in range(rank)]
    kind = draw(st.sampled_from(["same", "valid", "ints"] if s == [1] * rank else ["ints"]))
    padding = [draw(st.integers(0, 3)) for _ in range(rank)] if kind == "ints" else kind
    mode = draw(st.sampled_from(TORCH_MODES))
    top = 8 if rank < 3 else 6
    shape = [draw(st.integers(1, top)) for _ in range(rank)]
    limit = {"reflect": -1, "circular": 0}.get(mode)
    for i, ki, di, (lo, hi) in zip(shape, k, d, _torch_pads(padding, k, d)):
        assume(i + lo + hi >= di * (ki - 1) + 1)  # a non-empty output
        assume(limit is None or max(lo, hi) <= i + limit)  # torch's mode limits
    torch.manual_seed(draw(st.integers(0, 2**16)))  # reproducible weights
    conv = getattr(torch.nn, f"Conv{rank}d")(
        cin, cout, k, stride=s, padding=padding if kind != "ints" else tuple(padding),
        dilation=d, groups=groups, bias=draw(st.booleans()), padding_mode=mode)
    return conv, (draw(st.integers(1, 2)), cin, *shape)

"""Test helpers: example counts per hypothesis profile and backend/dtype tolerances."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

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

"""Test helpers: the test profiles, example counts, grids, and backend/dtype tolerances."""

from __future__ import annotations

import itertools
import os

import jax
import numpy as np
import pytest
from hypothesis import assume
from hypothesis import strategies as st

# 'default': the fast suite (minutes); 'thorough': every property at its full example count
# and every grid whole (the sweep CONTRIBUTING.md asks for before a change to numerics);
# 'dev': a handful of examples per property, for iterating.
PROFILES = ("default", "thorough", "dev")
PROFILE = os.environ.get("JAXPAD_HYPOTHESIS", "default")
if PROFILE not in PROFILES:
    raise ValueError(f"JAXPAD_HYPOTHESIS must be one of {PROFILES}; got {PROFILE!r}.")
THOROUGH = PROFILE == "thorough"

# The default run's share of a property's thorough count: each example compiles at least
# one XLA program, so the count is what sets the suite's time.
_DEFAULT_SHARE = 0.05
_DEFAULT_MIN = 8


def examples(n: int) -> int:
    """Hypothesis examples for a property whose thorough count is `n`."""
    if THOROUGH:
        return n
    if PROFILE == "dev":
        return min(n, 5)
    return min(n, max(_DEFAULT_MIN, round(n * _DEFAULT_SHARE)))


def pairwise(*axes: list) -> list[tuple]:
    """Rows of a covering array: every pair of values of any two axes is in some row.

    Deterministic and greedy: each row starts from the first pair still missing and
    fills the other axes with the value that covers the most missing pairs.
    """
    n = len(axes)
    if n == 1:
        return [(v,) for v in axes[0]]
    missing = {(i, a, j, b) for i, j in itertools.combinations(range(n), 2)
               for a in range(len(axes[i])) for b in range(len(axes[j]))}

    def pair(i, a, j, b):
        return (i, a, j, b) if i < j else (j, b, i, a)

    def new_pairs(row, axis, value):
        return sum(pair(axis, value, k, row[k]) in missing
                   for k in range(n) if k != axis and row[k] is not None)

    rows = []
    while missing:
        i, a, j, b = min(missing)
        row: list = [None] * n
        row[i], row[j] = a, b
        for axis in range(n):
            if row[axis] is None:
                row[axis] = max(range(len(axes[axis])), key=lambda v: new_pairs(row, axis, v))
        missing -= {(i, row[i], j, row[j]) for i, j in itertools.combinations(range(n), 2)}
        rows.append(tuple(axes[k][v] for k, v in enumerate(row)))
    return rows


def each(*axes: list) -> list[tuple]:
    """Rows in which every value of every axis appears at least once (axes cycled)."""
    return [tuple(axis[i % len(axis)] for axis in axes) for i in range(max(map(len, axes)))]


def _parametrize(cover, axes):
    names = list(axes)
    values = [list(v) for v in axes.values()]
    rows = list(itertools.product(*values)) if THOROUGH else cover(*values)
    if len(names) == 1:
        rows = [r[0] for r in rows]
    return pytest.mark.parametrize(",".join(names), rows)


def grid(**axes):
    """`pytest.mark.parametrize` over the product of `axes`: whole when thorough, else the
    pairwise cover (every value of every axis meets every value of every other axis)."""
    return _parametrize(pairwise, axes)


def grid_each(**axes):
    """As `grid`, but by default only every value of every axis once: for grids whose
    every cell compiles many programs (the sharded tests)."""
    return _parametrize(each, axes)


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

# Tests that pin a choice measured on XLA:CPU alone (op counts of the compiled program, a
# route measured faster there) say nothing about another backend's compiler.
cpu_only = pytest.mark.skipif(
    jax.default_backend() != "cpu",
    reason="pins a choice measured on XLA:CPU only; other backends compile differently",
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

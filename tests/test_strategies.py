"""The strategy registry and the policy: every strategy equals its reference, and no
strategy tuned on one platform reaches another's program."""

from __future__ import annotations

import collections
import importlib
import pathlib
import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close, examples
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import export, lax

import jaxpad
from jaxpad import _policy
from jaxpad._padding import TRANSPOSE_MODES
from jaxpad._strategies import STRATEGIES, impls, strategy_names

HIGHEST = lax.Precision.HIGHEST
ROOT = pathlib.Path(__file__).resolve().parents[1]
OPS = sorted({s.op for s in STRATEGIES})


def test_every_strategy_module_exists_and_every_op_has_its_reference():
    for s in STRATEGIES:
        importlib.import_module(s.module)
    assert set(OPS) == set(_policy.REFERENCE) == set(_policy.DEFAULTS)
    for op, name in _policy.REFERENCE.items():
        assert name in strategy_names(op)


@pytest.mark.parametrize("op", OPS)
def test_policy_entries_name_registered_strategies_and_committed_results(op):
    for platform, choice in _policy.DEFAULTS[op].items():
        assert platform in _policy.PLATFORMS
        assert choice.strategy in strategy_names(op)
        assert (ROOT / choice.evidence).is_file(), choice.evidence
        # A results file is measured on the platform whose row it justifies.
        assert pathlib.Path(choice.evidence).name.startswith(f"{platform}-")
    for name, rows in _policy.TUNINGS.items():
        for platform, evidence in rows.items():
            assert platform in _policy.PLATFORMS, name
            assert (ROOT / evidence).is_file(), evidence


@pytest.mark.parametrize("op", ["conv", "conv_transpose", "max_pool", "avg_pool"])
def test_impl_errors_name_the_allowed_values(op):
    x, k = jnp.ones((1, 6, 2)), jnp.ones((3, 2, 2))
    call = {"conv": partial(jaxpad.conv, x, k),
            "conv_transpose": partial(jaxpad.conv_transpose, x, k),
            "max_pool": partial(jaxpad.max_pool, x, 2), "avg_pool": partial(jaxpad.avg_pool, x, 2)}
    allowed = ", ".join(map(repr, impls(op)))
    with pytest.raises(ValueError, match=re.escape(f"`impl` of {op} must be one of {allowed}; "
                                                   "got 'fastest'")):
        call[op](impl="fastest")


# ---------------------------------------------------------------------------------------
# Every conv_transpose strategy against the reference (the phases), forward and backward.
# The frame against padding first is tests/test_frame.py's.


@st.composite
def transpose_configs(draw):
    rank = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    k = [draw(st.integers(1, 5 if rank < 3 else 3)) for _ in range(rank)]
    s = [draw(st.integers(1, 3)) for _ in range(rank)]
    d = [draw(st.integers(1, 2)) for _ in range(rank)]
    shape = [draw(st.integers(2, 7 if rank < 3 else 4)) for _ in range(rank)]
    padding = [draw(st.integers(0, (dd * (kk - 1)) // 2)) for kk, dd in zip(k, d)]
    mode = draw(st.sampled_from(TRANSPOSE_MODES))
    return dict(rank=rank, groups=groups, k=k, s=s, d=d, shape=shape, padding=padding,
                mode=mode, channels_last=draw(st.booleans()))


@settings(max_examples=examples(120), deadline=None)
@given(transpose_configs())
def test_every_transpose_strategy_equals_the_phases(c):
    g = c["groups"]
    rng = np.random.default_rng(0)
    if c["channels_last"]:
        x = rng.standard_normal((2, *c["shape"], 2 * g))
        w = rng.standard_normal((*c["k"], 3, 2 * g))
    else:
        x = rng.standard_normal((2, 2 * g, *c["shape"]))
        w = rng.standard_normal((2 * g, 3, *c["k"]))
    x, w = jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32)
    kw = dict(stride=c["s"], padding=c["padding"], dilation=c["d"], groups=g,
              padding_mode=c["mode"], channels_last=c["channels_last"], precision=HIGHEST)

    def run(impl):
        y, vjp = jax.vjp(partial(jaxpad.conv_transpose, impl=impl, **kw), x, w)
        ct = jnp.asarray(np.random.default_rng(1).standard_normal(y.shape), y.dtype)
        return (y, *vjp(ct))

    expected = run("phases")
    for impl in impls("conv_transpose"):
        for a, b in zip(run(impl), expected):
            assert_close(a, b)


# ---------------------------------------------------------------------------------------
# The policy: a program lowered for a platform holds only that platform's choice.

# 3x3 stride 2 (the overlap-add and strided-conv derivatives on CPU) and 1-D k3 stride 2
# (zero taps on CPU): geometries where XLA:CPU's routes and the phases differ.
TRANSPOSE_CASES = [((2, 12, 12, 8), (3, 3, 8, 8)), ((2, 24, 8), (3, 8, 8))]


def _ops(module_text: str) -> collections.Counter:
    """The products of an exported module: its convolutions and dot products, with their
    attributes and types (SSA names and locations dropped)."""
    lines = [re.sub(r"%[\w#.]+|loc\(.*?\)$|loc\(#loc\d*\)", "", line.strip())
             for line in module_text.splitlines()
             if "stablehlo.convolution" in line or "stablehlo.dot_general" in line]
    return collections.Counter(lines)


def _exported(impl, x, k, platform, *, differentiated):
    def f(x, k):
        return jaxpad.conv_transpose(x, k, stride=2, padding=1, padding_mode="reflect",
                                     impl=impl)

    if differentiated:
        f = jax.grad(lambda x, k, f=f: jnp.sum(f(x, k) ** 2), (0, 1))
    return _ops(export.export(jax.jit(f), platforms=[platform])(x, k).mlir_module())


@pytest.fixture(params=["policy", "cpu-row"])
def policy(request, monkeypatch):
    """The policy as it is, and with a CPU row that differs from the reference (as a
    measured GPU or CPU row would): the switch must keep it to its platform."""
    if request.param == "cpu-row":
        rows = dict(_policy.DEFAULTS)
        rows["conv_transpose"] = {"cpu": _policy.Choice("routes", "a results file")}
        monkeypatch.setattr(_policy, "DEFAULTS", rows)
    jax.clear_caches()  # programs traced under the other policy
    yield request.param
    jax.clear_caches()


@pytest.mark.parametrize("shapes", TRANSPOSE_CASES, ids=["2d-k3-s2", "1d-k3-s2"])
@pytest.mark.parametrize("differentiated", [False, True], ids=["forward", "step"])
def test_gpu_and_tpu_programs_are_the_reference(policy, shapes, differentiated):
    """Lowered for a GPU or a TPU (from this CPU host), 'auto' is the phases, nothing else."""
    x, k = jnp.ones(shapes[0]), jnp.ones(shapes[1])
    lowered = partial(_exported, x=x, k=k, differentiated=differentiated)
    assert _policy.default_on("conv_transpose", "gpu") == "phases"
    assert _policy.default_on("conv_transpose", "tpu") == "phases"
    # The check can fail: on these geometries the routes are another program.
    assert lowered("routes", platform="cuda") != lowered("phases", platform="cuda")
    for platform in ("cuda", "rocm", "tpu"):
        assert lowered("auto", platform=platform) == lowered("phases", platform=platform)


@pytest.mark.parametrize("shapes", TRANSPOSE_CASES, ids=["2d-k3-s2", "1d-k3-s2"])
def test_cpu_program_takes_the_cpu_choice(policy, shapes):
    """On CPU, 'auto' computes the value by the policy's CPU row."""
    x, k = jnp.ones(shapes[0]), jnp.ones(shapes[1])
    lowered = partial(_exported, x=x, k=k, platform="cpu")
    choice = _policy.default_on("conv_transpose", "cpu")
    assert choice == {"policy": "phases", "cpu-row": "routes"}[policy]
    assert lowered("auto", differentiated=False) == lowered(choice, differentiated=False)
    assert lowered("routes", differentiated=False) != lowered("phases", differentiated=False)



@pytest.mark.parametrize("op", ["conv", "conv_transpose", "max_pool", "avg_pool"])
def test_ops_whose_defaults_are_the_reference_have_no_platform_switch(op):
    x = jnp.ones((2, 8, 8, 4))
    call = {"conv": lambda x: jaxpad.conv(x, jnp.ones((3, 3, 4, 4)), padding_mode="reflect"),
            "conv_transpose": lambda x: jaxpad.conv_transpose(x, jnp.ones((3, 3, 4, 4)),
                                                              stride=2, padding_mode="reflect"),
            "max_pool": lambda x: jaxpad.max_pool(x, 3, 2, padding=1),
            "avg_pool": lambda x: jaxpad.avg_pool(x, 3, 2, padding=1, padding_mode="reflect")}
    assert all(c.strategy == _policy.REFERENCE[op] for c in _policy.DEFAULTS[op].values())
    text = str(jax.make_jaxpr(call[op])(x))
    assert "platform_index" not in text

"""The one place where jaxpad chooses among equivalent computations, per platform.

Every strategy computes the same numbers (`jaxpad._strategies` lists them). What
`impl='auto'` takes, and which platform-tuned details a strategy uses, is decided
here and only here, from whole-model measurements on the platform named. A platform
with no measurement takes the plain reference path: padding first for convolutions
and pools, the phase decomposition for transposed convolutions.

The switch is `lax.platform_dependent`, resolved when the program is lowered: a
program lowered for a GPU or a TPU (also from a CPU host, as `jax.export` does)
contains only the reference path, and a CPU program only the CPU choice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
from jax import lax


@dataclasses.dataclass(frozen=True)
class Choice:
    """A strategy taken on one platform, and the results file that justifies it."""

    strategy: str
    evidence: str


# lax.platform_dependent's names for a row of the policy.
_LOWERING_PLATFORMS = {"cpu": ("cpu",), "gpu": ("cuda", "rocm"), "tpu": ("tpu",)}
PLATFORMS = tuple(_LOWERING_PLATFORMS)

# What each operation computes by on a platform with no measurement.
REFERENCE = {
    "conv": "pad",
    "conv_transpose": "phases",
    "max_pool": "pad",
    "avg_pool": "pad",
}

# What `impl='auto'` takes, per operation and platform. No GPU or TPU row: nothing
# has been measured there yet, so they take `REFERENCE`.
DEFAULTS: Mapping[str, Mapping[str, Choice]] = {
    # Padding first trains the suite's models faster and compiles them sooner than the
    # frame decomposition, whose advantage is temp memory alone.
    "conv": {"cpu": Choice("pad", "benchmarks/results/cpu-2026-12-06-models.md")},
    # The phases train the suite's upsampling models as fast as XLA:CPU's routes, compile
    # them sooner and take less temp memory; the routes' per-layer gains do not show.
    "conv_transpose": {"cpu": Choice("phases", "benchmarks/results/cpu-2026-12-06-models.md")},
    "max_pool": {},
    "avg_pool": {},
}

# Details inside a strategy that were tuned on the platforms named; elsewhere the
# strategy runs its plain form.
TUNINGS: Mapping[str, Mapping[str, str]] = {
    # An unpadded 2-D convolution reads one copied row more and drops it: XLA:CPU runs
    # all-zero padding attributes on a slow path.
    "padded_lowering": {"cpu": "benchmarks/results/cpu-2026-11-22-unpadded.md"},
    # The frame pads first where a cost model says the thin piece convolutions would
    # cost more than the copy.
    "frame_pads_first": {"cpu": "benchmarks/results/cpu-2026-11-22-layers.md"},
    # The frame's backward pass ordered by data dependencies, keeping the main
    # backward's buffers and the frame's apart.
    "frame_ordered_backward": {"cpu": "benchmarks/results/cpu-2026-11-22-layers.md"},
}


def default_on(op: str, platform: str) -> str:
    """The strategy `impl='auto'` takes for `op` on `platform` ('cpu', 'gpu', 'tpu')."""
    choice = DEFAULTS[op].get(platform)
    return REFERENCE[op] if choice is None else choice.strategy


def dispatch(op: str, impl: str, strategies: Mapping[str, Callable[..., Any]], *args: Any
             ) -> Any:
    """`strategies[impl](*args)`, with 'auto' resolved per platform by `DEFAULTS`.

    Under 'auto', a platform's choice computes the value; derivatives of every order
    are the reference's, so that the tuned strategy stays out of the backward pass.
    """
    if impl != "auto":
        return strategies[impl](*args)
    reference = strategies[REFERENCE[op]]
    branches = {
        lowering: strategies[choice.strategy]
        for platform, choice in DEFAULTS[op].items()
        if choice.strategy != REFERENCE[op]
        for lowering in _LOWERING_PLATFORMS[platform]
    }
    if not branches:
        return reference(*args)

    @jax.custom_jvp
    def switched(*args):
        return lax.platform_dependent(*args, **branches, default=reference)

    @switched.defjvp
    def _(primals, tangents):
        # The switch picks the forward computation; derivatives are the reference's,
        # outside it: XLA:CPU leaves the convolutions of a transposed platform switch
        # uncanonicalised, on a much slower generic path.
        return switched(*primals), jax.jvp(reference, primals, tangents)[1]

    return switched(*args)


def tuned(name: str, *args: Any, tuned: Callable[..., Any], plain: Callable[..., Any]) -> Any:
    """`tuned(*args)` on the platforms `TUNINGS[name]` names, `plain(*args)` elsewhere."""
    branches = {lowering: tuned for platform in TUNINGS[name]
                for lowering in _LOWERING_PLATFORMS[platform]}
    return lax.platform_dependent(*args, **branches, default=plain)

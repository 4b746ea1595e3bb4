"""Timing helpers that every benchmark harness here shares."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of `fn` takes, until its result is ready."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def interleaved(runs: dict[Any, Callable[[], Any]], repeats: int) -> dict[Any, list[float]]:
    """Seconds per call of each warmed-up run, every run once per round.

    Each round starts one run later, so that no run always follows the same one.
    """
    names = list(runs)
    times: dict[Any, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        first = i % len(names)
        for name in names[first:] + names[:first]:
            times[name].append(timed(runs[name]))
    return times


def temp_bytes(compiled: Any) -> int | None:
    """A compiled program's temporary memory, where the backend reports it."""
    analysis = compiled.memory_analysis()
    return None if analysis is None else analysis.temp_size_in_bytes

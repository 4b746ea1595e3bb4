"""Benchmarks of jaxpad: `python -m benchmarks [--quick]` from a checkout (same as `jaxpad bench`).

The harness lives in `jaxpad._bench` so that `jaxpad bench` also runs wherever jaxpad is
installed (a GPU or TPU machine); results of runs land in `benchmarks/results/`.
"""

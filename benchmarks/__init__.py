"""Benchmarks of jaxpad: `python -m benchmarks [--quick]` from a checkout (same as `jaxpad bench`).

The harness lives in `jaxpad.bench` so that `jaxpad bench` also runs wherever jaxpad is
installed (a GPU or TPU machine); results of runs land in `benchmarks/results/`.
"""

import argparse


def parser(doc: str, repeats: int) -> argparse.ArgumentParser:
    """The options of every script here: `--repeats` (interleaved rounds) and `--batch`."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--repeats", type=int, default=repeats)
    p.add_argument("--batch", type=int, default=8)
    return p

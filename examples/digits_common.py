"""What the digits examples share: the data, the batches and the command line.

The data is scikit-learn's 8x8 digits (1,797 images of 8x8 pixels, 16 grey levels),
which ships inside scikit-learn, so nothing is downloaded. A quarter is held out
(stratified, fixed seed) and never seen in training.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load(limit: int | None = None, seed: int = 0):
    """The digits as `(N, 8, 8, 1)` floats in [0, 1]: a 75/25 stratified split."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, stratify=digits.target, random_state=seed)
    if limit:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return x_train, y_train, x_test, y_test


def epochs_of_batches(size: int, batch_size: int, epochs: int,
                      seed: int) -> Iterator[list[np.ndarray]]:
    """Each epoch's batches of indices into `size` examples, the remainder dropped.

    A fresh permutation per epoch from `seed`, so every run with that seed (every
    padding mode) sees the same batches.
    """
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(size)
        yield [order[i * batch_size:(i + 1) * batch_size] for i in range(size // batch_size)]


def command_line(description: str, modes: Sequence[str],
                 default_modes: Sequence[str]) -> argparse.ArgumentParser:
    """The options of the digits examples: modes, epochs, batch size, learning rate, ..."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--modes", nargs="+", default=list(default_modes), choices=modes)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on only this many images (smoke tests)")
    parser.add_argument("--no-progress", action="store_true")
    return parser

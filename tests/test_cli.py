"""`jaxpad demo`: the seed article's tables, produced by the library."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from reference import SEED_ARTICLE_4X4 as SEED

import jaxpad
from jaxpad.__main__ import demo_modes, demo_same, main


def _blocks(text: str) -> dict[str, np.ndarray]:
    lines = text.splitlines()
    names = lines[0].split()
    rows = np.array([[int(v) for v in line.split()] for line in lines[1:]])
    return {name: rows[:, 6 * i: 6 * (i + 1)] for i, name in enumerate(names)}


def test_demo_modes_match_the_seed_article():
    blocks = _blocks(demo_modes())
    assert list(blocks) == ["zeros", "reflect", "replicate", "circular", "symmetric"]
    for mode, expected in SEED.items():
        np.testing.assert_array_equal(blocks[mode], expected)
    x = np.arange(1, 17).reshape(4, 4)
    np.testing.assert_array_equal(blocks["symmetric"], np.pad(x, 1, mode="symmetric"))


def test_demo_same_table_is_the_library_output():
    lines = demo_same().splitlines()[1:]
    assert len(lines) == 13
    for line in lines:
        size, k, stride, dilation, lo, hi, out = (
            int(v) for v in line.replace("(", " ").replace(")", " ").replace(",", " ").split()
        )
        assert jaxpad.same_padding(size, k, stride, dilation) == ((lo, hi),)
        assert out == -(-size // stride)


def test_console_entry_points(capsys):
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out
    assert demo_modes() in printed and demo_same() in printed
    result = subprocess.run([sys.executable, "-m", "jaxpad", "demo"], capture_output=True,
                            text=True, check=True)
    assert result.stdout == printed

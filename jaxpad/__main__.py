"""The command line: `jaxpad demo`, `jaxpad bench [--models]` (or `python -m jaxpad ...`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import jaxpad

from ._padding import MODE_RECORDS

# The seed article's demo: a 1x1 ones kernel with padding=1 shows each padding mode
# ('constant' looks like 'zeros' there).
_DEMO_MODES = tuple(m.name for m in MODE_RECORDS if m.name != "constant")


def _grid(a: np.ndarray) -> list[str]:
    return [" ".join(f"{int(v):3d}" for v in row) for row in a]


def demo_modes() -> str:
    """The 4x4 matrix holding 1..16, padded by 1 in every mode, side by side."""
    x = np.arange(1.0, 17.0, dtype=np.float32).reshape(1, 1, 4, 4)  # NCHW, as in the article
    ones = np.ones((1, 1, 1, 1), np.float32)  # OIHW
    blocks = {}
    for mode in _DEMO_MODES:
        y = jaxpad.conv(x, ones, padding=1, padding_mode=mode, channels_last=False)
        blocks[mode] = _grid(np.asarray(y)[0, 0])
    width = len(next(iter(blocks.values()))[0])
    lines = ["  ".join(m.ljust(width) for m in blocks)]
    lines += ["  ".join(rows) for rows in zip(*blocks.values())]
    return "\n".join(lines)


def demo_same() -> str:
    """'same' padding and output sizes for odd and even kernels at strides 1 and 2."""
    lines = ["size kernel stride dilation   (lo, hi) output"]
    for size in (7, 8):
        for kernel in (3, 4, 16):
            for stride in (1, 2):
                (pads,) = jaxpad.same_padding(size, kernel, stride)
                (out,) = jaxpad.conv_output_shape(size, kernel, stride, (pads,))
                lines.append(
                    f"{size:>4} {kernel:>6} {stride:>6} {1:>8}  {str(pads):>9} {out:>6}"
                )
    (pads,) = jaxpad.same_padding(8, 3, 2, 2)
    (out,) = jaxpad.conv_output_shape(8, 3, 2, (pads,), 2)
    lines.append(f"{8:>4} {3:>6} {2:>6} {2:>8}  {str(pads):>9} {out:>6}")
    return "\n".join(lines)


def demo() -> str:
    return "\n".join(
        [
            "jaxpad.conv(x, ones 1x1 kernel, padding=1, padding_mode=m): x holds 1..16 in 4x4",
            "",
            demo_modes(),
            "",
            "'same' padding (TF/XLA rule: output = ceil(size / stride), odd pixel at the end);",
            "PyTorch refuses padding='same' for stride > 1, jaxpad does not:",
            "",
            demo_same(),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxpad", description=jaxpad.__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="show every padding mode and the 'same' rule")
    commands.add_parser("bench", help="benchmark jaxpad against the alternatives "
                        "(with --models: whole models)", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench" and "--models" in rest:
        from .bench.models import main as models

        return models(rest, prog="jaxpad bench")
    if args.command == "bench":
        from .bench.layers import main as bench

        return bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    print(demo())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Transposed convs against the forward conv of equal FLOPs: `python -m benchmarks.transpose`.

The transposed-convolution section of `jaxpad bench` on its own
(`jaxpad/_bench_transpose.py`): per case, `jaxpad.conv_transpose`,
`lax.conv_transpose`, flax's `ConvTranspose` and torch's `conv_transposeNd`
against the strided forward convolution that the transposed one is the adjoint
of (the same multiply-adds), forward and forward+backward, interleaved, medians.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import jax

from jaxpad._bench_transpose import bench_transpose, to_markdown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--extra", action="store_true",
                        help="five more cases, off the routes' sweet spots")
    args = parser.parse_args(argv)
    print(f"backend {jax.default_backend()}, jax {jax.__version__}, {args.repeats} rounds, "
          f"batch {args.batch}; times and ratios to the forward strided conv of equal FLOPs\n")
    rows = bench_transpose(batch=args.batch, repeats=args.repeats, extra=args.extra)
    print(to_markdown(rows), flush=True)


if __name__ == "__main__":
    main()

"""Transposed convs against the forward conv of equal FLOPs: `python -m benchmarks.transpose`.

The transposed-convolution section of `jaxpad bench` on its own
(`jaxpad/bench/transpose.py`): per case, `jaxpad.conv_transpose`,
`lax.conv_transpose`, flax's `ConvTranspose` and torch's `conv_transposeNd`
against the strided forward convolution that the transposed one is the adjoint
of (the same multiply-adds), forward and forward+backward, interleaved, medians.
Prints a Markdown table.
"""

from __future__ import annotations

import jax

from jaxpad.bench.transpose import bench_transpose, to_markdown

from . import parser


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__, 21)
    options.add_argument("--extra", action="store_true",
                         help="five more cases, off the routes' sweet spots")
    args = options.parse_args(argv)
    print(f"backend {jax.default_backend()}, jax {jax.__version__}, {args.repeats} rounds, "
          f"batch {args.batch}; times and ratios to the forward strided conv of equal FLOPs\n")
    rows = bench_transpose(batch=args.batch, repeats=args.repeats, extra=args.extra)
    print(to_markdown(rows), flush=True)


if __name__ == "__main__":
    main()

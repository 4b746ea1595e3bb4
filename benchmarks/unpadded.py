"""XLA:CPU's unpadded convolutions against padded ones: `python -m benchmarks.unpadded`.

For every case of the benchmark set, times (interleaved, medians) the zero-padded
'same' convolution, a 'valid' convolution of the same output on an input padded
beforehand (padding attribute all zeros), and that convolution with one more
row dropped by padding `(-1, 0)` (what `jaxpad._strategies.pad_first.conv_lax` does), all
on inputs prepared outside the timed call, and `jaxpad.conv(padding='valid')`
on the padded input (which copies the extra row itself). Prints a Markdown
table of ratios to the 'same' convolution.
"""

from __future__ import annotations

import statistics

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxpad
from jaxpad.bench.layers import cases
from jaxpad.bench.timing import interleaved

from . import channels_last, parser


def _ratios(c, rng: np.random.Generator, repeats: int) -> dict[str, float]:
    """Median seconds of the four convolutions of case `c`."""
    nsp, dn = c.rank, channels_last(c.rank)
    stride = (c.stride,) * nsp
    pads = jaxpad.resolve_padding("same", c.x[1:-1], c.k[:nsp], stride)
    x = jnp.asarray(rng.standard_normal(c.x), jnp.float32)
    w = jnp.asarray(rng.standard_normal(c.k), jnp.float32)
    padded = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    extra = jnp.pad(padded, [(0, 0), (1, 0)] + [(0, 0)] * nsp)

    def conv(pads):
        return jax.jit(lambda x, w: lax.conv_general_dilated(x, w, stride, pads,
                                                             dimension_numbers=dn))

    fns = {"same": (conv(pads), x), "valid": (conv([(0, 0)] * nsp), padded),
           "dropped": (conv([(-1, 0)] + [(0, 0)] * (nsp - 1)), extra),
           "jaxpad": (jax.jit(lambda x, w: jaxpad.conv(x, w, stride=stride, padding="valid")),
                      padded)}
    runs = {name: (lambda f=f, a=a: f(a, w)) for name, (f, a) in fns.items()}
    for run in runs.values():
        jax.block_until_ready(run())
    return {k: statistics.median(v) for k, v in interleaved(runs, repeats).items()}


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__, 15).parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"backend {jax.default_backend()}, jax {jax.__version__}, {args.repeats} rounds\n")
    print("| case | same ms | valid (pads 0) | valid, row dropped by pads (-1, 0) | "
          "jaxpad.conv 'valid' |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for c in cases(quick=False, batch=args.batch):
        t = _ratios(c, rng, args.repeats)
        print(f"| {c.name} | {t['same'] * 1e3:.2f} | {t['valid'] / t['same']:.2f}x | "
              f"{t['dropped'] / t['same']:.2f}x | {t['jaxpad'] / t['same']:.2f}x |")


if __name__ == "__main__":
    main()

"""Padding first in both passes where inputs are small: `python -m benchmarks.widening`.

On CPU, `impl='auto'` pads first in the forward and the backward pass where
`jaxpad._frame.pads_both_on_cpu` holds (the padded input has at most 0.8x the
output's elements, the padding at most 0.1x): stems and channel-widening
layers. For such layers, and a few just outside the rule, this times the
training step (gradients of input and kernel, interleaved, medians) of
`impl='auto'`, `'frame'` and `'pad'` in reflect mode against the zero-padded
convolution, and reports each step's compiled temporary memory against the
zero-padded step's. Prints a Markdown table.
"""

from __future__ import annotations

import statistics

import jax
import jax.numpy as jnp
import numpy as np

import jaxpad
from jaxpad._frame import padded_shares
from jaxpad.bench.layers import Case
from jaxpad.bench.timing import interleaved, temp_bytes

from . import parser

_IMPLS = ("auto", "frame", "pad")


def _cases(b: int) -> list[Case]:
    return [
        Case("2D 224x224 3->64 7x7 s2", (b, 224, 224, 3), (7, 7, 3, 64), 2),
        Case("2D 128x128 3->32 3x3", (b, 128, 128, 3), (3, 3, 3, 32)),
        Case("2D 112x112 16->64 3x3", (b, 112, 112, 16), (3, 3, 16, 64)),
        Case("2D 56x56 32->64 3x3", (b, 56, 56, 32), (3, 3, 32, 64)),
        Case("2D 56x56 48->64 3x3", (b, 56, 56, 48), (3, 3, 48, 64)),
        Case("2D 56x56 64->96 5x5", (b, 56, 56, 64), (5, 5, 64, 96)),
        Case("1D 4096 3->64 k7 s2", (b, 4096, 3), (7, 3, 64), 2),
        Case("1D 4096 48->64 k16", (b, 4096, 48), (16, 48, 64)),
        Case("3D 32^3 1->32 3x3x3", (max(b // 8, 1), 32, 32, 32, 1), (3, 3, 3, 1, 32)),
        # Outside the rule: the frame runs there.
        Case("2D 28x28 96->128 3x3", (b, 28, 28, 96), (3, 3, 96, 128)),
        Case("3D 32^3 24->32 3x3x3", (max(b // 8, 1), 32, 32, 32, 24), (3, 3, 3, 24, 32)),
        Case("2D 56x56 64->64 3x3", (b, 56, 56, 64), (3, 3, 64, 64)),
    ]


def _padded_share(c: Case) -> float:
    """Padded input elements over output elements, as `pads_both_on_cpu` counts them."""
    spatial = c.x[1:-1]
    pads = jaxpad.same_padding(spatial, c.k[:-2], c.stride)
    out = jaxpad.conv_output_shape(spatial, c.k[:-2], c.stride, pads)
    return padded_shares(spatial, pads, out, c.x[-1], c.k[-1])[0]


def _row(c: Case, repeats: int) -> str:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(c.x), jnp.float32)
    w = jnp.asarray(rng.standard_normal(c.k) / np.sqrt(np.prod(c.k[:-1])), jnp.float32)

    def step(**kw):
        def loss(x, w):
            return jnp.sum(jaxpad.conv(x, w, stride=c.stride, **kw) ** 2)

        return jax.jit(jax.grad(loss, (0, 1)))

    steps = {"zeros": step(), **{i: step(padding_mode="reflect", impl=i) for i in _IMPLS}}
    temp = {name: temp_bytes(s.lower(x, w).compile()) for name, s in steps.items()}
    runs = {name: (lambda s=s: s(x, w)) for name, s in steps.items()}
    for run in runs.values():
        jax.block_until_ready(run())
    t = {k: statistics.median(v) for k, v in interleaved(runs, repeats).items()}
    cells = [f"{t[i] / t['zeros']:.2f}x / {temp[i] / temp['zeros']:.2f}x" for i in _IMPLS]
    return (f"| {c.name} | {_padded_share(c):.2f} | {t['zeros'] * 1e3:.1f} | "
            + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__, 15).parse_args(argv)
    print(f"backend {jax.default_backend()}, jax {jax.__version__}, {args.repeats} rounds; "
          "training-step time / temp memory against the zero-padded step\n")
    print("| case | padded input / output | zeros ms | auto | frame | pad |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for c in _cases(args.batch):
        print(_row(c, args.repeats), flush=True)


if __name__ == "__main__":
    main()

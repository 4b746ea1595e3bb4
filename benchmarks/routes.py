"""The measurements behind `jaxpad.conv_transpose`'s routes: `python -m benchmarks.routes`.

Each row times the route `jaxpad/_strategies/routes.py` takes against the one it
does not take, for one computation, in one process, interleaved, medians:

- overlap-add: the forward pass as `overlap_add.overlap_add` (one product with every tap,
  added per phase) against `phases.phase_convs` (one convolution per phase), per
  kernel, stride and rank; `overlap_add.overlap_adds` takes it for stride 2 and effective
  kernels of at most 3 per axis, in 2-D and 3-D.
- zero taps: phases of unequal taps (3x4 stride 2) as one convolution of the
  kernel padded with zeros to a multiple of the stride (`phases.phase_convs` of the
  padded kernel, `zero_taps.zero_tap_widths`) against `phases.phase_convs` of the kernel as it is;
  `zero_taps.uniform_zero_taps` pads up to `zero_taps._MAX_ZERO_TAPS` (4/3) times the taps.
- 1x1: a 1x1 convolution as `patch_products.patch_product` (a dot) against `phases.valid_conv`;
  the dot is taken in 2-D and 3-D (`patch_products.small_valid_conv`), the convolution in 1-D.
- kernel gradient: the derivative of a small phase convolution with respect to
  its kernel as patch products (`patch_products.small_valid_conv`) against XLA's
  kernel-gradient convolution (`phases.valid_conv` differentiated); `phases.phase_convs`
  takes the products in 2-D and 3-D, XLA's convolution in 1-D.
- derivatives: a training step (gradients of `sum(y ** 2)` in the input and the
  kernel) of the zero-mode transposed convolution as `unequal_phases_p`, whose
  derivatives are XLA's of the strided convolution it transposes, against
  `routes.phase_route` differentiated (the phases' own derivatives); `routes.choose_route` takes the
  strided convolution's for 2-D phases that stay unequal.

Prints a Markdown table: per row the two times and `taken / other` (below 1:
the taken route is faster).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from functools import partial

import jax
import numpy as np

from jaxpad._strategies import overlap_add, patch_products, phases, routes, zero_taps
from jaxpad._strategies.strided_derivatives import unequal_phases_p
from jaxpad.bench.timing import interleaved

from . import channels_last, parser, transpose_output


def _array(shape: tuple[int, ...], seed: int) -> jax.Array:
    return jax.numpy.asarray(np.random.default_rng(seed).standard_normal(shape), "float32")


def _phases_setup(x: tuple[int, ...], k: tuple[int, ...], stride: int, padding: int,
                  output_padding: int):
    """Arrays and `phases.phase_convs`' arguments for `x` `(N, *spatial, C)`, `k` `(*k, C, O)`."""
    nsp = len(k) - 2
    dn = channels_last(nsp)
    s, d = (stride,) * nsp, (1,) * nsp
    lo = (padding,) * nsp
    out = transpose_output(x, k, stride, padding, output_padding)
    xa, ka = _array(x, 0), _array(k, 1)

    def phases_of(lo):
        return jax.jit(lambda x, w: phases.phase_convs(
            x, w, lo, out, stride=s, dilation=d, groups=1, dn=dn, precision=None,
            preferred_element_type=None))

    def plans_of(ksize, lo=lo):
        return phases.phase_plans(xa, ksize, lo, out, s, d, dn.lhs_spec[2:])

    return xa, ka, dn, s, d, lo, out, phases_of, plans_of


def _overlap_add_row(name: str, x: tuple[int, ...], k: tuple[int, ...], stride: int,
                     padding: int, output_padding: int = 0):
    xa, ka, dn, s, d, lo, out, phases_of, plans_of = _phases_setup(x, k, stride, padding,
                                                                   output_padding)
    phases = phases_of(lo)
    taken = overlap_add.overlap_adds(k[:-2], s, d, 1, plans_of(k[:-2]))
    add = jax.jit(lambda x, w: overlap_add.overlap_add(x, w, lo, out, s, d, dn, None, None))
    np.testing.assert_allclose(add(xa, ka), phases(xa, ka), rtol=1e-4, atol=1e-3)
    runs = {"overlap-add": partial(add, xa, ka), "phases": partial(phases, xa, ka)}
    return "overlap-add", name, runs, ("overlap-add", "phases") if taken else (
        "phases", "overlap-add")


def _zero_taps_row(name: str, x: tuple[int, ...], k: tuple[int, ...], stride: int,
                   padding: int, output_padding: int = 0):
    xa, ka, _, s, d, lo, _, phases_of, plans_of = _phases_setup(x, k, stride, padding,
                                                                output_padding)
    taken = zero_taps.uniform_zero_taps(k[:-2], lo, s, d, plans_of) is not None
    widths = zero_taps.zero_tap_widths(k[:-2], lo, s, d)
    padded, phases = phases_of(zero_taps.shifted_crop(lo, widths, d)), phases_of(lo)
    kp = zero_taps.padded_kernel(ka, widths)
    np.testing.assert_allclose(padded(xa, kp), phases(xa, ka), rtol=1e-4, atol=1e-3)
    runs = {"zero taps": partial(padded, xa, kp), "phases": partial(phases, xa, ka)}
    return "zero taps", name, runs, ("zero taps", "phases") if taken else (
        "phases", "zero taps")


def _one_by_one_row(name: str, x: tuple[int, ...], out_channels: int):
    nsp = len(x) - 2
    dn = channels_last(nsp)
    d = (1,) * nsp
    xa, ka = _array(x, 0), _array((1,) * nsp + (x[-1], out_channels), 1)
    dot = jax.jit(lambda x, w: patch_products.patch_product(x, w, d, dn, None, None))
    conv = jax.jit(lambda x, w: phases.valid_conv(x, w, d, dn, None, None))
    taken = patch_products.patch_derivatives(nsp, 1, 1)  # a 1x1 `small_valid_conv`: the dot
    return "1x1", name, {"dot": partial(dot, xa, ka), "conv": partial(conv, xa, ka)}, (
        ("dot", "conv") if taken else ("conv", "dot"))


def _kernel_grad_row(name: str, x: tuple[int, ...], k: tuple[int, ...]):
    nsp = len(k) - 2
    dn = channels_last(nsp)
    d = (1,) * nsp
    xa, ka = _array(x, 0), _array(k, 1)
    out = jax.eval_shape(lambda: phases.valid_conv(xa, ka, d, dn, None, None))
    ga = _array(out.shape, 2)

    def grad(conv: Callable) -> Callable:
        return jax.jit(lambda x, w, g: jax.vjp(lambda w: conv(x, w, d, dn, None, None), w)[1](g))

    patches, xla = grad(patch_products.small_valid_conv), grad(phases.valid_conv)
    runs = {"patches": partial(patches, xa, ka, ga), "xla": partial(xla, xa, ka, ga)}
    taken = patch_products.patch_derivatives(nsp, 1, math.prod(k[:nsp]))
    return "kernel gradient", name, runs, ("patches", "xla") if taken else ("xla", "patches")


def _derivatives_row(name: str, x: tuple[int, ...], k: tuple[int, ...], stride: int,
                     padding: int, output_padding: int = 0):
    """`k` is `(*k, O, C)`, the strided convolution's kernel from O to C channels."""
    nsp = len(k) - 2
    static = dict(stride=(stride,) * nsp, dilation=(1,) * nsp, groups=1,
                  dn=channels_last(nsp), precision=None, preferred_element_type=None)
    lo = (padding,) * nsp
    out = transpose_output(x, k, stride, padding, output_padding)
    xa, ka = _array(x, 0), _array(k, 1)
    route = routes.choose_route(xa, ka, lo, out, static["stride"], static["dilation"], 1,
                                static["dn"])

    def step(f: Callable) -> Callable:
        return jax.jit(jax.grad(lambda x, w: jax.numpy.sum(f(x, w) ** 2), argnums=(0, 1)))

    strided = step(lambda x, w: unequal_phases_p.bind(
        x, w, lo=lo, out=out, overlap_add=route.overlap_add, differentiated=False, **static))
    phases = step(lambda x, w: routes.phase_route(x, w, lo, out, route, **static))
    for a, b in zip(strided(xa, ka), phases(xa, ka)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * float(abs(b).max()))
    runs = {"strided conv": partial(strided, xa, ka), "phases": partial(phases, xa, ka)}
    return "derivatives", name, runs, ("strided conv", "phases") if (
        route.strided_derivatives) else ("phases", "strided conv")


def _overlap_add_rows(b: int):
    yield _overlap_add_row("2D 28x28 64->64 3x3 s2 p1 op1", (b, 28, 28, 64), (3, 3, 64, 64),
                           2, 1, 1)
    yield _overlap_add_row("2D 56x56 32->32 3x3 s2 p1 op1", (b, 56, 56, 32), (3, 3, 32, 32),
                           2, 1, 1)
    yield _overlap_add_row("2D 14x14 256->256 3x3 s2 p1 op1", (b, 14, 14, 256),
                           (3, 3, 256, 256), 2, 1, 1)
    yield _overlap_add_row("2D 64x64 16->3 3x3 s2 p1 op1", (b, 64, 64, 16), (3, 3, 16, 3),
                           2, 1, 1)
    yield _overlap_add_row("2D 28x28 64->64 1x3 s2", (b, 28, 28, 64), (1, 3, 64, 64), 2, 0)
    yield _overlap_add_row("3D 8^3 32->32 3x3x3 s2 p1 op1", (max(b // 4, 1), 8, 8, 8, 32),
                           (3, 3, 3, 32, 32), 2, 1, 1)
    yield _overlap_add_row("2D 28x28 64->64 3x4 s2 p1", (b, 28, 28, 64), (3, 4, 64, 64), 2, 1)
    yield _overlap_add_row("2D 28x28 64->64 5x5 s2 p2 op1", (b, 28, 28, 64), (5, 5, 64, 64),
                           2, 2, 1)
    yield _overlap_add_row("2D 28x28 64->64 7x7 s2 p3 op1", (b, 28, 28, 64), (7, 7, 64, 64),
                           2, 3, 1)
    yield _overlap_add_row("2D 28x28 64->64 3x3 s3", (b, 28, 28, 64), (3, 3, 64, 64), 3, 0)
    yield _overlap_add_row("1D 1024 64->64 k3 s2 p1 op1", (b, 1024, 64), (3, 64, 64), 2, 1, 1)


def _zero_taps_rows(b: int):
    yield _zero_taps_row("2D 28x28 64->64 3x4 s2 p1", (b, 28, 28, 64), (3, 4, 64, 64), 2, 1)
    yield _zero_taps_row("2D 56x56 32->32 3x4 s2 p1", (b, 56, 56, 32), (3, 4, 32, 32), 2, 1)
    yield _zero_taps_row("2D 28x28 64->64 5x4 s2 p2", (b, 28, 28, 64), (5, 4, 64, 64), 2, 2)
    yield _zero_taps_row("2D 28x28 64->64 7x7 s2 p3 op1", (b, 28, 28, 64), (7, 7, 64, 64),
                         2, 3, 1)
    yield _zero_taps_row("3D 8^3 32->32 3x4x4 s2 p1", (max(b // 4, 1), 8, 8, 8, 32),
                         (3, 4, 4, 32, 32), 2, 1)
    yield _zero_taps_row("2D 28x28 64->64 5x5 s2 p2 op1", (b, 28, 28, 64), (5, 5, 64, 64),
                         2, 2, 1)
    yield _zero_taps_row("2D 28x28 64->64 5x5 s3 p2", (b, 28, 28, 64), (5, 5, 64, 64), 3, 2)
    yield _zero_taps_row("1D 1024 64->64 k3 s2 p1 op1", (b, 1024, 64), (3, 64, 64), 2, 1, 1)
    yield _zero_taps_row("1D 1024 64->64 k7 s2 p3 op1", (b, 1024, 64), (7, 64, 64), 2, 3, 1)


def _one_by_one_rows(b: int):
    yield _one_by_one_row("1D 1024 64->64", (b, 1024, 64), 64)
    yield _one_by_one_row("1D 4096 32->32", (b, 4096, 32), 32)
    yield _one_by_one_row("1D 512 256->256", (b, 512, 256), 256)
    yield _one_by_one_row("2D 56x56 32->128 (U-Net 2x2 s2)", (b, 56, 56, 32), 128)
    yield _one_by_one_row("2D 28x28 64->256", (b, 28, 28, 64), 256)
    yield _one_by_one_row("3D 16^3 32->256", (max(b // 4, 1), 16, 16, 16, 32), 256)


def _kernel_grad_rows(b: int):
    yield _kernel_grad_row("2D 17x17 256->512 2x2 (DCGAN's phases)", (b, 17, 17, 256),
                           (2, 2, 256, 512))
    yield _kernel_grad_row("2D 29x29 64->64 2x2 (3x3 s2's widest phase)", (b, 29, 29, 64),
                           (2, 2, 64, 64))
    yield _kernel_grad_row("1D 1025 64->256 2-tap (k8 s4's phases)", (b, 1025, 64), (2, 64, 256))


def _derivatives_rows(b: int):
    yield _derivatives_row("2D 56x56 32->32 3x3 s2 p1 op1", (b, 56, 56, 32), (3, 3, 32, 32),
                           2, 1, 1)
    yield _derivatives_row("2D 28x28 64->64 3x3 s2 p1 op1", (b, 28, 28, 64), (3, 3, 64, 64),
                           2, 1, 1)
    yield _derivatives_row("2D 14x14 256->256 3x3 s2 p1 op1", (b, 14, 14, 256),
                           (3, 3, 256, 256), 2, 1, 1)
    yield _derivatives_row("2D 64x64 16->3 3x3 s2 p1 op1", (b, 64, 64, 16), (3, 3, 3, 16),
                           2, 1, 1)
    yield _derivatives_row("2D 28x28 32->32 3x3 s2 p1 op1", (b, 28, 28, 32), (3, 3, 32, 32),
                           2, 1, 1)
    yield _derivatives_row("2D 112x112 16->16 3x3 s2 p1 op1", (b, 112, 112, 16),
                           (3, 3, 16, 16), 2, 1, 1)
    yield _derivatives_row("2D 28x28 64->32 3x3 s2 p1 op1", (b, 28, 28, 64), (3, 3, 32, 64),
                           2, 1, 1)
    yield _derivatives_row("2D 28x28 32->64 3x3 s2 p1 op1", (b, 28, 28, 32), (3, 3, 64, 32),
                           2, 1, 1)
    yield _derivatives_row("2D 56x56 64->64 3x3 s2 p1 op1", (b, 56, 56, 64), (3, 3, 64, 64),
                           2, 1, 1)
    yield _derivatives_row("2D 28x28 128->128 3x3 s2 p1 op1", (b, 28, 28, 128),
                           (3, 3, 128, 128), 2, 1, 1)
    yield _derivatives_row("2D 28x28 64->64 5x5 s2 p2 op1", (b, 28, 28, 64), (5, 5, 64, 64),
                           2, 2, 1)
    yield _derivatives_row("2D 56x56 32->32 5x5 s2 p2 op1", (b, 56, 56, 32), (5, 5, 32, 32),
                           2, 2, 1)
    yield _derivatives_row("2D 14x14 256->256 5x5 s2 p2 op1", (b, 14, 14, 256),
                           (5, 5, 256, 256), 2, 2, 1)
    yield _derivatives_row("2D 28x28 64->64 4x4 s3 p1", (b, 28, 28, 64), (4, 4, 64, 64), 3, 1)
    yield _derivatives_row("2D 28x28 64->64 5x5 s3 p2", (b, 28, 28, 64), (5, 5, 64, 64), 3, 2)
    yield _derivatives_row("2D 28x28 64->64 7x7 s3 p3", (b, 28, 28, 64), (7, 7, 64, 64), 3, 3)
    yield _derivatives_row("2D 28x28 32->32 7x7 s3 p3", (b, 28, 28, 32), (7, 7, 32, 32), 3, 3)
    yield _derivatives_row("2D 16x16 256->128 4x4 s2 p1 (DCGAN)", (b, 16, 16, 256),
                           (4, 4, 128, 256), 2, 1)
    yield _derivatives_row("2D 56x56 32->32 2x2 s2 (U-Net)", (b, 56, 56, 32), (2, 2, 32, 32), 2, 0)
    yield _derivatives_row("2D 28x28 64->64 3x4 s2 p1 (zero taps)", (b, 28, 28, 64),
                           (3, 4, 64, 64), 2, 1)
    yield _derivatives_row("1D 1024 64->64 k5 s2 p2 op1", (b, 1024, 64), (5, 64, 64), 2, 2, 1)
    yield _derivatives_row("3D 8^3 32->32 3x3x3 s2 p1 op1", (max(b // 4, 1), 8, 8, 8, 32),
                           (3, 3, 3, 32, 32), 2, 1, 1)


# The choices and their rows.
_CHOICES = {"overlap-add": _overlap_add_rows, "zero taps": _zero_taps_rows, "1x1": _one_by_one_rows,
            "kernel gradient": _kernel_grad_rows, "derivatives": _derivatives_rows}


def rows(batch: int = 8, choices: list[str] | None = None):
    """The rows of `choices` (all by default), built as they are taken."""
    for choice, section in _CHOICES.items():
        if not choices or choice in choices:
            yield from section(batch)


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__, 21)
    options.add_argument("--choice", action="append", help="only this choice's rows (repeatable): "
                         + ", ".join(_CHOICES))
    args = options.parse_args(argv)
    print(f"backend {jax.default_backend()}, jax {jax.__version__}, {args.repeats} rounds, "
          f"batch {args.batch} (3-D batch / 4)\n")
    print("| choice | case | taken | time | other | time | taken / other |\n"
          "|---|---|---|---|---|---|---|")
    for section, name, runs, (taken, other) in rows(args.batch, args.choice):
        for run in runs.values():
            jax.block_until_ready(run())
        times = {k: statistics.median(v)
                 for k, v in interleaved(runs, args.repeats).items()}
        print(f"| {section} | {name} | {taken} | {times[taken] * 1e3:.2f} ms | {other} | "
              f"{times[other] * 1e3:.2f} ms | {times[taken] / times[other]:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

"""Benchmarks of `jaxpad.conv_transpose`: the transposed section of `jaxpad bench`.

`bench_transpose()` times, per case, in one process, interleaved, after warm-up
(medians of `repeats` runs, forward and forward+backward):

- `jaxpad`: `jaxpad.conv_transpose` (stride-phase decomposition, overlap-add
  for 3x3 stride 2, one product where the kernel equals the stride);
- `lax`: `lax.conv_transpose(transpose_kernel=True)`, the lhs-dilated
  convolution that flax's `ConvTranspose` also runs (jax-ml/jax#23783);
- `flax`: `flax.linen.ConvTranspose(transpose_kernel=True)` when flax is installed;
- `torch`: `torch.nn.functional.conv_transposeNd` (CPU) when torch is installed;
- `forward`: the strided forward `lax.conv_general_dilated` that this transposed
  convolution is the adjoint of: the same multiply-adds, the floor to aim at.

Ratios are to `forward`; for forward+backward also the compiled training step's
temporary memory of `jaxpad` and of `lax`: the transposed convolution's output, which
the loss reads, is a temporary where the forward conv's largest array is its input.
Returns rows (dicts) and formats them as Markdown.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxpad
from jaxpad._conv import dimension_numbers

from .timing import interleaved, temp_bytes


@dataclasses.dataclass(frozen=True)
class TransposeCase:
    name: str
    x: tuple[int, ...]  # (N, *spatial, C)
    k: tuple[int, ...]  # (*k, O, C): jaxpad.conv_transpose's channels-last kernel
    stride: int
    padding: int = 0
    output_padding: int = 0

    @property
    def rank(self) -> int:
        return len(self.k) - 2


def transpose_cases(quick: bool = False, batch: int = 8,
                    extra: bool = False) -> list[TransposeCase]:
    """The benchmark's cases; `extra` adds shapes off its routes' sweet spots."""
    b = batch
    full = [
        TransposeCase("2D 16x16 256->128 4x4 s2 p1 (DCGAN)", (b, 16, 16, 256), (4, 4, 128, 256),
                      2, 1),
        TransposeCase("2D 28x28 64->64 3x3 s2 p1 op1", (b, 28, 28, 64), (3, 3, 64, 64), 2, 1, 1),
        TransposeCase("2D 56x56 32->32 2x2 s2 (U-Net)", (b, 56, 56, 32), (2, 2, 32, 32), 2),
        TransposeCase("1D 1024 64->64 k8 s4 p2", (b, 1024, 64), (8, 64, 64), 4, 2),
        TransposeCase("3D 8^3 64->32 4x4x4 s2 p1", (max(b // 4, 1), 8, 8, 8, 64),
                      (4, 4, 4, 32, 64), 2, 1),
    ]
    more = [
        TransposeCase("2D 56x56 32->32 3x3 s2 p1 op1", (b, 56, 56, 32), (3, 3, 32, 32), 2, 1, 1),
        TransposeCase("2D 28x28 64->64 5x5 s2 p2 op1", (b, 28, 28, 64), (5, 5, 64, 64), 2, 2, 1),
        TransposeCase("2D 28x28 64->64 3x4 s2 p1", (b, 28, 28, 64), (3, 4, 64, 64), 2, 1),
        TransposeCase("1D 1024 64->64 k3 s2 p1 op1", (b, 1024, 64), (3, 64, 64), 2, 1, 1),
        TransposeCase("1D 4096 32->32 k2 s2", (b, 4096, 32), (2, 32, 32), 2),
    ]
    return full[:2] if quick else full + more if extra else full


def _variants(c: TransposeCase) -> dict[str, tuple[Callable, tuple]]:
    """name -> (jitted fn of arrays, arrays); each returns the output or the grads."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(c.x), jnp.float32)
    w = jnp.asarray(rng.standard_normal(c.k), jnp.float32)
    nsp = c.rank
    out_shape = jaxpad.conv_transpose(x[:1], w, stride=c.stride, padding=c.padding,
                                      output_padding=c.output_padding).shape[1:-1]
    k = c.k[:nsp]
    crops = [(c.padding, c.padding - c.output_padding)] * nsp
    # lax.conv_transpose pads the dilated input by eff - 1 - crop on each side.
    lax_pads = [(ki - 1 - lo, ki - 1 - hi) for ki, (lo, hi) in zip(k, crops)]
    dn = ("NWC", "WIO", "NWC") if nsp == 1 else (
        ("NHWC", "HWIO", "NHWC") if nsp == 2 else ("NDHWC", "DHWIO", "NDHWC"))

    def ours(x, w):
        return jaxpad.conv_transpose(x, w, stride=c.stride, padding=c.padding,
                                     output_padding=c.output_padding)

    def dilated(x, w):
        return lax.conv_transpose(x, w, (c.stride,) * nsp, lax_pads, dimension_numbers=dn,
                                  transpose_kernel=True)

    y = jnp.asarray(rng.standard_normal((c.x[0], *out_shape, c.k[-2])), jnp.float32)

    def forward(y, w):  # the conv this transposes (output back to x's shape): same MACs
        return lax.conv_general_dilated(
            y, w, (c.stride,) * nsp, [(c.padding, c.padding)] * nsp,
            dimension_numbers=dimension_numbers(nsp, True))

    out = {"jaxpad": (ours, (x, w)), "lax": (dilated, (x, w)), "forward": (forward, (y, w))}
    try:
        import flax.linen as nn

        module = nn.ConvTranspose(c.k[-2], k, strides=(c.stride,) * nsp, padding=lax_pads,
                                  transpose_kernel=True, use_bias=False)
        out["flax"] = (lambda x, w: module.apply({"params": {"kernel": w}}, x), (x, w))
    except ImportError:  # pragma: no cover - flax is optional
        pass
    return out


def _torch_run(c: TransposeCase, backward: bool) -> Callable[[], None] | None:
    """A warmed-up callable running torch's transposed conv (CPU ops are synchronous)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is optional
        return None
    nsp = c.rank
    x = torch.randn(c.x[0], c.x[-1], *c.x[1:-1], requires_grad=backward)
    w = torch.randn(c.k[-1], c.k[-2], *c.k[:nsp], requires_grad=backward)
    f = getattr(torch.nn.functional, f"conv_transpose{nsp}d")

    def run() -> None:
        y = f(x, w, stride=c.stride, padding=c.padding, output_padding=c.output_padding)
        if backward:
            y.sum().backward()

    run()
    return run


def bench_transpose(quick: bool = False, batch: int = 8, repeats: int = 10,
                    backward: bool = True, extra: bool = False) -> list[dict[str, Any]]:
    """Times every variant of every case; one row per case and pass.

    Args:
      quick: two cases instead of five.
      batch: the batch size.
      repeats: interleaved rounds, each timing every variant once (after a warm-up).
      backward: also time forward+backward (gradients w.r.t. input and kernel).
      extra: five more cases (`transpose_cases`).

    Returns:
      Rows `{'case', 'pass', 'backend', <variant>: seconds, <variant>_ratio: to forward}`;
      forward+backward rows also hold `jaxpad_temp_ratio` and `lax_temp_ratio`,
      the compiled training step's temporary memory over the forward conv's
      (where the backend reports it).

    Example:
      >>> from jaxpad.bench.transpose import bench_transpose, to_markdown
      >>> rows = bench_transpose(quick=True, batch=1, repeats=1, backward=False)
      >>> sorted(k for k in rows[0] if not k.endswith("_ratio"))[:4]
      ['backend', 'case', 'flax', 'forward']
    """
    rows = []
    for c in transpose_cases(quick, batch, extra):
        passes = ("forward", "backward") if backward else ("forward",)
        for kind in passes:
            row: dict[str, Any] = {"case": c.name, "pass": kind,
                                   "backend": jax.default_backend()}
            runs: dict[str, Callable[[], Any]] = {}
            temps: dict[str, int | None] = {}
            for name, (fn, args) in _variants(c).items():
                if kind == "backward":
                    fn = jax.grad(lambda *a, fn=fn: jnp.sum(fn(*a) ** 2), argnums=(0, 1))
                jitted = jax.jit(fn)
                if kind == "backward" and name in ("jaxpad", "lax", "forward"):
                    temps[name] = temp_bytes(jitted.lower(*args).compile())
                jax.block_until_ready(jitted(*args))
                runs[name] = lambda jitted=jitted, args=args: jitted(*args)
            # jaxpad against its floor, interleaved; the lhs-dilated variants (much
            # slower) and torch (its OpenMP threads keep spinning after each call,
            # on cores the next variant needs) in rounds of their own.
            groups = [{k: runs.pop(k) for k in ("jaxpad", "forward")}, runs]
            torch_run = _torch_run(c, kind == "backward")
            if torch_run is not None:
                groups.append({"torch": torch_run})
            times = {}
            for group in groups:
                times.update(interleaved(group, repeats))
            row.update({name: statistics.median(t) for name, t in times.items()})
            row.setdefault("torch", None)
            for name in times:
                row[f"{name}_ratio"] = row[name] / row["forward"]
            if temps.get("forward"):
                for name in ("jaxpad", "lax"):
                    if temps.get(name):
                        row[f"{name}_temp_ratio"] = temps[name] / temps["forward"]
            rows.append(row)
    return rows


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table of milliseconds and ratios to the forward conv."""
    names = ["jaxpad", "lax", "flax", "torch", "forward"]
    temps = ["jaxpad", "lax"]
    lines = ["| case | pass | " + " | ".join(names) + " | "
             + " | ".join(f"{n} temp" for n in temps) + " |",
             "|---|---|" + "---|" * (len(names) + len(temps))]
    for r in rows:
        cells = [
            f"{r[n] * 1e3:.2f} ms ({r[n + '_ratio']:.2f}x)" if r.get(n) is not None else "-"
            for n in names
        ]
        cells += [f"{r[n + '_temp_ratio']:.2f}x" if r.get(n + "_temp_ratio") else "-"
                  for n in temps]
        lines.append(f"| {r['case']} | {r['pass']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(to_markdown(bench_transpose()))

"""The benchmark harness: `jaxpad bench` or `python -m benchmarks` (from a checkout).

Times jaxpad against what a user would otherwise pick (raw lax, `jnp.pad` then a
'valid' convolution, flax.linen.Conv, PyTorch), in one process, interleaved,
after warm-up, and reports medians as ratios to the zero-padded 'same'
convolution of raw lax (the floor), plus compile time and the compiled training
step's temporary memory. Writes JSON, a Markdown table and a PNG chart.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxpad
from jaxpad._conv import dimension_numbers

from .timing import interleaved, temp_bytes, timed
from .transpose import bench_transpose, to_markdown

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
JNP_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
            "circular": "wrap", "symmetric": "symmetric"}
_FLAX_PADDING = {"zeros": "SAME", "reflect": "REFLECT", "circular": "CIRCULAR"}


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    x: tuple[int, ...]  # (N, *spatial, C)
    k: tuple[int, ...]  # (*k, I, O)
    stride: int = 1

    @property
    def rank(self) -> int:
        return len(self.k) - 2


def cases(quick: bool, batch: int) -> list[Case]:
    b = batch
    full = [
        Case("2D 56x56 64->64 3x3", (b, 56, 56, 64), (3, 3, 64, 64)),
        Case("2D 28x28 128->128 3x3", (b, 28, 28, 128), (3, 3, 128, 128)),
        Case("2D 112x112 32->32 3x3", (b, 112, 112, 32), (3, 3, 32, 32)),
        Case("2D 56x56 64->64 5x5", (b, 56, 56, 64), (5, 5, 64, 64)),
        Case("2D 224x224 3->64 7x7 s2", (b, 224, 224, 3), (7, 7, 3, 64), 2),
        Case("1D 4096 64->64 k16", (b, 4096, 64), (16, 64, 64)),
        Case("3D 32^3 32->32 3x3x3", (max(b // 8, 1), 32, 32, 32, 32), (3, 3, 3, 32, 32)),
    ]
    return [full[0], full[1], full[5]] if quick else full


def _same_pads(c: Case) -> tuple[tuple[int, int], ...]:
    return jaxpad.same_padding(c.x[1:-1], c.k[:-2], c.stride)


def _jax_variants(c: Case, mode: str) -> dict[str, Callable]:
    """Forward functions of (x, kernel) for this case and mode, by variant name."""
    dn = dimension_numbers(c.rank, True)
    pads = _same_pads(c)
    stride = (c.stride,) * c.rank
    out: dict[str, Callable] = {
        "jaxpad": lambda x, w: jaxpad.conv(x, w, stride=c.stride, padding="same",
                                           padding_mode=mode),
        "jnp.pad+valid": lambda x, w: lax.conv_general_dilated(
            jnp.pad(x, ((0, 0), *pads, (0, 0)), mode=JNP_MODE[mode]), w, stride,
            "VALID", dimension_numbers=dn),
    }
    if mode == "zeros":
        out["lax"] = lambda x, w: lax.conv_general_dilated(x, w, stride, pads,
                                                           dimension_numbers=dn)
    try:
        import flax.linen as nn
    except ImportError:
        return out
    if mode in _FLAX_PADDING:
        layer = nn.Conv(c.k[-1], c.k[:-2], strides=c.stride, padding=_FLAX_PADDING[mode],
                        use_bias=False)
        out["flax"] = lambda x, w: layer.apply({"params": {"kernel": w}}, x)
    return out


def _loss(f: Callable) -> Callable:
    return lambda x, w: jnp.sum(f(x, w) ** 2)


def measure_jax(c: Case, modes: Sequence[str], reps: int, seed: int = 0) -> list[dict]:
    """Runs of every jax variant of case `c` in `modes`: compile time, temp memory, times.

    Per run: the compiled training step's median cold compile time of three and its
    temporary memory, and `reps` interleaved forward and training-step times (`fwd_s`,
    `grad_s`).
    """
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal(c.x, dtype=np.float32))
    w = jnp.asarray(rng.standard_normal(c.k, dtype=np.float32) / np.sqrt(np.prod(c.k[:-1])))
    variants = [(mode, name, f) for mode in modes for name, f in _jax_variants(c, mode).items()]
    compile_s = {}
    for mode, name, f in variants:
        seconds = []
        for _ in range(3):  # one compile is as noisy as one run: median of three
            jax.clear_caches()  # else the second compile of a program is a cache hit
            grad = jax.jit(jax.grad(_loss(f), argnums=(0, 1)))
            start = time.perf_counter()
            compiled = grad.lower(x, w).compile()
            seconds.append(time.perf_counter() - start)
        compile_s[mode, name] = statistics.median(seconds), compiled
    jax.clear_caches()
    runs = []
    for mode, name, f in variants:
        fwd = jax.jit(f)
        grad = jax.jit(jax.grad(_loss(f), argnums=(0, 1)))
        for _ in range(2):  # warm-up
            timed(lambda fwd=fwd: fwd(x, w))
            timed(lambda grad=grad: grad(x, w))
        seconds, compiled = compile_s[mode, name]
        runs.append(dict(case=c.name, mode=mode, variant=name, fwd=fwd, grad=grad,
                         compile_s=seconds,
                         temp_bytes=temp_bytes(compiled)))
    return _time_rotated(runs, lambda r, key: r[key](x, w), ("fwd", "grad"), reps)


def _time_rotated(runs: list[dict], call: Callable, keys: Sequence[str], reps: int
                  ) -> list[dict]:
    """The runs with `<key>_s`, seconds per `call(run, key)`, in place of the `keys`.

    Every call runs once per round, interleaved; rotating the start removes the bias
    of always following the same call.
    """
    calls = {(i, key): functools.partial(call, r, key) for i, r in enumerate(runs) for key in keys}
    times = interleaved(calls, reps)
    return [{**{k: v for k, v in r.items() if k not in keys},
             **{f"{key}_s": times[i, key] for key in keys}} for i, r in enumerate(runs)]


def _measure_torch(c: Case, modes: Sequence[str], reps: int) -> list[dict]:
    try:
        import torch
    except ImportError:
        return []
    torch.set_num_threads(os.cpu_count() or 1)
    conv_cls = getattr(torch.nn, f"Conv{c.rank}d")
    x0 = torch.randn(c.x[0], c.x[-1], *c.x[1:-1])
    layouts = {"torch NCHW": torch.contiguous_format}
    if c.rank == 2:
        layouts["torch NHWC"] = torch.channels_last
    runs = []
    for mode in modes:
        if mode == "symmetric":
            continue
        k = c.k[:-2]
        # torch refuses 'same' for strided convs: symmetric (k - 1) // 2 is its closest.
        padding = "same" if c.stride == 1 else tuple((ki - 1) // 2 for ki in k)
        layer = conv_cls(c.k[-2], c.k[-1], k, stride=c.stride, padding=padding,
                         padding_mode=mode, bias=False)
        for name, fmt in layouts.items():
            lay = layer.to(memory_format=fmt) if c.rank == 2 else layer
            x = x0.to(memory_format=fmt) if c.rank == 2 else x0
            xg = x.clone().requires_grad_()

            def fwd(lay=lay, x=x):
                with torch.no_grad():
                    return lay(x)

            def grad(lay=lay, xg=xg):
                lay.zero_grad(set_to_none=True)
                xg.grad = None
                lay(xg).pow(2).sum().backward()

            for _ in range(2):
                fwd()
                grad()
            runs.append(dict(case=c.name, mode=mode, variant=name, fwd=fwd, grad=grad))
    return _time_rotated(runs, lambda r, key: r[key](), ("fwd", "grad"), reps)


def _stack_memory(c: Case, modes: Sequence[str]) -> dict[str, float]:
    """Temp memory of a 4-layer conv-relu training step (grads of the kernels), by mode."""
    if c.k[-2] != c.k[-1]:
        return {}
    x = jax.ShapeDtypeStruct(c.x, jnp.float32)
    ws = [jax.ShapeDtypeStruct(c.k, jnp.float32)] * 4

    def step(mode):
        def loss(ws, x):
            for w in ws:
                x = jax.nn.relu(jaxpad.conv(x, w, stride=1, padding="same", padding_mode=mode))
            return jnp.mean(x**2)

        return temp_bytes(jax.jit(jax.grad(loss)).lower(ws, x).compile())

    return {mode: step(mode) for mode in modes}


def _summarise(runs: list[dict], stacks: dict[str, dict]) -> list[dict]:
    rows = []
    for r in runs:
        r["fwd_median_s"] = statistics.median(r["fwd_s"])
        r["grad_median_s"] = statistics.median(r["grad_s"])
    base = {(r["case"], r["variant"]): r for r in runs if r["mode"] == "zeros"}
    floor = {r["case"]: r for r in runs if r["variant"] == "lax"}
    for r in runs:
        torch_like = r["variant"].startswith("torch")
        # jax variants are compared with raw lax's zero padding; torch with torch's own zeros.
        ref = base.get((r["case"], r["variant"])) if torch_like else floor.get(r["case"])
        if ref is None:
            continue
        row = dict(case=r["case"], mode=r["mode"], variant=r["variant"],
                   fwd_ms=1e3 * r["fwd_median_s"], grad_ms=1e3 * r["grad_median_s"],
                   fwd_ratio=r["fwd_median_s"] / ref["fwd_median_s"],
                   grad_ratio=r["grad_median_s"] / ref["grad_median_s"])
        if not torch_like:
            row["compile_ratio"] = r["compile_s"] / ref["compile_s"]
            row["temp_ratio"] = r["temp_bytes"] / ref["temp_bytes"]
            stack = stacks.get(r["case"], {})
            if r["variant"] == "jaxpad" and stack:
                row["stack_temp_ratio"] = stack[r["mode"]] / stack["zeros"]
        rows.append(row)
    return rows


def _pad_rows(reps: int, batch: int) -> list[dict]:
    """`jaxpad.pad` alone against a plain copy of the padded size (`xp + 0`)."""
    x = jnp.asarray(np.random.default_rng(1).standard_normal((batch, 56, 56, 64), np.float32))
    widths = ((0, 0), (1, 1), (1, 1), (0, 0))
    xp = jnp.pad(x, widths)
    # A random cotangent passed as an argument: a captured constant (ones, say) lets
    # XLA fold it into broadcasts, which is not the backward a training step runs.
    ct = jnp.asarray(np.random.default_rng(2).standard_normal(xp.shape, np.float32))

    def backward(f):
        return jax.jit(lambda a, c: jax.vjp(f, a)[1](c)[0])

    fns = {"copy": (jax.jit(lambda a: a + 0), backward(lambda a: a + 0), xp)}
    for mode in ("reflect", "replicate", "circular", "symmetric"):
        def f(a, mode=mode):
            return jaxpad.pad(a, widths, mode)
        fns[mode] = (jax.jit(f), backward(f), x)
    runs = {}
    for k, (fwd, grad, a) in fns.items():
        runs[k, "fwd"] = lambda fwd=fwd, a=a: fwd(a)
        runs[k, "grad"] = lambda grad=grad, a=a: grad(a, ct)
        timed(runs[k, "fwd"])
        timed(runs[k, "grad"])
    times = interleaved(runs, reps)
    med = {k: (statistics.median(times[k, "fwd"]), statistics.median(times[k, "grad"]))
           for k in fns}
    return [dict(mode=k, fwd_ratio=med[k][0] / med["copy"][0],
                 grad_ratio=med[k][1] / med["copy"][1]) for k in med if k != "copy"]


def summary(rows: list[dict]) -> str:
    """One line per case and mode: jaxpad against the alternatives, as ratios to lax zeros."""
    by = {(r["case"], r["mode"], r["variant"]): r for r in rows}
    lines = ["| case | mode | jaxpad fwd | jaxpad fwd+bwd | temp | 4-layer temp | compile "
             "| jnp.pad+valid fwd / fwd+bwd | flax fwd / fwd+bwd | torch NCHW fwd / fwd+bwd |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def pair(key):
        r = by.get(key)
        return f"{r['fwd_ratio']:.2f} / {r['grad_ratio']:.2f}" if r else ""

    for (case, mode, variant), r in by.items():
        if variant != "jaxpad":
            continue
        stack = f"{r['stack_temp_ratio']:.2f}" if "stack_temp_ratio" in r else ""
        lines.append(
            f"| {case} | {mode} | {r['fwd_ratio']:.2f} | {r['grad_ratio']:.2f} | "
            f"{r['temp_ratio']:.2f} | {stack} | {r['compile_ratio']:.2f} | "
            f"{pair((case, mode, 'jnp.pad+valid'))} | {pair((case, mode, 'flax'))} | "
            f"{pair((case, mode, 'torch NCHW'))} |")
    return "\n".join(lines)


def _markdown(rows: list[dict], pad_rows: list[dict], meta: dict) -> str:
    lines = [
        f"# jaxpad benchmark ({meta['backend']}, {meta['device']})",
        "",
        f"`{meta['command']}` on {meta['machine']}, jax {meta['jax']}, "
        f"{meta['reps']} interleaved rounds, medians. Ratios: jax variants against raw lax's "
        "zero-padded 'same' convolution of the same shape; torch against torch's own zeros. "
        "temp: compiled training-step temporary memory; stack temp: a 4-layer conv-relu step.",
        "",
        "## Summary",
        "",
        summary(rows),
        "",
        "## All variants",
        "",
        "| case | mode | variant | fwd ms | fwd | fwd+bwd | compile | temp | stack temp |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        cells = [r["case"], r["mode"], r["variant"], f"{r['fwd_ms']:.2f}",
                 f"{r['fwd_ratio']:.2f}x", f"{r['grad_ratio']:.2f}x"]
        cells += [f"{r[k]:.2f}x" if k in r else "" for k in
                  ("compile_ratio", "temp_ratio", "stack_temp_ratio")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "`jaxpad.pad` alone against `xp + 0` of the padded shape (8x56x56x64; backward: "
              "a random cotangent; 5x the rounds):", "",
              "| mode | fwd | fwd+bwd |", "| --- | ---: | ---: |"]
    lines += [f"| {r['mode']} | {r['fwd_ratio']:.2f}x | {r['grad_ratio']:.2f}x |"
              for r in pad_rows]
    return "\n".join(lines) + "\n"


def _chart(rows: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    variants = ["jaxpad", "jnp.pad+valid", "flax"]
    keys = [(r["case"], r["mode"]) for r in rows if r["variant"] == "jaxpad"
            and r["mode"] != "zeros"]
    by = {(r["case"], r["mode"], r["variant"]): r for r in rows}
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.45 * len(keys)), 8), sharex=True)
    xs = np.arange(len(keys))
    for ax, metric, title in ((axes[0], "fwd_ratio", "forward"),
                              (axes[1], "grad_ratio", "forward + backward")):
        for i, v in enumerate(variants):
            vals = [by[(c, m, v)][metric] if (c, m, v) in by else np.nan for c, m in keys]
            ax.bar(xs + (i - 1) * 0.27, vals, width=0.27, label=v)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_ylabel(f"{title} time / lax zeros")
        ax.legend(loc="upper right")
    axes[1].set_xticks(xs, [f"{c}\n{m}" for c, m in keys], rotation=90, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def run(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="jaxpad bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few cases and modes, < 1 min")
    parser.add_argument("--reps", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 8, GPU 64)")
    parser.add_argument("--out", default="benchmarks/results", help="output folder")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument("--no-transpose", action="store_true",
                        help="skip the transposed-convolution section")
    args = parser.parse_args(argv)
    backend = jax.default_backend()
    batch = args.batch or (64 if backend == "gpu" else 8)
    reps = args.reps or (3 if args.quick else 9)
    modes = ("zeros", "reflect", "circular") if args.quick else MODES
    runs: list[dict] = []
    stacks: dict[str, dict] = {}
    for c in cases(args.quick, batch if not args.quick else min(batch, 2)):
        print(f"{c.name} ...", flush=True)
        case_reps = max(3, reps // 3) if c.rank == 3 else reps
        runs += measure_jax(c, modes, case_reps)
        if not args.no_torch and backend == "cpu":
            runs += _measure_torch(c, modes, case_reps)
        if not args.quick and c.rank == 2:
            stacks[c.name] = _stack_memory(c, modes)
    rows = _summarise(runs, stacks)
    pad_rows = _pad_rows(5 * reps, batch)  # sub-millisecond calls: more rounds
    meta = dict(backend=backend, device=str(jax.devices()[0].device_kind),
                machine=f"{platform.machine()}, {os.cpu_count()} cores", jax=jax.__version__,
                reps=reps, command="jaxpad bench" + (" --quick" if args.quick else ""))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{backend}-{datetime.date.today()}-layers{'-quick' if args.quick else ''}"
    table = _markdown(rows, pad_rows, meta)
    transpose_rows: list[dict] = []
    if not args.no_transpose:
        print("transposed convolutions ...", flush=True)
        transpose_rows = bench_transpose(args.quick, batch if not args.quick else 2, reps)
        table += ("\n## Transposed convolutions\n\nTimes and ratios to the forward strided "
                  "conv of equal FLOPs:\n\n" + to_markdown(transpose_rows) + "\n")
    (out / f"{stem}.json").write_text(json.dumps(
        dict(meta=meta, rows=rows, pad=pad_rows, transpose=transpose_rows, raw=runs), indent=1,
        default=str))
    (out / f"{stem}.md").write_text(table)
    _chart(rows, out / f"{stem}.png")
    print(table)
    return dict(meta=meta, rows=rows, pad=pad_rows)


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0

"""Benchmarks of jaxpad: `python -m benchmarks [--quick]` from a checkout (same as `jaxpad bench`).

The harness lives in `jaxpad.bench` so that `jaxpad bench` also runs wherever jaxpad is
installed (a GPU or TPU machine); results of runs land in `benchmarks/results/`.
"""

import argparse

import jax
from jax import lax

import jaxpad


def channels_last(nsp: int) -> lax.ConvDimensionNumbers:
    """lax's dimension numbers of `(N, *spatial, C)` inputs and `(*k, I, O)` kernels."""
    sp = "DHW"[3 - nsp:] if nsp <= 3 else "".join(chr(ord("a") + i) for i in range(nsp))
    ones = (1,) * (nsp + 2)
    return lax.conv_dimension_numbers(ones, ones, (f"N{sp}C", f"{sp}IO", f"N{sp}C"))


def transpose_output(x: tuple[int, ...], k: tuple[int, ...], stride: int, padding: int,
                     output_padding: int) -> tuple[int, ...]:
    """The spatial output shape of `jaxpad.conv_transpose` of `x` `(N, *spatial, C)` with a
    `(*k, C, O)` kernel (the phases' layout)."""
    nsp = len(k) - 2
    kernel = jax.ShapeDtypeStruct((*k[:nsp], k[-1], x[-1]), "float32")
    y = jax.eval_shape(lambda x, w: jaxpad.conv_transpose(
        x, w, stride=stride, padding=padding, output_padding=output_padding),
        jax.ShapeDtypeStruct(x, "float32"), kernel)
    return tuple(y.shape[1:-1])


def parser(doc: str, repeats: int) -> argparse.ArgumentParser:
    """The options of every script here: `--repeats` (interleaved rounds) and `--batch`."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--repeats", type=int, default=repeats)
    p.add_argument("--batch", type=int, default=8)
    return p

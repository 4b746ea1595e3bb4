"""Independent NumPy oracles: padding by explicit index maps, convolution by direct sums.

Nothing here imports jaxpad or jax: the formulas are written out from the
definitions (and PyTorch's documented behaviour for negative widths).
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def source_index(j: int, n: int, mode: str) -> int:
    """The input index that output coordinate `j` (relative to the axis start) reads."""
    if 0 <= j < n:
        return j
    if mode == "replicate":
        return min(max(j, 0), n - 1)
    if mode == "circular":
        return j % n
    if mode == "reflect":  # mirror without repeating the edge: period 2n - 2
        if n == 1:
            return 0
        m = j % (2 * n - 2)
        return m if m < n else 2 * n - 2 - m
    if mode == "symmetric":  # mirror repeating the edge: period 2n
        m = j % (2 * n)
        return m if m < n else 2 * n - 1 - m
    raise ValueError(mode)


def pad_axis(x: np.ndarray, axis: int, lo: int, hi: int, mode: str, value=0.0) -> np.ndarray:
    n = x.shape[axis]
    out = n + lo + hi
    if mode in ("zeros", "constant"):
        fill = 0.0 if mode == "zeros" else value
        shape = list(x.shape)
        shape[axis] = out
        y = np.full(shape, fill, dtype=x.dtype)
        for j in range(out):
            if 0 <= j - lo < n:
                np.moveaxis(y, axis, 0)[j] = np.moveaxis(x, axis, 0)[j - lo]
        return y
    if mode == "circular":  # torch: crop first, then wrap what is left
        start, stop = max(-lo, 0), n - max(-hi, 0)
        lo = max(lo, 0)
        idx = [start + (j - lo) % (stop - start) for j in range(out)]
    else:  # torch: read the pad from the uncropped axis, then crop
        idx = [source_index(j - lo, n, mode) for j in range(out)]
    return np.take(x, np.asarray(idx, dtype=np.int64), axis=axis)


def pad(x, widths, modes, value=0.0) -> np.ndarray:
    """`widths`/`modes`: one (lo, hi) pair and one mode per axis of `x`."""
    x = np.asarray(x)
    for axis, ((lo, hi), mode) in enumerate(zip(widths, modes)):
        x = pad_axis(x, axis, lo, hi, mode, value)
    return x


def conv_nchw(x, w, b, stride, pads, modes, dilation, groups, value=0.0) -> np.ndarray:
    """Channels-first convolution by a direct sum over kernel offsets.

    x: (N, C, *spatial); w: (O, C // groups, *k); pads/modes per spatial axis.
    """
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nsp = w.ndim - 2
    xp = pad(x, [(0, 0), (0, 0), *pads], ["zeros", "zeros", *modes], value)
    ksize = w.shape[2:]
    out_shape = [
        (xp.shape[2 + a] - dilation[a] * (ksize[a] - 1) - 1) // stride[a] + 1 for a in range(nsp)
    ]
    n, o = x.shape[0], w.shape[0]
    cg, og = w.shape[1], o // groups
    y = np.zeros((n, o, *out_shape))
    for offset in itertools.product(*(range(k) for k in ksize)):
        window = tuple(
            slice(offset[a] * dilation[a],
                  offset[a] * dilation[a] + stride[a] * (out_shape[a] - 1) + 1,
                  stride[a])
            for a in range(nsp)
        )
        for g in range(groups):
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg), *window)]
            wk = w[(slice(g * og, (g + 1) * og), slice(None), *offset)]
            y[:, g * og:(g + 1) * og] += np.einsum("nc...,oc->no...", patch, wk)
    if b is not None:
        y += np.asarray(b, np.float64).reshape(1, -1, *([1] * nsp))
    return y


def tf_same(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' rule as TF documents it (tensorflow/core/framework/kernel_shape_util)."""
    eff = (k - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


# The seed article: torch.nn.Conv2d(1, 1, 1, padding=1, padding_mode=m) with a ones kernel
# on the 4x4 matrix holding 1..16, as PyTorch printed it there.
SEED_ARTICLE_4X4 = {
    "zeros": [[0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 0], [0, 5, 6, 7, 8, 0],
              [0, 9, 10, 11, 12, 0], [0, 13, 14, 15, 16, 0], [0, 0, 0, 0, 0, 0]],
    "reflect": [[6, 5, 6, 7, 8, 7], [2, 1, 2, 3, 4, 3], [6, 5, 6, 7, 8, 7],
                [10, 9, 10, 11, 12, 11], [14, 13, 14, 15, 16, 15], [10, 9, 10, 11, 12, 11]],
    "replicate": [[1, 1, 2, 3, 4, 4], [1, 1, 2, 3, 4, 4], [5, 5, 6, 7, 8, 8],
                  [9, 9, 10, 11, 12, 12], [13, 13, 14, 15, 16, 16], [13, 13, 14, 15, 16, 16]],
    "circular": [[16, 13, 14, 15, 16, 13], [4, 1, 2, 3, 4, 1], [8, 5, 6, 7, 8, 5],
                 [12, 9, 10, 11, 12, 9], [16, 13, 14, 15, 16, 13], [4, 1, 2, 3, 4, 1]],
}

"""jaxpad: convolution padding done exactly right for JAX.

PyTorch's padding modes with PyTorch's semantics and limits, TF/XLA 'same'
padding that also works for strided and dilated convolutions, and any spec
combined with any mode, in pure functions that jit, grad and vmap.
"""

from ._conv import conv as conv
from ._conv_transpose import conv_transpose as conv_transpose
from ._pad import pad as pad
from ._pad import torch_pad as torch_pad
from ._padding import MODES as MODES
from ._padding import conv_output_shape as conv_output_shape
from ._padding import effective_kernel_size as effective_kernel_size
from ._padding import resolve_padding as resolve_padding
from ._padding import same_padding as same_padding
from ._pool import avg_pool as avg_pool
from ._pool import max_pool as max_pool

__version__ = "0.1.0"

# The Flax and Equinox layers import flax and equinox and the PyTorch converters use torch:
# all load on first use (`jaxpad.linen.Conv` after `import jaxpad` works), so
# `import jaxpad` needs jax alone.
_SUBMODULES = ("linen", "nnx", "equinox", "interop", "sharded", "streaming")


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MODES",
    "avg_pool",
    "conv",
    "conv_output_shape",
    "conv_transpose",
    "effective_kernel_size",
    "max_pool",
    "pad",
    "resolve_padding",
    "same_padding",
    "torch_pad",
]

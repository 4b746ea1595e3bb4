"""Port a PyTorch CycleGAN ResNet block to Flax with `jaxpad.interop`; check it against PyTorch.

CycleGAN's generator (Zhu et al., pytorch-CycleGAN-and-pix2pix, `ResnetBlock`) is a
stack of blocks

    x + [ReflectionPad2d(1), Conv2d(dim, dim, 3), InstanceNorm2d(dim), ReLU,
         ReflectionPad2d(1), Conv2d(dim, dim, 3), InstanceNorm2d(dim)](x)

with reflection padding so that the borders of generated images carry no
zero-padding artefacts. Flax has no reflect mode for a convolution with
PyTorch's geometry; with jaxpad the block ports line by line (`ReflectionPad2d`
+ `Conv(padding="VALID")`), or fused (`Conv(padding=1, padding_mode="reflect")`,
which is `Conv2d(padding=1, padding_mode="reflect")` in PyTorch). The weights come
across with `jaxpad.interop`, in one call per layer or one per state dict:

    python examples/port_torch_resnet_block.py                    # dim 64 on 2 x 64 x 64
    python examples/port_torch_resnet_block.py --dim 8 --size 16  # quicker
"""

from __future__ import annotations

import argparse

import flax.linen as nn
import jax
import numpy as np
import torch
from flax import nnx

import jaxpad.interop
import jaxpad.linen

HIGHEST = jax.lax.Precision.HIGHEST


class TorchResnetBlock(torch.nn.Module):
    """CycleGAN's ResnetBlock with padding_type='reflect', InstanceNorm2d, no dropout."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = torch.nn.Sequential(
            torch.nn.ReflectionPad2d(1),
            torch.nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
            torch.nn.InstanceNorm2d(dim),
            torch.nn.ReLU(True),
            torch.nn.ReflectionPad2d(1),
            torch.nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=True),
            torch.nn.InstanceNorm2d(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetBlock(nn.Module):
    """The same block in flax linen, channels-last; `fused` folds each pad into its conv."""

    dim: int
    fused: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = x
        for i in range(2):
            if self.fused:
                y = jaxpad.linen.Conv(self.dim, (3, 3), padding=1, padding_mode="reflect",
                                      precision=HIGHEST, name=f"Conv_{i}")(y)
            else:
                y = jaxpad.linen.ReflectionPad2d(1)(y)
                y = jaxpad.linen.Conv(self.dim, (3, 3), padding="VALID", precision=HIGHEST,
                                      name=f"Conv_{i}")(y)
            # torch's InstanceNorm2d: per sample and channel, eps 1e-5, no affine parameters.
            y = nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)(y)
            if i == 0:
                y = nn.relu(y)
        return x + y


class NNXResnetBlock(nnx.Module):
    """The block in NNX, each conv converted from PyTorch in one call (pads fused)."""

    def __init__(self, block: TorchResnetBlock):
        convs = [m for m in block.conv_block if isinstance(m, torch.nn.Conv2d)]
        fused = []
        for conv in convs:  # ReflectionPad2d(1) + Conv2d(padding=0) == Conv2d(padding=1, reflect)
            f = torch.nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1,
                                padding_mode="reflect")
            f.load_state_dict(conv.state_dict())
            fused.append(f)
        self.convs = nnx.List([jaxpad.interop.nnx_from_torch(f, precision=HIGHEST)
                               for f in fused])
        self.norms = nnx.List([nnx.InstanceNorm(conv.out_channels, epsilon=1e-5, use_scale=False,
                                                use_bias=False, rngs=nnx.Rngs(0))
                               for conv in convs])

    def __call__(self, x: jax.Array) -> jax.Array:
        y = nnx.relu(self.norms[0](self.convs[0](x)))
        return x + self.norms[1](self.convs[1](y))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    block = TorchResnetBlock(args.dim).eval()
    x = torch.randn(args.batch, args.dim, args.size, args.size)
    with torch.no_grad():
        expected = block(x).permute(0, 2, 3, 1).numpy()  # NCHW -> NHWC
    x_last = x.permute(0, 2, 3, 1).numpy()

    # 1. Line by line, all weights from the state dict in one call.
    variables = jaxpad.interop.linen_params_from_torch_state_dict(
        block.state_dict(), {r"conv_block\.1": "Conv_0", r"conv_block\.5": "Conv_1"})
    y_lines = ResnetBlock(args.dim).apply(variables, x_last)
    # 2. Fused pads: the same parameters, one op less per conv.
    y_fused = ResnetBlock(args.dim, fused=True).apply(variables, x_last)
    # 3. One torch conv, one call: hyperparameters and weights.
    layer, conv_vars = jaxpad.interop.linen_from_torch(block.conv_block[1], precision=HIGHEST)
    first = block.conv_block[:2](x).detach().permute(0, 2, 3, 1).numpy()
    y_conv = layer.apply(conv_vars, jaxpad.linen.ReflectionPad2d(1).apply({}, x_last))
    # 4. NNX, converted conv by conv.
    y_nnx = NNXResnetBlock(block)(x_last)

    diffs = {name: float(np.abs(np.asarray(y) - ref).max()) for name, y, ref in [
        ("linen, ReflectionPad2d + Conv", y_lines, expected),
        ("linen, Conv(padding_mode='reflect')", y_fused, expected),
        ("linen_from_torch(Conv2d) alone", y_conv, first),
        ("nnx, nnx_from_torch per conv", y_nnx, expected),
    ]}
    print(f"CycleGAN ResnetBlock, dim {args.dim}, input {tuple(x.shape)} (NCHW) / "
          f"{x_last.shape} (NHWC)")
    for name, diff in diffs.items():
        print(f"  {name:<38} max |jax - torch| = {diff:.2e}")
    return diffs


if __name__ == "__main__":
    main()

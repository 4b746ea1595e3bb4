"""A causal 3-D encoder block, as in video VAEs, run on a whole clip and frame group by group.

Video VAEs (CogVideoX, HunyuanVideo, Wan) keep their 3-D convolutions causal in
time by padding the past with the first frame repeated ('replicate' in time)
and pad space as usual ('same'). Then a clip can be encoded a few frames at a
time, each group seeing only the last frames of the previous one, which is what
CogVideoX's `conv_cache` does by hand.

Here the block (two 3x3x3 convolutions with a residual, then a 3x3x3
downsampling by 2 in time and space) is built from `jaxpad.nnx.StreamingConv`.
It runs on a random 17-frame clip (1 + 4 * 4 frames, CogVideoX's format) at
once, then on frame groups of 4 with a last group of 1 (a group whose length is
not a multiple of the time stride ends the stream), under `nnx.jit`, and the two
runs agree to float32 rounding; `reset` starts the next clip. The streamed run
holds at most 2 past frames per convolution instead of the clip.

    python examples/streaming_video_vae.py
    python examples/streaming_video_vae.py --frames 9 --size 16 --group 2    # smoke test
"""

from __future__ import annotations

import argparse
from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx

import jaxpad.nnx

# Time, height, width: the past is the first frame repeated, space is zero-padded.
MODES = ("replicate", "zeros", "zeros")


class CausalBlock(nnx.Module):
    """(N, T, H, W, C) -> (N, ceil(T / 2), H / 2, W / 2, features), causal in time."""

    def __init__(self, channels: int, features: int, *, rngs: nnx.Rngs):
        conv = partial(jaxpad.nnx.StreamingConv, padding="SAME", padding_mode=MODES, rngs=rngs)
        self.conv1 = conv(channels, features, (3, 3, 3))
        self.conv2 = conv(features, features, (3, 3, 3))
        self.skip = conv(channels, features, (1, 1, 1))
        self.down = conv(features, features, (3, 3, 3), strides=(2, 2, 2))

    def __call__(self, x: jax.Array, *, decode: bool = False) -> jax.Array:
        h = self.conv1(x, decode=decode)
        h = self.conv2(nnx.silu(h), decode=decode) + self.skip(x, decode=decode)
        return self.down(nnx.silu(h), decode=decode)

    def reset(self) -> None:
        """A new clip: every layer's stream starts again."""
        for _, layer in nnx.iter_modules(self):
            if isinstance(layer, jaxpad.nnx.StreamingConv):
                layer.reset_cache()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=32, help="height and width")
    parser.add_argument("--group", type=int, default=4, help="frames per group (even)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.group % 2:
        parser.error("--group must be even: every group but the last holds a multiple of the "
                     "time stride 2")

    block = CausalBlock(3, 16, rngs=nnx.Rngs(args.seed))
    offline = nnx.jit(lambda block, x: block(x))
    step = nnx.jit(lambda block, x: block(x, decode=True))
    diffs = []
    for clip_seed in (args.seed, args.seed + 1):  # two clips: the second after `reset`
        clip = jax.random.normal(jax.random.key(clip_seed),
                                 (1, args.frames, args.size, args.size, 3))
        expected = offline(block, clip)
        groups = [clip[:, i:i + args.group] for i in range(0, args.frames, args.group)]
        streamed = jnp.concatenate([step(block, group) for group in groups], axis=1)
        assert streamed.shape == expected.shape, (streamed.shape, expected.shape)
        diffs.append(float(jnp.abs(streamed - expected).max()))
        block.reset()

    max_abs_diff = max(diffs)
    assert max_abs_diff < 1e-4, f"streamed and offline differ by {max_abs_diff}"
    history = block.conv1.cache.get_value().history.shape
    print(f"clip {tuple(clip.shape)} -> latents {tuple(expected.shape)}; {len(groups)} groups "
          f"of {[g.shape[1] for g in groups]} frames streamed, two clips: equal to the offline "
          f"run (max abs diff {max_abs_diff:.1e}); conv1 keeps {history[1]} frames of "
          f"{tuple(history)}")
    return {"max_abs_diff": max_abs_diff, "shape": tuple(expected.shape),
            "groups": [int(g.shape[1]) for g in groups], "history": tuple(history)}


if __name__ == "__main__":
    main()

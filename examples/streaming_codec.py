"""A small causal audio codec in the EnCodec style, trained offline, then streamed in 20 ms chunks.

The encoder is strided causal convolutions with dilated residual units (reflect
padding in time, as EnCodec's `SConv1d`), the decoder mirrors it with causal
transposed convolutions (EnCodec's `SConvTranspose1d` trims the right side: the
causal crop). Every layer is `jaxpad.linen.StreamingConv` or
`StreamingConvTranspose`, so one set of parameters serves both runs:

- offline (`decode=False`): the whole signal at once, as in training;
- streaming (`decode=True`): 160 samples (20 ms at 8 kHz) at a time, the layers'
  histories and overlaps carried in flax's 'cache' collection through `lax.scan`.

The two runs agree to float32 rounding, and the streamed run's real-time factor
(compute time / audio time) is printed. Nothing is downloaded: the training
signals are random sums of sines.

    python examples/streaming_codec.py                     # 300 training steps (CPU, ~1 min)
    python examples/streaming_codec.py --steps 5 --seconds 0.2   # smoke test
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxpad.linen

RATE = 8000
CHUNK = 160  # 20 ms: a multiple of the encoder's hop (2 * 4 = 8 samples per latent frame)


class ResidualUnit(nn.Module):
    """ELU, dilated causal conv k3, ELU, conv k1, plus the input (EnCodec's SEANetResnetBlock)."""

    channels: int
    dilation: int
    decode: bool = False

    @nn.compact
    def __call__(self, x):
        conv = partial(jaxpad.linen.StreamingConv, padding_mode="reflect", decode=self.decode)
        h = conv(self.channels, 3, kernel_dilation=self.dilation)(nn.elu(x))
        return x + conv(self.channels, 1)(nn.elu(h))


class Codec(nn.Module):
    """(N, T, 1) audio -> (N, T / 8, 8) latents -> (N, T, 1) audio, causal throughout."""

    decode: bool = False

    @nn.compact
    def __call__(self, x):
        conv = partial(jaxpad.linen.StreamingConv, padding_mode="reflect", decode=self.decode)
        up = partial(jaxpad.linen.StreamingConvTranspose, decode=self.decode)
        unit = partial(ResidualUnit, decode=self.decode)
        # Encoder: 1 -> 16 -> 32 -> 32 channels, strides 2 and 4.
        h = conv(16, 7)(x)
        h = unit(16, 1)(h)
        h = conv(32, 4, strides=2)(nn.elu(h))
        h = unit(32, 3)(h)
        h = conv(32, 8, strides=4)(nn.elu(h))
        z = conv(8, 3)(nn.elu(h))
        # Decoder: the mirror image, upsampling by 4 and 2 with causal crops.
        h = conv(32, 7)(z)
        h = up(32, 8, strides=4)(nn.elu(h))
        h = unit(32, 1)(h)
        h = up(16, 4, strides=2)(nn.elu(h))
        h = unit(16, 3)(h)
        return conv(1, 7)(nn.elu(h))


def signals(key: jax.Array, batch: int, length: int) -> jax.Array:
    """Random sums of three sines (100-1000 Hz) with a little noise, `(batch, length, 1)`."""
    k_freq, k_amp, k_phase, k_noise = jax.random.split(key, 4)
    t = jnp.arange(length) / RATE
    freq = jax.random.uniform(k_freq, (batch, 1, 3), minval=100.0, maxval=1000.0)
    amp = jax.random.uniform(k_amp, (batch, 1, 3), minval=0.1, maxval=0.4)
    phase = jax.random.uniform(k_phase, (batch, 1, 3), maxval=2 * jnp.pi)
    wave = (amp * jnp.sin(2 * jnp.pi * freq * t[None, :, None] + phase)).sum(-1, keepdims=True)
    return wave + 0.01 * jax.random.normal(k_noise, wave.shape)


def train(steps: int, seed: int = 0):
    """Adam on the L1 reconstruction of random 0.2 s signals, offline (whole sequences)."""
    model = Codec()
    key = jax.random.key(seed)
    # An 'rbg' key for the 32 initialisers: XLA:CPU compiles its generator in about a third
    # of the default threefry key's time, and any key will do here.
    init_key = jax.random.key(seed, impl="rbg")
    params = jax.jit(model.init)(init_key, jnp.zeros((1, CHUNK * 10, 1)))["params"]
    optimizer = optax.adam(3e-3)
    opt_state = optimizer.init(params)

    def loss_fn(params, x):
        return jnp.abs(model.apply({"params": params}, x) - x).mean()

    @jax.jit
    def step(params, opt_state, key):
        x = signals(key, 8, CHUNK * 10)
        loss, grads = jax.value_and_grad(loss_fn)(params, x)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    losses = []
    for batch_key in jax.random.split(key, steps):
        params, opt_state, loss = step(params, opt_state, batch_key)
        losses.append(float(loss))
    return params, losses


@jax.jit
def stream(params, chunks: jax.Array) -> jax.Array:
    """The codec run chunk by chunk: `lax.scan` over 20 ms chunks, the cache as its carry.

    `chunks` is `(n, N, CHUNK, 1)`. The decoding model's first call, with no
    cache yet, makes a fresh one (and returns the whole-sequence output, unused).
    """
    model = Codec(decode=True)
    cache = model.apply({"params": params}, chunks[0], mutable=["cache"])[1]["cache"]

    def step(cache, chunk):
        y, mutated = model.apply({"params": params, "cache": cache}, chunk, mutable=["cache"])
        return mutated["cache"], y

    return jax.lax.scan(step, cache, chunks)[1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the test signal")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    params, losses = train(args.steps, args.seed)
    print(f"trained {args.steps} steps: L1 loss {losses[0]:.4f} -> {losses[-1]:.4f}")

    length = int(round(args.seconds * RATE / CHUNK)) * CHUNK
    audio = signals(jax.random.key(args.seed + 1), 1, length)
    offline = jax.jit(lambda x: Codec().apply({"params": params}, x))
    expected = offline(audio).block_until_ready()

    chunks = audio.reshape(audio.shape[0], -1, CHUNK, 1).swapaxes(0, 1)
    streamed = stream(params, chunks).block_until_ready()  # compiles
    start = time.perf_counter()
    streamed = stream(params, chunks).block_until_ready()
    elapsed = time.perf_counter() - start
    streamed = streamed.swapaxes(0, 1).reshape(audio.shape)

    max_abs_diff = float(jnp.abs(streamed - expected).max())
    assert max_abs_diff < 1e-4, f"streamed and offline differ by {max_abs_diff}"
    rtf = elapsed / args.seconds
    error = float(jnp.abs(streamed - audio).mean())
    print(f"{chunks.shape[0]} chunks of {CHUNK} samples ({1000 * CHUNK / RATE:.0f} ms): "
          f"streamed equals offline (max abs diff {max_abs_diff:.1e}); reconstruction L1 "
          f"{error:.4f}")
    print(f"real-time factor {rtf:.4f} ({elapsed * 1000:.1f} ms for {args.seconds:.1f} s of "
          f"audio on {jax.default_backend()})")
    return {"losses": losses, "max_abs_diff": max_abs_diff, "rtf": rtf,
            "chunks": int(chunks.shape[0]), "reconstruction_l1": error,
            "signal_mean_abs": float(np.abs(np.asarray(audio)).mean())}


if __name__ == "__main__":
    main()

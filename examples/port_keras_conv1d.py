"""Port the seed article's Keras Conv1D generator to Flax NNX with jaxpad; check it against Keras.

The article's TensorFlow model (asked to be rewritten for PyTorch) is

    Input((100, 12)) -> Bidirectional(LSTM(64, return_sequences=True))     # -> (100, 128)
    -> Conv1D(128, 16, padding='same') -> LeakyReLU
    -> Conv1D(64, 16, padding='same')  -> LeakyReLU -> UpSampling1D(2)     # -> (200, 64)
    -> Conv1D(32, 16, padding='same')  -> LeakyReLU
    -> Conv1D(16, 16, padding='same')  -> LeakyReLU -> UpSampling1D(2)     # -> (400, 16)
    -> Conv1D(1, 16, padding='same', activation='tanh') -> Permute((2, 1)) # -> (1, 400)

The Bidirectional LSTM aside, this is the Conv1D stack, taking the LSTM's
`(N, 100, 128)` output. With an even kernel of 16, TF's 'same' pads 7 before
and 8 after each sequence; `jaxpad.nnx.Conv(padding="same")` does the same, in
any padding mode. The check runs Keras 3 on its torch backend (an independent
implementation of TF's asymmetric 'same'), with the same weights:

    python examples/port_keras_conv1d.py              # batch 8; Keras check if keras is installed
    python examples/port_keras_conv1d.py --batch 2    # quicker
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxpad.nnx

FEATURES = (128, 128, 64, 32, 16, 1)  # the LSTM's 2 x 64 outputs, then each Conv1D's filters
UPSAMPLE_AFTER = (1, 3)  # UpSampling1D(2) after the 2nd and 4th convolutions


class Generator(nnx.Module):
    """The Conv1D stack: `(N, 100, 128)` -> `(N, 1, 400)`, as the Keras model computes it."""

    def __init__(self, *, padding_mode: str = "zeros", rngs: nnx.Rngs):
        self.convs = nnx.List([
            jaxpad.nnx.Conv(cin, cout, 16, padding="same", padding_mode=padding_mode, rngs=rngs)
            for cin, cout in zip(FEATURES[:-1], FEATURES[1:])
        ])

    def __call__(self, x: jax.Array) -> jax.Array:
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i == len(self.convs) - 1:
                x = jnp.tanh(x)
            else:
                x = jax.nn.leaky_relu(x, negative_slope=0.3)  # Keras' LeakyReLU default
            if i in UPSAMPLE_AFTER:
                x = jnp.repeat(x, 2, axis=1)  # UpSampling1D(2)
        return x.transpose(0, 2, 1)  # Permute((2, 1)): channels first, as the article's model


def keras_generator(keras):
    layers = keras.layers
    model = keras.Sequential([layers.Input(shape=(100, 128))])
    for i, filters in enumerate(FEATURES[1:]):
        last = i == len(FEATURES) - 2
        model.add(layers.Conv1D(filters, 16, strides=1, padding="same",
                                activation="tanh" if last else None))
        if not last:
            model.add(layers.LeakyReLU())
        if i in UPSAMPLE_AFTER:
            model.add(layers.UpSampling1D(2))
    model.add(layers.Permute((2, 1)))
    return model


def load_keras():
    """Keras 3 on the torch backend, or None with the reason printed."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        print("keras is not installed: the Keras check is skipped")
        return None
    if keras.backend.backend() != "torch":
        print(f"keras runs on the {keras.backend.backend()} backend, not torch: check skipped")
        return None
    return keras


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    generator = Generator(rngs=nnx.Rngs(args.seed))
    x = np.random.default_rng(args.seed).standard_normal((args.batch, 100, 128)).astype("f4")
    y = np.asarray(nnx.jit(lambda g, x: g(x))(generator, x))
    pads = [jaxpad.same_padding(n, 16)[0] for n in (100, 200, 400)]
    print(f"generator: {tuple(x.shape)} -> {tuple(y.shape)}; 'same' pads for kernel 16 on "
          f"100, 200, 400 steps: {pads}")
    result = {"shape": y.shape, "max_abs_diff": None}

    keras = load_keras()
    if keras is not None:
        model = keras_generator(keras)
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
        for layer, conv in zip(convs, generator.convs):
            layer.set_weights([np.asarray(conv.kernel[...]), np.asarray(conv.bias[...])])
        expected = keras.ops.convert_to_numpy(model(x))
        diff = float(np.abs(y - expected).max())
        print(f"Keras {keras.__version__} ({keras.backend.backend()} backend), same weights: "
              f"output {tuple(expected.shape)}, max |jaxpad - keras| = {diff:.2e}")
        result["max_abs_diff"] = diff

    # What Keras cannot do: the same network with reflect padding in every layer.
    reflect = Generator(padding_mode="reflect", rngs=nnx.Rngs(args.seed))
    same = np.flatnonzero((np.abs(reflect(x) - y) < 1e-6).all(axis=(0, 1)))
    print(f"with padding_mode='reflect' (same weights): equal to zero padding on steps "
          f"{same.min()}..{same.max()} of 400, where no padded value reaches")
    return result


if __name__ == "__main__":
    main()

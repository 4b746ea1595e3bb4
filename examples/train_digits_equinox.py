"""Train the digits CNN of train_digits.py in equinox + optax, with reflect padding.

The same data (scikit-learn's 8x8 digits, a quarter held out, see digits_common.py),
network shape and schedule as examples/train_digits.py, written with equinox:
`jaxpad.equinox.Conv2d(padding="same", padding_mode=mode)`, a drop-in for
`equinox.nn.Conv2d` whose 'same' keeps TF's geometry in every mode, also strided.
Equinox layers take one unbatched `(C, H, W)` image; the batch is `jax.vmap`-ed.

    python examples/train_digits_equinox.py                     # full run, reflect and zeros
    python examples/train_digits_equinox.py --modes reflect     # one mode
    python examples/train_digits_equinox.py --epochs 2 --limit 256 --modes reflect   # smoke test
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import numpy as np
import optax
from digits_common import command_line, epochs_of_batches, load  # beside this file
from tqdm import tqdm

import jaxpad.equinox

MODES = ("reflect", "zeros", "replicate", "circular", "symmetric")
LAYERS = ((32, 1), (32, 1), (64, 2), (64, 1), (128, 2))  # (out channels, stride), 3x3 each


class CNN(eqx.Module):
    """(1, 8, 8) -> (32, 8, 8) -> (32, 8, 8) -> (64, 4, 4) -> (64, 4, 4) -> (128, 2, 2) -> 10."""

    convs: list[jaxpad.equinox.Conv2d]
    head: eqx.nn.Linear

    def __init__(self, padding_mode: str, key: jax.Array):
        keys = jax.random.split(key, len(LAYERS) + 1)
        channels = [1, *(c for c, _ in LAYERS)]
        self.convs = [
            jaxpad.equinox.Conv2d(cin, cout, 3, stride, padding="same",
                                  padding_mode=padding_mode, key=k)
            for cin, (cout, stride), k in zip(channels, LAYERS, keys)
        ]
        self.head = eqx.nn.Linear(channels[-1] * 2 * 2, 10, key=keys[-1])

    def __call__(self, x: jax.Array) -> jax.Array:
        for conv in self.convs:
            x = jax.nn.relu(conv(x))
        return self.head(x.reshape(-1))


def train(mode: str, data, *, epochs: int, batch_size: int, lr: float, seed: int,
          progress: bool = True) -> dict:
    """Trains one CNN with `padding_mode=mode`; returns its test accuracy and time."""
    x_train, y_train, x_test, y_test = data
    model = CNN(mode, jax.random.key(seed))
    steps_per_epoch = len(x_train) // batch_size
    schedule = optax.cosine_decay_schedule(lr, epochs * steps_per_epoch)
    optimizer = optax.adamw(schedule, weight_decay=1e-4)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))

    @eqx.filter_jit
    def step(model, opt_state, x, y):
        def loss_fn(model):
            logits = jax.vmap(model)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    @eqx.filter_jit
    def accuracy(model, x, y):
        return (jax.vmap(model)(x).argmax(-1) == y).mean()

    start = time.perf_counter()
    bar = tqdm(total=epochs, desc=f"{mode:>9}", unit="epoch", disable=not progress)
    for batches in epochs_of_batches(len(x_train), batch_size, epochs, seed):
        for batch in batches:
            model, opt_state, loss = step(model, opt_state, x_train[batch], y_train[batch])
        bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
        bar.update()
    acc = float(accuracy(model, x_test, y_test))
    bar.close()
    return {"mode": mode, "accuracy": acc, "errors": round((1 - acc) * len(y_test)),
            "test_size": len(y_test), "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> list[dict]:
    args = command_line(__doc__.splitlines()[0], MODES, ("reflect", "zeros")).parse_args(argv)

    # Equinox's layers are channels-first: (N, 8, 8, 1) -> (N, 1, 8, 8).
    x_train, y_train, x_test, y_test = load(args.limit, args.seed)
    data = (np.moveaxis(x_train, -1, 1), y_train, np.moveaxis(x_test, -1, 1), y_test)
    print(f"digits: {len(y_train)} training and {len(y_test)} held-out test images, 8x8; "
          f"{args.epochs} epochs, batch {args.batch_size}, equinox {eqx.__version__}, "
          f"jax {jax.__version__} on {jax.default_backend()}")
    results = [train(mode, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     seed=args.seed, progress=not args.no_progress) for mode in args.modes]
    for r in results:
        print(f"final test accuracy with {r['mode']} padding: {r['accuracy']:.2%} "
              f"({r['test_size'] - r['errors']}/{r['test_size']}) in {r['seconds']:.1f} s")
    return results


if __name__ == "__main__":
    main()

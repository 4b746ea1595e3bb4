"""Train a small CNN with reflect padding on scikit-learn's 8x8 digits; compare padding modes.

The digits data set (1,797 images of 8x8 pixels, 16 grey levels) ships inside
scikit-learn, so nothing is downloaded. A quarter is held out (stratified, fixed
seed) and never seen in training. The same network, with the same initial
weights and batches, is trained once per padding mode, side by side:

    python examples/train_digits.py                       # full run, four modes (CPU)
    python examples/train_digits.py --modes reflect       # one mode
    python examples/train_digits.py --epochs 2 --limit 256 --modes reflect zeros   # smoke test

The network is flax.linen with `jaxpad.linen.Conv(padding="same", padding_mode=mode)`,
including strided layers, where jaxpad's 'same' keeps TF's geometry in every mode.
"""

from __future__ import annotations

import time
from functools import partial

import flax.linen as nn
import jax
import optax
from digits_common import command_line, epochs_of_batches, load  # beside this file
from tqdm import tqdm

import jaxpad.linen

MODES = ("reflect", "zeros", "replicate", "circular", "symmetric")
# 'symmetric' is left out by default: for the width-1 pads of 3x3 'same' convolutions it
# repeats the edge pixel exactly as 'replicate' does, so it trains identically.
DEFAULT_MODES = ("reflect", "zeros", "replicate", "circular")


class CNN(nn.Module):
    """8x8x1 -> 8x8x32 -> 8x8x32 -> 4x4x64 -> 4x4x64 -> 2x2x128 -> 10 logits."""

    padding_mode: str = "reflect"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        conv = partial(jaxpad.linen.Conv, padding="same", padding_mode=self.padding_mode)
        for features, stride in ((32, 1), (32, 1), (64, 2), (64, 1), (128, 2)):
            x = nn.relu(conv(features, (3, 3), strides=stride)(x))
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


def train(mode: str, data, *, epochs: int, batch_size: int, lr: float, seed: int,
          progress: bool = True, place=None) -> dict:
    """Trains one CNN with `padding_mode=mode`; returns its test accuracy and time.

    `place(array, batch=bool)` puts parameters and batches on devices (default: as
    they are); examples/data_parallel_digits.py shards the batches with it.
    """
    place = place or (lambda a, batch: a)
    x_train, y_train, x_test, y_test = data
    model = CNN(mode)
    params = model.init(jax.random.key(seed), x_train[:1])["params"]
    params = jax.tree.map(lambda p: place(p, batch=False), params)
    steps_per_epoch = len(x_train) // batch_size
    schedule = optax.cosine_decay_schedule(lr, epochs * steps_per_epoch)
    optimizer = optax.adamw(schedule, weight_decay=1e-4)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(params):
            logits = model.apply({"params": params}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def accuracy(params, x, y):
        return (model.apply({"params": params}, x).argmax(-1) == y).mean()

    start = time.perf_counter()
    bar = tqdm(total=epochs, desc=f"{mode:>9}", unit="epoch", disable=not progress)
    for batches in epochs_of_batches(len(x_train), batch_size, epochs, seed):
        for batch in batches:
            params, opt_state, loss = step(params, opt_state, place(x_train[batch], batch=True),
                                           place(y_train[batch], batch=True))
        bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
        bar.update()
    acc = float(accuracy(params, place(x_test, batch=False), place(y_test, batch=False)))
    seconds = time.perf_counter() - start
    bar.set_postfix(loss=f"{float(loss):.4f}", test_acc=f"{acc:.2%}")
    bar.close()
    return {"mode": mode, "accuracy": acc, "errors": round((1 - acc) * len(y_test)),
            "test_size": len(y_test), "seconds": seconds}


def main(argv: list[str] | None = None) -> list[dict]:
    args = command_line(__doc__.splitlines()[0], MODES, DEFAULT_MODES).parse_args(argv)

    data = load(args.limit, args.seed)
    print(f"digits: {len(data[0])} training and {len(data[2])} held-out test images, 8x8; "
          f"{args.epochs} epochs, batch {args.batch_size}, jax {jax.__version__} on "
          f"{jax.default_backend()}")
    start = time.perf_counter()
    results = [train(mode, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     seed=args.seed, progress=not args.no_progress) for mode in args.modes]
    print(f"\n{'padding_mode':<14}{'test accuracy':>14}{'errors':>10}{'seconds':>10}")
    for r in results:
        print(f"{r['mode']:<14}{r['accuracy']:>14.2%}{r['errors']:>6}/{r['test_size']:<3}"
              f"{r['seconds']:>10.1f}")
    first = results[0]
    print(f"\nfinal test accuracy with {first['mode']} padding: {first['accuracy']:.2%} "
          f"({first['test_size'] - first['errors']}/{first['test_size']}); "
          f"all {len(results)} runs took {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main()

"""The digits CNN of train_digits.py, trained data-parallel over every local device.

A `jax.sharding.Mesh` over all local devices with one axis, 'batch': every training
batch is split over it (`NamedSharding(mesh, P('batch'))`), parameters and optimizer
state are replicated, and `jax.jit` lets XLA's partitioner insert the gradient
all-reduce. The same network, initial weights and batches are then trained on one
device, and both test accuracies are printed side by side:

    python examples/data_parallel_digits.py                      # all local devices
    python examples/data_parallel_digits.py --host-devices 8     # 8 CPU devices on one CPU
    python examples/data_parallel_digits.py --epochs 2 --limit 256   # smoke test

On several hosts, call `jax.distributed.initialize()` first and build the mesh from
`jax.devices()`; each process then feeds its own part of the batch.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P


def _train_digits():
    """examples/train_digits.py, imported by path (examples/ is not a package)."""
    name = "examples.train_digits"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parent / "train_digits.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # flax's dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="reflect")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--host-devices", type=int, default=None,
                        help="split the CPU into this many devices (before jax starts)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.host_devices:
        jax.config.update("jax_num_cpu_devices", args.host_devices)

    digits = _train_digits()
    devices = jax.local_devices()
    if args.batch_size % len(devices):
        parser.error(f"--batch-size {args.batch_size} must divide by the {len(devices)} devices")
    mesh = jax.make_mesh((len(devices),), ("batch",), axis_types=(AxisType.Explicit,),
                         devices=devices)

    def place(a, batch):
        return jax.device_put(np.asarray(a), NamedSharding(mesh, P("batch" if batch else None)))

    data = digits.load(args.limit, args.seed)
    kwargs = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                  progress=not args.no_progress)
    print(f"digits: {len(data[0])} training images; batches of {args.batch_size} split over "
          f"{len(devices)} {jax.default_backend()} devices")
    with jax.set_mesh(mesh):
        parallel = digits.train(args.mode, data, place=place, **kwargs)
    single = digits.train(args.mode, data, **kwargs)
    for name, r in (("data-parallel", parallel), ("one device", single)):
        print(f"{name:<14}test accuracy {r['accuracy']:.2%} "
              f"({r['test_size'] - r['errors']}/{r['test_size']}), {r['seconds']:.1f} s")
    return {"devices": len(devices), "parallel": parallel, "single": single}


if __name__ == "__main__":
    main()

"""Gray-Scott reaction-diffusion on a torus, stepped on a spatially sharded grid.

Two chemicals `u` and `v` react (`u + 2v -> 3v`) and diffuse; the Laplacian is a
3x3 depthwise `jaxpad.conv` with circular padding on both axes, so the grid is a
torus: spots leaving on the right come back on the left. The grid is split into
blocks over a device mesh ('lat' x 'lon'); `jaxpad.sharded.conv` exchanges one halo
row (or column) with each neighbour per step through `lax.ppermute`, the first and
last blocks of each axis closing the ring. With `--grid climate` the latitude axis
is 'replicate' padded instead (no flux through the poles), as on a climate grid,
and the blocks at the poles fill their halos locally.

The same run on one device (`jaxpad.conv`) must agree to 1e-6; the final `v` field
is saved as a PNG. The runs are in float64 by default: the pattern formation is
chaotic and amplifies float32 rounding differences (one ulp after one step, as
the blocks sum in another order) to about 1e-5 over a few thousand steps.

    python examples/periodic_pde.py                          # all local devices
    python examples/periodic_pde.py --host-devices 8 --mesh 4 2 --grid climate
    python examples/periodic_pde.py --size 32 --steps 50     # smoke test
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import jaxpad
import jaxpad.sharded

# The 5-point Laplacian, once per chemical: (H, W, in/groups=1, out=2), HWIO.
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
KERNEL = np.repeat(LAPLACIAN[:, :, None, None], 2, axis=3)
DIFFUSION = np.array([0.16, 0.08], np.float32)  # of u and v


def initial_state(size: int, seed: int = 0) -> np.ndarray:
    """`u = 1, v = 0` with a few random squares seeded with `v`: shape (1, size, size, 2)."""
    rng = np.random.default_rng(seed)
    state = np.zeros((1, size, size, 2), np.float32)
    state[..., 0] = 1.0
    half = max(size // 16, 1)
    for cy, cx in rng.integers(0, size, size=(5, 2)):
        rows = np.arange(cy - half, cy + half) % size
        cols = np.arange(cx - half, cx + half) % size
        state[0, rows[:, None], cols, 0] = 0.5
        state[0, rows[:, None], cols, 1] = 0.25
    return state + 0.01 * rng.standard_normal(state.shape).astype(np.float32)


def step(state: jax.Array, laplacian, *, feed: float = 0.035, kill: float = 0.06) -> jax.Array:
    """One explicit Euler step (dt = 1) of Gray-Scott."""
    u, v = state[..., 0], state[..., 1]
    reaction = u * v * v
    growth = jnp.stack([-reaction + feed * (1 - u), reaction - (feed + kill) * v], axis=-1)
    return state + DIFFUSION * laplacian(state) + growth


@partial(jax.jit, static_argnames=("laplacian", "steps"))
def run(state: jax.Array, *, laplacian, steps: int) -> jax.Array:
    return jax.lax.fori_loop(0, steps, lambda _, s: step(s, laplacian), state)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--grid", choices=("torus", "climate"), default="torus")
    parser.add_argument("--mesh", type=int, nargs=2, default=None, metavar=("LAT", "LON"),
                        help="devices along each axis (default: all along latitude)")
    parser.add_argument("--host-devices", type=int, default=None,
                        help="split the CPU into this many devices (before jax starts)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--png", default="periodic_pde.png")
    args = parser.parse_args(argv)
    if args.host_devices:
        jax.config.update("jax_num_cpu_devices", args.host_devices)

    shape = tuple(args.mesh) if args.mesh else (len(jax.devices()), 1)
    mesh = jax.make_mesh(shape, ("lat", "lon"), devices=jax.devices()[: shape[0] * shape[1]])
    modes = ("circular", "circular") if args.grid == "torus" else ("replicate", "circular")
    conv = dict(padding="same", padding_mode=modes, groups=2,
                precision=jax.lax.Precision.HIGHEST)
    with jax.enable_x64(args.dtype == "float64"):
        return _compare(args, mesh, shape, modes, conv)


def _compare(args, mesh, shape, modes, conv) -> dict:
    kernel = jnp.asarray(KERNEL, args.dtype)

    def sharded_laplacian(x):
        return jaxpad.sharded.conv(x, kernel, mesh=mesh, spatial_axes=("lat", "lon"), **conv)

    def laplacian(x):
        return jaxpad.conv(x, kernel, **conv)

    state = initial_state(args.size).astype(args.dtype)
    start = time.perf_counter()
    with jax.set_mesh(mesh):
        sharded_state = jax.device_put(state, NamedSharding(mesh, P(None, "lat", "lon")))
        sharded = run(sharded_state, laplacian=sharded_laplacian, steps=args.steps)
        sharded = np.asarray(jax.block_until_ready(sharded))
    sharded_seconds = time.perf_counter() - start
    start = time.perf_counter()
    single = np.asarray(jax.block_until_ready(run(state, laplacian=laplacian, steps=args.steps)))
    single_seconds = time.perf_counter() - start
    diff = float(np.abs(sharded - single).max())
    print(f"Gray-Scott on a {args.size}x{args.size} {args.grid} grid ({modes[0]} latitude, "
          f"{modes[1]} longitude), {args.steps} steps in {args.dtype}")
    print(f"sharded over a {shape[0]}x{shape[1]} mesh of {jax.default_backend()} devices: "
          f"{sharded_seconds:.1f} s; one device: {single_seconds:.1f} s")
    print(f"max |sharded - single device| = {diff:.2e} (v in [{single[..., 1].min():.3f}, "
          f"{single[..., 1].max():.3f}])")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 5))
        ax.imshow(sharded[0, ..., 1], cmap="magma")
        ax.set_title(f"Gray-Scott v after {args.steps} steps ({args.grid}, "
                     f"{shape[0]}x{shape[1]} devices)", fontsize=9)
        ax.axis("off")
        fig.savefig(args.png, dpi=100, bbox_inches="tight")
        plt.close(fig)
        print(f"saved {args.png}")
    return {"max_abs_diff": diff, "mesh": shape, "png": args.png, "v_range": (
        float(single[..., 1].min()), float(single[..., 1].max()))}


if __name__ == "__main__":
    main()

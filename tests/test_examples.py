"""The examples in examples/ run, in short versions (the full runs are by hand; see docs/)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(name: str, *dependencies: str, framework: str = "flax"):
    for dependency in (framework, *dependencies):
        pytest.importorskip(dependency, reason=f"{dependency} is not installed: {name} skipped")
    # The examples import their shared data loader (examples/digits_common.py) from beside them.
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"examples.{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # flax's dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_train_digits_short(capsys):
    example = _example("train_digits", "optax", "sklearn", "tqdm")
    results = example.main(["--epochs", "1", "--limit", "512", "--modes", "reflect", "zeros"])
    assert [r["mode"] for r in results] == ["reflect", "zeros"]
    # Far above chance (10%) after 8 steps; the full run reaches >= 97% (docs/flax.md).
    assert all(r["accuracy"] > 0.5 and r["test_size"] == 450 for r in results)
    out = capsys.readouterr().out
    assert "final test accuracy with reflect padding" in out


def test_train_digits_equinox_short(capsys):
    example = _example("train_digits_equinox", "optax", "sklearn", "tqdm", framework="equinox")
    results = example.main(["--epochs", "3", "--limit", "512", "--modes", "reflect",
                            "--no-progress"])
    assert [r["mode"] for r in results] == ["reflect"]
    # Far above chance (10%) after 24 steps; the full run reaches >= 97% (docs/equinox.md).
    assert results[0]["accuracy"] > 0.5 and results[0]["test_size"] == 450
    assert "final test accuracy with reflect padding" in capsys.readouterr().out


def test_port_keras_conv1d(capsys):
    example = _example("port_keras_conv1d")
    result = example.main(["--batch", "2"])
    assert result["shape"] == (2, 1, 400)
    out = capsys.readouterr().out
    assert "[(7, 8), (7, 8), (7, 8)]" in out  # TF's 'same' for an even kernel of 16
    assert "equal to zero padding on steps 91..295" in out
    if result["max_abs_diff"] is None:
        pytest.skip("keras (torch backend) is not available: the output was not compared")
    assert result["max_abs_diff"] < 1e-5


def test_port_torch_resnet_block():
    example = _example("port_torch_resnet_block", "torch")
    diffs = example.main(["--dim", "8", "--size", "12"])
    assert len(diffs) == 4
    assert all(diff < 1e-5 for diff in diffs.values()), diffs


def test_data_parallel_digits_short(capsys):
    example = _example("data_parallel_digits", "optax", "sklearn", "tqdm")
    result = example.main(["--epochs", "1", "--limit", "512", "--no-progress"])
    assert result["devices"] == len(__import__("jax").local_devices()) >= 8  # conftest.py
    parallel, single = result["parallel"], result["single"]
    assert parallel["accuracy"] > 0.5
    # The same batches and weights; only the order of the gradient sums differs.
    assert abs(parallel["errors"] - single["errors"]) <= 3, (parallel, single)
    assert "data-parallel test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("grid, mesh", [("torus", ["4", "2"]), ("climate", ["2", "4"])])
def test_periodic_pde_short(tmp_path, grid, mesh):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: PNG not drawn")
    example = _example("periodic_pde")
    png = tmp_path / "field.png"
    result = example.main(["--size", "32", "--steps", "200", "--grid", grid, "--mesh", *mesh,
                           "--png", str(png)])
    assert result["mesh"] == tuple(map(int, mesh))
    assert result["max_abs_diff"] <= 1e-6
    assert result["v_range"][1] > 0.1  # the pattern grew
    assert png.stat().st_size > 1000


def test_streaming_codec_short(capsys):
    example = _example("streaming_codec", "optax")
    result = example.main(["--steps", "5", "--seconds", "0.2"])
    assert result["chunks"] == 10
    assert result["max_abs_diff"] < 1e-4  # streamed in 20 ms chunks == offline
    assert result["losses"][-1] < result["losses"][0]
    assert result["rtf"] > 0
    assert "real-time factor" in capsys.readouterr().out


def test_streaming_video_vae_short(capsys):
    example = _example("streaming_video_vae")
    result = example.main(["--frames", "9", "--size", "8", "--group", "2"])
    assert result["shape"] == (1, 5, 4, 4, 16)
    assert result["groups"] == [2, 2, 2, 2, 1]
    assert result["history"] == (1, 2, 10, 10, 3)  # 2 past frames, padded in space
    assert result["max_abs_diff"] < 1e-4
    assert "equal to the offline run" in capsys.readouterr().out

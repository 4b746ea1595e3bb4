"""The whole-model benchmark (`jaxpad.bench.models`): its code path end to end on a tiny
model, and its check that every build computes the same model."""

from __future__ import annotations

import datetime
import json
import shlex
import subprocess
import sys

import jax
import numpy as np
import pytest
from helpers import optional_import, torch

from jaxpad.__main__ import main as cli
from jaxpad.bench import models


def _wrong_modes(monkeypatch):
    """Builds passed `impl='pad'` pad in 'symmetric' where they should not: a wrong program."""
    conv = models._Jaxpad._conv

    def wrong(self, x, w, b, stride, pads, modes, dilation):
        if self.kwargs.get("conv", {}).get("impl") == "pad":
            modes = tuple("symmetric" if m != "zeros" else m for m in modes)
        return conv(self, x, w, b, stride, pads, modes, dilation)

    monkeypatch.setattr(models._Jaxpad, "_conv", wrong)


def test_the_suite_end_to_end_and_a_wrong_build_is_caught(tmp_path, monkeypatch, capsys):
    _wrong_modes(monkeypatch)
    argv = ["bench", "--models", "pde", "--size", "tiny", "--repeats", "1", "--variants",
            "impl=pad", "--out", str(tmp_path), "--note", "a test"]
    assert cli(argv) == 1  # the wrong build fails the run

    backend = jax.default_backend()
    stem = f"{backend}-{datetime.date.today().isoformat()}-models-tiny"
    chart = ("png",) if optional_import("matplotlib") else ()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{stem}.{ext}" for ext in ("json", "md", *chart)]
    report = json.loads((tmp_path / f"{stem}.json").read_text())
    meta = report["meta"]
    assert meta["command"] == "jaxpad bench " + shlex.join(argv[1:])
    assert meta["note"] == "a test" and meta["machine"]["platform"] == backend
    assert meta["machine"]["cores"] >= 1 and meta["machine"]["versions"]["jax"] == jax.__version__

    (result,) = report["results"]
    by = {b["build"]: b for b in result["builds"]}
    expected = ["jaxpad", "jaxpad impl=pad", "zeros", "flax way"]
    with_torch = torch is not None and models._torch_device(torch, backend) is not None
    assert list(by) == expected + (["torch", "torch zeros"] if with_torch else [])
    wrong = by.pop("jaxpad impl=pad")
    assert wrong["error"].startswith("MISMATCH") and wrong["difference"] > 1e-2
    assert "step_ms" not in wrong  # not timed
    assert by["jaxpad"]["difference"] is None  # the reference of the padded builds
    for b in by.values():
        assert b["error"] is None, b
        assert b["step_ms"] > 0 and b["fwd_ms"] > 0 and b["step_ratio"] > 0
        if b["build"] != "jaxpad":
            tol = models.TOLERANCE if backend == "cpu" else models.ACCELERATOR_TOLERANCE
            assert b["difference"] < tol
    for b in (by["jaxpad"], by["zeros"], by["flax way"]):
        assert len(b["compile_s"]) == 1 and b["compile_ratio"] > 0 and b["temp_bytes"] >= 0
    assert by["zeros"]["step_ratio"] == by["zeros"]["temp_ratio"] == 1.0

    md = (tmp_path / f"{stem}.md").read_text()
    assert "MISMATCH" in md and "step <= 1.05x zeros" in md and "a test" in md
    assert "pde float32 jaxpad impl=pad: MISMATCH" in capsys.readouterr().err


def test_import_jaxpad_leaves_the_benchmark_unloaded():
    code = "import sys, jaxpad; print('jaxpad.bench' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def _build(name, output, reference="ref", finite=True):
    return models.Build(name, "jax", reference, output=np.asarray(output, np.float32),
                        finite=finite)


def test_check_refuses_what_differs_from_its_reference():
    ref = np.linspace(-3.0, 3.0, 12).reshape(3, 4)
    builds = [_build("ref", ref, "ref"), _build("same", ref + 1e-5),
              _build("border", np.where(np.arange(4) == 0, 0.0, ref)),
              _build("shape", ref[:, :3]), _build("nan", ref, finite=False),
              _build("orphan", ref, "absent")]
    differences = models.check(builds, "cpu")
    errors = {b.name: b.error for b in builds}
    assert errors["ref"] is None and errors["same"] is None
    assert differences["same"] == pytest.approx(1e-5 / 3, rel=0.1)
    # the first column zeroed: |-3 - 0| against max |ref| = 3
    assert errors["border"] == "MISMATCH: forward differs from 'ref' by 1 (tolerance 0.001)"
    assert errors["shape"] == "output shape (3, 3) differs from 'ref''s (3, 4)"
    assert errors["nan"].startswith("MISMATCH") and differences["nan"] == np.inf
    assert errors["orphan"] == "no output of its reference 'absent' to check against"


def test_variants_name_jaxpad_keywords():
    assert models.parse_variant("impl=pad") == {f: {"impl": "pad"} for f in models.FUNCTIONS}
    assert models.parse_variant("conv.impl=frame,conv.oversize=repeat") == {
        "conv": {"impl": "frame", "oversize": "repeat"}}
    assert models.parse_variant("avg_pool.count_include_pad=False") == {
        "avg_pool": {"count_include_pad": False}}
    with pytest.raises(ValueError, match=r"entries must be key=value .*; got 'impl'"):
        models.parse_variant("impl")
    with pytest.raises(ValueError, match=r"'pool' is not one of 'conv', 'conv_transpose'"):
        models.parse_variant("pool.impl=pad")
    with pytest.raises(ValueError, match=r"jaxpad.max_pool takes no keyword `padding_mode`; "
                                         r"got"):
        models.parse_variant("max_pool.padding_mode=reflect")
    with pytest.raises(ValueError, match=r"no jaxpad function of the models takes a keyword "
                                         r"`implementation`"):
        models.parse_variant("implementation=pad")
    with pytest.raises(SystemExit):  # the command line refuses it before measuring
        models.run(["--variants", "impl"])
    with pytest.raises(ValueError, match=r"`--variants` must differ from each other; got "
                                         r"\['impl=pad', 'impl=pad'\]"):
        models._settings(models._parser().parse_args(["--variants", "impl=pad", "impl=pad",
                                                      "--no-torch"]))


def test_device_check_settings():
    settings = models._settings(models._parser().parse_args(["--device-check", "--no-torch"]))
    assert settings["dtypes"] == ["float32", "bfloat16"]
    assert settings["variants"] == list(models.DEVICE_CHECK_VARIANTS)
    assert settings["size"] == "full" and settings["compile_repeats"] == 1
    assert settings["budget_s"] == models.DEVICE_CHECK_BUDGET_S
    assert settings["stem_suffix"] == "-device-check"
    quick = models._settings(models._parser().parse_args(["--quick", "--no-torch"]))
    assert quick["size"] == "quick" and quick["dtypes"] == ["float32"]
    assert quick["variants"] == [] and quick["budget_s"] is None


def test_model_configs_per_backend():
    unet = next(m for m in models.MODELS if m.name == "unet")
    assert unet.config("full", "cpu")["batch"] == 4
    assert unet.config("full", "gpu")["batch"] == unet.config("full", "tpu")["batch"] == 16
    assert set(models.MODEL_NAMES) == {"unet", "resnet", "video", "audio", "pde"}
    for m in models.MODELS:
        assert set(m.sizes) == set(models.SIZES), m.name


def test_bfloat16_runs_the_programs_that_float32_checked():
    settings = models._settings(models._parser().parse_args(
        ["--size", "tiny", "--repeats", "1", "--no-torch"]))
    settings["verified"].add("pde")  # as after a passing float32 run of it
    pde = next(m for m in models.MODELS if m.name == "pde")
    result = models._measure(pde, "bfloat16", settings)
    assert [b["build"] for b in result["builds"]] == ["jaxpad", "zeros", "flax way"]
    for b in result["builds"]:
        assert b["error"] is None and b["difference"] is None, b
        assert b["step_ms"] > 0 and b["temp_bytes"] > 0

"""The run folder: lock against a second `run`, verified resumes, damaged manifests (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hepc9.artifacts import Manifest, folder_digest, folder_lock, write_json
from hepc9.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "smoke.toml"


def _hepc9(*args, cwd, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hepc9", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_second_run_on_a_locked_folder_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with folder_lock(run_dir):
        out = _hepc9("run", str(SMOKE), "--output", str(run_dir), "--stages", "crb",
                     cwd=tmp_path)
    assert out.returncode == 1
    line = _one_line(out.stderr)
    assert "in use by another hepc9 run" in line
    assert f"pid {os.getpid()}" in line


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (tmp_path / ".hepc9.lock").write_text(f"{proc.pid}\n")
    with folder_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(os.getpid())
    # a second holder in this process: flock on a new descriptor conflicts too
    with folder_lock(tmp_path), pytest.raises(DataError, match="in use"), folder_lock(tmp_path):
        pass


@pytest.mark.parametrize("content", ["[]", '{"stages": []}', '"text"'])
def test_manifest_that_is_not_a_manifest_is_one_line(tmp_path, content):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(content)
    out = _hepc9("run", str(SMOKE), "--output", str(run_dir), "--stages", "crb", cwd=tmp_path)
    assert out.returncode == 1
    assert "manifest" in _one_line(out.stderr)


def test_run_output_onto_a_file_is_one_line(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    out = _hepc9("run", str(SMOKE), "--output", str(target), cwd=tmp_path)
    assert out.returncode == 1
    assert "existing file" in _one_line(out.stderr)


def test_resume_rebuilds_a_stage_whose_folder_output_lost_a_file(tmp_path):
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    (model / "model.keras").write_bytes(b"weights")
    write_json(model / "model.json", {"model": "x"})
    (model / ".model.keras.1.tmp").write_bytes(b"partial")  # hidden temporaries do not count
    m = Manifest(tmp_path, {"seed": 1}, 1)
    m.record("train", input_digest="d", outputs=[model], seconds=1.0)
    record = json.loads((tmp_path / "manifest.json").read_text())["stages"]["train"]
    assert record["outputs"]["models/m"] == folder_digest(model)
    assert Manifest(tmp_path, {"seed": 1}, 1).is_complete("train", "d")
    (model / "model.keras").unlink()
    assert not Manifest(tmp_path, {"seed": 1}, 1).is_complete("train", "d")
    (model / "model.keras").write_bytes(b"other weights")
    assert not Manifest(tmp_path, {"seed": 1}, 1).is_complete("train", "d")


def test_legacy_dir_records_need_a_non_empty_folder(tmp_path):
    (tmp_path / "d").mkdir()
    m = Manifest(tmp_path, {"seed": 1}, 1)
    m.data["stages"]["s"] = {"complete": True, "input_digest": "x", "outputs": {"d": "dir"}}
    assert not m.is_complete("s", "x")
    (tmp_path / "d" / "f").write_text("1")
    assert m.is_complete("s", "x")


@pytest.mark.parametrize(("sets", "needle"), [
    (["evaluate.methods=[]"], "methods"),
    (["datasets.grid='custom'", "datasets.labels=[0.5]"], "at least two training labels"),
    (["datasets.train_per_label=0"], "train_per_label = 0"),
    (["evaluate.truths=[5.0]"], "outside the training labels"),
])
def test_study_that_would_fail_late_is_refused_before_any_work(tmp_path, capsys, sets, needle):
    from hepc9.cli import main

    run_dir = tmp_path / "run"
    argv = ["run", str(SMOKE), "--output", str(run_dir)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 1
    assert needle in _one_line(capsys.readouterr().err)
    assert not run_dir.exists()


def test_seen_flag_of_models_without_a_class_grid(tmp_path, monkeypatch):
    """ResNet/Deep Sets keep no label grid in their info: a truth off the grid is unseen."""
    pytest.importorskip("keras")
    import numpy as np

    import hepc9.pipeline.evaluation as ev
    from hepc9.config import load_config
    from hepc9.datasets.labels import split_labels
    from hepc9.pipeline.run import RunContext

    cfg = load_config(SMOKE, ["evaluate.sets_per_truth=2"])
    monkeypatch.setattr(ev, "load_predictor",
                        lambda folder: (None, {"labels": {"kind": "standardized"}}))
    monkeypatch.setattr(ev, "build_inputs", lambda joined, info, events_per_set: (
        np.zeros((len(joined["q2"]) // events_per_set, 1)), events_per_set))
    monkeypatch.setattr(ev, "predict", lambda model, info, items: {"dc9": np.zeros(len(items))})
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, manifest=Manifest(tmp_path, cfg.to_dict(), 1))
    grid = split_labels(cfg.datasets)["train"]
    truths = [float(grid[0]), float(grid[0] + grid[1]) / 2]
    out = ev._neural_ensembles(ctx, "resnet3d", "gen", 100, truths)
    assert json.loads(out.read_text())["seen"] == [True, False]


@pytest.mark.slow
def test_deleted_model_keras_is_retrained_on_resume(tmp_path):
    """End to end on the smoke study: a run resumes past a deleted ``model.keras``."""
    run_dir = tmp_path / "run"
    first = _hepc9("run", str(SMOKE), "--output", str(run_dir), "--stages",
                   "samples,datasets,train", cwd=tmp_path, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    model = next((run_dir / "models").glob("deepsets_*")) / "model.keras"
    model.unlink()
    again = _hepc9("run", str(SMOKE), "--output", str(run_dir), "--stages",
                   "samples,datasets,train", cwd=tmp_path, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "samples: skipping (complete)" in again.stdout
    assert "datasets: skipping (complete)" in again.stdout
    assert "train: running" in again.stdout
    assert model.is_file()
    assert "outputs are missing or changed" in again.stderr

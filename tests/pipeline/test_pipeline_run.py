"""The whole study on configs/smoke.toml, resume, bad configs, and the dask executor."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hepc9.config import load_config
from hepc9.pipeline.executors import SerialExecutor, make_executor, map_chunks
from hepc9.pipeline.pseudo import chunk_specs, run_fit_chunk

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "configs" / "smoke.toml"


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "hepc9", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    out = _run("run", str(SMOKE), "--output", str(run_dir), cwd=run_dir.parent)
    assert out.returncode == 0, out.stderr[-4000:]
    return run_dir, out


@pytest.mark.slow
def test_smoke_run_produces_every_artefact(smoke_run):
    run_dir, out = smoke_run
    for name in ("report.md", "summary.json", "manifest.json", "samples/sm.root",
                 "samples/bsm.root", "crb/crb.json", "evaluate/comparison.json",
                 "evaluate/comparison.md", "evaluate/gen_N400_fit.json",
                 "evaluate/gen_N400_resnet3d.json", "evaluate/gen_N400_deepsets.json",
                 "evaluate/gen_N400_event.json", "evaluate/gen_N400_event_exact.json",
                 "plots/distributions.png",
                 "plots/linearity.png", "plots/sigma_over_crb.png",
                 "plots/training_resnet3d.png", "plots/image_slices.png",
                 "models/resnet3d_gen_N400/model.keras", "models/deepsets_gen_N400/model.json"):
        assert (run_dir / name).exists(), f"missing {name}"
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = summary["comparison"]["gen"]["rows"]
    methods = {r["method"] for r in rows}
    assert methods == {"fit", "resnet3d", "deepsets", "event", "event_exact", "ratio"}
    fit = [r for r in rows if r["method"] == "fit"]
    assert all(r["sigma_crb"] > 0 for r in fit)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["seed"] == 7
    assert manifest["versions"]["hepc9"]
    assert set(manifest["stages"]) >= {"samples", "datasets", "train", "crb", "evaluate",
                                       "plots", "report"}
    assert "σ/σ_CRB" in out.stdout
    # σ versus N from the fit-only set size: α ≈ 0.5 for the efficient fit (loose: 6 sets)
    scaling = summary["comparison"]["gen"]["sigma_vs_n"]
    assert {"fit@+0.00", "fit@-0.82"} <= set(scaling)
    assert (run_dir / "evaluate" / "gen_N1600_fit.json").exists()
    assert not (run_dir / "evaluate" / "gen_N1600_deepsets.json").exists()


@pytest.mark.slow
def test_rerun_skips_finished_stages(smoke_run):
    run_dir, _ = smoke_run
    before = (run_dir / "summary.json").read_bytes()
    out = _run("run", str(SMOKE), "--output", str(run_dir), cwd=run_dir.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    for stage in ("samples", "datasets", "train", "crb", "evaluate", "plots", "report"):
        assert f"{stage}: skipping (complete)" in out.stdout
    assert (run_dir / "summary.json").read_bytes() == before
    # a changed output invalidates its stage (and the stages after it) on the next run
    (run_dir / "crb" / "crb.json").write_text('{"bounds": []}')
    from hepc9.artifacts import Manifest
    from hepc9.pipeline.run import RunContext, _stage_digest

    cfg = load_config(SMOKE)
    m = Manifest(run_dir, cfg.to_dict(), cfg.seed)
    ctx = RunContext(cfg=cfg, run_dir=run_dir, manifest=m)
    assert not m.is_complete("crb", _stage_digest(ctx, "crb"))


def test_bad_config_fails_before_any_work(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SMOKE.read_text().replace("sets_per_truth", "sets_per_truht"))
    out = _run("run", str(bad), "--output", str(tmp_path / "run"), cwd=tmp_path)
    assert out.returncode == 1
    assert "did you mean 'sets_per_truth'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()
    wrong_type = tmp_path / "type.toml"
    wrong_type.write_text('[evaluate]\nsets_per_truth = "many"\n')
    out = _run("run", str(wrong_type), cwd=tmp_path)
    assert out.returncode == 1
    assert "must be an integer" in out.stderr
    impossible = tmp_path / "imp.toml"
    impossible.write_text('[evaluate]\nlevels = ["det"]\n')
    out = _run("run", str(impossible), cwd=tmp_path)
    assert out.returncode == 1
    assert "[detector]" in out.stderr
    assert not (tmp_path / "runs").exists()


def _campaign_config():
    cfg = load_config(SMOKE)
    return cfg.replace(evaluate=dataclasses.replace(cfg.evaluate, minos=False))


@pytest.mark.slow
def test_dask_local_cluster_is_bit_identical_to_serial():
    pytest.importorskip("distributed")
    cfg = _campaign_config()
    specs = chunk_specs(cfg, level="gen", n_events=300, truths=[-1.0, 0.5], n_sets=30)
    serial = map_chunks(run_fit_chunk, specs, SerialExecutor())
    scale = dataclasses.replace(cfg.scale, executor="dask", scheduler_address="local", workers=2)
    with make_executor(scale) as ex:
        distributed = map_chunks(run_fit_chunk, specs, ex)
    for a, b in zip(serial, distributed, strict=True):
        for key in a:
            diff = np.max(np.abs(np.asarray(a[key]) - np.asarray(b[key])))
            assert diff == 0.0, f"{key} differs by {diff}"
    assert len(serial) == 4
    assert sum(len(r["value"]) for r in serial) == 60


def test_detector_level_methods_are_a_subset_of_the_methods(tmp_path):
    from hepc9.artifacts import Manifest
    from hepc9.errors import ConfigError
    from hepc9.pipeline.run import RunContext

    base = ["evaluate.methods=['fit','deepsets','ratio']", "evaluate.levels=['gen','det']",
            "detector.enabled=true"]
    cfg = load_config(overrides=[*base, "evaluate.det_methods=['fit','ratio']"])
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, manifest=Manifest(tmp_path, {}, 1))
    assert ctx.methods_at("gen") == ["fit", "deepsets", "ratio"]
    assert ctx.methods_at("det") == ["fit", "ratio"]
    assert "deepsets" in ctx.neural_at("gen")
    assert "deepsets" not in ctx.neural_at("det")
    assert "ratio" in ctx.neural_at("det")
    # empty: every method at both levels
    full = RunContext(cfg=load_config(overrides=base), run_dir=tmp_path,
                      manifest=Manifest(tmp_path, {}, 1))
    assert full.methods_at("det") == full.methods_at("gen")
    with pytest.raises(ConfigError, match=r"det_methods.*'event'.*not in methods"):
        load_config(overrides=[*base, "evaluate.det_methods=['fit','event']"])

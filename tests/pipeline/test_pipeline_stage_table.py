"""The explicit stage table of ``hepc9 run`` and the registry-driven method lists."""

import dataclasses
from pathlib import Path

import pytest

from hepc9.artifacts import Manifest
from hepc9.config import load_config
from hepc9.errors import ConfigError
from hepc9.models import EstimatorSpec, register, unregister
from hepc9.pipeline import evaluation, report, stages
from hepc9.pipeline.layout import item_kind
from hepc9.pipeline.run import STAGE_ORDER, STAGES, RunContext, run_study

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.toml"


def test_stage_table_lists_every_stage_function_once():
    assert STAGE_ORDER == ("samples", "detector", "datasets", "train", "crb", "evaluate",
                           "plots", "report")
    for i, stage in enumerate(STAGES):
        assert stage.run.__name__ == f"stage_{stage.name}"
        # inputs are earlier stages
        assert set(stage.inputs) <= set(STAGE_ORDER[:i]), stage.name
    assert {s.run for s in STAGES} == {
        stages.stage_samples, stages.stage_detector, stages.stage_datasets, stages.stage_train,
        stages.stage_crb, evaluation.stage_evaluate, report.stage_plots, report.stage_report}
    # the old import path of the stage functions still works
    assert stages.stage_evaluate is evaluation.stage_evaluate
    assert stages.stage_report is report.stage_report
    assert "getattr" not in (Path(stages.__file__).parent / "run.py").read_text()


def test_enabled_stages_follow_the_config(tmp_path):
    cfg = load_config(SMOKE)
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, manifest=Manifest(tmp_path, {}, 7))
    on = {s.name for s in STAGES if s.enabled(ctx)}
    assert on == set(STAGE_ORDER) - {"detector"}
    fit_only = cfg.replace(evaluate=dataclasses.replace(cfg.evaluate, methods=("fit",)))
    ctx = RunContext(cfg=fit_only, run_dir=tmp_path, manifest=ctx.manifest)
    assert ctx.neural == []
    assert {s.name for s in STAGES if s.enabled(ctx)} == set(STAGE_ORDER) - {
        "detector", "datasets", "train"}


def test_a_registered_estimator_joins_the_run(tmp_path):
    register(EstimatorSpec(name="toy_images", builder="hepc9.models.resnet3d:build",
                           item_kind="images"))
    try:
        cfg = load_config(SMOKE)
        # [evaluate] methods is validated by the config; the run reads only the registry
        ev = dataclasses.replace(cfg.evaluate, methods=("fit", "toy_images", "deepsets"))
        ctx = RunContext(cfg=cfg.replace(evaluate=ev), run_dir=tmp_path,
                         manifest=Manifest(tmp_path, {}, 7))
        assert ctx.neural == ["deepsets", "toy_images"]
        assert item_kind("toy_images") == "images"
    finally:
        unregister("toy_images")


def test_unknown_method_fails_before_the_run_directory_exists(tmp_path):
    cfg = load_config(SMOKE)
    # bypass the config's own check: the run asks the registry
    bad = cfg.replace(evaluate=dataclasses.replace(cfg.evaluate, methods=("fit", "deepset")))
    with pytest.raises(ConfigError, match="did you mean 'deepsets'"):
        run_study(bad, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_study_is_drawn_from_the_rate_not_a_proposal_density(tmp_path):
    cfg = load_config(SMOKE, ["generate.density='flat_angles'"])
    with pytest.raises(ConfigError, match="efficiency_density"):
        run_study(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_relative_run_folder_records_its_outputs(tmp_path, monkeypatch):
    """The README's command runs in ``runs/<name>``, a folder relative to the working one."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(SMOKE, ["generate.events=2000"])
    run_study(cfg, Path("runs") / "rel", show_progress=False, stages=("samples",))
    manifest = Manifest(tmp_path / "runs" / "rel", cfg.to_dict(), cfg.seed)
    assert manifest.run_dir.is_absolute()
    outputs = manifest.data["stages"]["samples"]["outputs"]
    assert outputs
    for rel in outputs:
        assert not Path(rel).is_absolute()
        assert not rel.startswith("runs")
        assert (tmp_path / "runs" / "rel" / rel).exists()
    # a second run finds the stage complete (its outputs are where the manifest says)
    assert manifest.is_complete("samples", manifest.data["stages"]["samples"]["input_digest"])

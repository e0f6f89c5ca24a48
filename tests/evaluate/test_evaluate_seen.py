"""The ``seen`` flag: on the label grid for grid-trained estimators, inside the prior range for
estimators trained on labels drawn from a continuous prior."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hepc9.config import load_config
from hepc9.datasets.labels import split_labels
from hepc9.errors import DataError
from hepc9.evaluate.ensembles import run_pseudo_experiments
from hepc9.evaluate.results import summarise_ensemble
from hepc9.pipeline.evaluation import seen_rule

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.toml"


def test_truths_inside_a_continuous_prior_are_seen_wherever_the_grid_is():
    rng = np.random.default_rng(4)
    preds = {t: rng.normal(t, 0.1, 50) for t in (-2.6, -2.5, -0.37, 1.5, 1.6)}
    res = summarise_ensemble("deepsets", preds, events_per_set=100, seen_range=(-2.5, 1.5))
    assert res.seen == (False, True, True, True, False)
    grid = summarise_ensemble("deepsets", preds, events_per_set=100, seen_labels=[-2.5, 1.5])
    assert grid.seen == (False, True, False, True, False)
    with pytest.raises(DataError, match="not both"):
        summarise_ensemble("m", preds, events_per_set=100, seen_labels=[0.0],
                           seen_range=(-1.0, 1.0))
    with pytest.raises(DataError, match="not an interval"):
        summarise_ensemble("m", preds, events_per_set=100, seen_range=(1.0, 1.0))
    run = run_pseudo_experiments("m", lambda b: (np.asarray(b), None, None),
                                 [(0.3, [0.2, 0.4]), (3.0, [2.9, 3.1])], events_per_set=10,
                                 seen_range=(-1.0, 1.0))
    assert run.result.seen == (True, False)


def test_the_rule_follows_what_the_model_records():
    d = load_config(SMOKE).datasets
    grid = split_labels(d)["train"]
    streamed = {"labels": {"kind": "standardized", "prior": {"low": -2.5, "high": 1.5}}}
    assert seen_rule(streamed, d) == {"seen_range": (-2.5, 1.5)}
    binned = {"labels": {"kind": "grid", "grid": [-2.5, 0.0, 1.5], "binned": True,
                         "prior": {"low": -2.5, "high": 1.5}}}
    assert seen_rule(binned, d) == {"seen_range": (-2.5, 1.5)}
    stored = seen_rule({"labels": {"kind": "standardized"}}, d)
    np.testing.assert_array_equal(stored["seen_labels"], grid)
    assert set(stored) == {"seen_labels"}


def test_a_streamed_model_marks_a_truth_between_grid_labels_seen(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    import hepc9.pipeline.evaluation as ev
    from hepc9.artifacts import Manifest
    from hepc9.pipeline.run import RunContext

    cfg = load_config(SMOKE, ["evaluate.sets_per_truth=2"])
    lo, hi = cfg.datasets.prior_range
    info = {"labels": {"kind": "standardized", "prior": {"low": lo, "high": hi}}}
    monkeypatch.setattr(ev, "load_predictor", lambda folder: (None, info))
    monkeypatch.setattr(ev, "build_inputs", lambda joined, info, events_per_set: (
        np.zeros((len(joined["q2"]) // events_per_set, 1)), events_per_set))
    monkeypatch.setattr(ev, "predict", lambda model, info, items: {"dc9": np.zeros(len(items))})
    ctx = RunContext(cfg=cfg, run_dir=tmp_path, manifest=Manifest(tmp_path, cfg.to_dict(), 1))
    grid = split_labels(cfg.datasets)["train"]
    between = float(grid[0] + grid[1]) / 2
    outside = float(hi) + 0.5
    out = ev._neural_ensembles(ctx, "resnet3d", "gen", 100, [between, outside])
    assert json.loads(out.read_text())["seen"] == [True, False]

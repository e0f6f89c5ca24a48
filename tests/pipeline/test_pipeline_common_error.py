"""Detector-level fit ensembles report the error their shared auxiliary samples give the bias.

Every detector-level fit pseudo-experiment uses the ``detector`` stage's one efficiency sample
and one sideband template; their fluctuations shift the whole ensemble.  The evaluation stores
that common error (template ⊕ efficiency component) per truth and the table shows it.
"""

import json
import math

import numpy as np
import pytest

from hepc9.artifacts import Manifest
from hepc9.config import load_config
from hepc9.errors import DataError
from hepc9.evaluate.ensembles import EnsembleResult, run_pseudo_experiments, summarise_ensemble
from hepc9.evaluate.tables import comparison_markdown, comparison_rows, comparison_text
from hepc9.fit import fit_events
from hepc9.pipeline.detector_sets import detector_fit_options
from hepc9.pipeline.pseudo import chunk_specs, generate_sets, run_fit_chunk
from hepc9.pipeline.run import RunContext
from hepc9.pipeline.stages import stage_detector

N = 600


def _detector_run(tmp_path, events):
    cfg = load_config(overrides=["detector.enabled=true", "background.enabled=true",
                                 "background.fraction=0.3", f"generate.events={events}",
                                 "seed=5"])
    run_dir = tmp_path / f"run{events}"
    ctx = RunContext(cfg=cfg, run_dir=run_dir, manifest=Manifest(run_dir, cfg.to_dict(), 5))
    stage_detector(ctx)
    return cfg, run_dir


@pytest.mark.slow
def test_detector_fit_chunks_report_the_shared_sample_error(tmp_path):
    common = {}
    for events in (20_000, 80_000):
        cfg, run_dir = _detector_run(tmp_path, events)
        (spec,) = chunk_specs(cfg, level="det", n_events=N, truths=[-0.82], n_sets=3,
                              run_dir=str(run_dir))
        out = run_fit_chunk(spec)
        assert len(out["common_error"]) == len(out["value"]) == 3
        assert len(set(out["common_error"])) == 1
        # the components of the first set's fit with the efficiency error propagated
        first = generate_sets(spec)[0]
        kw = {**detector_fit_options(cfg, run_dir), "efficiency_error": "linear"}
        comp = fit_events(first, free=("dc9",), **kw)
        c = comp.error_components
        want = math.hypot(c["template"]["dc9"], c["efficiency"]["dc9"])
        assert out["common_error"][0] == pytest.approx(want, rel=1e-9)
        # the per-set errors carry no efficiency component: they are smaller than the total
        assert out["error"][0] < comp.errors["dc9"]
        common[events] = out["common_error"][0]
    # both samples grow 4×: the common error halves (1/√n, loose for sampling noise)
    assert 1.5 < common[20_000] / common[80_000] < 2.7


def test_generator_level_chunks_have_no_common_error():
    cfg = load_config(overrides=["seed=5"])
    (spec,) = chunk_specs(cfg, level="gen", n_events=300, truths=[0.0], n_sets=2)
    out = run_fit_chunk(spec)
    assert "common_error" not in out
    run = run_pseudo_experiments("fit", lambda s: s, [(0.0, out), (0.5, out)],
                                 events_per_set=300)
    assert run.result.common_error is None


def _hand_made(common):
    preds = {t: np.array([t - 0.1, t + 0.05, t + 0.1, t + 0.15]) for t in (-1.0, 0.0, 0.5)}
    return summarise_ensemble("fit", preds, events_per_set=100, common_error=common)


def test_common_error_travels_to_rows_tables_and_json():
    batches = [(t, {"value": [t + 0.01, t + 0.03], "error": [0.1, 0.1],
                    "common_error": [0.02 * (i + 1)] * 2})
               for i, t in enumerate((-1.0, 0.0, 0.5))]
    run = run_pseudo_experiments("fit", lambda b: b, batches, events_per_set=100)
    assert run.result.common_error == pytest.approx((0.02, 0.04, 0.06))
    res = _hand_made({-1.0: 0.01, 0.0: 0.02, 0.5: 0.03})
    (row,) = comparison_rows([res], {(0.0, 100): 0.1}, truths=[0.0])
    assert row["bias_common_err"] == pytest.approx(0.02)
    assert row["bias"] == pytest.approx(0.05)
    assert "+0.0500 ± 0.0540 (± 0.0200 common)" in comparison_markdown([row])
    assert "(± 0.0200 common)" in comparison_text([row])
    again = EnsembleResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again.common_error == res.common_error
    # summaries written before the column, and estimators without shared samples
    old = {k: v for k, v in res.to_dict().items() if k != "common_error"}
    (legacy,) = comparison_rows([EnsembleResult.from_dict(old)], {(0.0, 100): 0.1},
                                truths=[0.0])
    assert legacy["bias_common_err"] is None
    assert "common" not in comparison_markdown([legacy])


@pytest.mark.parametrize("bad", [{-1.0: 0.01, 0.0: 0.02}, {-1.0: 0.01, 0.0: math.nan, 0.5: 0.0},
                                 {-1.0: -0.01, 0.0: 0.02, 0.5: 0.0}])
def test_common_error_must_be_complete_and_valid(bad):
    with pytest.raises(DataError, match="common errors"):
        _hand_made(bad)

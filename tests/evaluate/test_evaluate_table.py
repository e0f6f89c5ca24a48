"""The comparison table on hand-made ensembles: slope, corrected ratio, coverage, bounds, edges."""

import json

import numpy as np
import pytest

from hepc9.errors import DataError
from hepc9.evaluate.ensembles import EnsembleResult, summarise_ensemble
from hepc9.evaluate.metrics import linearity_fit, resolution
from hepc9.evaluate.tables import (
    comparison_markdown,
    comparison_rows,
    comparison_text,
    readme_markdown,
)
from hepc9.pipeline.evaluation import estimator_context

TRUTHS = (-1.0, 0.0, 0.5)


def _exact(mean, sigma, n, seed):
    """n values with exactly this mean and standard deviation (ddof=1)."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sigma * z


def _ensemble(slope=0.5, sigma=0.1, n=200, **kw):
    preds = {t: _exact(slope * t + 0.05, sigma, n, i) for i, t in enumerate(TRUTHS)}
    return summarise_ensemble("net", preds, events_per_set=1000, **kw)


def _with_intervals():
    """Slope 0.5, σ 0.1, 200 sets per truth; exactly 150 of the 200 intervals at 0 cover it."""
    preds = {t: _exact(0.5 * t + 0.05, 0.1, 200, i) for i, t in enumerate(TRUTHS)}
    lo = {t: np.full(200, t - 1.0) for t in TRUTHS}
    hi = {t: np.full(200, t + 1.0) for t in TRUTHS}
    hi[0.0][:50] = -0.5
    return summarise_ensemble("net", preds, events_per_set=1000,
                              intervals={t: (lo[t], hi[t]) for t in TRUTHS})


def test_resolution_formulas_hand_computed():
    res = _ensemble()
    lin = res.linearity
    assert lin.slope == pytest.approx(0.5, abs=1e-12)
    # equal weights σ/√n: σ(slope) = (σ/√n)/√Σ(t − t̄)²
    t = np.array(TRUTHS)
    assert lin.slope_err == pytest.approx(0.1 / np.sqrt(200) / np.sqrt(np.sum((t - t.mean())**2)))
    r = resolution(res.at(0.0), lin)
    assert r.sigma == pytest.approx(0.1)
    assert r.sigma_err == pytest.approx(0.1 / np.sqrt(2 * 199))
    assert r.corrected == pytest.approx(0.2)
    want = 0.2 * np.sqrt(1 / (2 * 199) + (lin.slope_err / 0.5) ** 2)
    assert r.corrected_err == pytest.approx(want)
    ratios = r.over(0.25)
    assert ratios["corrected_over_crb"] == pytest.approx(0.8)
    assert ratios["sigma_over_crb"] == pytest.approx(0.4)
    assert ratios["corrected_over_crb_err"] == pytest.approx(want / 0.25)
    # a negative slope measures as well as a positive one; none: no correction
    neg = linearity_fit(t, -0.5 * t, np.full(3, 0.01))
    assert resolution(res.at(0.0), neg).corrected == pytest.approx(0.2)
    assert resolution(res.at(0.0), None).corrected is None


def test_rows_slope_corrected_ratio_bias_rmse_and_coverage():
    res = _with_intervals()
    rows = comparison_rows([res], {(0.0, 1000): 0.25}, truths=[0.0])
    (r,) = rows
    assert r["slope"] == pytest.approx(0.5)
    assert r["sigma_corrected"] == pytest.approx(0.2)
    assert r["corrected_over_crb"] == pytest.approx(0.8)
    assert r["sigma_over_crb"] == pytest.approx(0.4)
    assert r["bias"] == pytest.approx(0.05)
    assert r["bias_err"] == pytest.approx(0.1 / np.sqrt(200))
    assert r["rmse"] == pytest.approx(np.sqrt(0.05**2 + 0.1**2 * 199 / 200))
    # δ√MSE = sd((x − t)²)/√n / (2√MSE), from the same predictions (truth 0 is seed 1)
    sq = _exact(0.05, 0.1, 200, 1) ** 2
    want = sq.std(ddof=1) / np.sqrt(200) / (2 * r["rmse"])
    assert r["rmse_err"] == pytest.approx(want)
    assert r["rmse_over_crb_err"] == pytest.approx(want / 0.25)
    assert r["coverage_likelihood"] == pytest.approx(0.75)
    assert r["coverage_likelihood_err"] == pytest.approx(np.sqrt(0.75 * 0.25 / 200))
    assert r["coverage"] == r["coverage_likelihood"]
    assert r["coverage_neyman"] is not None
    assert r["halfwidth_likelihood"] == pytest.approx((150 * 1.0 + 50 * 0.25) / 200)
    md = comparison_markdown(rows)
    assert "(σ/slope)/σ_CRB" in md
    assert "| 0.80 ± " in md
    assert "0.75 ± 0.03" in md
    # Neyman as headline coverage
    (rn,) = comparison_rows([res], {(0.0, 1000): 0.25}, truths=[0.0], interval_kind="neyman")
    assert rn["coverage"] == rn["coverage_neyman"]
    with pytest.raises(DataError):
        comparison_rows([res], {}, interval_kind="bayes")


def test_no_intervals_means_coverage_not_available():
    res = _ensemble()
    assert res.intervals is None
    assert res.coverage is None
    (r,) = comparison_rows([res], {(0.0, 1000): 0.25}, truths=[0.0])
    assert r["coverage_likelihood"] is None
    assert "n/a" in comparison_markdown([r])
    assert json.loads(json.dumps(res.to_dict()))["intervals"] is None


def test_bound_matched_to_fraction_mode():
    crb = {(0.0, 1000): 0.3}
    bounds = {"free": {(0.0, 1000): 0.3}, "fixed": {(0.0, 1000): 0.2}}
    fixed = _ensemble(fraction="fixed")
    free = _ensemble(fraction="free")
    (rf,) = comparison_rows([fixed], crb, truths=[0.0], bounds=bounds)
    (rr,) = comparison_rows([free], crb, truths=[0.0], bounds=bounds)
    assert rf["sigma_crb"] == 0.2
    assert rf["bound"] == "fraction fixed"
    assert rr["sigma_crb"] == 0.3
    assert rr["bound"] == "fraction free"
    assert rf["corrected_over_crb"] == pytest.approx(1.0)
    (rg,) = comparison_rows([_ensemble()], crb, truths=[0.0])
    assert rg["bound"] == "no background"
    assert rg["sigma_crb"] == 0.3
    with pytest.raises(DataError):
        _ensemble(fraction="sometimes")


def test_prior_edge_excludes_trained_rows_not_the_fit():
    crb = {(0.0, 1000): 0.2, (0.5, 1000): 0.2}
    net = _ensemble(prior=(-1.0, 1.0))
    fit = summarise_ensemble("fit", {t: _exact(t, 0.1, 50, 3) for t in TRUTHS},
                             events_per_set=1000)
    rows = comparison_rows([net, fit], crb, truths=[0.0, 0.5])
    by = {(r["method"], r["truth"]): r for r in rows}
    assert by[("net", 0.0)]["headline"]
    assert by[("net", 0.0)]["edge_sigmas"] == pytest.approx(5)
    assert not by[("net", 0.5)]["headline"]  # 0.5 from the edge = 2.5 σ_CRB
    assert by[("net", 0.5)]["edge_sigmas"] == pytest.approx(2.5)
    assert by[("fit", 0.5)]["headline"]
    assert by[("fit", 0.5)]["edge_sigmas"] is None
    assert comparison_rows([net], crb, truths=[0.5], edge_sigmas=2.0)[0]["headline"]
    md = comparison_markdown(rows)
    head, _, tail = md.partition("Excluded from the headline")
    assert "| +0.50 | 1000 | net |" in tail
    assert "| +0.50 | 1000 | net |" not in head
    readme = readme_markdown([{**r, "level": "gen"} for r in rows])
    assert readme.count("| gen |") == 3
    text = comparison_text(rows).splitlines()
    assert len(text) == 1 + len(rows)
    # headline rows first; the edge row is last and marked
    assert text[-1].endswith("(near prior edge)")
    assert " net " in text[-1]
    assert sum("(near prior edge)" in line for line in text) == 1


def test_terminal_table_shows_errors_and_coverage():
    res = _with_intervals()
    (line,) = comparison_text(comparison_rows([res], {(0.0, 1000): 0.25},
                                              truths=[0.0])).splitlines()[1:]
    assert "+0.0500 ± 0.0071" in line  # bias ± σ/√n
    assert "0.500 ± " in line  # slope
    assert "0.80 ± " in line  # (σ/slope)/σ_CRB
    assert "0.75 ± 0.03" in line  # coverage of the stored intervals


def test_intervals_stored_per_set_and_old_files_read():
    preds = {t: np.array([t - 0.1, t, t + 0.1, t + 0.3]) for t in TRUTHS}
    iv = {t: (v - 0.2, v + 0.2) for t, v in preds.items()}
    res = summarise_ensemble("fit", preds, events_per_set=10, intervals=iv)
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d["intervals"]) == set(d["predictions"])
    np.testing.assert_allclose(d["intervals"]["0.0"],
                               [[-0.3, 0.1], [-0.2, 0.2], [-0.1, 0.3], [0.1, 0.5]])
    assert res.coverage[res.index(0.0)] == 0.75
    again = EnsembleResult.from_dict(d)
    assert again.intervals[0.0][3] == pytest.approx((0.1, 0.5))
    assert again.neyman_coverage == res.neyman_coverage
    old = {k: v for k, v in d.items() if k not in
           ("intervals", "neyman_intervals", "neyman_coverage", "neyman_coverage_err", "prior",
            "fraction")}
    legacy = EnsembleResult.from_dict(old)
    assert legacy.intervals is None
    assert legacy.prior is None
    assert legacy.fraction is None
    assert legacy.coverage == res.coverage
    # summaries written before the √MSE error: rows leave it out instead of failing
    for point in old["points"]:
        point.pop("mse_err")
    (row,) = comparison_rows([EnsembleResult.from_dict(old)], {(0.0, 10): 0.2}, truths=[0.0])
    assert row["rmse_err"] is None
    assert row["rmse_over_crb"] == pytest.approx(row["rmse"] / 0.2)


def test_estimator_context_reads_model_json_keys():
    assert estimator_context({"labels": {"prior": {"low": -3.0, "high": 2.0}}},
                             with_background=False) == ((-3.0, 2.0), None)
    assert estimator_context({"labels": {"prior": [-3, 2]}, "training":
                              {"background_fraction": "varied"}},
                             with_background=True) == ((-3.0, 2.0), "free")
    fitted = {"labels": {"prior": [-3, 2]}, "training": {"background_fraction": "free"}}
    assert estimator_context(fitted, with_background=True) == ((-3.0, 2.0), "free")
    grid = {"labels": {"kind": "grid", "grid": [-2.0, -1.0, 0.0, 1.0]}}
    assert estimator_context(grid, with_background=True) == ((-2.0, 1.0), "fixed")
    reg = {"labels": {"kind": "standardized", "mean": 0, "std": 1},
           "dataset_index": {"labels": [1.0, -2.0, 0.5]}}
    assert estimator_context(reg, with_background=False) == ((-2.0, 1.0), None)
    assert estimator_context({}, with_background=False) == (None, None)


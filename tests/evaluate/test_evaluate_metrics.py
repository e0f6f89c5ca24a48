"""Metrics against hand-computed cases."""

import numpy as np
import pytest

from hepc9.errors import DataError
from hepc9.evaluate.ensembles import EnsembleResult, evaluate_estimator, summarise_ensemble
from hepc9.evaluate.metrics import coverage, linearity_fit, pulls, summarise_point
from hepc9.evaluate.tables import comparison_markdown, comparison_rows, sensitivity_scaling


def test_point_summary_hand_computed():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    s = summarise_point(x, truth=2.0)
    assert s.mean == 3.0
    assert s.median == 3.0
    assert s.bias == 1.0
    assert s.std == pytest.approx(np.sqrt(2.5))
    assert s.mse == pytest.approx((1 + 0 + 1 + 4 + 9) / 5)
    assert s.mae == pytest.approx((1 + 0 + 1 + 2 + 3) / 5)
    # numpy's linear quantiles: q16 at position 0.64 → 1.64, q84 at 3.36 → 4.36
    assert s.q16 == pytest.approx(1.64)
    assert s.q84 == pytest.approx(4.36)
    assert s.sigma_l == pytest.approx(1.36)
    assert s.sigma_r == pytest.approx(1.36)
    assert s.bias_err == pytest.approx(np.sqrt(2.5 / 5))


def test_point_summary_gaussian_widths():
    rng = np.random.default_rng(1)
    x = rng.normal(0.3, 0.2, 200_000)
    s = summarise_point(x, truth=0.3)
    assert s.sigma_l == pytest.approx(0.2, rel=0.02)
    assert s.sigma_r == pytest.approx(0.2, rel=0.02)
    assert abs(s.bias) < 5 * s.bias_err


def test_point_summary_bad_input():
    with pytest.raises(DataError):
        summarise_point(np.array([1.0]), 0.0)
    with pytest.raises(DataError, match="not finite"):
        summarise_point(np.array([1.0, np.nan, 2.0]), 0.0)


def test_linearity_exact_line_and_errors():
    t = np.array([-2.0, -1.0, 0.0, 1.0])
    lin = linearity_fit(t, 0.5 * t + 0.1, np.full(4, 0.1))
    assert lin.slope == pytest.approx(0.5)
    assert lin.intercept == pytest.approx(0.1)
    assert lin.chi2 == pytest.approx(0.0, abs=1e-20)
    assert lin.ndof == 2
    # σ(slope) = σ/√Σ(t−t̄)²  for equal weights
    assert lin.slope_err == pytest.approx(0.1 / np.sqrt(np.sum((t - t.mean()) ** 2)))
    with pytest.raises(DataError):
        linearity_fit(t[:2], t[:2], [1, 1])


def test_coverage_and_pulls():
    p, e = coverage(0.0, np.array([-1, -1, 1, -1.0]), np.array([1, 1, 2, -0.5]))
    assert p == 0.5
    assert e == pytest.approx(np.sqrt(0.25 / 4))
    np.testing.assert_allclose(pulls(np.array([1.0, 3.0]), np.array([1.0, 2.0]), 1.0), [0, 1])


def test_ensemble_roundtrip_and_table():
    rng = np.random.default_rng(2)
    preds = {t: rng.normal(t, 0.1, 400) for t in (-0.82, 0.0, 0.5)}
    res = summarise_ensemble("fit", preds, events_per_set=24000, seen_labels=[0.0, -0.82])
    assert res.seen == (True, True, False)
    assert res.linearity.slope == pytest.approx(1.0, abs=0.05)
    again = EnsembleResult.from_dict(res.to_dict())
    assert again.at(0.0).mean == res.at(0.0).mean
    rows = comparison_rows([res], {(0.0, 24000): 0.1, (-0.82, 24000): 0.1})
    assert len(rows) == 2
    assert rows[0]["sigma_over_crb"] == pytest.approx(1.0, abs=0.1)
    md = comparison_markdown(rows)
    assert md.count("\n") == 4
    assert "| fit |" in md


def test_evaluate_estimator_with_intervals():
    sets = {0.0: np.zeros((10, 3)), 1.0: np.ones((10, 3))}

    def est(batch):
        v = batch.mean(axis=1)
        return v, v - 0.5, v + 0.5

    res = evaluate_estimator("toy", est, sets, events_per_set=3)
    assert res.coverage == (1.0, 1.0)


def test_sensitivity_scaling():
    n = np.array([1000, 4000, 16000])
    out = sensitivity_scaling(n, 3.0 / np.sqrt(n))
    assert out["alpha"] == pytest.approx(0.5)
    assert out["amplitude"] == pytest.approx(3.0)

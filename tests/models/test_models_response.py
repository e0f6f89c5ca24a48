"""Response calibration of regression estimators: fit, inversion, refusal, closure."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hepc9.models.response import MIN_SLOPE, TRIM, apply_response, fit_response


def _toy(n, seed, *, noise=0.2):
    """Predictions with slope 0.9, offset +0.1, curvature and noise: a shrinking network."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(-2.5, 1.5, n)
    g = 0.1 + 0.9 * t + 0.04 * t**2
    return t, g + rng.normal(0.0, noise, n)


def test_inverse_response_removes_slope_and_offset():
    t, p = _toy(4000, 0)
    record = fit_response(t, p)
    assert record["applied"]
    assert record["reason"] == ""
    # fitted on the inner 70 % of the label range
    w = t.max() - t.min()
    assert record["range"][0] == pytest.approx(t.min() + TRIM * w, abs=0.01)
    assert record["range"][1] == pytest.approx(t.max() - TRIM * w, abs=0.01)
    assert record["n"] == pytest.approx(0.7 * t.size, rel=0.05)
    assert 0.15 < record["rms"] < 0.25
    # closure on independent sets at fixed truths: mean calibrated estimate = truth within
    # its statistical error, where the uncalibrated one is off by the offset and slope
    rng = np.random.default_rng(1)
    for truth in (-1.5, -0.82, 0.0, 0.5):
        raw = 0.1 + 0.9 * truth + 0.04 * truth**2 + rng.normal(0.0, 0.2, 20000)
        cal = apply_response(raw, record)
        err = cal.std() / np.sqrt(cal.size)
        assert abs(cal.mean() - truth) < 4 * err + 0.01
        assert abs(raw.mean() - truth) > 0.04
        # the spread is divided by the local slope g'(truth)
        assert cal.std() == pytest.approx(raw.std() / (0.9 + 0.08 * truth), rel=0.03)


def test_inversion_is_continuous_and_linear_beyond_the_range():
    t, p = _toy(2000, 2)
    record = fit_response(t, p)
    coef, c = np.asarray(record["coef"]), record["centre"]
    lo, hi = record["range"]
    g_lo, g_hi = np.polyval(coef, lo - c), np.polyval(coef, hi - c)
    s_lo = np.polyval(np.polyder(coef), lo - c)
    s_hi = np.polyval(np.polyder(coef), hi - c)
    eps = 1e-7
    out = apply_response(np.array([g_lo - eps, g_lo + eps, g_hi - eps, g_hi + eps]), record)
    np.testing.assert_allclose(out, [lo, lo, hi, hi], atol=1e-5)
    far = apply_response(np.array([g_lo - 1.0, g_hi + 1.0]), record)
    np.testing.assert_allclose(far, [lo - 1.0 / s_lo, hi + 1.0 / s_hi], rtol=1e-9)
    # inside, g⁻¹(g(θ)) = θ
    theta = np.linspace(lo, hi, 7)
    np.testing.assert_allclose(apply_response(np.polyval(coef, theta - c), record), theta,
                               atol=1e-4)


def test_flat_response_is_not_inverted():
    rng = np.random.default_rng(3)
    t = rng.uniform(-2.5, 1.5, 500)
    p = 0.05 * t + rng.normal(0.0, 0.1, 500)  # a nearly constant predictor
    record = fit_response(t, p)
    assert not record["applied"]
    assert f"< {MIN_SLOPE}" in record["reason"]
    np.testing.assert_array_equal(apply_response(p, record), p)
    # absent or too few sets: identity, with the reason
    np.testing.assert_array_equal(apply_response(p, None), p)
    few = fit_response(t[:2], p[:2])
    assert not few["applied"]
    assert "need ≥ 3 sets" in few["reason"]


def test_non_finite_predictions_are_left_out_of_the_fit():
    t, p = _toy(1000, 4)
    p[:10] = np.nan
    record = fit_response(t, p, trim=0.0)
    assert record["n"] == 990
    assert record["applied"]
    with pytest.raises(ValueError, match="truths"):
        fit_response(t[:5], p[:4])


def test_ill_conditioned_fit_is_refused_not_raised(monkeypatch):
    t, p = _toy(200, 5)

    def rank_deficient(*args, **kwargs):
        warnings.warn("Polyfit may be poorly conditioned", np.exceptions.RankWarning,
                      stacklevel=2)
        return np.zeros(4)

    monkeypatch.setattr(np, "polyfit", rank_deficient)
    record = fit_response(t, p)
    assert not record["applied"]
    assert "too clustered" in record["reason"]



def test_flattening_at_the_prior_edges_does_not_block_the_interior():
    # a posterior-mean-like response: slope 1 at the centre, ≈ 0.25 at the prior's edges
    rng = np.random.default_rng(6)
    t = rng.uniform(-2.5, 1.5, 4000)

    def g(x):
        return -0.5 + 1.5 * np.tanh((x + 0.5) / 1.5)

    assert not fit_response(t, g(t) + rng.normal(0, 0.1, t.size), trim=0.0)["applied"]
    record = fit_response(t, g(t) + rng.normal(0, 0.1, t.size))
    assert record["applied"]
    for truth in (-1.5, -0.82, 0.0, 0.5):
        cal = apply_response(g(truth) + rng.normal(0, 0.1, 20000), record)
        assert abs(cal.mean() - truth) < 0.015

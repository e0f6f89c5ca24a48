"""Response calibration of regression estimators: fit, inversion, refusal, closure."""

from __future__ import annotations

import numpy as np
import pytest

from hepc9.models.response import MIN_SLOPE, apply_response, fit_response


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
    assert record["range"] == [pytest.approx(t.min()), pytest.approx(t.max())]
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
    assert "need ≥ 3" in few["reason"]


def test_non_finite_predictions_are_left_out_of_the_fit():
    t, p = _toy(1000, 4)
    p[:10] = np.nan
    record = fit_response(t, p)
    assert record["n"] == 990
    assert record["applied"]
    with pytest.raises(ValueError, match="truths"):
        fit_response(t[:5], p[:4])

"""Neyman belts: inversion of hand-made belts, held-out intervals, coverage."""

import numpy as np
import pytest

from hepc9.errors import DataError
from hepc9.evaluate.belts import CENTRAL_68, NeymanBelt, neyman_belt, neyman_intervals


def _linear_belt(slope=0.5, half=0.1):
    t = np.array([-1.0, 0.0, 1.0])
    return NeymanBelt(t, slope * t - half, slope * t + half, CENTRAL_68)


def test_invert_linear_belt():
    belt = _linear_belt()
    lo, hi, cut = belt.invert(np.array([0.1, -0.3, 0.55, 2.0]))
    # q₋(t) ≤ x ≤ q₊(t) ⇔ (x − 0.1)/0.5 ≤ t ≤ (x + 0.1)/0.5
    assert lo[0] == pytest.approx(0.0, abs=1e-3)
    assert hi[0] == pytest.approx(0.4, abs=1e-3)
    assert lo[1] == pytest.approx(-0.8, abs=1e-3)
    assert hi[1] == pytest.approx(-0.4, abs=1e-3)
    assert not cut[0]
    assert not cut[1]
    # x = 0.55: the interval [0.9, 1.3] is cut at the last evaluated truth
    assert lo[2] == pytest.approx(0.9, abs=1e-3)
    assert hi[2] == 1.0
    assert cut[2]
    # outside every acceptance region: no interval (it cannot cover)
    assert np.isnan(lo[3])
    assert np.isnan(hi[3])
    assert not cut[3]


def test_flat_estimator_gets_wide_intervals():
    t = np.array([-1.0, 0.0, 1.0])
    belt = NeymanBelt(t, np.full(3, -0.1), np.full(3, 0.1), CENTRAL_68)
    lo, hi, cut = belt.invert(np.array([0.0]))
    assert (lo[0], hi[0]) == (-1.0, 1.0)
    assert cut[0]


def test_belt_quantiles_and_errors():
    preds = {0.0: np.arange(101.0), 1.0: np.arange(101.0) + 10}
    belt = neyman_belt(preds)
    q = np.quantile(np.arange(101.0), [0.5 * (1 - CENTRAL_68), 0.5 * (1 + CENTRAL_68)])
    np.testing.assert_allclose(belt.lower, [q[0], q[0] + 10])
    np.testing.assert_allclose(belt.upper, [q[1], q[1] + 10])
    with pytest.raises(DataError):
        neyman_belt({0.0: np.ones(5)})
    with pytest.raises(DataError):
        neyman_belt(preds, cl=1.5)
    assert neyman_intervals({0.0: np.ones(3), 1.0: np.ones(3)}) is None


def test_held_out_intervals_cover_and_do_not_see_themselves():
    rng = np.random.default_rng(3)
    truths = np.linspace(-2, 2, 9)
    preds = {float(t): rng.normal(0.8 * t, 0.3, 2000) for t in truths}
    iv = neyman_intervals(preds)
    for t in (-1.0, 0.0, 1.0):
        lo, hi = iv[t]
        cov = np.mean((lo <= t) & (t <= hi))
        assert cov == pytest.approx(CENTRAL_68, abs=4 * np.sqrt(0.68 * 0.32 / 2000))
        # half-width ≈ σ/slope away from the ends of the belt
        ok = np.isfinite(lo) & (lo > -2) & (hi < 2)
        assert np.median(0.5 * (hi - lo)[ok]) == pytest.approx(0.3 / 0.8, rel=0.05)
    # set 0 at truth 0 is judged by the odd half's belt: moving it changes only itself
    moved = {t: v.copy() for t, v in preds.items()}
    moved[0.0][0] += 1.0
    iv2 = neyman_intervals(moved)
    np.testing.assert_array_equal(iv2[0.0][0][2::2], iv[0.0][0][2::2])
    assert iv2[0.0][0][0] != iv[0.0][0][0]

"""Spline-tabulated quadratic forms: numba vs numpy twin, and vs the exact physics."""

import numpy as np
import pytest

from hepc9.errors import DataError
from hepc9.fit.likelihood import event_coefficients
from hepc9.fit.precompute import (
    CoefficientTable,
    angular_functions_numba,
    table_coefficients,
    table_coefficients_numpy,
)
from hepc9.physics.angular import angular_functions
from hepc9.physics.constants import SEED_MODEL, WilsonShifts, q2_limits


def _uniform(n, window, seed):
    rng = np.random.default_rng(seed)
    return {
        "q2": rng.uniform(*window, n),
        "costheta_l": rng.uniform(-1, 1, n),
        "costheta_k": rng.uniform(-1, 1, n),
        "chi": rng.uniform(0, 2 * np.pi, n),
    }


def test_angular_functions_twin_matches_physics():
    ev = _uniform(5000, (1.0, 2.0), 1)
    ev["costheta_l"][:3] = [-1.0, 1.0, 0.0]
    fast = angular_functions_numba(ev["costheta_l"], ev["costheta_k"], ev["chi"])
    ref = angular_functions(ev["costheta_l"], ev["costheta_k"], ev["chi"])
    np.testing.assert_allclose(fast, ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("params", "window"),
    [(("dc9",), None), (("dc9", "dc10"), (1.1, 6.0)), (("dc7", "dc9", "c9p"), (0.1, 8.0))],
)
def test_table_matches_exact_physics_within_bound(params, window):
    full = tuple(float(x) for x in q2_limits(SEED_MODEL))
    win = full if window is None else window
    at = WilsonShifts(dc10=0.2) if "dc10" not in params else WilsonShifts()
    table = CoefficientTable(params=params, at=at, constants=SEED_MODEL, q2_range=win)
    bound = table.max_relative_error()
    assert bound < 1e-6
    ev = _uniform(20000, win, 2)
    fast = table_coefficients(ev, table)
    twin = table_coefficients_numpy(ev, table)
    np.testing.assert_allclose(fast, twin, rtol=1e-12, atol=1e-12 * np.abs(twin).max())
    exact = event_coefficients(ev, params=params, at=at, q2_range=win, exact=True)
    # compare rates at a few parameter points, relative to the rate itself
    rng = np.random.default_rng(3)
    from hepc9.fit.likelihood import monomials

    for _ in range(3):
        m = monomials(rng.uniform(-1, 1, len(params)))
        r_fast, r_exact = fast @ m, exact @ m
        good = r_exact > 1e-6 * r_exact.max()
        rel = np.abs(r_fast - r_exact)[good] / r_exact[good]
        assert rel.max() < 1e-6


def test_table_rejects_events_outside_its_window():
    ev = _uniform(10, (1.0, 7.0), 4)
    with pytest.raises(DataError, match="outside the window"):
        event_coefficients(ev, q2_range=(1.1, 6.0))

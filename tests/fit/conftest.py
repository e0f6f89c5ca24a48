"""Shared helpers of the fit tests."""

import math

import numpy as np
import pytest

from hepc9.fit.templates import template_features

WINDOW = (1.1, 6.0)
ORDERS = (2, 2, 2, 1)
#: Known background shape: Legendre P1, P2 in q², cosθℓ, cosθK and one χ harmonic.
TRUE_COEFFS = np.array([-0.4, 0.1, 0.3, -0.2, -0.8, 0.4, 0.15, 0.0])


def _draw_background(n, seed, coeffs=TRUE_COEFFS, window=WINDOW):
    """Accept–reject draw from the exponential-polynomial template with known coefficients."""
    rng = np.random.default_rng(seed)
    out = {k: [] for k in ("q2", "costheta_l", "costheta_k", "chi")}
    got = 0
    while got < n:
        m = 4 * n
        ev = {
            "q2": rng.uniform(*window, m),
            "costheta_l": rng.uniform(-1, 1, m),
            "costheta_k": rng.uniform(-1, 1, m),
            "chi": rng.uniform(0, 2 * math.pi, m),
        }
        logg = template_features(ev, ORDERS, window) @ coeffs
        keep = rng.uniform(size=m) < np.exp(logg - np.abs(coeffs).sum())
        for k in out:
            out[k].append(ev[k][keep])
        got += int(keep.sum())
    return {k: np.concatenate(v)[:n] for k, v in out.items()}


@pytest.fixture(scope="session")
def draw_background():
    return _draw_background

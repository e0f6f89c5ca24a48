"""The numba ``interp`` of the background shapes equals ``numpy.interp`` bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from hepc9.background.kernels import interp


@pytest.mark.parametrize("nodes", [2, 3, 17, 2049])
def test_interp_equals_numpy_on_random_and_edge_points(nodes):
    rng = np.random.default_rng(nodes)
    xp = np.sort(rng.uniform(-1.0, 2.0, nodes))
    fp = rng.normal(size=nodes)
    x = np.concatenate([
        rng.uniform(-1.5, 2.5, 20_000),  # inside and outside the table
        xp, np.nextafter(xp, -np.inf), np.nextafter(xp, np.inf),  # at and beside the nodes
        [np.nan, -np.inf, np.inf, xp[0], xp[-1]],
    ])
    got = interp(x, xp, fp)
    np.testing.assert_array_equal(got.view(np.int64), np.interp(x, xp, fp).view(np.int64))


def test_interp_with_plateaus_as_in_inverse_cdfs():
    grid = np.linspace(0.0, 1.0, 2049)
    cdf = np.maximum.accumulate(np.clip(np.sin(7 * grid) * grid, 0, None))  # flat stretches
    cdf = np.round(cdf, 3)  # many equal neighbours
    u = np.concatenate([np.random.default_rng(1).random(50_000), cdf, [0.0, cdf[-1]]])
    np.testing.assert_array_equal(interp(u, cdf, grid), np.interp(u, cdf, grid))


def test_interp_falls_back_to_numpy_outside_its_preconditions():
    xp = np.array([0.0, 2.0, 1.0])  # not sorted: numpy's own (undefined) answer is returned
    fp = np.array([0.0, 1.0, 2.0])
    x = np.linspace(-1, 3, 9)
    np.testing.assert_array_equal(interp(x, xp, fp), np.interp(x, xp, fp))
    flat = interp(np.array([0.5, 1.0, 1.5]), np.array([1.0, 1.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(flat, np.interp([0.5, 1.0, 1.5], [1.0, 1.0], [3.0, 4.0]))

"""C9eff(q²) and the loop function h(q², m) of the seed generator (physics.md §5.2)."""

import warnings

import numpy as np
import pytest

from hepc9.physics.wilson import c9_effective, h_function

Q2 = [0.1, 1, 2, 4, 6, 6.76, 8, 12, 16, 19]
RE = [4.75895, 4.74673, 4.77496, 4.87314, 5.08045, 5.42923, 5.25058, 4.91537, 4.73287, 4.63866]
IM = [0.06120, 0.06120, 0.06120, 0.06120, 0.06120, 0.06120, 0.55879, 0.81370, 0.87903, 0.90119]


def test_c9eff_table_physics_md_5_2():
    c9 = c9_effective(np.array(Q2))
    np.testing.assert_allclose(c9.real, RE, atol=5e-6)
    np.testing.assert_allclose(c9.imag, IM, atol=5e-6)
    assert np.all(c9.imag >= 0.0)


@pytest.mark.parametrize(
    ("q2", "m", "ref"),
    [
        (1.0, 1.3, 0.77293),
        (6.0, 1.3, 1.35038),
        (10.0, 1.3, 1.32028 + 1.06340j),
        (1.0, 0.0, 1.69062 + 1.39626j),
        (1.0, 4.8, -0.44057),
    ],
)
def test_h_values_physics_md_5_2(q2, m, ref):
    value = complex(h_function(q2, m, 4.8))
    assert value.real == pytest.approx(ref.real, abs=5e-6)
    assert value.imag == pytest.approx(complex(ref).imag, abs=5e-6)


def test_h_continuous_at_charm_threshold_without_warnings():
    thr = 4 * 1.3**2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = h_function(np.array([thr * (1 - 1e-12), thr, thr * (1 + 1e-12)]), 1.3, 4.8)
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(h, h[1], atol=1e-5)

"""Exact quadratic structure of the rate in the Wilson shifts (physics.md §6.2)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepc9.errors import ShapeError
from hepc9.physics.angular import angular_coefficients
from hepc9.physics.constants import SEED_MODEL, SHIFT_NAMES, WilsonShifts
from hepc9.physics.quadratic import (
    angular_coefficient_matrices,
    dgamma_dq2_matrices,
    normalisation_matrix,
    quadratic_coefficients,
    quadratic_form,
)
from hepc9.physics.rate import dgamma_dq2, differential_rate, total_rate


def _events(rng, n):
    return (
        rng.uniform(0.05, 19.2, n),
        rng.uniform(-1, 1, n),
        rng.uniform(-1, 1, n),
        rng.uniform(0, 2 * np.pi, n),
    )


@pytest.mark.parametrize("params", [("dc9",), ("dc9", "dc10"), SHIFT_NAMES], ids=["k1", "k2", "k6"])
def test_quadratic_equals_direct(params):
    rng = np.random.default_rng(11)
    q2, ctl, ctk, chi = _events(rng, 400)
    at = WilsonShifts(dc9=-0.4, c9p=0.1)
    m = quadratic_coefficients(q2, ctl, ctk, chi, params=params, at=at)
    assert m.shape == (400, len(params) + 1, len(params) + 1)
    np.testing.assert_array_equal(m, np.swapaxes(m, 1, 2))
    scale = np.max(np.abs(differential_rate(q2, ctl, ctk, chi, shifts=at)))
    for _ in range(5):
        theta = rng.normal(scale=1.5, size=len(params))
        shifted = at.with_(**{p: getattr(at, p) + t for p, t in zip(params, theta, strict=True)})
        direct = differential_rate(q2, ctl, ctk, chi, shifts=shifted)
        via_m = quadratic_form(m, theta)
        # relative to each value, with a floor far below any realistic rate
        np.testing.assert_allclose(via_m, direct, rtol=1e-10, atol=1e-12 * scale)


def test_dc9_polynomial_a_b_c_physics_md_6_2():
    rng = np.random.default_rng(3)
    q2, ctl, ctk, chi = _events(rng, 200)
    m = quadratic_coefficients(q2, ctl, ctk, chi)
    a, b, c = m[:, 0, 0], 2 * m[:, 0, 1], m[:, 1, 1]
    r0 = differential_rate(q2, ctl, ctk, chi)
    rp = differential_rate(q2, ctl, ctk, chi, shifts=WilsonShifts(dc9=1))
    rm = differential_rate(q2, ctl, ctk, chi, shifts=WilsonShifts(dc9=-1))
    np.testing.assert_allclose(a, r0, rtol=1e-12)
    np.testing.assert_allclose(b, (rp - rm) / 2, rtol=1e-9, atol=1e-13 * np.max(r0))
    np.testing.assert_allclose(c, (rp + rm) / 2 - r0, rtol=1e-9, atol=1e-13 * np.max(r0))
    assert np.all(c >= 0.0)  # rate of the pure δC9 amplitude


def test_angular_and_dgamma_matrices():
    q2 = np.array([0.08, 2.0, 9.0, 17.0])
    at = WilsonShifts(dc7=0.02)
    params = ("dc9", "c10p")
    mats = angular_coefficient_matrices(q2, params=params, at=at)
    assert mats.shape == (12, 4, 3, 3)
    theta = np.array([0.7, -0.3])
    np.testing.assert_allclose(
        quadratic_form(mats, theta),
        angular_coefficients(q2, shifts=at.with_(dc9=0.7, c10p=-0.3)),
        rtol=1e-11,
        atol=1e-14 * np.max(np.abs(mats)),
    )
    g = dgamma_dq2_matrices(q2, params=params, at=at)
    np.testing.assert_allclose(
        quadratic_form(g, theta), dgamma_dq2(q2, shifts=at.with_(dc9=0.7, c10p=-0.3)), rtol=1e-12
    )


def test_normalisation_matrix_physics_md_6_2():
    big_m = normalisation_matrix() * SEED_MODEL.hbar_tau
    # B(δC9) = 1.3123e-6 (1 + 0.2188 δC9 + 0.02893 δC9²)
    assert big_m[0, 0] == pytest.approx(1.3123e-6, abs=5e-11)
    assert 2 * big_m[0, 1] / big_m[0, 0] == pytest.approx(0.2188, abs=5e-5)
    assert big_m[1, 1] / big_m[0, 0] == pytest.approx(0.02893, abs=5e-6)


def test_normalisation_matrix_matches_total_rate_in_window():
    params = ("dc7", "dc9", "dc10")
    big_m = normalisation_matrix(params=params, q2_range=(1.1, 6.0))
    theta = np.array([0.05, -1.2, 0.4])
    ref = total_rate(shifts=WilsonShifts(dc7=0.05, dc9=-1.2, dc10=0.4), q2_range=(1.1, 6.0))
    assert quadratic_form(big_m, theta) == pytest.approx(ref, rel=1e-10)


def test_mkpi_and_errors():
    rng = np.random.default_rng(4)
    q2, ctl, ctk, chi = _events(rng, 50)
    q2 = q2 * 0.9
    mkpi = rng.uniform(0.8, 1.0, 50)
    m = quadratic_coefficients(q2, ctl, ctk, chi, mkpi=mkpi)
    np.testing.assert_allclose(
        quadratic_form(m, [0.5]),
        differential_rate(q2, ctl, ctk, chi, shifts=WilsonShifts(dc9=0.5), mkpi=mkpi),
        rtol=1e-10,
        atol=1e-12 * np.max(np.abs(m)),
    )
    with pytest.raises(ShapeError, match="incompatible"):
        quadratic_coefficients(q2, ctl[:10], ctk, chi)
    with pytest.raises(ShapeError, match="1-D"):
        quadratic_coefficients(q2.reshape(5, 10), ctl, ctk, chi)
    with pytest.raises(ShapeError, match="trailing shape"):
        quadratic_form(m, [0.1, 0.2])


def test_chunking_is_seamless(monkeypatch):
    import hepc9.physics.quadratic as quad

    rng = np.random.default_rng(8)
    q2, ctl, ctk, chi = _events(rng, 3000)
    full = quadratic_coefficients(q2, ctl, ctk, chi, params=("dc9", "dc10"))
    monkeypatch.setattr(quad, "_CHUNK_RANGE", (300, 300))
    chunked = quadratic_coefficients(q2, ctl, ctk, chi, params=("dc9", "dc10"))
    np.testing.assert_array_equal(chunked, full)


_shift = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    at=st.lists(_shift, min_size=6, max_size=6),
    theta=st.lists(_shift, min_size=6, max_size=6),
    subset=st.lists(st.sampled_from(SHIFT_NAMES), min_size=1, max_size=6, unique=True),
    point=st.tuples(
        st.floats(min_value=0.05, max_value=19.2),
        st.floats(min_value=-1.0, max_value=1.0),
        st.floats(min_value=-1.0, max_value=1.0),
        st.floats(min_value=0.0, max_value=6.28),
    ),
)
def test_quadratic_property(at, theta, subset, point):
    base = WilsonShifts.from_array(at)
    th = np.array(theta[: len(subset)])
    q2, ctl, ctk, chi = (np.array([v]) for v in point)
    m = quadratic_coefficients(q2, ctl, ctk, chi, params=subset, at=base)
    shifted = base.with_(**{p: getattr(base, p) + t for p, t in zip(subset, th, strict=True)})
    direct = differential_rate(q2, ctl, ctk, chi, shifts=shifted)[0]
    # terms of the quadratic form can be much larger than the rate (cancellations), so the
    # tolerance scales with the largest term
    scale = np.abs(m[0]).sum() * (1 + np.abs(th).sum()) ** 2
    assert quadratic_form(m, th)[0] == pytest.approx(direct, abs=1e-13 * scale)

"""Rates, branching fractions and the normalised density (physics.md §2.4, §6.1, §9)."""

import itertools

import numpy as np
import pytest
from scipy import integrate

from hepc9.errors import DataError
from hepc9.physics.constants import SEED_MODEL, WilsonShifts, q2_limits
from hepc9.physics.rate import (
    branching_fraction,
    decay_density,
    dgamma_dq2,
    differential_rate,
    q2_integral,
    resolve_q2_range,
    total_rate,
)

TAU = SEED_MODEL.hbar_tau
Q2_POINTS = [0.05, 0.1, 0.2, 0.5, 1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 19]
# §9: seed-model dB/dq² in 1e-8 GeV⁻², printed to three significant figures
DB_SM = ["28.1", "28.1", "16.2", "8.07", "5.50", "4.63", "5.08", "6.17", "7.41", "7.90", "8.22",
         "8.19", "7.48", "5.27", "2.36"]  # fmt: skip
DB_M1 = ["27.9", "27.6", "15.7", "7.56", "4.92", "3.93", "4.12", "4.90", "5.85", "6.25", "6.51",
         "6.49", "5.93", "4.17", "1.87"]  # fmt: skip


def _printed(value, ref: str) -> bool:
    """True if ``value`` rounds to the printed ``ref``.

    The tables of physics.md were rounded twice in a few places (28.0499 -> 28.05 -> 28.1,
    5.9246 -> 5.925 -> 5.93, 0.98947 -> 0.9895 -> 0.990), so the tolerance is 0.55 units of
    the last printed digit instead of 0.5.
    """
    decimals = len(ref.split(".")[1]) if "." in ref else 0
    return abs(value - float(ref)) <= 0.55 * 10.0**-decimals


@pytest.mark.parametrize(("dc9", "table"), [(0.0, DB_SM), (-1.0, DB_M1)])
def test_db_dq2_tables_physics_md_9(dc9, table):
    db = dgamma_dq2(np.array(Q2_POINTS, float), shifts=WilsonShifts(dc9=dc9)) * TAU * 1e8
    bad = [(q, v, r) for q, v, r in zip(Q2_POINTS, db, table, strict=True) if not _printed(v, r)]
    assert not bad


def test_spectrum_shape_physics_md_9():
    q = np.linspace(0.045, 1.0, 20000)
    g = dgamma_dq2(q)
    assert q[np.argmax(g)] == pytest.approx(0.063, abs=0.0015)
    q = np.linspace(1.0, 19.0, 20000)
    g = dgamma_dq2(q)
    low = q < 6
    assert q[low][np.argmin(g[low])] == pytest.approx(2.2, abs=0.1)
    high = q > 8
    assert q[high][np.argmax(g[high])] == pytest.approx(12.9, abs=0.1)


def test_total_branching_fraction_physics_md_6_2():
    assert branching_fraction() == pytest.approx(1.3123e-6, abs=5e-11)


@pytest.mark.parametrize(
    ("shift", "ratio"),
    [
        ({"dc9": -2.0}, "0.678"),
        ({"dc9": -1.0}, "0.810"),
        ({"dc9": 1.0}, "1.248"),
        ({"dc9": 1.1}, "1.276"),
        ({"dc7": 0.1}, "1.038"),
        ({"dc7": -0.1}, "0.990"),
        ({"dc10": 1.0}, "0.792"),
        ({"dc10": -1.0}, "1.265"),
        ({"c7p": 0.1}, "0.976"),
        ({"c7p": -0.1}, "1.051"),
        ({"c9p": 1.0}, "0.867"),
        ({"c9p": -1.0}, "1.191"),
        ({"c10p": 1.0}, "1.187"),
        ({"c10p": -1.0}, "0.871"),
    ],
)
def test_total_rate_ratios_physics_md_9(shift, ratio):
    r = total_rate(shifts=WilsonShifts(**shift)) / total_rate()
    assert _printed(r, ratio), r


@pytest.mark.parametrize(
    ("window", "percent"),
    [((None, 1.1), "8.3"), ((1.1, 6.0), "19.1"), ((6.0, 8.0), "10.6"), ((8.0, 15.0), "42.7"),
     ((15.0, None), "19.3")],
)  # fmt: skip
def test_rate_fractions_physics_md_9(window, percent):
    lo, hi = q2_limits()
    window = (
        window[0] if window[0] is not None else lo,
        window[1] if window[1] is not None else hi,
    )
    frac = 100 * total_rate(q2_range=window) / total_rate()
    assert _printed(frac, percent), frac


def test_total_rate_against_scipy_quad():
    lo, hi = q2_limits()
    f = lambda q: float(dgamma_dq2(np.array([q]), shifts=WilsonShifts(dc9=-0.5))[0])  # noqa: E731
    ref, _err = integrate.quad(f, lo, hi, points=[0.063, 0.3, 1.0, 6.76], epsabs=0, epsrel=1e-12,
                              limit=500)  # fmt: skip
    assert total_rate(shifts=WilsonShifts(dc9=-0.5)) == pytest.approx(ref, rel=1e-9)


def test_angular_integral_gives_dgamma_physics_md_2_4():
    # integrate the 4D rate over the angles with a product rule exact for these polynomials
    x, w = np.polynomial.legendre.leggauss(12)
    phi = 2 * np.pi * np.arange(8) / 8
    ctl, ctk, ph = np.meshgrid(x, x, phi, indexing="ij")
    wt = (w[:, None, None] * w[None, :, None] * np.full(8, 2 * np.pi / 8)).ravel()
    for q2 in (0.06, 1.0, 7.0, 18.0):
        rate = differential_rate(np.full(wt.size, q2), ctl.ravel(), ctk.ravel(), ph.ravel(),
                                 shifts=WilsonShifts(dc9=0.4, c10p=-0.3))  # fmt: skip
        ref = dgamma_dq2(np.array([q2]), shifts=WilsonShifts(dc9=0.4, c10p=-0.3))[0]
        assert rate @ wt == pytest.approx(ref, rel=1e-12)


def test_decay_density_normalised_full_and_window():
    x, w = np.polynomial.legendre.leggauss(8)
    phi = 2 * np.pi * (np.arange(6) + 0.5) / 6
    for q2_range in (None, (1.1, 6.0)):
        lo, hi = resolve_q2_range(q2_range)
        qx, qw = np.polynomial.legendre.leggauss(400)
        # split at the charm threshold cusp and refine the pole region
        total = 0.0
        edges = [e for e in (lo, 0.1, 0.3, 1.0, 6.76, hi) if lo <= e <= hi]
        for a, b in itertools.pairwise(edges):
            q = 0.5 * (b - a) * qx + 0.5 * (a + b)
            Q, CL, CK, PH = np.meshgrid(q, x, x, phi, indexing="ij")
            wt = (0.5 * (b - a) * qw[:, None, None, None] * w[None, :, None, None]
                  * w[None, None, :, None] * np.full(6, 2 * np.pi / 6)).ravel()  # fmt: skip
            dens = decay_density(Q.ravel(), CL.ravel(), CK.ravel(), PH.ravel(), dc9=-1.0,
                                 q2_range=q2_range)  # fmt: skip
            total += dens @ wt
        assert total == pytest.approx(1.0, rel=2e-6)


def test_decay_density_zero_outside():
    d = decay_density(
        np.array([0.5, 3.0, 8.0, 3.0, 3.0, 3.0]),
        np.array([0.1, 0.1, 0.1, 1.5, 0.1, 0.1]),
        np.array([0.2, 0.2, 0.2, 0.2, -1.2, 0.2]),
        np.array([1.0, 1.0, 1.0, 1.0, 1.0, -0.5]),
        q2_range=(1.0, 6.0),
    )
    np.testing.assert_array_equal(d[[0, 2, 3, 4, 5]], 0.0)
    assert d[1] > 0.0
    assert np.all(decay_density(np.array([-1.0, 25.0]), 0.0, 0.0, 1.0) == 0.0)


def test_q2_range_errors():
    with pytest.raises(DataError, match="q2_min < q2_max"):
        resolve_q2_range((5.0, 1.0))
    with pytest.raises(DataError, match="outside the kinematic range"):
        total_rate(q2_range=(20.0, 25.0))
    with pytest.raises(DataError, match="pair of numbers"):
        resolve_q2_range("abc")
    with pytest.raises(DataError, match="did not reach"):
        q2_integral(lambda q: np.sign(q - 3.3)[:, None] * q[:, None], rtol=1e-15, max_nodes=96)


def test_chunked_evaluation_is_seamless(monkeypatch):
    import hepc9.physics.angular as angular
    import hepc9.physics.rate as rate

    rng = np.random.default_rng(9)
    n = 5000
    q2 = rng.uniform(0.05, 19.2, n)
    ctl, ctk, chi = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(0, 6, n)
    mkpi = rng.uniform(0.8, 1.0, n)
    shifts = WilsonShifts(dc9=-0.3)
    j_ref = angular.angular_coefficients(q2, shifts=shifts, mkpi=mkpi)
    r_ref = differential_rate(q2, ctl, ctk, chi, shifts=shifts, mkpi=mkpi)
    monkeypatch.setattr(angular, "CHUNK_SIZE", 700)
    monkeypatch.setattr(rate, "CHUNK_SIZE", 900)
    np.testing.assert_array_equal(angular.angular_coefficients(q2, shifts=shifts, mkpi=mkpi), j_ref)
    np.testing.assert_array_equal(
        differential_rate(q2, ctl, ctk, chi, shifts=shifts, mkpi=mkpi), r_ref
    )


def test_one_dimensional_projections_physics_md_2_4():
    from hepc9.physics.angular import J_INDEX, angular_coefficients

    x, w = np.polynomial.legendre.leggauss(10)
    nphi = 8
    phi = 2 * np.pi * np.arange(nphi) / nphi
    wphi = np.full(nphi, 2 * np.pi / nphi)
    shifts = WilsonShifts(dc9=-0.8, c7p=0.05)
    for q2 in (0.3, 4.0, 17.0):
        j = {
            k: angular_coefficients(np.array([q2]), shifts=shifts)[i, 0] for k, i in J_INDEX.items()
        }
        gamma = dgamma_dq2(np.array([q2]), shifts=shifts)[0]
        c = 0.37  # a fixed value of the projected variable
        # cosθ_K projection
        cl, ph = np.meshgrid(x, phi, indexing="ij")
        wt = (w[:, None] * wphi[None, :]).ravel()
        n = wt.size
        dens = differential_rate(
            np.full(n, q2), cl.ravel(), np.full(n, c), ph.ravel(), shifts=shifts
        )
        ref = 3 / 8 * ((3 * j["1s"] - j["2s"]) * (1 - c * c) + (3 * j["1c"] - j["2c"]) * c * c)
        assert dens @ wt == pytest.approx(ref, rel=1e-12)
        # cosθ_ℓ projection
        dens = differential_rate(
            np.full(n, q2), np.full(n, c), cl.ravel(), ph.ravel(), shifts=shifts
        )
        ref = (
            3
            / 8
            * (
                (2 * j["1s"] + j["1c"])
                + (2 * j["2s"] + j["2c"]) * (2 * c * c - 1)
                + (2 * j["6s"] + j["6c"]) * c
            )
        )
        assert dens @ wt == pytest.approx(ref, rel=1e-12)
        # φ projection
        cl, ck = np.meshgrid(x, x, indexing="ij")
        wt = (w[:, None] * w[None, :]).ravel()
        n = wt.size
        dens = differential_rate(
            np.full(n, q2), cl.ravel(), ck.ravel(), np.full(n, c), shifts=shifts
        )
        ref = (gamma + j["3"] * np.cos(2 * c) + j["9"] * np.sin(2 * c)) / (2 * np.pi)
        assert dens @ wt == pytest.approx(ref, rel=1e-12)


def test_mkpi_equals_replaced_kstar_mass():
    # m_V -> m(Kπ) everywhere: a per-event mass equals a model with that K* mass, so integrals
    # at fixed m(Kπ) can use total_rate(constants=SEED_MODEL.replace(m_kstar=m))
    from hepc9.physics.angular import angular_coefficients

    q2 = np.array([0.5, 3.0, 12.0, 17.5])
    m = 0.95
    np.testing.assert_allclose(
        angular_coefficients(q2, mkpi=m),
        angular_coefficients(q2, constants=SEED_MODEL.replace(m_kstar=m)),
        rtol=1e-14,
        atol=0,
    )
    assert q2_limits(SEED_MODEL, m)[1] == q2_limits(SEED_MODEL.replace(m_kstar=m))[1]

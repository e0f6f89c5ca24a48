"""Transversity amplitudes (physics.md §3.2, §9)."""

import warnings

import numpy as np
import pytest

from hepc9.errors import ConfigError
from hepc9.physics.amplitudes import (
    AMPLITUDE_NAMES,
    amplitude_basis,
    check_params,
    transversity_amplitudes,
)
from hepc9.physics.constants import SEED_MODEL, SHIFT_NAMES, WilsonShifts
from hepc9.physics.formfactors import a2_t3, form_factors
from hepc9.physics.wilson import c9_effective

# §9: seed-model amplitudes at q² = 5 GeV² with N = 1
AMPS_Q2_5 = {
    "perp_L": 15.2511 + 0.1541j,
    "para_L": -18.6510 - 0.1786j,
    "zero_L": -41.4835 - 0.3002j,
    "perp_R": -5.4059 + 0.1541j,
    "para_R": 5.2960 - 0.1786j,
    "zero_R": -1.2302 - 0.3002j,
    "t": -40.208 + 0j,
}


def test_amplitudes_q2_5_physics_md_9():
    amps = transversity_amplitudes(5.0, normalised=False)
    assert tuple(amps) == AMPLITUDE_NAMES
    for name, ref in AMPS_Q2_5.items():
        tol = 5e-4 if name == "t" else 5e-5
        assert complex(amps[name]).real == pytest.approx(ref.real, abs=tol), name
        assert complex(amps[name]).imag == pytest.approx(ref.imag, abs=tol), name


def test_a0_forms_agree_physics_md_3_2():
    # A0 in the A1/A2/T2/T3 form equals the A12/T23 form used in the code
    c = SEED_MODEL
    q2 = np.array([0.5, 2.0, 5.0, 10.0, 15.0])
    m_b, m_v, mbq = c.m_B0, c.m_kstar, c.m_b_quark
    ff = form_factors(q2)
    a2, t3 = a2_t3(q2, ff)
    lam = (m_b**2 - m_v**2 - q2) ** 2 - 4 * m_v**2 * q2
    c9 = c9_effective(q2)
    c10 = c.c10_sm
    ref = (
        -1.0
        / (2 * m_v * np.sqrt(q2))
        * (
            (c9 - c10) * ((m_b**2 - m_v**2 - q2) * (m_b + m_v) * ff["A1"] - lam * a2 / (m_b + m_v))
            + 2
            * mbq
            * c.c7eff
            * ((m_b**2 + 3 * m_v**2 - q2) * ff["T2"] - lam * t3 / (m_b**2 - m_v**2))
        )
    )
    got = transversity_amplitudes(q2, normalised=False)["zero_L"]
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_basis_is_exact_derivative():
    q2 = np.linspace(0.1, 19.0, 7)
    at = WilsonShifts(dc9=-0.7, c10p=0.2)
    basis, _, _, _ = amplitude_basis(q2, params=SHIFT_NAMES, at=at)
    rng = np.random.default_rng(5)
    theta = rng.normal(size=6)
    shifted = WilsonShifts.from_array(at.as_array() + theta)
    direct, _, _, _ = amplitude_basis(q2, at=shifted)
    combined = basis[0] + np.tensordot(theta, basis[1:], axes=(0, 0))
    np.testing.assert_allclose(combined, direct[0], rtol=1e-13, atol=1e-12)


def test_outside_region_is_zero_without_warnings():
    q2 = np.array([-1.0, 0.0, 0.01, 19.3, 25.0, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        amps = transversity_amplitudes(q2)
    for a in amps.values():
        np.testing.assert_array_equal(a, 0.0)


def test_mkpi_equal_to_kstar_mass_is_narrow():
    q2 = np.array([1.0, 8.0, 18.0])
    narrow = transversity_amplitudes(q2)
    wide = transversity_amplitudes(q2, mkpi=np.full(3, SEED_MODEL.m_kstar))
    for name in narrow:
        np.testing.assert_allclose(wide[name], narrow[name], rtol=1e-14)
    # a heavier K π system closes the phase space earlier
    heavy = transversity_amplitudes(np.array([18.0]), mkpi=1.1)
    assert heavy["perp_L"][0] == 0.0


def test_check_params_errors():
    assert check_params("dc9") == ("dc9",)
    with pytest.raises(ConfigError, match="did you mean 'dc10'"):
        check_params(("dc10x",))
    with pytest.raises(ConfigError, match="distinct"):
        check_params(("dc9", "dc9"))

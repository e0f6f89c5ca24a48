"""Angular coefficients and functions (physics.md §2, §9)."""

import warnings

import numpy as np
import pytest

from hepc9.physics.angular import (
    J_NAMES,
    angular_coefficients,
    angular_functions,
    angular_functions_numba,
    angular_sum,
    fill_angular_functions,
)
from hepc9.physics.constants import SEED_MODEL, WilsonShifts
from hepc9.physics.rate import dgamma_dq2

# §9: normalised J_i^LHCb / (dΓ/dq²), seed model, SM (5-decimal printed precision)
NORMALISED_J = {
    5.0: {"1s": 0.20105, "1c": 0.73509, "2s": 0.06684, "2c": -0.72209, "3": -0.02392,
          "4": -0.22744, "5": -0.38071, "6s": 0.21544, "7": 0.0, "8": 0.00107, "9": 0.00013},
    16.0: {"1s": 0.48733, "1c": 0.35046, "2s": 0.16215, "2c": -0.34895, "3": -0.17162,
           "4": -0.29409, "5": -0.31899, "6s": 0.53695, "7": 0.0, "8": 0.00118, "9": 0.00076},
    2.0: {"1s": 0.09957, "1c": 0.87670, "2s": 0.03295, "2c": -0.83839, "3": -0.00249,
          "4": -0.05631, "5": -0.06915, "6s": -0.11352, "8": 0.00239, "9": 0.00014},
}  # fmt: skip


@pytest.mark.parametrize("q2", sorted(NORMALISED_J))
def test_normalised_j_physics_md_9(q2):
    j = angular_coefficients(np.array([q2]))[:, 0]
    gamma = dgamma_dq2(np.array([q2]))[0]
    for name, ref in NORMALISED_J[q2].items():
        assert j[J_NAMES.index(name)] / gamma == pytest.approx(ref, abs=5.01e-6), name
    # no scalar operators: J6c = 0; one strong phase common to all amplitudes: J7 = 0 (§2.2)
    assert j[J_NAMES.index("6c")] == 0.0
    assert abs(j[J_NAMES.index("7")]) <= 1e-14 * gamma


def test_shapes_and_zero_outside():
    q2 = np.array([-1.0, 0.03, 1.0, 19.5, np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        j = angular_coefficients(q2)
    assert j.shape == (12, 5)
    assert j.dtype == np.float64
    assert np.all(j[:, [0, 1, 3, 4]] == 0.0)
    assert np.any(j[:, 2] != 0.0)
    assert angular_coefficients(5.0).shape == (12,)
    assert angular_functions(0.1, 0.2, 0.3).shape == (12,)


def test_threshold_and_endpoint_vanish():
    lo = 4 * SEED_MODEL.m_mu**2
    hi = (SEED_MODEL.m_B0 - SEED_MODEL.m_kstar) ** 2
    g = dgamma_dq2(np.array([lo * (1 + 1e-10), hi * (1 - 1e-12)]))
    peak = dgamma_dq2(np.array([0.063]))[0]
    assert np.all(g < 1e-4 * peak)


def test_mkpi_array_matches_scalar():
    q2 = np.array([1.0, 5.0, 12.0])
    m = np.array([0.85, 0.9, 0.95])
    per_event = angular_coefficients(q2, mkpi=m)
    for i in range(3):
        np.testing.assert_allclose(
            per_event[:, i], angular_coefficients(q2[i : i + 1], mkpi=m[i])[:, 0], rtol=1e-14
        )


def test_angular_functions_definitions_physics_md_2_1():
    rng = np.random.default_rng(2)
    tl, tk, phi = rng.uniform(0, np.pi, 50), rng.uniform(0, np.pi, 50), rng.uniform(0, 6.28, 50)
    f = angular_functions(np.cos(tl), np.cos(tk), phi)
    sk2, ck2 = np.sin(tk) ** 2, np.cos(tk) ** 2
    ref = [
        sk2, ck2, sk2 * np.cos(2 * tl), ck2 * np.cos(2 * tl),
        sk2 * np.sin(tl) ** 2 * np.cos(2 * phi), np.sin(2 * tk) * np.sin(2 * tl) * np.cos(phi),
        np.sin(2 * tk) * np.sin(tl) * np.cos(phi), sk2 * np.cos(tl), ck2 * np.cos(tl),
        np.sin(2 * tk) * np.sin(tl) * np.sin(phi), np.sin(2 * tk) * np.sin(2 * tl) * np.sin(phi),
        sk2 * np.sin(tl) ** 2 * np.sin(2 * phi),
    ]  # fmt: skip
    np.testing.assert_allclose(f, np.array(ref), atol=1e-14)
    # χ and χ - 2π give identical functions (§1.3)
    np.testing.assert_allclose(
        angular_functions(0.3, -0.4, 4.0), angular_functions(0.3, -0.4, 4.0 - 2 * np.pi), atol=1e-15
    )


def test_lhcb_sign_of_afb_physics_md_1_4():
    # LHCb convention: A_FB < 0 below the zero crossing, > 0 above
    j = angular_coefficients(np.array([1.5, 10.0]))
    afb_num = 2 * j[J_NAMES.index("6s")] + j[J_NAMES.index("6c")]
    assert afb_num[0] < 0 < afb_num[1]


def test_cp_mirror_of_lepton_chirality():
    # swapping C10 -> -C10 exchanges L and R: J5, J6s change sign, J1s, J1c, J3, J4 do not
    q2 = np.array([3.0, 14.0])
    c = SEED_MODEL.replace(c10_sm=-SEED_MODEL.c10_sm)
    a = angular_coefficients(q2)
    b = angular_coefficients(q2, constants=c)
    for name in ("1s", "1c", "2s", "2c", "3", "4"):
        np.testing.assert_allclose(b[J_NAMES.index(name)], a[J_NAMES.index(name)], rtol=1e-13)
    for name in ("5", "6s"):
        np.testing.assert_allclose(b[J_NAMES.index(name)], -a[J_NAMES.index(name)], rtol=1e-13)
    assert not np.allclose(
        angular_coefficients(q2, shifts=WilsonShifts(dc9=1)), a, rtol=1e-3, atol=0
    )


def _angles(n, seed):
    rng = np.random.default_rng(seed)
    ctl = rng.uniform(-1, 1, n)
    ctk = rng.uniform(-1, 1, n)
    chi = rng.uniform(0, 2 * np.pi, n)
    # the edges: poles of both cosines, χ = 0 and 2π, and cosines rounded just outside [-1, 1]
    ctl[:6] = [-1.0, 1.0, 0.0, 1.0 + 1e-15, -1.0 - 1e-15, 1.0]
    ctk[:6] = [1.0, -1.0, 0.0, -1.0 - 1e-15, 1.0 + 1e-15, 0.5]
    chi[:6] = [0.0, 2 * np.pi, np.pi, 0.5, 3.0, 2 * np.pi]
    return ctl, ctk, chi


def test_numba_twin_of_the_angular_functions_agrees_with_numpy():
    """Design rule 9: the compiled f_i equal the numpy f_i to 1e-12 (float64)."""
    ctl, ctk, chi = _angles(4000, 7)
    fast = angular_functions_numba(ctl, ctk, chi)
    ref = angular_functions(ctl, ctk, chi)
    assert fast.shape == (12, ctl.size)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-14)
    f = np.empty(12)
    fill_angular_functions(ctl[10], ctk[10], chi[10], f)
    np.testing.assert_allclose(f, ref[:, 10], rtol=1e-12, atol=1e-14)


def test_compiled_angular_sum_agrees_with_the_numpy_contraction():
    ctl, ctk, chi = _angles(500, 8)
    j = angular_coefficients(np.array([1.5, 8.0, 17.0]), shifts=WilsonShifts(dc9=-0.8, c10p=0.3))
    f = angular_functions(ctl, ctk, chi)
    for col in range(j.shape[1]):
        ref = j[:, col] @ f
        got = np.array([angular_sum(j[:, col], a, b, np.cos(c), np.sin(c))
                        for a, b, c in zip(ctl, ctk, chi, strict=True)])  # fmt: skip
        scale = np.abs(j[:, col]).sum()
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * scale)

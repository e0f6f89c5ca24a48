"""Boosts, the Belle II beam and the B in the Υ(4S) frame (physics.md §1.1, §8)."""

import math

import numpy as np
import pytest

from hepc9 import kinematics as kin
from hepc9.errors import ConfigError, DataError, ShapeError


def minkowski(a, b):
    return a[..., 0] * b[..., 0] - np.sum(a[..., 1:] * b[..., 1:], axis=-1)


def b_frame_event(n, rng):
    q2 = rng.uniform(1.0, 15.0, n)
    return kin.four_vectors_from_angles(
        q2, rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(0, 6.28, n), 0.89555, 1
    )


def test_boost_of_particle_at_rest_and_inverse():
    rng = np.random.default_rng(1)
    beta = np.array([0.1, -0.2, 0.5])
    at_rest = np.tile([2.0, 0.0, 0.0, 0.0], (3, 1))
    moved = kin.boost(at_rest, beta)
    gamma = 1.0 / math.sqrt(1.0 - beta @ beta)
    np.testing.assert_allclose(moved[:, 0], 2.0 * gamma)
    np.testing.assert_allclose(moved[:, 1:] / moved[:, :1], np.tile(beta, (3, 1)))
    p = rng.normal(size=(100, 4))
    p[:, 0] = np.linalg.norm(p[:, 1:], axis=1) + 1.0
    betas = rng.uniform(-0.5, 0.5, (100, 3))
    back = kin.boost(kin.boost(p, betas), -betas)
    np.testing.assert_allclose(back, p, atol=1e-13)
    np.testing.assert_allclose(
        minkowski(kin.boost(p, betas), kin.boost(p, betas)), minkowski(p, p), atol=1e-12
    )
    np.testing.assert_array_equal(kin.boost(p, np.zeros(3)), p)


def test_boost_errors():
    p = np.ones((2, 4))
    with pytest.raises(DataError, match=r"\|beta\| < 1"):
        kin.boost(p, np.array([0.0, 0.0, 1.0]))
    with pytest.raises(DataError, match=r"\|beta\| < 1"):
        kin.boost(p, np.array([np.nan, 0.0, 0.0]))
    with pytest.raises(ShapeError):
        kin.boost(p, np.zeros((3, 3)))
    with pytest.raises(ShapeError):
        kin.boost(np.ones((2, 3)), np.zeros(3))


def test_belle2_beam_numbers():
    beam = kin.BELLE2
    # basf2 Y4S preset: √s = m(Υ(4S)) = 10.5794 GeV (physics.md §1.1).
    assert beam.sqrt_s == pytest.approx(10.5794, abs=2e-4)
    assert beam.e_beam_cm == pytest.approx(beam.sqrt_s / 2)
    beta = beam.boost_vector
    # βγ ≈ 0.28 along z, with the x component from the 41.5 mrad half crossing angle.
    assert beta[1] == 0.0
    assert beta[2] == pytest.approx((7.004 - 4.002) * math.cos(0.0415) / 11.006, rel=1e-6)
    assert beta[0] == pytest.approx(math.sin(0.0415), rel=1e-6)
    # The beams are back to back in the CM frame.
    her, ler = kin.lab_to_cm(beam.her_p4[None, :], beam), kin.lab_to_cm(beam.ler_p4[None, :], beam)
    np.testing.assert_allclose(her[0, 1:] + ler[0, 1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(her[0, 0], beam.e_beam_cm, rtol=1e-12)
    assert beam.b_momentum_cm() == pytest.approx(
        math.sqrt(beam.e_beam_cm**2 - kin.M_B0**2), rel=1e-12
    )


def test_beamspec_validation():
    with pytest.raises(ConfigError, match="crossing_angle"):
        kin.BeamSpec(crossing_angle=-0.1)
    with pytest.raises(ConfigError, match="e_ler"):
        kin.BeamSpec(e_ler=0.0)
    with pytest.raises(ConfigError, match="finite"):
        kin.BeamSpec(e_her=math.nan)
    with pytest.raises(ConfigError, match="sigma_e_her"):
        kin.BeamSpec(sigma_e_her=-1.0)
    below = kin.BeamSpec(e_her=5.0, e_ler=4.0)
    with pytest.raises(DataError, match="below the B mass"):
        below.b_momentum_cm()
    rng = np.random.default_rng(2)
    with pytest.raises(DataError, match="below the B mass"):
        kin.to_lab(b_frame_event(3, rng), rng=rng, beam=below)


@pytest.mark.parametrize("energy_spread", [False, True])
def test_lab_b_has_mass_and_cm_momentum(energy_spread):
    rng = np.random.default_rng(3)
    p4 = b_frame_event(5000, rng)
    lab = kin.to_lab(p4, rng=rng, energy_spread=energy_spread)
    b_lab = sum(lab.values())
    np.testing.assert_allclose(np.sqrt(minkowski(b_lab, b_lab)), kin.M_B0, rtol=1e-12)
    b_cm = kin.lab_to_cm(b_lab, kin.BELLE2)
    p_star = np.linalg.norm(b_cm[:, 1:], axis=1)
    if energy_spread:
        # √s varies by a few MeV; p* spreads around the nominal value.
        assert abs(np.median(p_star) - kin.BELLE2.b_momentum_cm()) < 0.01
        assert np.std(p_star) > 1e-3
    else:
        np.testing.assert_allclose(p_star, kin.BELLE2.b_momentum_cm(), rtol=1e-10)
        np.testing.assert_allclose(b_cm[:, 0], kin.BELLE2.e_beam_cm, rtol=1e-12)


@pytest.mark.parametrize(("b_angular", "mean_cos2"), [("sin2theta", 0.2), ("isotropic", 1 / 3)])
def test_b_direction_distribution(b_angular, mean_cos2):
    rng = np.random.default_rng(4)
    n = 40000
    lab = kin.to_lab(b_frame_event(n, rng), rng=rng, b_angular=b_angular)
    b_cm = kin.lab_to_cm(sum(lab.values()), kin.BELLE2)[:, 1:]
    axis = kin.lab_to_cm(kin.BELLE2.her_p4[None, :], kin.BELLE2)[0, 1:]
    cos = b_cm @ axis / (np.linalg.norm(b_cm, axis=1) * np.linalg.norm(axis))
    assert np.all(np.abs(cos) <= 1.0 + 1e-12)
    # <cos²θ*> = 1/5 for dN/dcosθ ∝ 1 − cos²θ, 1/3 isotropic; 5 standard errors.
    sigma = np.std(cos**2) / math.sqrt(n)
    assert abs(np.mean(cos**2) - mean_cos2) < 5 * sigma
    # Forward-backward symmetric: <cos θ*> = 0 within 5 standard errors.
    assert abs(np.mean(cos)) < 5 * np.std(cos) / math.sqrt(n)


def test_sample_costheta_inverts_cdf():
    u = np.linspace(0.0, 1.0, 101)
    c = kin._sample_costheta(u, "sin2theta")
    np.testing.assert_allclose((3 * c - c**3 + 2) / 4, u, atol=1e-12)
    assert c[0] == pytest.approx(-1.0)
    assert c[-1] == pytest.approx(1.0)


def test_to_lab_is_reproducible_and_checks_options():
    p4 = b_frame_event(100, np.random.default_rng(5))
    a = kin.to_lab(p4, rng=np.random.default_rng(6), energy_spread=True)
    b = kin.to_lab(p4, rng=np.random.default_rng(6), energy_spread=True)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(ConfigError, match="b_angular"):
        kin.to_lab(p4, rng=np.random.default_rng(6), b_angular="flat")
    with pytest.raises(ShapeError, match="rows"):
        kin.to_lab({"k": p4["k"], "pi": p4["pi"][:5]}, rng=np.random.default_rng(6))


def test_lab_to_cm_mbc_and_delta_e_of_signal():
    """M_bc = m_B and ΔE = 0 for a perfectly measured signal B (physics.md §8)."""
    rng = np.random.default_rng(7)
    lab = kin.to_lab(b_frame_event(1000, rng), rng=rng)
    cm = kin.lab_to_cm(lab)
    assert set(cm) == set(lab)
    total = sum(cm.values())
    e_beam = kin.BELLE2.e_beam_cm
    mbc = np.sqrt(e_beam**2 - np.sum(total[:, 1:] ** 2, axis=1))
    np.testing.assert_allclose(mbc, kin.M_B0, rtol=1e-12)
    np.testing.assert_allclose(total[:, 0] - e_beam, 0.0, atol=1e-12)


@pytest.mark.parametrize("energy_spread", [False, True])
@pytest.mark.parametrize("b_angular", ["sin2theta", "isotropic"])
def test_to_lab_numba_matches_numpy_twin(energy_spread, b_angular):
    p4 = b_frame_event(5000, np.random.default_rng(8))
    options = {"energy_spread": energy_spread, "b_angular": b_angular}
    fast = kin.to_lab(p4, rng=np.random.default_rng(9), **options)
    slow = kin.to_lab_numpy(p4, rng=np.random.default_rng(9), **options)
    assert set(fast) == set(slow) == set(p4)
    for key in p4:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-12, atol=1e-14, err_msg=key)


def test_decays_are_oriented_isotropically_and_keep_their_angles():
    """A spin-0 B decays in every direction: the K* direction in the B frame is isotropic."""
    from hepc9.kinematics import (
        BELLE2,
        angles_from_four_vectors,
        four_vectors_from_angles,
        random_rotations,
        to_lab,
        to_lab_numpy,
    )

    rng = np.random.default_rng(3)
    n = 40_000
    q2 = rng.uniform(1.0, 18.0, n)
    ctl = rng.uniform(-1, 1, n)
    ctk = rng.uniform(-1, 1, n)
    chi = rng.uniform(0, 2 * np.pi, n)
    flav = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    p4 = four_vectors_from_angles(q2, ctl, ctk, chi, np.full(n, 0.89555), flav)
    lab = to_lab(p4, rng=np.random.default_rng(5))
    twin = to_lab_numpy(p4, rng=np.random.default_rng(5))
    for key in lab:
        np.testing.assert_allclose(lab[key], twin[key], rtol=1e-12, atol=1e-12)
    back = angles_from_four_vectors(lab["k"], lab["pi"], lab["mup"], lab["mum"], flav)
    np.testing.assert_allclose(back["costheta_l"], ctl, atol=1e-9)
    np.testing.assert_allclose(back["costheta_k"], ctk, atol=1e-9)
    # K* direction in the B frame, undoing only the boosts (no rotation): isotropic
    from hepc9.kinematics import boost

    kst = lab["k"] + lab["pi"]
    b = kst + lab["mup"] + lab["mum"]
    kst_b = boost(kst, -b[:, 1:] / b[:, :1])
    cz = kst_b[:, 3] / np.linalg.norm(kst_b[:, 1:], axis=1)
    counts, _ = np.histogram(cz, bins=10, range=(-1, 1))
    expected = n / 10
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 40, f"K* direction not isotropic in the B frame: χ² = {chi2:.1f} / 10 bins"
    rot = random_rotations(1000, rng=np.random.default_rng(1))
    np.testing.assert_allclose(np.einsum("nij,nkj->nik", rot, rot), np.broadcast_to(np.eye(3),
                               (1000, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    assert BELLE2.sqrt_s > 10.5

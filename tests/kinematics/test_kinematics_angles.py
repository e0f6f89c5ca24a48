"""Angles ↔ four-vectors (physics.md §1.3, formats.md §2): round trips, CP images, twins."""

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepc9 import kinematics as kin
from hepc9.errors import DataError, ShapeError
from hepc9.physics.constants import SEED_MODEL

TWO_PI = 2.0 * math.pi


def random_decays(rng, n, *, line_shape=True):
    """Uniform random points of the physical phase space (GeV, rad)."""
    if line_shape:
        mkpi = rng.uniform(kin.M_K + kin.M_PI + 1e-3, 1.6, n)
    else:
        mkpi = np.full(n, SEED_MODEL.m_kstar)
    q2_min = 4.0 * kin.M_MU**2
    q2_max = (kin.M_B0 - mkpi) ** 2
    q2 = q2_min + (q2_max - q2_min) * rng.uniform(1e-6, 1.0 - 1e-6, n)
    return {
        "q2": q2,
        "costheta_l": rng.uniform(-1.0, 1.0, n),
        "costheta_k": rng.uniform(-1.0, 1.0, n),
        "chi": rng.uniform(0.0, TWO_PI, n),
        "mkpi": mkpi,
    }


def random_boost(rng, n, beta_max=0.95):
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * rng.uniform(0.0, beta_max, n)[:, None]


def build(dec, flavour):
    return kin.four_vectors_from_angles(
        dec["q2"], dec["costheta_l"], dec["costheta_k"], dec["chi"], dec["mkpi"], flavour
    )


def angles(p4, flavour, *, numpy=False):
    fn = kin.angles_from_four_vectors_numpy if numpy else kin.angles_from_four_vectors
    return fn(p4["k"], p4["pi"], p4["mup"], p4["mum"], flavour)


def circular_diff(a, b):
    return np.abs(np.angle(np.exp(1j * (a - b))))


def assert_same_angles(got, ref, atol):
    for key in ("q2", "costheta_l", "costheta_k", "mkpi"):
        np.testing.assert_allclose(got[key], ref[key], rtol=0, atol=atol, err_msg=key)
    assert np.max(circular_diff(got["chi"], ref["chi"])) < atol


def minkowski(a, b):
    return a[..., 0] * b[..., 0] - np.sum(a[..., 1:] * b[..., 1:], axis=-1)


@pytest.fixture(params=[1, -1], ids=["B0", "B0bar"])
def flavour(request):
    return request.param


def test_b_frame_construction_masses_and_momentum(flavour):
    rng = np.random.default_rng(11)
    dec = random_decays(rng, 2000)
    p4 = build(dec, flavour)
    masses = {"k": kin.M_K, "pi": kin.M_PI, "mup": kin.M_MU, "mum": kin.M_MU}
    for key, mass in masses.items():
        np.testing.assert_allclose(np.sqrt(minkowski(p4[key], p4[key])), mass, rtol=1e-10)
    total = p4["k"] + p4["pi"] + p4["mup"] + p4["mum"]
    np.testing.assert_allclose(total[:, 0], kin.M_B0, rtol=1e-13)
    np.testing.assert_allclose(total[:, 1:], 0.0, atol=1e-12)
    # K* along +z, dimuon along -z in the B frame (physics.md §1.3).
    kst = p4["k"] + p4["pi"]
    assert np.all(kst[:, 3] > 0)
    np.testing.assert_allclose(kst[:, 1:3], 0.0, atol=1e-12)


def test_round_trip_in_b_frame(flavour):
    rng = np.random.default_rng(12)
    dec = random_decays(rng, 5000)
    got = angles(build(dec, flavour), flavour)
    assert_same_angles(got, dec, 1e-11)


def test_round_trip_through_random_boosts(flavour):
    """Angles → B-frame vectors → random boosts → angles, to 1e-9 (task, formats.md §2)."""
    rng = np.random.default_rng(13)
    dec = random_decays(rng, 20000)
    p4 = build(dec, flavour)
    beta1 = random_boost(rng, dec["q2"].size)
    beta2 = random_boost(rng, dec["q2"].size)
    lab = {key: kin.boost(kin.boost(v, beta1), beta2) for key, v in p4.items()}
    for numpy in (False, True):
        got = angles(lab, flavour, numpy=numpy)
        assert_same_angles(got, dec, 1e-9)


def test_round_trip_through_belle2_lab(flavour):
    rng = np.random.default_rng(14)
    dec = random_decays(rng, 20000, line_shape=False)
    lab = kin.to_lab(build(dec, flavour), rng=rng, energy_spread=True)
    assert_same_angles(angles(lab, flavour), dec, 1e-9)


def test_mixed_flavours_in_one_call():
    rng = np.random.default_rng(15)
    n = 4000
    dec = random_decays(rng, n)
    flav = rng.choice(np.array([-1, 1], dtype=np.int8), n)
    lab = kin.to_lab(build(dec, flav), rng=rng)
    assert_same_angles(angles(lab, flav), dec, 1e-9)


def cp_image(p4):
    """Particle ↔ antiparticle and p → −p: K+→K−, π−→π+, μ+ ↔ μ−."""
    parity = np.array([1.0, -1.0, -1.0, -1.0])
    return {
        "k": p4["k"] * parity,
        "pi": p4["pi"] * parity,
        "mup": p4["mum"] * parity,
        "mum": p4["mup"] * parity,
    }


def test_cp_image_read_as_b0bar_gives_same_angles():
    """formats.md §6: the CP image of a B0 event, read as B̄0, returns the same angles."""
    rng = np.random.default_rng(16)
    dec = random_decays(rng, 5000)
    lab = kin.to_lab(build(dec, 1), rng=rng)
    image = cp_image(lab)
    a0 = angles(lab, 1)
    a1 = angles(image, -1)
    assert_same_angles(a1, a0, 1e-10)
    # Read with the physical-charge definition instead, the image shows θℓ → π − θℓ and
    # φ → π − φ (physics.md §1.5): the conjugate rule is what makes the angles agree.
    wrong = kin.angles_from_four_vectors(image["k"], image["pi"], image["mup"], image["mum"], 1)
    np.testing.assert_allclose(wrong["costheta_l"], -a0["costheta_l"], atol=1e-10)
    assert np.max(circular_diff(wrong["chi"], math.pi - a0["chi"])) < 1e-9


def test_b0bar_construction_is_cp_image_up_to_rotation():
    """physics.md §1.3: the B̄0 event with angles Ω is the CP image of the B0 event, rotated."""
    rng = np.random.default_rng(17)
    dec = random_decays(rng, 3000)
    image = cp_image(build(dec, 1))
    bbar = build(dec, -1)
    keys = kin.PARTICLE_KEYS
    # Same Gram matrix of the four-vectors => related by a Lorentz transformation; both in
    # the B rest frame => a rotation or a reflection; same triple products => a rotation.
    for i, a in enumerate(keys):
        for b in keys[i:]:
            np.testing.assert_allclose(
                minkowski(image[a], image[b]), minkowski(bbar[a], bbar[b]), rtol=1e-12, atol=1e-12
            )
    for trio in (("k", "pi", "mup"), ("k", "mup", "mum"), ("pi", "mup", "mum")):
        det_image = np.linalg.det(np.stack([image[t][:, 1:] for t in trio], axis=1))
        det_bbar = np.linalg.det(np.stack([bbar[t][:, 1:] for t in trio], axis=1))
        np.testing.assert_allclose(det_image, det_bbar, rtol=1e-8, atol=1e-12)


def test_invariant_cosines_agree_with_boost_recipe(flavour):
    rng = np.random.default_rng(18)
    dec = random_decays(rng, 10000)
    lab = kin.to_lab(build(dec, flavour), rng=rng)
    ctl, ctk = kin.invariant_cosines(lab["k"], lab["pi"], lab["mup"], lab["mum"], flavour)
    rec = angles(lab, flavour)
    np.testing.assert_allclose(ctl, rec["costheta_l"], atol=1e-10)
    np.testing.assert_allclose(ctk, rec["costheta_k"], atol=1e-10)
    np.testing.assert_allclose(ctl, dec["costheta_l"], atol=1e-10)


def test_numba_matches_numpy_twin(flavour):
    rng = np.random.default_rng(19)
    dec = random_decays(rng, 20000)
    beta = random_boost(rng, dec["q2"].size, beta_max=0.6)
    lab = {key: kin.boost(v, beta) for key, v in build(dec, flavour).items()}
    fast = angles(lab, flavour)
    slow = angles(lab, flavour, numpy=True)
    for key in ("q2", "costheta_l", "costheta_k", "mkpi"):
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert np.max(circular_diff(fast["chi"], slow["chi"])) < 1e-12
    for result in (fast, slow):
        assert all(v.dtype == np.float64 for v in result.values())


def test_thread_count_does_not_change_results():
    rng = np.random.default_rng(20)
    dec = random_decays(rng, 10000)
    lab = kin.to_lab(build(dec, 1), rng=rng)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = angles(lab, 1)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = angles(lab, 1)
    finally:
        numba.set_num_threads(before)
    for key in one:
        np.testing.assert_array_equal(one[key], many[key])


def test_q2_and_mkpi_recovered_over_full_range():
    q2_min, q2_max = 4.0 * kin.M_MU**2, (kin.M_B0 - SEED_MODEL.m_kstar) ** 2
    q2 = np.array([q2_min * (1 + 1e-9), 0.05, 1.0, 9.0, 19.0, q2_max * (1 - 1e-9)])
    n = q2.size
    mkpi = np.full(n, SEED_MODEL.m_kstar)
    p4 = kin.four_vectors_from_angles(
        q2, np.full(n, 0.3), np.full(n, -0.4), np.full(n, 1.0), mkpi, 1
    )
    rng = np.random.default_rng(21)
    got = angles(kin.to_lab(p4, rng=rng), 1)
    np.testing.assert_allclose(got["q2"], q2, rtol=1e-11)
    np.testing.assert_allclose(got["mkpi"], mkpi, rtol=1e-12)


def test_outputs_in_range_and_chi_edges(flavour):
    n = 7
    chi_in = np.array([0.0, -1e-17, 1e-17, math.pi, TWO_PI - 1e-15, TWO_PI, -math.pi])
    p4 = kin.four_vectors_from_angles(
        np.full(n, 4.0), np.full(n, 0.2), np.full(n, 0.5), chi_in, np.full(n, 0.9), flavour
    )
    rng = np.random.default_rng(22)
    lab = kin.to_lab(p4, rng=rng)
    for numpy in (False, True):
        got = angles(lab, flavour, numpy=numpy)
        chi = got["chi"]
        assert np.all((chi >= 0.0) & (chi < TWO_PI))
        assert np.max(circular_diff(chi, chi_in)) < 1e-9
        np.testing.assert_allclose(chi[3], math.pi, atol=1e-9)
        np.testing.assert_allclose(chi[6], math.pi, atol=1e-9)


def test_chi_rounding_to_two_pi_is_zero():
    # atan2 of (−tiny, positive) is −tiny; −tiny + 2π rounds to 2π, which must become 0.
    phi = np.array([-1e-300, -1e-17, -1e-15, -0.5])
    chi = kin._wrap_chi(phi)
    assert chi[0] == 0.0
    assert chi[1] == 0.0
    assert 0.0 < chi[2] < TWO_PI
    np.testing.assert_allclose(chi[3], TWO_PI - 0.5)


def test_cosines_at_the_edges_are_clipped(flavour):
    n = 4
    ctl = np.array([1.0, -1.0, 1.0, -1.0])
    ctk = np.array([1.0, -1.0, -1.0, 1.0])
    p4 = kin.four_vectors_from_angles(
        np.full(n, 2.0), ctl, ctk, np.full(n, 0.7), np.full(n, 0.9), flavour
    )
    rng = np.random.default_rng(23)
    lab = kin.to_lab(p4, rng=rng)
    for numpy in (False, True):
        got = angles(lab, flavour, numpy=numpy)
        assert np.all(np.abs(got["costheta_l"]) <= 1.0)
        assert np.all(np.abs(got["costheta_k"]) <= 1.0)
        np.testing.assert_allclose(got["costheta_l"], ctl, atol=1e-7)
        np.testing.assert_allclose(got["costheta_k"], ctk, atol=1e-7)
    il, ik = kin.invariant_cosines(lab["k"], lab["pi"], lab["mup"], lab["mum"], flavour)
    assert np.all(np.abs(il) <= 1.0)
    assert np.all(np.abs(ik) <= 1.0)


def test_direct_lab_to_pair_boost_would_be_biased():
    """The Wigner rotation is real: boosting lab → dimuon frame directly gives other angles."""
    rng = np.random.default_rng(24)
    dec = random_decays(rng, 5000, line_shape=False)
    lab = kin.to_lab(build(dec, 1), rng=rng)
    b = lab["k"] + lab["pi"] + lab["mup"] + lab["mum"]
    q = lab["mup"] + lab["mum"]
    mu_pair = kin.boost(lab["mup"], -q[:, 1:] / q[:, :1])[:, 1:]
    q_in_b = kin.boost(q, -b[:, 1:] / b[:, :1])[:, 1:]
    naive = np.sum(mu_pair * q_in_b, axis=1) / (
        np.linalg.norm(mu_pair, axis=1) * np.linalg.norm(q_in_b, axis=1)
    )
    rms = np.sqrt(np.mean((naive - dec["costheta_l"]) ** 2))
    assert rms > 1e-3  # the shortcut is visibly wrong
    good = angles(lab, 1)["costheta_l"]
    assert np.sqrt(np.mean((good - dec["costheta_l"]) ** 2)) < 1e-10


def test_bad_inputs_raise():
    rng = np.random.default_rng(25)
    p4 = build(random_decays(rng, 5), 1)
    with pytest.raises(DataError, match="flavour"):
        angles(p4, 0)
    with pytest.raises(DataError, match="flavour"):
        angles(p4, np.array([1, 1, 2, 1, 1]))
    with pytest.raises(ShapeError, match="flavour"):
        angles(p4, np.ones(4))
    with pytest.raises(ShapeError, match="'pi'"):
        kin.angles_from_four_vectors(p4["k"], p4["pi"][:3], p4["mup"], p4["mum"], 1)
    with pytest.raises(ShapeError, match=r"\(n, 4\)"):
        kin.angles_from_four_vectors(p4["k"][:, :3], p4["pi"], p4["mup"], p4["mum"], 1)


def test_four_vectors_from_angles_rejects_unphysical_points():
    one = np.ones(1)
    with pytest.raises(DataError, match="phase space"):
        kin.four_vectors_from_angles(0.01 * one, 0 * one, 0 * one, 0 * one, 0.9, 1)
    with pytest.raises(DataError, match="phase space"):
        kin.four_vectors_from_angles(25.0 * one, 0 * one, 0 * one, 0 * one, 0.9, 1)
    with pytest.raises(DataError, match="phase space"):
        kin.four_vectors_from_angles(1.0 * one, 0 * one, 0 * one, 0 * one, 0.5, 1)
    with pytest.raises(DataError, match=r"\[-1, 1\]"):
        kin.four_vectors_from_angles(1.0 * one, 1.5 * one, 0 * one, 0 * one, 0.9, 1)
    with pytest.raises(DataError, match="non-finite"):
        kin.four_vectors_from_angles(np.array([np.nan]), 0 * one, 0 * one, 0 * one, 0.9, 1)
    with pytest.raises(ShapeError):
        kin.four_vectors_from_angles(np.ones(3), np.ones(2), np.ones(3), np.ones(3), 0.9, 1)


def test_four_vectors_numba_matches_numpy_twin(flavour):
    rng = np.random.default_rng(26)
    dec = random_decays(rng, 20000)
    fast = build(dec, flavour)
    slow = kin.four_vectors_from_angles_numpy(
        dec["q2"], dec["costheta_l"], dec["costheta_k"], dec["chi"], dec["mkpi"], flavour
    )
    assert set(fast) == set(slow) == set(kin.PARTICLE_KEYS)
    for key in kin.PARTICLE_KEYS:
        assert fast[key].shape == (20000, 4)
        assert fast[key].dtype == np.float64
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-12, atol=1e-14, err_msg=key)


def test_four_vectors_numpy_twin_checks_inputs():
    one = np.ones(1)
    with pytest.raises(DataError, match="phase space"):
        kin.four_vectors_from_angles_numpy(0.01 * one, 0 * one, 0 * one, 0 * one, 0.9, 1)


def test_nonfinite_rows_give_nan_and_leave_others_alone():
    rng = np.random.default_rng(27)
    dec = random_decays(rng, 10)
    lab = kin.to_lab(build(dec, 1), rng=rng)
    lab["mup"][3] = np.nan
    for numpy in (False, True):
        got = angles(lab, 1, numpy=numpy)
        for key in ("q2", "costheta_l", "chi"):
            assert np.isnan(got[key][3]), key
        keep = np.arange(10) != 3
        np.testing.assert_allclose(got["costheta_l"][keep], dec["costheta_l"][keep], atol=1e-10)
        np.testing.assert_allclose(got["mkpi"], dec["mkpi"], rtol=1e-12)  # K and π are finite


@settings(max_examples=60, deadline=None)
@given(
    q2_frac=st.floats(1e-9, 1 - 1e-9),
    ctl=st.floats(-1.0, 1.0),
    ctk=st.floats(-1.0, 1.0),
    chi=st.floats(-10.0, 10.0),
    mkpi=st.floats(0.64, 2.0),
    flav=st.sampled_from([1, -1]),
    beta=st.tuples(*[st.floats(-0.55, 0.55)] * 3),
)
def test_round_trip_property(q2_frac, ctl, ctk, chi, mkpi, flav, beta):
    q2_min = 4.0 * kin.M_MU**2
    q2 = q2_min + q2_frac * ((kin.M_B0 - mkpi) ** 2 - q2_min)
    p4 = kin.four_vectors_from_angles(
        np.array([q2]), np.array([ctl]), np.array([ctk]), np.array([chi]), mkpi, flav
    )
    lab = {key: kin.boost(v, np.array(beta)) for key, v in p4.items()}
    for numpy in (False, True):
        got = angles(lab, flav, numpy=numpy)
        assert got["q2"][0] == pytest.approx(q2, rel=1e-9, abs=1e-12)
        assert got["mkpi"][0] == pytest.approx(mkpi, rel=1e-9)
        assert got["costheta_l"][0] == pytest.approx(ctl, abs=1e-9)
        assert got["costheta_k"][0] == pytest.approx(ctk, abs=1e-9)
        assert 0.0 <= got["chi"][0] < TWO_PI
        # φ is undefined when a decay plane degenerates: weight its error by sin θℓ sin θK.
        weight = math.sqrt(max(1 - ctl * ctl, 0.0) * max(1 - ctk * ctk, 0.0))
        assert circular_diff(got["chi"][0], chi) * weight < 1e-8

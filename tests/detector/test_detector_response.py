"""Detector response: closure, numba/numpy twins, resolutions, efficiencies, errors."""

import dataclasses
import math

import numpy as np
import pytest

from hepc9 import detector as det
from hepc9.config import DetectorConfig, load_config
from hepc9.errors import ConfigError, DataError
from hepc9.kinematics import BELLE2
from hepc9.physics.constants import SEED_MODEL as C

#: Zero smearing, full efficiency, no cuts.
IDEAL = DetectorConfig(
    theta_min_deg=0.0, theta_max_deg=180.0, pt_min=0.0, p_min_muon=0.0,
    pt_resolution_a=0.0, pt_resolution_b=0.0, angle_resolution_c=0.0, angle_resolution_d=0.0,
    muon_id_plateau=1.0, muon_id_p_half=0.0, muon_id_p_width=0.0, muon_id_endcap_factor=1.0,
    kaon_id_plateau=1.0, kaon_id_slope=0.0, beam_energy_spread=0.0,
)  # fmt: skip


def _run(events, config, seed=5, engine="numba"):
    return det.simulate_detector(events, config=config, rng=np.random.default_rng(seed),
                                 engine=engine)


def _wrap(d):
    return (d + np.pi) % (2 * np.pi) - np.pi


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_closure_ideal_detector(gen_events, engine):
    out, flow = _run(gen_events, IDEAL, engine=engine)
    n = len(gen_events["q2"])
    assert [c for _, c in flow] == [n] * len(det.DETECTOR_STEPS)
    assert flow.names == list(det.DETECTOR_STEPS)
    for name in det.FOUR_VECTOR_COLUMNS:
        np.testing.assert_allclose(out[name], gen_events[name], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(out[f"{name}_true"], gen_events[name])
    for name in ("q2", "costheta_l", "costheta_k", "mkpi"):
        np.testing.assert_allclose(out[name], gen_events[name], rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(out[f"{name}_true"], gen_events[name])
    assert np.max(np.abs(_wrap(out["chi"] - gen_events["chi"]))) < 1e-9
    np.testing.assert_array_equal(out["flavour"], gen_events["flavour"])
    np.testing.assert_array_equal(out["flavour_true"], gen_events["flavour"])
    # B at rest in its own frame with the nominal beam energy: Mbc = m_B, ΔE = 0 (physics.md §8)
    np.testing.assert_allclose(out["mbc"], C.m_B0, atol=1e-9)
    np.testing.assert_allclose(out["delta_e"], 0.0, atol=1e-9)
    assert out["is_signal"].dtype == np.int8
    assert out["is_signal"].all()


def test_numba_and_numpy_twins_agree(gen_events):
    cfg = DetectorConfig()
    a, flow_a = _run(gen_events, cfg, engine="numba")
    b, flow_b = _run(gen_events, cfg, engine="numpy")
    assert flow_a.steps == flow_b.steps
    assert a.keys() == b.keys()
    for key in a:
        if a[key].dtype.kind in "iu":
            np.testing.assert_array_equal(a[key], b[key])
        elif key in ("chi", "chi_true"):
            assert np.max(np.abs(_wrap(a[key] - b[key]))) < 1e-10
        else:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-10, err_msg=key)


def test_geometry_kernel_twin(gen_events):
    cfg = DetectorConfig()
    tracks = det._stack_tracks(gen_events)
    n = tracks.shape[1]
    code, eff_mu, eff_k = np.empty(n, np.int8), np.empty(n), np.empty(n)
    det._geometry_kernel(tracks, det._geometry_params(cfg), code, eff_mu, eff_k)
    code2, eff_mu2, eff_k2 = det._geometry_numpy(tracks, cfg)
    np.testing.assert_array_equal(code, code2)
    np.testing.assert_allclose(eff_mu, eff_mu2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(eff_k, eff_k2, rtol=1e-12, atol=1e-15)
    # all three outcomes occur in the sample, so the comparison is not vacuous
    assert set(np.unique(code)) == {0, 1, 2}


def test_same_seed_same_result(gen_events):
    a, _ = _run(gen_events, DetectorConfig(), seed=3)
    b, _ = _run(gen_events, DetectorConfig(), seed=3)
    c, _ = _run(gen_events, DetectorConfig(), seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert len(a["q2"]) != len(c["q2"]) or not np.array_equal(a["q2"], c["q2"])


def _track_arrays(out, name, suffix=""):
    px, py, pz = (out[f"{name}_{c}{suffix}"] for c in ("px", "py", "pz"))
    pt = np.hypot(px, py)
    return pt, np.arctan2(pt, pz), np.arctan2(py, px), np.sqrt(pt * pt + pz * pz)


def test_track_resolution_matches_configuration(gen_events):
    cfg = dataclasses.replace(IDEAL, pt_resolution_a=0.002, pt_resolution_b=0.004,
                              angle_resolution_c=0.001, angle_resolution_d=0.003)
    out, _ = _run(gen_events, cfg)
    masses = {"k": C.m_K, "pi": C.m_pi, "mup": C.m_mu, "mum": C.m_mu}
    for name, m in masses.items():
        pt, theta, phi, p = _track_arrays(out, name)
        pt0, theta0, phi0, p0 = _track_arrays(out, name, "_true")
        beta = p0 / np.sqrt(p0 * p0 + m * m)
        s_rel = np.hypot(0.002 * pt0, 0.004 / beta)  # σ(pT)/pT = a·pT ⊕ b/β
        s_dir = np.hypot(0.001, 0.003 / (p0 * beta))  # σ(θ) = σ(φ) = c ⊕ d/(pβ)
        # away from the beam axis, where θ + δθ cannot cross 0 or π
        central = (theta0 > 6 * s_dir) & (theta0 < math.pi - 6 * s_dir)
        for pull in ((pt / pt0 - 1.0) / s_rel, (theta - theta0) / s_dir,
                     _wrap(phi - phi0) / s_dir):
            pull = pull[central]
            # 60k unit-normal pulls: mean within 5/sqrt(n), width within 2 %
            assert abs(np.mean(pull)) < 5 / math.sqrt(pull.size)
            assert np.std(pull) == pytest.approx(1.0, abs=0.02)
        # energy from the momentum and the mass hypothesis
        np.testing.assert_allclose(out[f"{name}_e"], np.sqrt(p * p + m * m), rtol=1e-14)


def test_derived_resolutions_scale_with_smearing(gen_events):
    base = dataclasses.replace(IDEAL, pt_resolution_a=0.001, pt_resolution_b=0.003,
                               angle_resolution_c=0.0005, angle_resolution_d=0.0015)
    double = dataclasses.replace(base, pt_resolution_a=0.002, pt_resolution_b=0.006,
                                 angle_resolution_c=0.001, angle_resolution_d=0.003)
    a, _ = _run(gen_events, base)
    b, _ = _run(gen_events, double)
    for name in ("q2", "costheta_l", "costheta_k", "mkpi", "chi"):
        da = _wrap(a[name] - a[f"{name}_true"]) if name == "chi" else a[name] - a[f"{name}_true"]
        db = _wrap(b[name] - b[f"{name}_true"]) if name == "chi" else b[name] - b[f"{name}_true"]
        # same normals, twice the widths: the smearing is linear at these resolutions
        ratio = np.median(np.abs(db)) / np.median(np.abs(da))
        assert ratio == pytest.approx(2.0, rel=0.03), name
    # typical Belle II sizes with the default parametrisation
    q2_width = np.std(a["q2"] - a["q2_true"])
    assert 0.005 < q2_width < 0.2


def test_beam_energy_spread_sets_mbc_and_delta_e():
    beam_sigma = det.beam_energy_spread(BELLE2)
    # hand estimate: σ(E*) = E*/2 · sqrt((σ_HER/E_HER)² + (σ_LER/E_LER)²) ≈ 2.5 MeV
    hand = 0.5 * BELLE2.e_beam_cm * math.hypot(BELLE2.sigma_e_her / BELLE2.e_her,
                                               BELLE2.sigma_e_ler / BELLE2.e_ler)
    assert beam_sigma == pytest.approx(hand, rel=2e-3)
    assert 0.002 < beam_sigma < 0.003


def test_beam_spread_only(gen_events):
    cfg = dataclasses.replace(IDEAL, beam_energy_spread=0.003)
    out, _ = _run(gen_events, cfg)
    # ΔE shifts by δ, Mbc by -δ E*/m_B (to first order), δ ~ N(0, 3 MeV)
    assert np.std(out["delta_e"]) == pytest.approx(0.003, rel=0.02)
    assert np.std(out["mbc"]) == pytest.approx(0.003 * BELLE2.e_beam_cm / C.m_B0, rel=0.02)
    corr = np.corrcoef(out["mbc"], out["delta_e"])[0, 1]
    assert corr < -0.999


def test_default_signal_peaks(gen_events):
    out, _ = _run(gen_events, DetectorConfig())
    # physics.md §8: σ(Mbc) ≈ 2.5-3 MeV at m_B, ΔE at 0 with σ of order 10-25 MeV
    assert np.median(out["mbc"]) == pytest.approx(C.m_B0, abs=5e-4)
    assert 0.002 < np.std(out["mbc"]) < 0.0035
    assert abs(np.median(out["delta_e"])) < 2e-3
    assert 0.005 < np.std(out["delta_e"]) < 0.025


def test_acceptance_and_thresholds(gen_events):
    out, flow = _run(gen_events, DetectorConfig())
    counts = [c for _, c in flow]
    assert counts == sorted(counts, reverse=True)
    assert counts[-1] == len(out["q2"])
    for name in ("k", "pi", "mup", "mum"):
        pt, theta, _, p = _track_arrays(out, name, "_true")
        assert np.degrees(theta).min() >= 17.0
        assert np.degrees(theta).max() <= 150.0
        assert pt.min() > 0.05
        if name.startswith("mu"):
            assert p.min() > 0.6  # reference analysis muon threshold (physics.md §8)
    # a muon threshold of 0.6 GeV removes low-q² events preferentially (large |cos θℓ|)
    low = out["q2_true"] < 2.0
    assert np.mean(np.abs(out["costheta_l_true"][low]) > 0.8) < 0.2


def test_identification_efficiency_parametrisation():
    cfg = DetectorConfig()
    barrel, endcap = math.radians(90.0), math.radians(30.0)
    assert det.muon_id_efficiency(cfg.muon_id_p_half, barrel, cfg) == pytest.approx(
        0.5 * cfg.muon_id_plateau)
    assert det.muon_id_efficiency(5.0, barrel, cfg) == pytest.approx(cfg.muon_id_plateau)
    assert det.muon_id_efficiency(5.0, endcap, cfg) == pytest.approx(
        cfg.muon_id_plateau * cfg.muon_id_endcap_factor)
    step = dataclasses.replace(cfg, muon_id_p_width=0.0)
    assert det.muon_id_efficiency(np.array([0.74, 0.75]), barrel, step).tolist() == [
        0.0, cfg.muon_id_plateau]
    assert det.kaon_id_efficiency(1.0, barrel, cfg) == pytest.approx(0.88)
    steep = dataclasses.replace(cfg, kaon_id_slope=1.0)
    assert det.kaon_id_efficiency(3.0, barrel, steep) == 0.0
    p = np.linspace(0.0, 6.0, 200)
    for eff in (det.muon_id_efficiency(p, barrel, cfg), det.kaon_id_efficiency(p, barrel, cfg)):
        assert np.all((eff >= 0.0) & (eff <= 1.0))


def test_identification_rates(gen_events):
    cfg = dataclasses.replace(DetectorConfig(), p_min_muon=0.0)
    _, flow = _run(gen_events, cfg)
    tracks = det._stack_tracks(gen_events)
    code, eff_mu, eff_k = det._geometry_numpy(tracks, cfg)
    ok = code == 0
    # survivors of the ID steps are binomial with the per-event probabilities
    expected_mu = eff_mu[ok].sum()
    assert abs(flow["muon ID"] - expected_mu) < 5 * math.sqrt(expected_mu)
    expected_k = (eff_mu * eff_k)[ok].sum()
    assert abs(flow["kaon ID"] - expected_k) < 5 * math.sqrt(expected_k)


def test_efficiency_table_smooth_and_bounded(gen_events):
    out, _ = _run(gen_events, DetectorConfig())
    table = det.EfficiencyTable.empty(bins=10)
    table.fill(gen_events, out)
    d = table.to_dict()
    for name in det.EfficiencyTable.VARIABLES:
        eff, err = table.efficiency(name)
        assert np.all(np.isfinite(eff))
        assert np.all((eff >= 0.0) & (eff <= 1.0))
        assert sum(d[name]["generated"]) == len(gen_events["q2"])
        assert sum(d[name]["selected"]) == len(out["q2"])
        # smooth: neighbouring bins differ by less than 0.15 (no holes or spikes)
        assert np.max(np.abs(np.diff(eff))) < 0.15, name
        assert np.all(err < 0.02)
    # the muon momentum threshold lowers the efficiency at the lowest q²
    q2_eff, _ = table.efficiency("q2")
    assert q2_eff[0] < q2_eff[5]


def test_efficiency_table_errors():
    with pytest.raises(ConfigError, match="at least one bin"):
        det.EfficiencyTable.empty(bins=0)
    table = det.EfficiencyTable.empty(bins=4)
    gen = {"q2": np.ones(2), "costheta_l": np.ones(2), "costheta_k": np.ones(2)}
    sel = {f"{k}_true": np.ones(1) for k in ("q2", "costheta_l", "costheta_k", "chi")}
    with pytest.raises(DataError, match="generated column 'chi'"):
        table.fill(gen, sel)
    with pytest.raises(DataError, match="selected column 'q2_true'"):
        table.fill({**gen, "chi": np.ones(2)}, {})
    assert all(not table.generated[k].any() for k in table.VARIABLES)  # nothing half-counted


def test_truth_from_four_vectors_when_angles_missing(gen_events):
    reduced = {k: v for k, v in gen_events.items() if k not in det.ANGLE_COLUMNS}
    a, _ = _run(reduced, DetectorConfig())
    b, _ = _run(gen_events, DetectorConfig())
    for name in ("q2", "costheta_l", "costheta_k", "mkpi"):
        np.testing.assert_allclose(a[f"{name}_true"], b[f"{name}_true"], atol=1e-9)
    np.testing.assert_array_equal(a["q2"], b["q2"])


def test_weight_is_passed_through(gen_events):
    ev = dict(gen_events, weight=np.linspace(0.5, 1.5, len(gen_events["q2"])))
    out, _ = _run(ev, IDEAL)
    np.testing.assert_array_equal(out["weight"], ev["weight"])


def test_bad_inputs(gen_events):
    no_vectors = {k: v for k, v in gen_events.items() if not k.startswith("mum_")}
    with pytest.raises(DataError, match="lab_four_vectors"):
        _run(no_vectors, DetectorConfig())
    bad = dict(gen_events, k_px=gen_events["k_px"].copy())
    bad["k_px"][7] = np.nan
    for engine in ("numba", "numpy"):
        with pytest.raises(DataError, match="'k_px' is not finite in event 7"):
            _run(bad, DetectorConfig(), engine=engine)
    flav = dict(gen_events, flavour=np.zeros(len(gen_events["q2"]), dtype=np.int8))
    with pytest.raises(DataError, match="flavour"):
        _run(flav, DetectorConfig())
    with pytest.raises(ConfigError, match="engine"):
        _run(gen_events, DetectorConfig(), engine="cuda")
    with pytest.raises(ConfigError, match="Generator"):
        det.simulate_detector(gen_events, config=DetectorConfig(), rng=5)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("detector.theta_min_deg=160.0", "theta_min_deg"),
        ("detector.pt_resolution_a=-0.001", "pt_resolution_a"),
        ("detector.muon_id_plateau=1.2", "muon_id_plateau"),
        ("detector.muon_id_p_width=-1.0", "muon_id_p_width"),
        ("detector.beam_energy_spread=-0.001", "beam_energy_spread"),
        ("detector.chunk_size=0", "chunk_size"),
        ("detector.pt_min='fast'", "must be a number"),
        ("detector.pt_resolution=0.1", "did you mean"),
    ],
)
def test_bad_detector_config(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=[override])


def test_normals_do_not_depend_on_threads():
    import numba

    rows = det._NORMAL_BLOCK * 2 + 17
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = det._draw_normals(np.random.default_rng(9), rows, 3)
        numba.set_num_threads(before)
        many = det._draw_normals(np.random.default_rng(9), rows, 3)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)
    assert np.std(one) == pytest.approx(1.0, abs=0.01)
    small = det._draw_normals(np.random.default_rng(9), 10, 13)
    np.testing.assert_array_equal(small, np.random.default_rng(9).standard_normal((10, 13)))


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_empty_input(gen_events, engine):
    empty = {k: v[:0] for k, v in gen_events.items()}
    out, flow = _run(empty, DetectorConfig(), engine=engine)
    assert [c for _, c in flow] == [0] * len(det.DETECTOR_STEPS)
    assert "mbc" in out
    assert all(v.shape == (0,) for v in out.values())

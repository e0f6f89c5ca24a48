"""Foreign-ntuple readers (formats.md §3): basf2, EvtGen ntp, flat tables, layout detection.

Fixtures are written here with uproot from known truth angles: B-frame four-vectors from
``kinematics.four_vectors_from_angles`` are moved to the Belle II lab with ``to_lab``, stored
in the basf2 layout with its positional aliases, and read back.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import uproot

from hepc9.config import IngestConfig
from hepc9.errors import ConfigError, DataError, DroppedRowsWarning, MissingBranchError, SchemaError
from hepc9.kinematics import four_vectors_from_angles, to_lab
from hepc9.rootio import detect_layout, iterate_any, load_events
from hepc9.rootio._foreign import best_per_group, best_per_group_numpy, group_ids

TWO_PI = 2.0 * math.pi
COMP = ("E", "px", "py", "pz")
MC = ("mcE", "mcPX", "mcPY", "mcPZ")


# ------------------------------------------------------------------------------------------
# fixture builders
# ------------------------------------------------------------------------------------------


def truth_sample(n, seed, flavour=None):
    """Known decay variables and their lab four-vectors (physical particles)."""
    rng = np.random.default_rng(seed)
    t = {
        "q2": rng.uniform(0.5, 18.0, n),
        "costheta_l": rng.uniform(-0.99, 0.99, n),
        "costheta_k": rng.uniform(-0.99, 0.99, n),
        "chi": rng.uniform(0.01, TWO_PI - 0.01, n),
        "mkpi": rng.uniform(0.80, 0.99, n),
    }
    if flavour is None:
        t["flavour"] = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    else:
        t["flavour"] = np.full(n, flavour, dtype=np.int8)
    # keep q2 inside the phase space of each mkpi
    q2max = (5.27965 - t["mkpi"]) ** 2
    t["q2"] = np.minimum(t["q2"], 0.95 * q2max)
    p4 = four_vectors_from_angles(
        t["q2"], t["costheta_l"], t["costheta_k"], t["chi"], t["mkpi"], t["flavour"]
    )
    lab = to_lab(p4, rng=rng)
    return t, lab


def _alias_columns(lab, flavour, comps, rows=None):
    """basf2 positional aliases: for anti-B0, mu_p_ holds the mu- and K_p_ the K-."""
    sel = slice(None) if rows is None else rows
    b0 = flavour[sel] > 0
    first_mu = np.where(b0[:, None], lab["mup"][sel], lab["mum"][sel])
    second_mu = np.where(b0[:, None], lab["mum"][sel], lab["mup"][sel])
    out = {}
    for prefix, arr in (("K_p_", lab["k"][sel]), ("pi_m_", lab["pi"][sel]),
                        ("mu_p_", first_mu), ("mu_m_", second_mu)):
        for j, c in enumerate(comps):
            out[prefix + c] = np.ascontiguousarray(arr[:, j])
    kst = lab["k"][sel] + lab["pi"][sel]
    for j, c in enumerate(comps):
        out["KST0_" + c] = np.ascontiguousarray(kst[:, j])
    return out


def _pdg_columns(flavour):
    f = flavour.astype(np.float64)
    return {
        "PDG": 511.0 * f,
        "K_p_PDG": 321.0 * f,
        "pi_m_PDG": -211.0 * f,
        "KST0_PDG": 313.0 * f,
        "mu_p_PDG": -13.0 * f,  # positional: mu+ for B0, mu- for anti-B0
        "mu_m_PDG": 13.0 * f,
    }


def basf2_file(path, n_events=200, seed=1, *, nan_rows=(), shuffle_events=False, extra=None,
               drop=()):
    """Write gen and det trees; det has 1-3 candidates per event, the true one best.

    Returns the truth dict and a dict describing the candidates.
    """
    rng = np.random.default_rng(seed + 1000)
    t, lab = truth_sample(n_events, seed)
    ncand = rng.integers(1, 4, n_events)
    rows = np.repeat(np.arange(n_events), ncand)
    n = rows.size
    cand = np.concatenate([rng.permutation(k) for k in ncand])  # __candidate__ in each event
    # the true candidate sits at a random position within its event
    true_pos = np.concatenate([[rng.integers(0, k)] * k for k in ncand])
    within = np.concatenate([np.arange(k) for k in ncand])
    is_true = within == true_pos
    flav = t["flavour"][rows]
    det = _alias_columns(lab, t["flavour"], COMP, rows)
    mc = _alias_columns(lab, t["flavour"], MC, rows)
    for key in list(det):
        if key.startswith(("K_p_", "pi_m_", "mu_p_", "mu_m_")) and not key.endswith("E"):
            # fake candidates: distort the reconstructed momenta
            det[key] = np.where(is_true, det[key], det[key] * rng.uniform(0.9, 1.1, n))
    for prefix, mass in (("K_p_", 0.493677), ("pi_m_", 0.13957039), ("mu_p_", 0.1056584),
                         ("mu_m_", 0.1056584)):
        # fake candidates stay physical particles: energy from the distorted momentum
        p2 = sum(det[prefix + c] ** 2 for c in ("px", "py", "pz"))
        det[prefix + "E"] = np.where(is_true, det[prefix + "E"], np.sqrt(p2 + mass**2))
    for key in mc:
        mc[key] = np.where(is_true, mc[key], np.nan)
    det.update(mc)
    det.update(_pdg_columns(flav))
    det["Mbc"] = 5.279 - 0.001 * np.arange(n) / n  # unique per row, identifies candidates
    det["deltaE"] = np.where(is_true, 0.001, 0.03) * rng.choice([-1, 1], n)
    det["isSignal"] = np.where(is_true, 1.0, 0.0)
    det["isSignal"][~is_true & (rng.random(n) < 0.3)] = np.nan
    det["tfRedChiSqB0"] = np.where(is_true, rng.uniform(0.1, 1.0, n), rng.uniform(1.5, 5, n))
    det["__experiment__"] = np.zeros(n, dtype=np.int32)
    det["__run__"] = np.ones(n, dtype=np.int32)
    det["__event__"] = (rows + 10).astype(np.uint32)
    det["__candidate__"] = cand.astype(np.uint32)
    det["__ncandidates__"] = ncand[rows].astype(np.uint32)
    det["__weight__"] = np.ones(n, dtype=np.float32)
    for r in nan_rows:
        det["K_p_px"][r] = np.nan
    if shuffle_events:
        order = rng.permutation(n)
        det = {k: v[order] for k, v in det.items()}
        rows, is_true, cand = rows[order], is_true[order], cand[order]
    if extra:
        det.update(extra(det))
    gen = _alias_columns(lab, t["flavour"], COMP)
    gen.update(_alias_columns(lab, t["flavour"], MC))
    gen.update(_pdg_columns(t["flavour"]))
    gen["__experiment__"] = np.zeros(n_events, dtype=np.int32)
    gen["__run__"] = np.ones(n_events, dtype=np.int32)
    gen["__event__"] = (np.arange(n_events) + 10).astype(np.uint32)
    gen["__candidate__"] = np.zeros(n_events, dtype=np.uint32)
    for name in drop:
        det.pop(name, None)
        gen.pop(name, None)
    with uproot.recreate(path) as f:
        write_tree(f, "det", det)
        write_tree(f, "gen", gen)
    return t, {"rows": rows, "is_true": is_true, "cand": cand, "mbc": det["Mbc"], "n": n}


def ntp_file(path, n=300, seed=3, chi_range="pm_pi"):
    rng = np.random.default_rng(seed)
    cols = {
        "mK": rng.uniform(0.8, 1.0, n).astype(np.float32),
        "q2": rng.uniform(0.1, 19.0, n).astype(np.float32),
        "ctk": rng.uniform(-1, 1, n).astype(np.float32),
        "ctl": rng.uniform(-1, 1, n).astype(np.float32),
        "chi": rng.uniform(-math.pi, math.pi, n).astype(np.float32),
    }
    for name in ("l1p", "l1c", "l2p", "l2c", "kp", "kc", "pp", "pc"):
        cols[name] = rng.uniform(0, 1, n).astype(np.float32)
    with uproot.recreate(path) as f:
        write_tree(f, "ntp", cols)
    return cols


FLAT_MAP = {f"{p}_{c}": f"{p.upper()}_{c.upper()}" for p in ("k", "pi", "mup", "mum")
            for c in ("e", "px", "py", "pz")}


def flat_file(path, n=250, seed=5, *, scale=1.0, with_truth=False):
    t, lab = truth_sample(n, seed)
    cols = {}
    for p in ("k", "pi", "mup", "mum"):
        for j, c in enumerate(("e", "px", "py", "pz")):
            cols[f"{p.upper()}_{c.upper()}"] = lab[p][:, j] * scale
            if with_truth:
                cols[f"{p.upper()}_{c.upper()}_TRUE"] = lab[p][:, j] * scale
    cols["B_ID"] = 511.0 * t["flavour"]
    cols["K_Q"] = t["flavour"].astype(np.int32)
    with uproot.recreate(path) as f:
        write_tree(f, "Events", cols)
    return t


def write_tree(f, name, cols):
    """Write a TTree (assigning a dict would write an RNTuple in recent uproot)."""
    types = {k: v.dtype if isinstance(v, np.ndarray) else "var * float64"
             for k, v in cols.items()}
    f.mktree(name, types)
    f[name].extend(cols)


def _chi_close(a, b, atol):
    d = np.mod(np.asarray(a) - np.asarray(b) + math.pi, TWO_PI) - math.pi
    return np.all(np.abs(d) < atol)


def _match_truth(events, t, rows):
    for name in ("q2", "costheta_l", "costheta_k", "mkpi"):
        np.testing.assert_allclose(events[name], t[name][rows], atol=1e-6, err_msg=name)
    assert _chi_close(events["chi"], t["chi"][rows], 1e-6)
    np.testing.assert_array_equal(events["flavour"], t["flavour"][rows])


# ------------------------------------------------------------------------------------------
# basf2
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basf2_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("basf2") / "sig.root"
    t, info = basf2_file(path, n_events=300, seed=11)
    return path, t, info


def test_basf2_detected(basf2_path):
    path, _, _ = basf2_path
    assert detect_layout(path) == "basf2"


def test_basf2_det_best_candidate_recovers_truth(basf2_path):
    """formats.md §3a: best = smallest tfRedChiSqB0, angles recomputed, both flavours."""
    path, t, info = basf2_path
    events, meta = load_events(path)
    assert meta["level"] == "det"
    assert meta["layout"] == "basf2"
    assert meta["tree"] == "det"
    assert events["q2"].size == 300
    assert np.all(events["is_signal"] == 1)
    _match_truth(events, t, np.arange(300))
    for name in ("q2", "costheta_l", "costheta_k", "mkpi"):
        np.testing.assert_allclose(events[f"{name}_true"], t[name], atol=1e-6)
    assert _chi_close(events["chi_true"], t["chi"], 1e-6)
    assert np.all((events["chi"] >= 0) & (events["chi"] < TWO_PI))
    assert set(np.unique(events["flavour"])) == {-1, 1}
    np.testing.assert_array_equal(events["flavour_true"], events["flavour"])
    src = meta["sources"][0]
    assert src["rows_read"] == info["n"]
    assert src["candidates_removed"] == info["n"] - 300
    assert src["best_candidate"] == "smallest tfRedChiSqB0"


def test_basf2_physical_muons_for_antib0(basf2_path):
    """For anti-B0 the positional mu_p_ holds the mu-: mup_* must be the physical mu+."""
    path, _, _ = basf2_path
    events, _ = load_events(path, tree="gen")
    _, lab = truth_sample(300, 11)
    np.testing.assert_allclose(events["mup_px"], lab["mup"][:, 1], rtol=1e-12)
    np.testing.assert_allclose(events["mum_pz"], lab["mum"][:, 3], rtol=1e-12)
    np.testing.assert_allclose(events["k_e"], lab["k"][:, 0], rtol=1e-12)


def test_basf2_chi_flip_for_antib0(tmp_path):
    """The same angles for B0 and anti-B0 fixtures come back unchanged (conjugate rule)."""
    for flav in (1, -1):
        path = tmp_path / f"f{flav}.root"
        t, _ = basf2_file(path, n_events=50, seed=21)
        events, _ = load_events(path, tree="gen")
        _match_truth(events, t, np.arange(50))
    # reading an anti-B0 event with the B0 rule instead gives chi -> -chi (or pi - chi)
    t, lab = truth_sample(50, 22, flavour=-1)
    from hepc9.kinematics import angles_from_four_vectors

    wrong = angles_from_four_vectors(lab["k"], lab["pi"], lab["mup"], lab["mum"], 1)
    assert not _chi_close(wrong["chi"], t["chi"], 1e-3)


def test_basf2_gen_tree_is_generator_level(basf2_path):
    path, t, _ = basf2_path
    events, meta = load_events(path, tree="gen")
    assert meta["level"] == "gen"
    assert "mbc" not in events
    assert not any(k.endswith("_true") for k in events)
    _match_truth(events, t, np.arange(300))


def test_basf2_first_candidate(basf2_path):
    path, _, info = basf2_path
    events, _ = load_events(path, ingest=IngestConfig(candidate="first"))
    expected = info["mbc"][info["cand"] == 0]
    np.testing.assert_allclose(events["mbc"], expected, rtol=1e-12)


def test_basf2_all_candidates(basf2_path):
    path, _, info = basf2_path
    events, meta = load_events(path, ingest=IngestConfig(candidate="all"))
    assert events["q2"].size == info["n"]
    assert meta["sources"][0]["candidates_removed"] == 0
    # fake candidates carry no truth
    fake = events["is_signal"] == 0
    assert np.all(np.isnan(events["q2_true"][fake]))
    assert np.all(events["flavour_true"][fake] == 0)


def test_basf2_random_candidate_is_seeded(basf2_path):
    path, _, info = basf2_path
    cfg = IngestConfig(candidate="random")
    a, _ = load_events(path, ingest=cfg, rng=np.random.default_rng(7))
    b, _ = load_events(path, ingest=cfg, rng=np.random.default_rng(7))
    c, _ = load_events(path, ingest=cfg, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a["mbc"], b["mbc"])
    assert a["mbc"].size == 300
    assert not np.array_equal(a["mbc"], c["mbc"])
    # every event is represented exactly once
    picked = info["rows"][np.isin(info["mbc"], a["mbc"])]
    np.testing.assert_array_equal(np.sort(picked), np.arange(300))
    with pytest.raises(ConfigError, match="random"):
        load_events(path, ingest=cfg)


def test_basf2_chunks_split_events(basf2_path):
    """Tiny chunks split events across chunk boundaries: same result as one chunk."""
    path, _, _ = basf2_path
    whole, _ = load_events(path)
    stream = iterate_any(path, step_size=7)
    chunks = list(stream)
    assert len(chunks) > 10
    joined = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    for k in whole:
        np.testing.assert_array_equal(joined[k], whole[k], err_msg=k)
    assert stream.meta()["n_events"] == 300


def test_basf2_unordered_events(tmp_path):
    path = tmp_path / "shuffled.root"
    _, info = basf2_file(path, n_events=80, seed=31, shuffle_events=True)
    events, _ = load_events(path)
    assert events["q2"].size == 80
    assert np.all(events["is_signal"] == 1)
    true_mbc = info["mbc"][info["is_true"]]
    np.testing.assert_allclose(np.sort(events["mbc"]), np.sort(true_mbc))


def test_basf2_nonfinite_drop_and_fail(tmp_path):
    path = tmp_path / "nan.root"
    _, info = basf2_file(path, n_events=60, seed=41, nan_rows=(0, 5))
    with pytest.warns(DroppedRowsWarning, match=r"dropped 2 of .* K_p_px"):
        events, meta = load_events(path, ingest=IngestConfig(candidate="all"))
    assert events["q2"].size == info["n"] - 2
    assert meta["rows_dropped"] == 2
    assert meta["sources"][0]["nonfinite_columns"] == ["K_p_px"]
    with pytest.raises(DataError, match=r"'K_p_px' at entry 0 of tree 'det'"):
        load_events(path, ingest=IngestConfig(on_nonfinite="fail"))


def test_basf2_truth_of_background_is_exempt(basf2_path):
    """NaN truth of non-signal candidates drops nothing (rule 4)."""
    path, _, _ = basf2_path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_events(path, ingest=IngestConfig(candidate="all"))


def test_basf2_pdg_disagreement(tmp_path):
    def bad_kaon(det):
        k = det["K_p_PDG"].copy()
        k[3] = -k[3]
        return {"K_p_PDG": k}

    path = tmp_path / "badk.root"
    basf2_file(path, n_events=20, seed=51, extra=bad_kaon)
    with pytest.raises(DataError, match="kaon PDG disagrees with the B flavour"):
        load_events(path, ingest=IngestConfig(candidate="all"))

    def bad_mu(det):
        m = det["mu_m_PDG"].copy()
        m[:] = det["mu_p_PDG"]
        return {"mu_m_PDG": m}

    path = tmp_path / "badmu.root"
    basf2_file(path, n_events=20, seed=52, extra=bad_mu)
    with pytest.raises(DataError, match="muon PDG codes"):
        load_events(path, ingest=IngestConfig(candidate="all"))


def test_basf2_mev_units(tmp_path):
    def to_mev(det):
        return {k: v * 1000.0 for k, v in det.items()
                if k.endswith(COMP + MC) and k[:3] in ("K_p", "pi_", "mu_", "KST")}

    path = tmp_path / "mev.root"
    t, _ = basf2_file(path, n_events=40, seed=61, extra=to_mev)
    with pytest.raises(DataError, match="looks like MeV"):
        load_events(path)
    events, _ = load_events(path, ingest=IngestConfig(energy_unit="MeV"))
    _match_truth(events, t, np.arange(40))
    gev = tmp_path / "gev.root"
    basf2_file(gev, n_events=40, seed=61)
    with pytest.raises(DataError, match="looks like GeV"):
        load_events(gev, ingest=IngestConfig(energy_unit="MeV"))


def test_basf2_missing_branch_close_match(tmp_path):
    path = tmp_path / "nomu.root"
    basf2_file(path, n_events=10, seed=71)
    with uproot.open(path) as f:
        det = f["det"].arrays(library="np")
    det.pop("mu_p_E")
    out = tmp_path / "nomu2.root"
    with uproot.recreate(out) as f:
        write_tree(f, "det", det)
    with pytest.raises(MissingBranchError, match=r"branch 'mu_p_E' not found in tree 'det'"
                       r".*close matches: 'mu_p_mcE'|'mu_m_E'") as err:
        load_events(out, layout="basf2")
    assert "mu_m_E" in err.value.close_matches or "mu_p_mcE" in err.value.close_matches


def test_basf2_wrong_dtype(tmp_path):
    path = tmp_path / "jagged.root"
    basf2_file(path, n_events=10, seed=72)
    with uproot.open(path) as f:
        det = f["det"].arrays(library="np")
    import awkward as ak

    det["Mbc"] = ak.Array([[1.0, 2.0]] * len(det["PDG"]))
    out = tmp_path / "jagged2.root"
    with uproot.recreate(out) as f:
        write_tree(f, "det", det)
    with pytest.raises(SchemaError, match=r"branch 'Mbc' of tree 'det'.*one number per entry"):
        load_events(out, layout="basf2")


def test_several_files_and_glob(tmp_path):
    t1, _ = basf2_file(tmp_path / "a_1.root", n_events=30, seed=81)
    t2, _ = basf2_file(tmp_path / "a_2.root", n_events=40, seed=82)
    events, meta = load_events(str(tmp_path / "a_*.root"))
    assert events["q2"].size == 70
    assert [s["path"] for s in meta["sources"]] == [str(tmp_path / "a_1.root"),
                                                    str(tmp_path / "a_2.root")]
    np.testing.assert_allclose(events["q2"][:30], t1["q2"], atol=1e-6)
    np.testing.assert_allclose(events["q2"][30:], t2["q2"], atol=1e-6)
    with pytest.raises(DataError, match="no file matches"):
        load_events(str(tmp_path / "zzz_*.root"))


# ------------------------------------------------------------------------------------------
# candidate kernel
# ------------------------------------------------------------------------------------------


def test_best_per_group_numba_matches_numpy():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(1, 400))
        keys = [rng.integers(0, 3, n), rng.integers(0, 20, n)]
        if rng.random() < 0.5:
            order = np.lexsort(tuple(reversed(keys)))
            keys = [k[order] for k in keys]
        rank = rng.integers(0, 5, n).astype(float)  # many ties
        rank[rng.random(n) < 0.1] = np.nan
        ids, ng = group_ids(keys)
        a = best_per_group(ids, ng, rank)
        b = best_per_group_numpy(ids, ng, rank)
        np.testing.assert_array_equal(a, b)
        # one row per distinct key tuple
        assert ng == len({(x, y) for x, y in zip(*keys, strict=True)})


# ------------------------------------------------------------------------------------------
# EvtGen ntp
# ------------------------------------------------------------------------------------------


def test_ntp_angles_kept_and_chi_mapped(tmp_path):
    path = tmp_path / "ntp.root"
    cols = ntp_file(path)
    assert detect_layout(path) == "evtgen"
    events, meta = load_events(path)
    assert meta["level"] == "gen"
    np.testing.assert_allclose(events["q2"], cols["q2"].astype(np.float64))
    np.testing.assert_allclose(events["costheta_k"], cols["ctk"].astype(np.float64))
    np.testing.assert_allclose(events["costheta_l"], cols["ctl"].astype(np.float64))
    np.testing.assert_allclose(events["mkpi"], cols["mK"].astype(np.float64))
    chi = cols["chi"].astype(np.float64)
    np.testing.assert_allclose(events["chi"], np.where(chi < 0, chi + TWO_PI, chi))
    assert np.all((events["chi"] >= 0) & (events["chi"] < TWO_PI))
    assert np.all(events["flavour"] == 1)
    src = meta["sources"][0]
    assert "not recomputed" in src["angles"]
    assert src["q2_veto"] is None


def test_ntp_antib0_and_veto_recorded(tmp_path):
    path = tmp_path / "ntp.root"
    ntp_file(path, n=20)
    events, meta = load_events(path, ingest=IngestConfig(flavour={"value": -1}, ntp_q2_veto=True))
    assert np.all(events["flavour"] == -1)
    assert meta["sources"][0]["q2_veto"] is True
    with pytest.raises(ConfigError, match="no flavour column"):
        load_events(path, ingest=IngestConfig(flavour={"column": "x", "kind": "pdg"}))


def test_ntp_chi_two_pi_edge(tmp_path):
    path = tmp_path / "edge.root"
    cols = ntp_file(path, n=5)
    cols["chi"][:] = np.float32(-math.pi), np.float32(math.pi), -1e-9, 0.0, np.float32(-TWO_PI)
    with uproot.recreate(path) as f:
        write_tree(f, "ntp", cols)
    events, _ = load_events(path)
    assert np.all((events["chi"] >= 0) & (events["chi"] < TWO_PI))


# ------------------------------------------------------------------------------------------
# flat
# ------------------------------------------------------------------------------------------


def test_flat_with_mapping(tmp_path):
    path = tmp_path / "flat.root"
    t = flat_file(path)
    with pytest.raises(SchemaError, match="cannot tell the layout"):
        detect_layout(path)
    cfg = IngestConfig(columns=FLAT_MAP, flavour={"column": "B_ID", "kind": "pdg"})
    events, meta = load_events(path, ingest=cfg)  # auto falls back to flat with a mapping
    assert meta["layout"] == "flat"
    assert meta["level"] == "gen"
    _match_truth(events, t, np.arange(t["q2"].size))
    sign = IngestConfig(layout="flat", columns=FLAT_MAP, flavour={"column": "K_Q", "kind": "sign"})
    events2, _ = load_events(path, ingest=sign)
    np.testing.assert_array_equal(events2["flavour"], t["flavour"])


def test_flat_unmapped_names_in_one_error(tmp_path):
    path = tmp_path / "flat.root"
    flat_file(path, n=10)
    partial = {k: v for k, v in FLAT_MAP.items() if not k.startswith("mum_")}
    with pytest.raises(ConfigError) as err:
        load_events(path, layout="flat", ingest=IngestConfig(columns=partial))
    msg = str(err.value)
    for name in ("mum_e", "mum_px", "mum_py", "mum_pz", "flavour"):
        assert name in msg
    with pytest.raises(ConfigError, match="did you mean 'k_px'"):
        load_events(path, layout="flat",
                    ingest=IngestConfig(columns={**FLAT_MAP, "k_pxx": "K_PX"},
                                        flavour={"value": 1}))
    with pytest.raises(ConfigError, match="needs a column mapping"):
        load_events(path, layout="flat")


def test_flat_missing_branch_and_bad_flavour(tmp_path):
    path = tmp_path / "flat.root"
    flat_file(path, n=10)
    cols = {**FLAT_MAP, "k_e": "K_ENERGY"}
    with pytest.raises(MissingBranchError, match=r"K_ENERGY.*close matches: 'K_E"):
        load_events(path, ingest=IngestConfig(layout="flat", columns=cols, flavour={"value": 1}))
    with pytest.raises(DataError, match="is not a B0 PDG code"):
        load_events(path, ingest=IngestConfig(layout="flat", columns=FLAT_MAP,
                                              flavour={"column": "K_Q", "kind": "pdg"}))


def test_flat_mev_and_truth(tmp_path):
    path = tmp_path / "flat_mev.root"
    t = flat_file(path, scale=1000.0, with_truth=True)
    cols = {**FLAT_MAP, **{f"{k}_true": f"{v}_TRUE" for k, v in FLAT_MAP.items()}}
    cfg = IngestConfig(layout="flat", columns=cols, flavour={"value": 1}, energy_unit="MeV")
    # all flavours stated +1 here: compare only the B0 rows
    events, meta = load_events(path, ingest=cfg)
    assert meta["level"] == "det"
    b0 = t["flavour"] == 1
    np.testing.assert_allclose(events["q2"][b0], t["q2"][b0], atol=1e-6)
    np.testing.assert_allclose(events["q2_true"], events["q2"], rtol=1e-12)


def test_flat_candidates_need_rank(tmp_path):
    path = tmp_path / "flat.root"
    flat_file(path, n=10)
    with uproot.open(path) as f:
        cols = f["Events"].arrays(library="np")
    cols["EVT"] = np.repeat(np.arange(5), 2).astype(np.int64)
    cols["RANK"] = np.tile([2.0, 1.0], 5)
    with uproot.recreate(path) as f:
        write_tree(f, "Events", cols)
    base = {**FLAT_MAP, "event": "EVT"}
    with pytest.raises(ConfigError, match="needs a quality column"):
        load_events(path, ingest=IngestConfig(layout="flat", columns=base,
                                              flavour={"column": "B_ID", "kind": "pdg"}))
    cfg = IngestConfig(layout="flat", columns={**base, "rank": "RANK"},
                       flavour={"column": "B_ID", "kind": "pdg"})
    events, _ = load_events(path, ingest=cfg)
    np.testing.assert_allclose(events["k_px"], cols["K_PX"][1::2])
    first = IngestConfig(layout="flat", columns=base, candidate="first",
                         flavour={"column": "B_ID", "kind": "pdg"})
    events, _ = load_events(path, ingest=first)
    np.testing.assert_allclose(events["k_px"], cols["K_PX"][0::2])


# ------------------------------------------------------------------------------------------
# file-level errors and native pass-through
# ------------------------------------------------------------------------------------------


def test_not_root_truncated_missing_tree_empty(tmp_path):
    text = tmp_path / "x.root"
    text.write_text("hello")
    with pytest.raises(SchemaError, match="not a ROOT file"):
        load_events(text)
    good = tmp_path / "good.root"
    basf2_file(good, n_events=200, seed=91)
    data = good.read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"truncated|damaged"):
        load_events(cut, layout="basf2")
    with pytest.raises(MissingBranchError, match=r"tree 'dett' not found.*'det'"):
        load_events(good, tree="dett")
    empty = tmp_path / "empty.root"
    with uproot.recreate(empty) as f:
        f.mktree("ntp", dict.fromkeys(("mK", "q2", "ctk", "ctl", "chi"), np.float32))
    with pytest.raises(DataError, match="empty"):
        load_events(empty)
    with pytest.raises(DataError, match="not found"):
        load_events(tmp_path / "nope.root")


def test_native_pass_through(tmp_path):
    from hepc9.rootio import make_meta, write_events

    path = tmp_path / "native.root"
    events = {k: np.linspace(0.1, 0.9, 20) for k in ("q2", "costheta_l", "costheta_k", "chi",
                                                     "mkpi")}
    events["flavour"] = np.ones(20, dtype=np.int8)
    write_events(path, events, make_meta(level="gen", shifts={"dc9": -0.5}, seed=1,
                                         n_events=20, config_digest=None))
    assert detect_layout(path) == "native"
    out, meta = load_events([path, path.as_posix()])
    assert meta["dc9"] == -0.5
    assert out["q2"].size == 20  # duplicates removed


# ------------------------------------------------------------------------------------------
# convert (pipeline + CLI, in process)
# ------------------------------------------------------------------------------------------


def _cli(*argv):
    from hepc9.cli import main

    return main(["-q", *map(str, argv)])


def test_cli_convert_basf2_roundtrip(basf2_path, tmp_path):
    from hepc9.rootio import read_events

    path, t, info = basf2_path
    out = tmp_path / "native.root"
    assert _cli("convert", path, "--output", out, "--dc9", "-0.82") == 0
    events, meta = read_events(out)
    assert meta["level"] == "det"
    assert meta["dc9"] == -0.82
    assert meta["dc10"] == 0.0
    assert meta["generator"] == "hepc9.rootio.basf2"
    src = meta["source"]
    assert src["wilson_point"] == "user"
    assert src["candidate"] == "best"
    # provenance counts are final (filled while streaming, written at the end)
    assert src["files"][0]["rows_read"] == info["n"]
    assert src["files"][0]["rows_kept"] == 300
    assert src["files"][0]["candidates_removed"] == info["n"] - 300
    assert meta["n_events"] == 300
    np.testing.assert_allclose(events["q2"], t["q2"], rtol=1e-6)
    np.testing.assert_allclose(events["costheta_l"], t["costheta_l"], atol=1e-6)
    direct, _ = load_events(path)
    for name in ("q2", "chi", "mbc", "q2_true", "k_px"):
        np.testing.assert_allclose(events[name], direct[name].astype(np.float32), rtol=1e-7)


def test_cli_convert_streams_in_small_chunks(basf2_path, tmp_path):
    from hepc9.rootio import read_events

    path, _, _ = basf2_path
    a, b = tmp_path / "a.root", tmp_path / "b.root"
    assert _cli("convert", path, "-o", a) == 0
    assert _cli("convert", path, "-o", b, "--set", "ingest.step_size=13") == 0
    ea, ma = read_events(a)
    eb, _ = read_events(b)
    for k in ea:
        np.testing.assert_array_equal(ea[k], eb[k])
    assert ma["source"]["wilson_point"].startswith("not given")


def test_cli_convert_options(basf2_path, tmp_path):
    from hepc9.rootio import read_events

    path, _, info = basf2_path
    out = tmp_path / "first.root"
    assert _cli("convert", path, "-o", out, "--candidate", "first", "--tree", "det") == 0
    events, _ = read_events(out)
    np.testing.assert_allclose(events["mbc"], info["mbc"][info["cand"] == 0].astype(np.float32))
    gen = tmp_path / "gen.root"
    assert _cli("convert", path, "-o", gen, "--tree", "gen", "--format", "basf2") == 0
    assert read_events(gen)[1]["level"] == "gen"
    rnd1, rnd2 = tmp_path / "r1.root", tmp_path / "r2.root"
    assert _cli("convert", path, "-o", rnd1, "--candidate", "random", "--seed", "5") == 0
    assert _cli("convert", path, "-o", rnd2, "--candidate", "random", "--seed", "5") == 0
    np.testing.assert_array_equal(read_events(rnd1)[0]["mbc"], read_events(rnd2)[0]["mbc"])


def test_cli_convert_flat_with_map(tmp_path):
    from hepc9.rootio import read_events

    path = tmp_path / "flat.root"
    t = flat_file(path, n=40)
    mapping = tmp_path / "map.toml"
    lines = ["[ingest]", 'layout = "flat"', 'tree = "Events"',
             'flavour = {column = "B_ID", kind = "pdg"}', "[ingest.columns]"]
    lines += [f'{k} = "{v}"' for k, v in FLAT_MAP.items()]
    mapping.write_text("\n".join(lines) + "\n")
    out = tmp_path / "native.root"
    assert _cli("convert", path, "-o", out, "--map", mapping, "--c9p", "0.5") == 0
    events, meta = read_events(out)
    assert meta["c9p"] == 0.5
    assert meta["source"]["files"][0]["columns"]["k_e"] == "K_E"
    np.testing.assert_allclose(events["q2"], t["q2"], rtol=1e-6)
    bad = tmp_path / "bad.toml"
    bad.write_text("[ingest]\ncolumns = {k_e = 'K_E'}\n[train]\nepochs = 3\n")
    assert _cli("convert", path, "-o", tmp_path / "x.root", "--map", bad) == 1
    assert not (tmp_path / "x.root").exists()


def _truncated(tmp_path):
    good = tmp_path / "good.root"
    basf2_file(good, n_events=200, seed=92)
    cut = tmp_path / "cut.root"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return [cut, "--format", "basf2"]


def _not_root(tmp_path):
    p = tmp_path / "text.root"
    p.write_text("not a root file\n")
    return [p]


def _no_tree(tmp_path):
    p = tmp_path / "sig.root"
    basf2_file(p, n_events=5, seed=93)
    return [p, "--tree", "reco"]


def _missing_branch(tmp_path):
    p = tmp_path / "flat.root"
    flat_file(p, n=5)
    m = tmp_path / "m.toml"
    cols = {**FLAT_MAP, "k_e": "K_EE"}
    m.write_text("[ingest]\nflavour = {value = 1}\n[ingest.columns]\n"
                 + "".join(f'{k} = "{v}"\n' for k, v in cols.items()))
    return [p, "--format", "flat", "--map", m]


def _empty(tmp_path):
    p = tmp_path / "empty.root"
    with uproot.recreate(p) as f:
        f.mktree("ntp", dict.fromkeys(("mK", "q2", "ctk", "ctl", "chi"), np.float32))
    return [p]


def _wrong_dtype(tmp_path):
    p = tmp_path / "jag.root"
    cols = {c: np.ones(3, dtype=np.float32) for c in ("mK", "q2", "ctk", "ctl")}
    import awkward as ak

    cols["chi"] = ak.Array([[0.1], [0.2, 0.3], []])
    with uproot.recreate(p) as f:
        write_tree(f, "ntp", cols)
    return [p]


def _strict_nan(tmp_path):
    p = tmp_path / "nan.root"
    basf2_file(p, n_events=20, seed=94, nan_rows=(3,))
    return [p, "--strict"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_not_root, "not a ROOT file"),
        (_truncated, "truncated"),
        (_no_tree, "tree 'reco' not found"),
        (_missing_branch, "branch 'K_EE' not found"),
        (_empty, "is empty"),
        (_wrong_dtype, "one number per entry"),
        (_strict_nan, "non-finite value nan in branch 'K_p_px' at entry 3"),
    ],
)
def test_cli_convert_errors(tmp_path, capsys, make, message):
    args = make(tmp_path)
    out = tmp_path / "out" / "native.root"
    assert _cli("convert", *args, "-o", out) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1  # one line, no traceback
    folder = out.parent
    assert not folder.exists() or not any(folder.iterdir())  # no output, no temp file


def test_cli_convert_refuses_existing_output(basf2_path, tmp_path, capsys):
    path, _, _ = basf2_path
    out = tmp_path / "o.root"
    out.write_text("keep me")
    assert _cli("convert", path, "-o", out) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert _cli("convert", path, "-o", out, "--overwrite") == 0


def test_cli_convert_usage_errors(basf2_path, tmp_path):
    path, _, _ = basf2_path
    assert _cli("convert", path) == 2
    assert _cli("convert", path, "-o", tmp_path / "x.root", "--candidate", "bestest") == 2
    assert _cli("convert", path, "-o", tmp_path / "x.root", "--dc9", "inf") == 2


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("ingest.step_size=0", "step_size = 0"),
        ("ingest.flavour={value=2}", "must be 1 \\(B0\\) or"),
        ('ingest.flavour={column="B_ID", kind="charge"}', "must be 'pdg' or 'sign'"),
        ('ingest.flavour={column="B_ID"}', "must be \\{column"),
        ('ingest.candidate="bset"', "did you mean 'best'"),
    ],
)
def test_ingest_config_validation(override, message):
    from hepc9.config import load_config

    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_mapping_file_keeps_other_settings(tmp_path):
    from hepc9.config import load_config
    from hepc9.pipeline.convert import apply_mapping_file

    cfg = load_config(None, ["ingest.candidate=\"first\"", "seed=3"])
    m = tmp_path / "m.toml"
    m.write_text('[ingest]\nenergy_unit = "MeV"\n')
    out = apply_mapping_file(cfg, m)
    assert out.ingest.energy_unit == "MeV"
    assert out.ingest.candidate == "first"
    assert out.seed == 3
    m.write_text('[ingest]\nenergy_unit = "keV"\n')
    with pytest.raises(ConfigError, match="energy_unit"):
        apply_mapping_file(cfg, m)
    with pytest.raises(ConfigError, match="does not exist"):
        apply_mapping_file(cfg, tmp_path / "none.toml")


def test_basf2_without_one_branch_is_still_basf2(tmp_path):
    """Detected from its trees and naming; the missing branch is named with close matches."""
    path = tmp_path / "b.root"
    basf2_file(path, n_events=20, drop=("mu_m_px", "PDG"))
    assert detect_layout(path) == "basf2"
    with pytest.raises(MissingBranchError, match=r"'mu_m_px' not found.*close matches"):
        load_events(path)


# ------------------------------------------------------------------------------------------
# column lists: read only what is needed
# ------------------------------------------------------------------------------------------

RECO = ("q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour", "mbc", "delta_e")


def test_columns_without_truth_skip_the_mc_branches(tmp_path):
    """A reco-only column list gives the full read's values and never reads the MC truth."""
    path = tmp_path / "sig.root"

    def broken_truth(det):  # a NaN in the truth of a signal row: fatal only when it is read
        bad = det["K_p_mcPX"].copy()
        bad[np.flatnonzero(det["isSignal"] == 1)[0]] = np.nan
        return {"K_p_mcPX": bad}

    basf2_file(path, n_events=150, seed=4, extra=broken_truth)
    fail = IngestConfig(on_nonfinite="fail")
    with pytest.raises(DataError, match="K_p_mcPX"):
        load_events(path, ingest=fail)
    some, meta = load_events(path, ingest=fail, columns=list(RECO))
    assert tuple(some) == RECO
    assert meta["sources"][0]["truth"] == "not read (not requested)"
    clean = tmp_path / "clean.root"
    basf2_file(clean, n_events=150, seed=4)
    full, _ = load_events(clean)
    some, _ = load_events(clean, columns=["chi", "q2", "q2"])
    assert tuple(some) == ("chi", "q2")
    np.testing.assert_array_equal(some["chi"], full["chi"])
    np.testing.assert_array_equal(some["q2"], full["q2"])
    truth, _ = load_events(clean, columns=["q2", "q2_true", "is_signal"])
    np.testing.assert_array_equal(truth["q2_true"], full["q2_true"])
    chunks = list(iterate_any(clean, columns=["q2", "flavour"], step_size=97))
    np.testing.assert_array_equal(np.concatenate([c["flavour"] for c in chunks]),
                                  full["flavour"])
    with pytest.raises(DataError, match=r"no column 'cos_theta_l'.*did you mean"):
        load_events(clean, columns=["cos_theta_l"])
    with pytest.raises(ConfigError, match="at least one column"):
        load_events(clean, columns=[])


def test_columns_of_native_files(tmp_path):
    from hepc9.rootio import make_meta, write_events

    path = tmp_path / "native.root"
    events = {k: np.linspace(0.1, 0.9, 20) for k in ("q2", "costheta_l", "costheta_k", "chi",
                                                     "mkpi")}
    events["flavour"] = np.ones(20, dtype=np.int8)
    write_events(path, events, make_meta(level="gen", shifts={}, seed=1, n_events=20,
                                         config_digest=None))
    out, _ = load_events(path, columns=["chi", "flavour"])
    assert tuple(out) == ("chi", "flavour")
    full, _ = load_events(path)
    np.testing.assert_array_equal(out["chi"], full["chi"])
    np.testing.assert_array_equal(out["flavour"], full["flavour"])

"""``hepc9 simulate`` end to end, in-process: files, report, selection, background, errors."""

import json

import numpy as np
import pytest

from hepc9.background import region_fraction
from hepc9.cli import main
from hepc9.config import SelectionConfig, load_config
from hepc9.detector import FOUR_VECTOR_COLUMNS
from hepc9.kinematics import BELLE2
from hepc9.pipeline.simulate import simulate_file
from hepc9.rootio.native import make_meta, read_events, write_events
from hepc9.selection import kstar_window, sideband, signal_region

N_GEN = 20_000


@pytest.fixture(scope="module")
def gen_file(tmp_path_factory, make):
    path = tmp_path_factory.mktemp("sim") / "gen.root"
    events = make(N_GEN, 21)
    meta = make_meta(level="gen", shifts={"dc9": -0.82}, seed=21, n_events=N_GEN,
                     config_digest=None)
    write_events(path, events, meta)
    return path


@pytest.fixture(scope="module")
def mixed(gen_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("mixed")
    argv = ["-q", "simulate", str(gen_file), "--output", str(out / "det.root"),
            "--sideband-output", str(out / "sb.root"), "--background", "--seed", "7"]
    assert main(argv) == 0
    return out


def test_outputs_and_report(mixed, capsys):
    report = json.loads((mixed / "det.json").read_text())
    assert report["events_in"] == N_GEN
    steps = [s["name"] for s in report["signal"]["cutflow"]["steps"]]
    assert steps == ["generated", "acceptance", "momentum thresholds", "muon ID", "kaon ID",
                     "K* window", "signal region"]
    assert report["signal"]["cutflow"]["steps"][0]["count"] == N_GEN
    for name in ("q2", "costheta_l", "costheta_k", "chi"):
        eff = [e for e in report["efficiency"][name]["efficiency"] if e is not None]
        assert eff
        assert all(0.0 <= e <= 1.0 for e in eff)
    ev, meta = read_events(mixed / "det.root")
    assert meta["level"] == "det"
    assert meta["region"] == "signal"
    assert meta["dc9"] == -0.82
    assert meta["n_signal"] + meta["n_background"] == len(ev["q2"])
    assert report["signal_region_events"] == len(ev["q2"])


def test_selection_reproduces_on_written_files(mixed):
    sel = SelectionConfig()
    sr, _ = read_events(mixed / "det.root")
    sb, _ = read_events(mixed / "sb.root")
    assert signal_region(sr, sel).all()
    assert kstar_window(sr, sel).all()
    assert sideband(sb, sel).all()
    assert kstar_window(sb, sel).all()
    assert not signal_region(sb, sel).any()


def test_background_fraction_and_truth(mixed):
    report = json.loads((mixed / "det.json").read_text())
    sr, _ = read_events(mixed / "det.root")
    n = len(sr["q2"])
    n_bkg = int(np.count_nonzero(sr["is_signal"] == 0))
    f = 0.44  # physics default, [background] fraction
    # binomial spread of the background count around f/(1-f) n_sig
    n_sig = n - n_bkg
    # the background blocks stop at the round(f/(1-f) n_sig)-th accepted signal-region candidate
    assert n_bkg == round(f / (1 - f) * n_sig)
    assert report["background"]["target_signal_region"] == n_bkg
    assert report["background"]["fraction_observed"] == pytest.approx(n_bkg / n)
    bkg = sr["is_signal"] == 0
    assert np.isnan(sr["q2_true"][bkg]).all()
    assert np.isfinite(sr["q2_true"][~bkg]).all()
    assert (sr["flavour_true"][bkg] == 0).all()
    # mixed files carry no four-vectors (background has none), and rows are shuffled
    assert not any(c in sr for c in FOUR_VECTOR_COLUMNS)
    # rows are shuffled: both halves of the file mix signal and background
    for half in (sr["is_signal"][: n // 2], sr["is_signal"][n // 2:]):
        assert 0.2 < half.mean() < 0.9
    sb, _ = read_events(mixed / "sb.root")
    assert np.mean(sb["is_signal"] == 0) > 0.9  # the sideband is mostly background
    # the sideband receives its ARGUS share: the track selection does not depend on Mbc or ΔE,
    # so sideband/signal region = P(SB)/P(SR) under the shapes; for a fixed number k of
    # signal-region candidates the sideband count is negative binomial with mean k·r and
    # variance k·r(1 + r)
    cfg = load_config()
    sel = cfg.selection
    window = {"delta_e": (-sel.delta_e_max, sel.delta_e_max),
              "mkpi": (sel.mkpi_centre - sel.mkpi_window, sel.mkpi_centre + sel.mkpi_window)}
    p_sb = region_fraction(cfg.background, beam=BELLE2, mbc=sel.mbc_sideband, **window)
    p_sr = region_fraction(cfg.background, beam=BELLE2,
                           mbc=(sel.mbc_signal_min, BELLE2.e_beam_cm), **window)
    r = p_sb / p_sr
    expected_sb = n_bkg * r
    assert abs(report["background"]["sideband"] - expected_sb) < 4 * np.sqrt(n_bkg * r * (1 + r))
    # about half of the candidates fail the track selection (acceptance, thresholds, ID)
    steps = {s["name"]: s["count"] for s in report["background"]["cutflow"]["steps"]}
    assert 0.2 < steps["track selection"] / steps["SR or sideband"] < 0.8
    assert report["background"]["sideband"] == int(np.count_nonzero(sb["is_signal"] == 0))


def test_streams_are_independent(gen_file, tmp_path):
    cfg = load_config(overrides=["seed=5"])
    runs = {}
    for name, stream in (("default", ()), ("zero", (0,)), ("one", (1,))):
        simulate_file(cfg, gen_file, tmp_path / f"{name}.root", stream=stream)
        runs[name], meta = read_events(tmp_path / f"{name}.root")
        assert meta["spawn_key"] == [2, *stream]
    assert not np.array_equal(runs["zero"]["q2"][:100], runs["one"]["q2"][:100])
    assert not np.array_equal(runs["default"]["q2"][:100], runs["zero"]["q2"][:100])


def test_signal_only_keeps_four_vectors_and_is_reproducible(gen_file, tmp_path):
    for name in ("a", "b"):
        assert main(["-q", "simulate", str(gen_file), "-o", str(tmp_path / f"{name}.root"),
                     "--seed", "3", "--set", "detector.chunk_size=7000"]) == 0
    a, meta = read_events(tmp_path / "a.root")
    b, _ = read_events(tmp_path / "b.root")
    assert all(c in a for c in FOUR_VECTOR_COLUMNS)
    assert all(f"{c}_true" in a for c in FOUR_VECTOR_COLUMNS)
    assert a["is_signal"].all()
    assert meta["n_background"] == 0
    assert meta["four_vectors_added"] is False
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_input_without_four_vectors(tmp_path, make):
    events = {k: v for k, v in make(3000, 4).items() if k not in FOUR_VECTOR_COLUMNS}
    gen = tmp_path / "angles.root"
    write_events(gen, events, make_meta(level="gen", shifts={}, seed=1, n_events=3000,
                                        config_digest=None))
    assert main(["-q", "simulate", str(gen), "-o", str(tmp_path / "det.root")]) == 0
    _, meta = read_events(tmp_path / "det.root")
    assert meta["four_vectors_added"] is True


def test_errors_leave_no_output(gen_file, tmp_path, capsys):
    out = tmp_path / "det.root"
    assert main(["simulate", str(gen_file), "-o", str(out), "--background-fraction", "1.5"]) == 2
    assert "background fraction" in capsys.readouterr().err
    assert not out.exists()
    det_level = tmp_path / "first.root"
    assert main(["-q", "simulate", str(gen_file), "-o", str(det_level)]) == 0
    assert main(["simulate", str(det_level), "-o", str(out)]) == 1
    assert "generator-level" in capsys.readouterr().err
    assert not out.exists()
    # existing output without --overwrite: one-line error, nothing written
    (tmp_path / "sb.root").write_text("keep me")
    assert main(["simulate", str(gen_file), "-o", str(out), "--sideband-output",
                 str(tmp_path / "sb.root")]) == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert (tmp_path / "sb.root").read_text() == "keep me"
    assert main(["simulate", str(tmp_path / "missing.root"), "-o", str(out)]) == 1
    assert main(["simulate", str(gen_file), "-o", str(out), "--set",
                 "background.argus_c=3"]) == 1
    assert "argus_c" in capsys.readouterr().err
    assert main(["simulate", str(gen_file), "-o", str(gen_file)]) == 1
    assert main(["simulate", str(gen_file)]) == 2  # --output is required

"""Core command line: ``generate``, ``info``, ``observables`` and the global options (issue 3 §5).

Commands run in-process through :func:`hepc9.cli.main` (``capsys`` captures their output); one
test runs ``python -m hepc9 generate`` as a real subprocess.  Every generated file is read back
with :mod:`hepc9.rootio.native`; model predictions come from
:mod:`hepc9.physics.observables` (physics.md §7).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hepc9
from hepc9.cli import main
from hepc9.errors import Hepc9Error, OutputExistsError
from hepc9.physics.constants import SEED_MODEL, WilsonShifts, q2_limits
from hepc9.physics.observables import (
    STANDARD_BINS,
    afb_zero_crossing,
    binned_observables,
    moments,
)
from hepc9.rootio.native import (
    CORE_COLUMNS,
    NATIVE_DTYPES,
    make_meta,
    read_events,
    read_meta,
    write_events,
)

SHIFTS = ("dc7", "dc9", "dc10", "c7p", "c9p", "c10p")
FOUR_VECTOR_COLUMNS = tuple(
    f"{p}_{c}" for p in ("k", "pi", "mup", "mum") for c in ("e", "px", "py", "pz")
)
N = 2000


def _generate(path: Path, *extra: str, events: int = N, seed: int = 11) -> int:
    """Run ``hepc9 -q generate`` in-process; return the exit status."""
    argv = ["-q", "generate", "--events", str(events), "--seed", str(seed), "--output", str(path)]
    return main([*argv, *extra])


def _listing(folder: Path) -> list[str]:
    """Every entry of ``folder``, hidden temporary files included."""
    return sorted(os.listdir(folder))


def _assert_one_line_error(err: str, *, exit_code: int) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    assert "Traceback" not in err
    prefix = "hepc9 generate: error:" if exit_code == 2 else "error:"
    assert prefix in lines[0]


# --------------------------------------------------------------------------------------------
# generate: what lands in the file
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["b0", "b0bar", "both"])
def test_generate_writes_metadata_flavour_and_window(tmp_path, capsys, flavour):
    out = tmp_path / "ev.root"
    argv = [
        "generate", "--events", str(N), "--seed", "5", "--output", str(out),
        "--dc9", "-1", "--c10p", "0.3", "--dc7", "0.05",
        "--flavour", flavour, "--q2-min", "1.1", "--q2-max", "6",
    ]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"wrote {N} events to {out}")
    assert captured.err == ""
    assert _listing(tmp_path) == ["ev.root"]

    events, meta = read_events(out)
    assert meta == read_meta(out)
    assert meta["level"] == "gen"
    assert meta["seed"] == 5
    assert meta["n_events"] == N
    assert meta["flavour"] == flavour
    assert meta["q2_range"] == [1.1, 6.0]
    expected = {"dc7": 0.05, "dc9": -1.0, "dc10": 0.0, "c7p": 0.0, "c9p": 0.0, "c10p": 0.3}
    assert {name: meta[name] for name in SHIFTS} == expected

    assert set(CORE_COLUMNS) <= set(events)
    assert not set(FOUR_VECTOR_COLUMNS) & set(events)  # only with --four-vectors
    assert all(len(column) == N for column in events.values())
    # q² inside the window: float32 rounding is monotonic, so compare with the rounded edges
    assert events["q2"].min() >= np.float32(1.1)
    assert events["q2"].max() <= np.float32(6.0)
    assert np.all(np.abs(events["costheta_l"]) <= 1.0)
    assert np.all(np.abs(events["costheta_k"]) <= 1.0)
    assert np.all((events["chi"] >= 0.0) & (events["chi"] <= np.float32(2 * np.pi)))

    flav = events["flavour"]
    if flavour == "b0":
        assert np.all(flav == 1)
    elif flavour == "b0bar":
        assert np.all(flav == -1)
    else:
        assert set(np.unique(flav)) == {-1, 1}
        n_b0 = int(np.count_nonzero(flav == 1))
        assert abs(n_b0 - N / 2) < 5 * np.sqrt(N / 4)  # 50/50 within 5σ (binomial)


def test_generate_default_window_is_the_kinematic_range(tmp_path):
    out = tmp_path / "full.root"
    assert _generate(out) == 0
    events, meta = read_events(out)
    lo, hi = q2_limits(SEED_MODEL)
    assert meta["q2_range"] is None
    assert meta["flavour"] == "b0"
    assert {name: meta[name] for name in SHIFTS} == dict.fromkeys(SHIFTS, 0.0)
    assert events["q2"].min() >= np.float32(lo)
    assert events["q2"].max() <= np.float32(hi)
    # a 2000-event sample over the full range reaches both ends of the spectrum
    assert events["q2"].min() < 1.0
    assert events["q2"].max() > 15.0


def test_generate_four_vectors_are_consistent_with_q2(tmp_path):
    out = tmp_path / "fv.root"
    assert _generate(out, "--four-vectors", "--flavour", "both") == 0
    events, _ = read_events(out)
    assert set(FOUR_VECTOR_COLUMNS) <= set(events)
    for name in FOUR_VECTOR_COLUMNS:
        assert np.all(np.isfinite(events[name])), name
    # the dimuon invariant mass squared is q² (float32 on disk: relative 1e-3 tolerance)
    e = events["mup_e"] + events["mum_e"]
    px = events["mup_px"] + events["mum_px"]
    py = events["mup_py"] + events["mum_py"]
    pz = events["mup_pz"] + events["mum_pz"]
    np.testing.assert_allclose(e**2 - px**2 - py**2 - pz**2, events["q2"], rtol=2e-3, atol=2e-3)
    # K π invariant mass is m(Kπ) of the event (narrow line shape: the K*0 mass)
    e = events["k_e"] + events["pi_e"]
    px = events["k_px"] + events["pi_px"]
    py = events["k_py"] + events["pi_py"]
    pz = events["k_pz"] + events["pi_pz"]
    mkpi = np.sqrt(e**2 - px**2 - py**2 - pz**2)
    np.testing.assert_allclose(mkpi, events["mkpi"], rtol=2e-3)


def test_generate_config_file_set_and_options_precedence(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        "seed = 7\n\n[generate]\nevents = 1500\ndc9 = -0.5\ndc10 = 0.4\nflavour = \"b0bar\"\n",
        encoding="utf-8",
    )
    out = tmp_path / "cfg.root"
    argv = ["-q", "generate", "--output", str(out), "--config", str(cfg),
            "--set", "generate.c9p=0.25", "--set", "generate.dc10=1.5", "--dc10", "-0.2"]
    assert main(argv) == 0
    events, meta = read_events(out)
    # from the file
    assert meta["seed"] == 7
    assert meta["n_events"] == 1500
    assert meta["dc9"] == -0.5
    assert meta["flavour"] == "b0bar"
    assert np.all(events["flavour"] == -1)
    # --set adds a value; an explicit option wins over both the file and --set
    assert meta["c9p"] == 0.25
    assert meta["dc10"] == -0.2
    assert len(events["q2"]) == 1500


# --------------------------------------------------------------------------------------------
# generate: reproducibility
# --------------------------------------------------------------------------------------------


def _arrays(path: Path) -> dict[str, np.ndarray]:
    return read_events(path)[0]


def test_same_seed_identical_different_seed_different(tmp_path):
    a, b, c = (tmp_path / f"{x}.root" for x in "abc")
    opts = ("--four-vectors", "--flavour", "both", "--dc9", "-0.82")
    assert _generate(a, *opts, seed=21) == 0
    assert _generate(b, *opts, seed=21) == 0
    assert _generate(c, *opts, seed=22) == 0
    ea, eb, ec = _arrays(a), _arrays(b), _arrays(c)
    assert set(ea) == set(eb) == set(ec)
    for name in ea:
        np.testing.assert_array_equal(ea[name], eb[name], err_msg=name)
    for name in ("q2", "costheta_l", "costheta_k", "chi", "k_px", "mup_pz"):
        assert not np.array_equal(ea[name], ec[name]), name
    assert not np.array_equal(ea["flavour"], ec["flavour"])


def test_thread_count_does_not_change_the_events(tmp_path):
    # small chunks so that the 2000 events span several independently seeded chunks and blocks
    chunks = ("--set", "generate.chunk_size=128", "--four-vectors", "--flavour", "both")
    one, two = tmp_path / "t1.root", tmp_path / "t2.root"
    assert _generate(one, *chunks, "--threads", "1") == 0
    assert _generate(two, *chunks, "--threads", "2") == 0
    e1, e2 = _arrays(one), _arrays(two)
    assert set(e1) == set(e2)
    for name in e1:
        np.testing.assert_array_equal(e1[name], e2[name], err_msg=name)


# --------------------------------------------------------------------------------------------
# generate: bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ["--events", "-5"],
        ["--events", "0"],
        ["--events", "1.5"],
        ["--events", "1.5e0"],
        ["--events", "1e999"],
        ["--events", "abc"],
        ["--dc9", "abc"],
        ["--dc9", "nan"],
        ["--dc10", "inf"],
        ["--c7p", "-inf"],
        ["--flavour", "bs"],
        ["--q2-min", "nan"],
        ["--seed", "-1"],
        ["--threads", "-2"],
    ],
    ids=lambda extra: " ".join(extra),
)
def test_generate_usage_errors_exit_2(tmp_path, capsys, extra):
    out = tmp_path / "bad.root"
    argv = ["generate", "--events", "100", "--output", str(out)]
    assert main([*argv, *extra]) == 2
    captured = capsys.readouterr()
    _assert_one_line_error(captured.err, exit_code=2)
    assert extra[0] in captured.err
    assert captured.out == ""
    assert _listing(tmp_path) == []


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--q2-min", "0", "--q2-max", "25"], "kinematic"),
        (["--q2-min", "0.01", "--q2-max", "6"], "kinematic"),
        (["--q2-max", "20"], "kinematic"),
        (["--q2-min", "20"], "kinematic"),
        (["--q2-min", "-1"], "q2_min"),
    ],
    ids=lambda x: " ".join(x) if isinstance(x, list) else x,
)
def test_generate_bad_q2_window_exit_1(tmp_path, capsys, extra, needle):
    out = tmp_path / "win.root"
    assert main(["generate", "--events", "100", "--output", str(out), *extra]) == 1
    captured = capsys.readouterr()
    _assert_one_line_error(captured.err, exit_code=1)
    assert needle in captured.err
    assert _listing(tmp_path) == []  # neither the output nor a temporary file


@pytest.mark.parametrize("bounds", [("5", "2"), ("3", "3")])
def test_generate_inverted_q2_window_is_a_usage_error(tmp_path, capsys, bounds):
    out = tmp_path / "win.root"
    argv = ["generate", "--events", "100", "--output", str(out), "--q2-min", bounds[0],
            "--q2-max", bounds[1]]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert f"--q2-min {bounds[0]} must be below --q2-max {bounds[1]}" in captured.err
    assert "<defaults>" not in captured.err
    assert _listing(tmp_path) == []


def test_existing_output_is_left_untouched_without_overwrite(tmp_path, capsys):
    out = tmp_path / "keep.root"
    out.write_bytes(b"precious bytes")
    before = out.stat()
    assert _generate(out) == 1
    captured = capsys.readouterr()
    _assert_one_line_error(captured.err, exit_code=1)
    assert "--overwrite" in captured.err
    assert out.read_bytes() == b"precious bytes"
    assert out.stat().st_mtime_ns == before.st_mtime_ns
    assert _listing(tmp_path) == ["keep.root"]


def test_overwrite_replaces_an_existing_file(tmp_path):
    out = tmp_path / "again.root"
    out.write_bytes(b"not a ROOT file")
    assert _generate(out, "--overwrite", events=300, seed=1) == 0
    first, meta = read_events(out)
    assert meta["n_events"] == 300
    assert meta["seed"] == 1
    assert len(first["q2"]) == 300
    assert _generate(out, "--overwrite", events=400, seed=2) == 0
    second, meta = read_events(out)
    assert meta["n_events"] == 400
    assert meta["seed"] == 2
    assert len(second["q2"]) == 400
    assert _listing(tmp_path) == ["again.root"]


def test_missing_output_folder_exit_1(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "folder" / "ev.root"
    assert _generate(out) == 1
    captured = capsys.readouterr()
    _assert_one_line_error(captured.err, exit_code=1)
    assert "does not exist" in captured.err
    assert _listing(tmp_path) == []


def test_output_folder_that_is_a_file_exit_1(tmp_path, capsys):
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    assert _generate(tmp_path / "plain" / "ev.root") == 1
    captured = capsys.readouterr()
    _assert_one_line_error(captured.err, exit_code=1)
    assert "not a folder" in captured.err
    assert _listing(tmp_path) == ["plain"]


def test_output_that_is_a_folder_exit_1(tmp_path, capsys):
    (tmp_path / "dir.root").mkdir()
    assert _generate(tmp_path / "dir.root", "--overwrite") == 1
    captured = capsys.readouterr()
    _assert_one_line_error(captured.err, exit_code=1)
    assert "folder" in captured.err
    assert _listing(tmp_path / "dir.root") == []


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="the superuser can write into read-only folders",
)
def test_unwritable_output_folder_exit_1(tmp_path, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert _generate(folder / "ev.root") == 1
        captured = capsys.readouterr()
        _assert_one_line_error(captured.err, exit_code=1)
        assert "writ" in captured.err
        assert _listing(folder) == []
    finally:
        folder.chmod(0o755)


def test_unwritable_output_folder_reported_by_the_os_exit_1(tmp_path, capsys, monkeypatch):
    # Runs for every user (the superuser bypasses permission bits): the folder check must use
    # the operating system's answer and stop before any work is done.
    folder = tmp_path / "locked"
    folder.mkdir()
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    assert _generate(folder / "ev.root") == 1
    captured = capsys.readouterr()
    _assert_one_line_error(captured.err, exit_code=1)
    assert "not writable" in captured.err
    assert _listing(folder) == []


def test_debug_shows_the_traceback_of_a_hepc9_error(tmp_path, capsys):
    out = tmp_path / "exists.root"
    out.write_bytes(b"x")
    argv = ["generate", "--events", "10", "--output", str(out)]
    assert main(argv) == 1
    assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(OutputExistsError, match="--overwrite") as info:
        main(["--debug", *argv])
    assert isinstance(info.value, Hepc9Error)
    assert out.read_bytes() == b"x"


# --------------------------------------------------------------------------------------------
# generate as a real process
# --------------------------------------------------------------------------------------------


def test_python_dash_m_generate_subprocess(tmp_path):
    out = tmp_path / "proc.root"
    args = ["--events", str(N), "--seed", "31", "--dc9", "-0.82", "--flavour", "both"]
    proc = subprocess.run(
        [sys.executable, "-m", "hepc9", "generate", *args, "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {N} events to {out}")
    assert "Traceback" not in proc.stderr
    events, meta = read_events(out)
    assert meta["dc9"] == -0.82
    assert meta["seed"] == 31
    assert meta["n_events"] == N
    # the separate process produced exactly what the in-process run produces
    twin = tmp_path / "twin.root"
    assert main(["-q", "generate", *args, "--output", str(twin)]) == 0
    again = _arrays(twin)
    for name in events:
        np.testing.assert_array_equal(events[name], again[name], err_msg=name)
    assert _listing(tmp_path) == ["proc.root", "twin.root"]


# --------------------------------------------------------------------------------------------
# info
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("info") / "small.root"
    assert _generate(out, "--dc9", "-1", "--q2-min", "1.1", "--q2-max", "6", events=500) == 0
    return out


def test_info_text(small_file, capsys):
    assert main(["info", str(small_file)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"{small_file}: 500 entries"
    meta_lines = {line.split(":")[0].strip(): line.split(":", 1)[1].strip() for line in lines
                  if ":" in line and not line.startswith(str(small_file))}
    assert meta_lines["dc9"] == "-1.0"
    assert meta_lines["seed"] == "11"
    assert meta_lines["level"] == "gen"
    assert meta_lines["n_events"] == "500"
    branch_rows = {line.split()[0]: line.split()[1:] for line in lines
                   if line.split() and line.split()[0] in CORE_COLUMNS}
    assert set(branch_rows) == set(CORE_COLUMNS)
    assert branch_rows["q2"][0] == "float32"
    assert branch_rows["flavour"][0] == "int8"
    q2_min, q2_max = float(branch_rows["q2"][1]), float(branch_rows["q2"][2])
    assert 1.1 <= q2_min < q2_max <= 6.0


def test_info_json_matches_the_file(small_file, capsys):
    assert main(["info", "--json", str(small_file)]) == 0
    summary = json.loads(capsys.readouterr().out)
    events, meta = read_events(small_file)
    assert summary["entries"] == 500
    assert summary["meta"] == meta
    assert set(summary["branches"]) == set(events)
    for name, column in events.items():
        b = summary["branches"][name]
        assert b["dtype"] == str(NATIVE_DTYPES[name])
        assert b["min"] == pytest.approx(float(column.min()), rel=1e-12)
        assert b["max"] == pytest.approx(float(column.max()), rel=1e-12)
        assert b["mean"] == pytest.approx(float(column.mean()), rel=1e-9)
        assert b["n_nonfinite"] == 0


def test_info_of_a_file_with_an_empty_tree(tmp_path, capsys):
    path = tmp_path / "empty.root"
    empty = {name: np.zeros(0, dtype=NATIVE_DTYPES[name]) for name in CORE_COLUMNS}
    meta = make_meta(level="gen", shifts={"dc9": -0.5}, seed=3, n_events=0, config_digest=None)
    write_events(path, empty, meta)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{path}: 0 entries"
    assert "—" in out  # no statistics for empty branches
    assert main(["info", "--json", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["entries"] == 0
    assert summary["meta"]["n_events"] == 0
    assert summary["meta"]["dc9"] == -0.5
    assert set(summary["branches"]) == set(CORE_COLUMNS)
    for b in summary["branches"].values():
        assert b["min"] is None
        assert b["max"] is None
        assert b["mean"] is None


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"hello, this is plain text\n", "not a ROOT file"), (None, "not found")],
    ids=["text-file", "missing"],
)
def test_info_of_a_non_root_file_exit_1(tmp_path, capsys, content, needle):
    path = tmp_path / "data.root"
    if content is not None:
        path.write_bytes(content)
    assert main(["info", str(path)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hepc9 info: error:")
    assert needle in lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""


# --------------------------------------------------------------------------------------------
# observables
# --------------------------------------------------------------------------------------------

OBSERVABLE_NAMES = ("dB_dq2", "B", "FL", "AFB", "S3", "S4", "S5", "S7", "S8", "S9", "P5p")


def test_observables_json_equals_the_library(capsys):
    assert main(["observables", "--dc9", "-1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    shifts = WilsonShifts(dc9=-1.0)
    expected = binned_observables(STANDARD_BINS, shifts=shifts)
    assert result["shifts"] == {**dict.fromkeys(SHIFTS, 0.0), "dc9": -1.0}
    assert len(result["bins"]) == len(STANDARD_BINS)
    for got, want in zip(result["bins"], expected, strict=True):
        assert (got["q2_min"], got["q2_max"]) == (want["q2_min"], want["q2_max"])
        for name in OBSERVABLE_NAMES:
            assert got[name] == want[name], name  # JSON round-trips doubles exactly
    assert result["afb_zero_crossing"] == afb_zero_crossing(shifts=shifts)
    # a shift changes the prediction (the option is not ignored)
    assert expected[2]["S5"] != binned_observables(STANDARD_BINS)[2]["S5"]


def test_observables_text_table(capsys):
    assert main(["observables", "--dc9", "-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("shifts: ")
    assert "dc9=-1" in lines[0]
    header = lines[1].split()
    assert header[:2] == ["q2", "bin"]
    columns = header[2:]
    assert columns[:3] == ["dB_dq2", "FL", "AFB"]
    rows = lines[2 : 2 + len(STANDARD_BINS)]
    expected = binned_observables(STANDARD_BINS, shifts=WilsonShifts(dc9=-1.0))
    for line, want in zip(rows, expected, strict=True):
        label, values = line.split("]")
        lo, hi = (float(x) for x in label.strip().strip("[").split(","))
        assert (lo, hi) == (want["q2_min"], want["q2_max"])
        numbers = dict(zip(columns, (float(v) for v in values.split()), strict=True))
        assert numbers["dB_dq2"] == pytest.approx(want["dB_dq2"], rel=1e-3)
        for name in columns[1:]:
            assert numbers[name] == pytest.approx(want[name], abs=5e-5), name
    zero = afb_zero_crossing(shifts=WilsonShifts(dc9=-1.0))
    assert lines[-1] == f"A_FB zero crossing: q0² = {zero:.3f} GeV²"


def test_observables_custom_bins(capsys):
    assert main(["observables", "--bins", "1,2;2,3.5;15,19", "--c9p", "0.5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    bins = [(1.0, 2.0), (2.0, 3.5), (15.0, 19.0)]
    expected = binned_observables(bins, shifts=WilsonShifts(c9p=0.5))
    assert [(b["q2_min"], b["q2_max"]) for b in result["bins"]] == bins
    for got, want in zip(result["bins"], expected, strict=True):
        for name in OBSERVABLE_NAMES:
            assert got[name] == want[name], name


@pytest.mark.parametrize(
    "bins", ["3,1", "2,2", "abc", ";", "1,2,3", "1,nan", "1,2;x"], ids=repr
)
def test_observables_bad_bins_exit_2(capsys, bins):
    assert main(["observables", "--bins", bins]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hepc9 observables: error: argument --bins")
    assert captured.out == ""


def test_observables_bad_shift_exit_2_and_bins_outside_phase_space_exit_1(capsys):
    assert main(["observables", "--dc9", "nan"]) == 2
    assert "--dc9" in capsys.readouterr().err
    assert main(["observables", "--bins", "20,25"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "kinematic" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# global options and config
# --------------------------------------------------------------------------------------------


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hepc9 {hepc9.__version__}"


def test_help_lists_the_core_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("generate", "info", "observables", "config"):
        assert command in out
    assert main(["generate", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--events", "--seed", "--output", "--dc9", "--c10p", "--flavour",
                   "--q2-min", "--q2-max", "--four-vectors", "--config", "--set", "--overwrite"):
        assert option in out, option


def test_missing_command_and_unknown_command_exit_2(capsys):
    assert main([]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["generate", "--events", "10"]) == 2  # --output is required
    err = capsys.readouterr().err
    assert "--output" in err
    assert "Traceback" not in err


def test_config_show_bad_key_suggests_the_close_match(tmp_path, capsys):
    assert main(["config", "show", "--set", "generate.evnts=3"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "evnts" in lines[0]
    assert "did you mean 'events'" in lines[0]
    assert captured.out == ""
    bad = tmp_path / "bad.toml"
    bad.write_text("[generate]\nflavor = \"b0\"\n", encoding="utf-8")
    assert main(["config", "show", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "did you mean 'flavour'" in err
    assert main(["-q", "generate", "--events", "10", "--output", str(tmp_path / "x.root"),
                 "--config", str(bad)]) == 1
    assert "did you mean 'flavour'" in capsys.readouterr().err
    assert not (tmp_path / "x.root").exists()


def test_config_show_prints_the_resolved_values(capsys):
    assert main(["config", "show", "--set", "generate.dc9=-0.82", "--set", "seed=4"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["generate"]["dc9"] == -0.82
    assert resolved["seed"] == 4


# --------------------------------------------------------------------------------------------
# issue 3 "done when": the generated file reproduces the model's observables
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_done_when_generated_file_reproduces_the_model(tmp_path):
    out = tmp_path / "np.root"
    argv = ["-q", "generate", "--dc9", "-0.82", "--events", "1000000", "--seed", "1",
            "--output", str(out)]
    assert main(argv) == 0
    events, meta = read_events(out, columns=["q2", "costheta_l", "costheta_k", "chi"])
    assert meta["n_events"] == 1_000_000
    assert meta["dc9"] == -0.82
    measured = moments(events["q2"], events["costheta_l"], events["costheta_k"], events["chi"],
                       bins=STANDARD_BINS)
    predicted = binned_observables(STANDARD_BINS, shifts=WilsonShifts(dc9=-0.82))
    pulls = {}
    for got, want in zip(measured, predicted, strict=True):
        assert got["n"] > 10_000
        for name in ("FL", "AFB", "S3", "S4", "S5"):
            err = got[f"{name}_err"]
            assert 0.0 < err < 0.02
            pulls[(want["q2_min"], want["q2_max"], name)] = (got[name] - want[name]) / err
    bad = {key: round(p, 2) for key, p in pulls.items() if abs(p) > 4.0}
    assert not bad, f"pulls beyond 4σ: {bad}"


def test_cli_skips_numba_extension_entry_points(monkeypatch):
    from numba.core import entrypoints

    from hepc9.cli import _skip_numba_extension_entry_points

    monkeypatch.setattr(entrypoints, "_already_initialized", False)
    _skip_numba_extension_entry_points()
    assert entrypoints._already_initialized  # vector/awkward extensions are not loaded

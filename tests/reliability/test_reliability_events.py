"""Impossible events are refused wherever they enter (issue 16, serious 3 and 4).

One validation (:func:`hepc9.rootio.checks.check_events`) runs in ``fit``, ``predict``,
``images --from``, ``convert`` and ``simulate``: ``--strict`` refuses, the default drops the
rows with one counted warning (and an input with nothing left fails).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from hepc9.cli import main
from hepc9.errors import DataError, DroppedRowsWarning
from hepc9.rootio.checks import check_events, phase_space_q2
from hepc9.rootio.native import make_meta, read_events, write_events

ROOT = Path(__file__).resolve().parents[2]


def _hepc9(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
    return subprocess.run([sys.executable, "-m", "hepc9", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def gen_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "gen.root"
    assert main(["-q", "generate", "--events", "3000", "--seed", "4", "--output",
                 str(path)]) == 0
    return path


def _spoilt(gen_file, folder, name, **changes):
    """Copy of ``gen_file`` with some rows (or all: slice(None)) of columns replaced."""
    events, meta = read_events(gen_file)
    events = {k: np.array(v) for k, v in events.items()}
    for key, (rows, value) in changes.items():
        events[key][rows] = value
    out = folder / name
    new = make_meta(level=meta["level"], shifts={k: meta[k] for k in ("dc9",)}, seed=1,
                    n_events=len(events["q2"]), config_digest=None)
    write_events(out, events, new)
    return out


def _fake_model(folder):
    """A model folder whose description is valid: events are checked before Keras loads."""
    folder.mkdir()
    meta = {"format": "hepc9-model", "format_version": 1, "model": "deepsets",
            "labels": {"kind": "standardized", "mean": 0.0, "std": 1.0}}
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / "model.keras").write_bytes(b"PK not really")
    return folder


def test_check_events_policies():
    n = 10
    ev = {"q2": np.full(n, 2.0), "costheta_l": np.zeros(n), "costheta_k": np.zeros(n),
          "chi": np.full(n, 1.0), "mkpi": np.full(n, 0.9), "q2_true": np.full(n, np.nan)}
    assert len(check_events(ev, what="x")["q2"]) == n  # NaN truth (background) passes
    ev["costheta_l"][2] = 3.0
    ev["chi"][4] = 2 * math.pi + 0.1
    ev["q2"][5] = phase_space_q2()[1] + 1.0
    ev["mkpi"][6] = np.nan
    with pytest.raises(DataError, match=r"costheta_l outside \[-1, 1\].*first at row 2"):
        check_events(ev, what="x")
    with pytest.warns(DroppedRowsWarning, match="dropped 4 of 10 events"):
        kept = check_events(ev, what="x", policy="drop")
    assert len(kept["q2"]) == 6
    # float32 rounding at the edges is no error
    edge = {"chi": np.array([np.float32(2 * math.pi)]), "costheta_k": np.float32([-1.0])}
    check_events(edge, what="edge")


def test_predict_refuses_impossible_cosines(gen_file, tmp_path):
    bad = _spoilt(gen_file, tmp_path, "cos3.root", costheta_l=(slice(None), 3.0))
    model = _fake_model(tmp_path / "model")
    out = _hepc9("predict", str(model), str(bad), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "no events left" in out.stderr
    assert "costheta_l outside [-1, 1]" in out.stderr  # the counted warning
    out = _hepc9("predict", "--strict", str(model), str(bad), cwd=tmp_path)
    assert out.returncode == 1
    assert "costheta_l outside [-1, 1]" in out.stderr.strip().splitlines()[-1]


def test_images_from_drops_nan_chi_with_a_count(gen_file, tmp_path, capsys):
    bad = _spoilt(gen_file, tmp_path, "nanchi.root", chi=(slice(0, 7), np.nan))
    with pytest.warns(DroppedRowsWarning, match=r"dropped 7 of 3000 rows.*7 non-finite chi"):
        code = main(["-q", "images", "--from", str(bad), "--output", str(tmp_path / "img"),
                     "--events-per-image", "500"])
    assert code == 0
    assert main(["images", "--from", str(bad), "--output", str(tmp_path / "img2"),
                 "--events-per-image", "500", "--strict"]) == 1
    assert "non-finite chi" in capsys.readouterr().err
    allbad = _spoilt(gen_file, tmp_path, "cos3.root", costheta_k=(slice(None), 3.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedRowsWarning)
        assert main(["images", "--from", str(allbad), "--output", str(tmp_path / "img3"),
                     "--events-per-image", "500"]) == 1
    assert "no events left" in capsys.readouterr().err


def test_convert_strict_refuses_nan_and_counts_drops(gen_file, tmp_path, capsys):
    bad = _spoilt(gen_file, tmp_path, "nan.root", q2=(slice(0, 3), np.nan),
                  costheta_k=(slice(10, 12), -1.5))
    assert main(["convert", str(bad), "--output", str(tmp_path / "s.root"), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "non-finite q2" in err
    assert not (tmp_path / "s.root").exists()
    with pytest.warns(DroppedRowsWarning, match="dropped 5 of 3000"):
        assert main(["convert", str(bad), "--output", str(tmp_path / "ok.root")]) == 0
    assert "5 dropped" in capsys.readouterr().out
    events, _ = read_events(tmp_path / "ok.root")
    assert len(events["q2"]) == 2995
    assert np.isfinite(events["q2"]).all()


def test_simulate_refuses_chi_outside_range(gen_file, tmp_path, capsys):
    bad = _spoilt(gen_file, tmp_path, "chi7.root", chi=(slice(0, 1), 7.0))
    out = tmp_path / "det.root"
    assert main(["simulate", str(bad), "--output", str(out)]) == 1
    line = capsys.readouterr().err.strip()
    assert "chi outside [0, 2π)" in line
    assert not out.exists()


def test_resolved_duplicates_are_read_once(gen_file, tmp_path):
    from hepc9.rootio import load_events

    twice = gen_file.parent / ".." / gen_file.parent.name / gen_file.name
    events, _ = load_events([str(gen_file), str(twice)])
    assert len(events["q2"]) == 3000


def test_simulate_writes_all_outputs_or_none(gen_file, tmp_path, monkeypatch, capsys):
    import hepc9.pipeline.simulate as sim

    real = sim.write_events
    det, sb = tmp_path / "det.root", tmp_path / "sb.root"

    def failing(path, events, meta, **kw):
        if meta.get("region") == "sideband":
            raise OSError(28, "No space left on device", str(path))
        return real(path, events, meta, **kw)

    monkeypatch.setattr(sim, "write_events", failing)
    argv = ["simulate", str(gen_file), "--output", str(det), "--sideband-output", str(sb),
            "--no-background"]
    assert main(argv) == 1
    assert "No space left" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == []  # no det.root, no report, no temporaries
    monkeypatch.setattr(sim, "write_events", real)
    assert main(["-q", *argv]) == 0
    assert sorted(os.listdir(tmp_path)) == ["det.json", "det.root", "sb.root"]


def test_no_background_with_a_fraction_is_a_usage_error(gen_file, tmp_path, capsys):
    assert main(["simulate", str(gen_file), "--output", str(tmp_path / "d.root"),
                 "--no-background", "--background-fraction", "0.3"]) == 2
    assert "no effect" in capsys.readouterr().err

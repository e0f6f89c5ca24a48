"""Every failure is one actionable line, exit 1; ``--debug`` shows the traceback (issue 16).

Each case runs ``python -m hepc9`` as a subprocess: what a user sees (stderr, exit status) is
what is tested.  Cases that need a non-root user (unreadable files, read-only folders) are
also reproduced as root by injecting the operating-system error in-process.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot

from hepc9 import artifacts
from hepc9.cli import main

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _hepc9(*args, cwd, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hepc9", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def _one_line(out) -> str:
    assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert "error:" in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A generated file and hostile variants of files a user may hand to hepc9."""
    d = tmp_path_factory.mktemp("hostile")
    gen = d / "gen.root"
    assert main(["-q", "generate", "--events", "200", "--seed", "2", "--output", str(gen)]) == 0
    with uproot.open(gen) as f:
        meta = str(f["hepc9_meta"])
        ev = f["events"].arrays(library="np")

    def native(name, meta_text, cols, types=None):
        with uproot.recreate(d / name) as o:
            o["hepc9_meta"] = meta_text
            o.mktree("events", types or {k: v.dtype for k, v in cols.items()})
            o["events"].extend(cols)
        return d / name

    import awkward as ak

    jag = dict(ev)
    jag["costheta_l"] = ak.Array([[x] for x in ev["costheta_l"]])
    types = {k: v.dtype for k, v in ev.items()} | {"costheta_l": "var * float64"}
    bad_meta = json.loads(meta) | {"dc9": "abc"}
    (d / "latin1.toml").write_bytes("seed = 1\n# caf\xe9\n".encode("latin-1"))
    (d / "workers.toml").write_text("[scale]\nworkers = -3\n")
    with uproot.recreate(d / "rntuple.root") as o:
        o["events"] = {"q2": np.ones(3)}
    model = d / "model"
    model.mkdir()
    (model / "model.keras").write_bytes(b"")
    return {
        "dir": d, "gen": gen,
        "jagged": native("jagged.root", meta, jag, types),
        "dc9abc": native("dc9abc.root", json.dumps(bad_meta), dict(ev)),
        "model": model,
    }


def _model_json(folder, **changes):
    meta = {"format": "hepc9-model", "format_version": 1, "model": "deepsets",
            "labels": {"kind": "standardized", "mean": 0.0, "std": 1.0}} | changes
    meta = {k: v for k, v in meta.items() if v is not None}
    (folder / "model.json").write_text(json.dumps(meta))


CASES = {
    "non-UTF-8 config": (lambda f: ["config", "show", str(f["dir"] / "latin1.toml")],
                         "not UTF-8"),
    "[scale] workers = -3": (lambda f: ["config", "show", str(f["dir"] / "workers.toml")],
                             "[scale] workers = -3"),
    "jagged branch": (lambda f: ["info", str(f["jagged"])], "one number per entry"),
    "metadata dc9 = 'abc'": (lambda f: ["info", str(f["dc9abc"])], "dc9 = 'abc'"),
    "RNTuple": (lambda f: ["convert", str(f["dir"] / "rntuple.root"), "--format", "flat",
                           "-o", str(f["dir"] / "x.root")], None),
    "file name too long": (lambda f: ["generate", "--events", "10", "--output",
                                      str(f["dir"] / ("x" * 300 + ".root"))], "too long"),
    "run --output onto a file": (lambda f: ["run", str(ROOT / "configs" / "smoke.toml"),
                                            "--output", str(f["gen"])], "existing file"),
    "missing input": (lambda f: ["info", str(f["dir"] / "nope.root")], "nope.root"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_line_error(files, case):
    argv, needle = CASES[case]
    line = _one_line(_hepc9(*argv(files), cwd=files["dir"]))
    if needle:
        assert needle in line


@pytest.mark.parametrize(("changes", "needle"), [
    ({"labels": None}, "'labels'"),
    ({"model": None}, "'model'"),
    ({"format_version": "1.0"}, "format_version must be an integer"),
])
def test_model_json_problems_are_one_line(files, changes, needle):
    _model_json(files["model"], **changes)
    line = _one_line(_hepc9("predict", str(files["model"]), str(files["gen"]),
                            cwd=files["dir"]))
    assert needle in line


def test_model_json_not_utf8(files):
    (files["model"] / "model.json").write_bytes(b'{"format": "hepc9-model\xff"}')
    assert "not UTF-8" in _one_line(_hepc9("predict", str(files["model"]), str(files["gen"]),
                                           cwd=files["dir"]))


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"not a zip archive at all"])
def test_truncated_empty_or_foreign_keras_file(tmp_path, content):
    pytest.importorskip("keras")
    from hepc9.errors import SchemaError
    from hepc9.models.saving import load_model

    _model_json(tmp_path)
    (tmp_path / "model.keras").write_bytes(content)
    with pytest.raises(SchemaError, match="not a readable Keras model"):
        load_model(tmp_path)


def test_debug_shows_the_traceback(files):
    out = _hepc9("--debug", "info", str(files["dc9abc"]), cwd=files["dir"])
    assert out.returncode == 1
    assert "Traceback" in out.stderr


def test_broken_pipe_is_one_line(files):
    """``hepc9 info f.root | head -1``: the reader closes the pipe before hepc9 writes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "hepc9", "info", str(files["gen"])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=files["dir"])
    proc.stdout.close()  # the reader is gone before the first line is written
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1, err
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert err.strip().splitlines() == ["hepc9 info: output pipe closed by the reader; stopped"]


def test_broken_pipe_through_head(files):
    out = subprocess.run(f"'{sys.executable}' -m hepc9 info '{files['gen']}' | head -1",
                         shell=True, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=files["dir"])
    assert out.stdout.startswith(str(files["gen"]))
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(("code", "needle"), [
    (errno.ENOSPC, "disk is full"),
    (errno.EFBIG, "too large"),
    (errno.EROFS, "read-only"),
    (errno.EACCES, "permissions"),
])
def test_os_errors_while_writing_are_one_line(tmp_path, capsys, monkeypatch, code, needle):
    def failing_replace(src, dst):
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(artifacts.atomic.os, "replace", failing_replace)
    out = tmp_path / "ev.root"
    assert main(["generate", "--events", "20", "--output", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert needle in err[0]
    assert str(out) in err[0]
    assert os.listdir(tmp_path) == []  # the temporary is gone too


@pytest.mark.skipif(IS_ROOT, reason="the superuser reads and writes anything")
def test_unreadable_input_and_read_only_folder(files, tmp_path):
    src = tmp_path / "locked.root"
    src.write_bytes(files["gen"].read_bytes())
    src.chmod(0)
    assert "locked.root" in _one_line(_hepc9("info", str(src), cwd=tmp_path))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    _one_line(_hepc9("run", str(ROOT / "configs" / "smoke.toml"), "--output", str(ro / "r"),
                     cwd=tmp_path))


@pytest.mark.parametrize(("argv", "code", "needle"), [
    (["generate", "--events", "10", "--q2-min", "5", "--q2-max", "1", "--output", "x.root"],
     2, "--q2-min 5 must be below --q2-max 1"),
    (["observables", "--bins", "0,30"], 1, "kinematic range"),
    (["fit", "GEN", "--fix-background-fraction"], 1, "--sideband"),
    (["fit", "GEN", "--background-fraction-error", "0.1"], 1, "--sideband"),
    (["crb", "--fraction-free"], 1, "--sideband"),
])
def test_flags_that_cannot_work_are_refused(files, capsys, argv, code, needle):
    argv = [str(files["gen"]) if a == "GEN" else a for a in argv]
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert needle in err[0]


def test_flag_values_are_not_blamed_on_the_defaults(capsys):
    assert main(["config", "show", "--set", "scale.workers=-3"]) == 1
    assert "with the command-line values" in capsys.readouterr().err


def test_unreadable_input_as_any_user(files, capsys, monkeypatch):
    real_open = Path.open

    def denied(self, mode="r", *args, **kwargs):
        if self.name == "gen.root" and "r" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    assert main(["info", str(files["gen"])]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"hepc9 info: error: cannot read {files['gen']}: permission denied; check "
                   "its permissions"]


def test_read_only_output_folder_as_any_user(tmp_path, capsys, monkeypatch):
    import hepc9.pipeline.run as run_module

    monkeypatch.setattr(run_module.os, "access", lambda path, mode: False)
    assert main(["run", str(ROOT / "configs" / "smoke.toml"), "--output",
                 str(tmp_path / "r")]) == 1
    assert "not writable" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(artifacts.atomic.os, "access", lambda path, mode: False)
    assert main(["generate", "--events", "10", "--output", str(tmp_path / "g.root")]) == 1
    assert "not writable" in capsys.readouterr().err

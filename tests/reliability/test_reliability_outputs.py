"""What ``--overwrite`` may replace, symbolic links, stale temporaries and output modes (issue 16).

Only regular files are replaced; FIFOs (and, by the same ``S_ISREG`` test, sockets and device
nodes, which need root to create) are refused and left as they are.  A symbolic link is
written through: the link stays and its regular-file target is replaced.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from hepc9.artifacts import atomic_path, sweep_stale_temporaries, write_text
from hepc9.cli import main
from hepc9.errors import DataError, OutputExistsError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types")


def _gen(out, *extra):
    return main(["-q", "generate", "--events", "50", "--seed", "3", "--output", str(out),
                 *extra])


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_fifo_is_refused_even_with_overwrite(tmp_path, capsys):
    fifo = tmp_path / "pipe.root"
    os.mkfifo(fifo)
    assert _gen(fifo, "--overwrite") == 1
    line = _one_line(capsys.readouterr().err)
    assert "not a regular file" in line
    assert str(fifo) in line
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # untouched
    assert sorted(os.listdir(tmp_path)) == ["pipe.root"]  # no temporary left


def test_atomic_path_refuses_fifo_and_folder(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"), atomic_path(fifo, overwrite=True):
        pass
    with pytest.raises(DataError, match="is a folder"), atomic_path(tmp_path, overwrite=True):
        pass


def test_symlink_is_written_through(tmp_path, capsys):
    target = tmp_path / "real.root"
    link = tmp_path / "link.root"
    assert _gen(target) == 0
    before = target.read_bytes()
    link.symlink_to(target)
    assert _gen(link) == 1  # exists: needs --overwrite
    assert "exists" in _one_line(capsys.readouterr().err)
    assert _gen(link, "--overwrite", "--dc9", "-1") == 0
    assert link.is_symlink()
    assert link.resolve() == target.resolve()
    assert target.read_bytes() != before


def test_dangling_symlink_is_refused(tmp_path):
    link = tmp_path / "x.json"
    link.symlink_to(tmp_path / "missing.json")
    with pytest.raises(DataError, match="missing file"):
        write_text(link, "{}")
    assert link.is_symlink()


def test_write_text_without_overwrite_refuses(tmp_path):
    out = tmp_path / "a.txt"
    write_text(out, "1")
    with pytest.raises(OutputExistsError):
        write_text(out, "2", overwrite=False)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_swept(tmp_path):
    out = tmp_path / "ev.root"
    dead = tmp_path / f".ev.root.{_dead_pid()}.abcd.tmp.root"
    live = tmp_path / f".ev.root.{os.getpid()}.efgh.tmp.root"
    other = tmp_path / ".other.root.1.x.tmp"
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    assert _gen(out) == 0
    assert not dead.exists()
    assert live.exists()
    assert other.exists()
    assert sweep_stale_temporaries(tmp_path / "other.root") in ([], [other])


def test_outputs_are_rw_r__r__(tmp_path):
    out = tmp_path / "ev.root"
    assert _gen(out) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    write_text(tmp_path / "t.json", "{}")
    assert stat.S_IMODE((tmp_path / "t.json").stat().st_mode) == 0o644

"""The ROOT writers use the one atomic writer of hepc9 (hepc9.artifacts.atomic_path)."""

import os
import stat

import numpy as np
import pytest

from hepc9.artifacts import atomic_path
from hepc9.errors import DataError, OutputExistsError
from hepc9.rootio import native
from hepc9.rootio._common import atomic_output


def test_atomic_path_keeps_suffix_and_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "ev.root"
    with atomic_path(target, parents=True, keep_suffix=True) as tmp:
        assert tmp.parent == target.parent
        assert tmp.name.startswith(".ev.root.")
        assert tmp.suffix == ".root"
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(target.parent) == ["ev.root"]


def test_atomic_path_default_temp_name_unchanged(tmp_path):
    with atomic_path(tmp_path / "index.json") as tmp:
        assert tmp.name.startswith(".index.json.")
        assert tmp.name.endswith(".tmp")
        tmp.write_text("{}")


def test_atomic_path_without_parents_refuses_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"), atomic_path(tmp_path / "no" / "x"):
        pass
    assert not (tmp_path / "no").exists()


def test_atomic_path_cleans_up_and_keeps_old_file(tmp_path):
    target = tmp_path / "f.root"
    target.write_bytes(b"old")

    def fail():
        with atomic_path(target, overwrite=True) as tmp:
            tmp.write_bytes(b"new")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.root"]


def test_atomic_path_refuses_a_file_that_appeared_while_writing(tmp_path):
    target = tmp_path / "f.txt"

    def race():
        with atomic_path(target) as tmp:
            tmp.write_text("mine")
            target.write_text("someone else's")

    with pytest.raises(OutputExistsError, match="appeared"):
        race()
    assert target.read_text() == "someone else's"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_atomic_output_is_the_artifacts_writer(tmp_path):
    target = tmp_path / "sub" / "ev.root"
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".root"
        tmp.write_text("done")
    assert target.read_text() == "done"
    with pytest.raises(OutputExistsError, match="--overwrite"), atomic_output(target):
        pass


def test_native_files_are_rw_r_r(tmp_path):
    meta = native.make_meta(level="gen", shifts={}, seed=1, n_events=0, config_digest="sha256:0")
    n = 5
    events = {c: np.zeros(n) for c in native.CORE_COLUMNS}
    events["flavour"] = np.ones(n, dtype=np.int8)
    path = tmp_path / "new" / "f.root"
    native.write_events(path, events, meta)
    assert native.read_meta(path)["n_events"] == n
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(path.parent) == ["f.root"]

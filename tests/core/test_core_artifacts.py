"""Atomic writes and manifests."""

import pytest

from hepc9.artifacts import Manifest, atomic_path, file_digest, read_json, write_json
from hepc9.errors import Hepc9Error, OutputExistsError


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "x.txt"
    def interrupted():
        with atomic_path(out) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        interrupted()
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_refuses_existing_and_missing_folder(tmp_path):
    out = tmp_path / "x.json"
    write_json(out, {"a": 1})
    with pytest.raises(OutputExistsError, match="--overwrite"), atomic_path(out):
        pass
    with pytest.raises(Hepc9Error, match="does not exist"), atomic_path(tmp_path / "no" / "x"):
        pass


def test_manifest_resume_logic(tmp_path):
    m = Manifest(tmp_path, {"seed": 1}, 1)
    f = tmp_path / "stage" / "out.json"
    f.parent.mkdir()
    write_json(f, {"v": 1})
    m.record("s", input_digest="d1", outputs=[f], seconds=0.1)
    m2 = Manifest(tmp_path, {"seed": 1}, 1)
    assert m2.is_complete("s", "d1")
    assert not m2.is_complete("s", "d2")
    write_json(f, {"v": 2})
    assert not m2.is_complete("s", "d1")  # output changed since
    assert read_json(tmp_path / "manifest.json")["versions"]["hepc9"]
    assert file_digest(f).startswith("sha256:")
    # a different config starts from scratch
    assert not Manifest(tmp_path, {"seed": 2}, 2).is_complete("s", "d1")

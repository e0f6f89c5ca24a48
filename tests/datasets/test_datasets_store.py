"""Dataset store: round trips, memory maps, chunk checks, index-last, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hepc9.datasets.store import (
    ChunkedArray,
    check_chunk,
    open_dataset,
    read_index,
    write_chunk,
    write_dataset,
    write_index,
)
from hepc9.errors import DataError, Hepc9Error, OutputExistsError, SchemaError


def _arrays(n=10, shape=(3, 3, 3, 2), seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, *shape)), np.repeat(np.array([-1.0, 0.5]), n // 2)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_round_trip(tmp_path, dtype):
    x, y = _arrays()
    write_dataset(tmp_path / "d", x, y, kind="images", dtype=dtype, items_per_chunk=4,
                  index={"note": "test"})
    ds = open_dataset(tmp_path / "d", verify=True)
    assert len(ds) == 10
    assert ds.kind == "images"
    assert ds.item_shape == (3, 3, 3, 2)
    assert [len(c) for c in ds.x.chunks] == [4, 4, 2]
    assert all(isinstance(c, np.memmap) for c in ds.x.chunks)
    assert ds.x.dtype == np.dtype(dtype)
    assert ds.y.dtype == np.float32
    xb, yb = ds.batch(np.arange(10))
    assert xb.dtype == np.float32
    tol = 2.0**-12 if dtype == "float16" else 2.0**-24
    assert np.max(np.abs(xb - x)) <= tol
    np.testing.assert_array_equal(yb, y.astype(np.float32))
    np.testing.assert_array_equal(ds.labels, [-1.0, 0.5])
    assert ds.index["note"] == "test"


def test_chunked_array_indexing():
    a = np.arange(30.0).reshape(10, 3)
    ca = ChunkedArray([a[:4], a[4:7], a[7:]])
    assert ca.shape == (10, 3)
    assert len(ca) == 10
    np.testing.assert_array_equal(ca[5], a[5])
    np.testing.assert_array_equal(ca[-1], a[-1])
    np.testing.assert_array_equal(ca[2:9:3], a[2:9:3])
    idx = np.array([9, 0, 5, 5, 3])
    np.testing.assert_array_equal(ca[idx], a[idx])
    np.testing.assert_array_equal(np.asarray(ca), a)
    with pytest.raises(IndexError):
        ca[10]


def test_check_chunk_detects_problems(tmp_path):
    x, y = _arrays(4)
    entry = write_chunk(tmp_path, 0, x, y, dtype="float32")
    kw = {"count": 4, "item_shape": (3, 3, 3, 2), "dtype": "float32"}
    assert check_chunk(tmp_path, 0, labels=y, **kw)
    assert check_chunk(tmp_path, 0, labels=y, digests=entry, **kw)
    assert not check_chunk(tmp_path, 0, labels=y + 1, **kw)
    assert not check_chunk(tmp_path, 0, **{**kw, "count": 5})
    assert not check_chunk(tmp_path, 0, **{**kw, "dtype": "float16"})
    assert not check_chunk(tmp_path, 1, **kw)
    (tmp_path / "x-000000.npy").write_bytes(b"garbage")
    assert not check_chunk(tmp_path, 0, **kw)


def test_index_is_required_and_checked(tmp_path):
    x, y = _arrays(4)
    write_chunk(tmp_path, 0, x, y)
    with pytest.raises(DataError, match="incomplete"):
        open_dataset(tmp_path)
    with pytest.raises(Hepc9Error, match="missing"):
        write_index(tmp_path, {"kind": "images", "dtype": "float16", "item_shape": [3, 3, 3, 2],
                               "chunks": [{"x": "x-000001.npy", "y": "y-000001.npy"}]})
    (tmp_path / "index.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(SchemaError, match="not a hepc9 dataset"):
        read_index(tmp_path)


def test_missing_or_changed_chunk(tmp_path):
    x, y = _arrays()
    write_dataset(tmp_path, x, y, kind="sets", dtype="float32", items_per_chunk=5,
                  overwrite=True)
    np.save(tmp_path / "y-000001.npy", np.zeros(5, np.float32))
    with pytest.raises(DataError, match="digest"):
        open_dataset(tmp_path, verify=True)
    (tmp_path / "x-000001.npy").unlink()
    with pytest.raises(DataError, match="missing"):
        open_dataset(tmp_path)


def test_no_silent_overwrite(tmp_path):
    x, y = _arrays()
    write_dataset(tmp_path / "d", x, y, kind="images")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_dataset(tmp_path / "d", x, y, kind="images")
    write_dataset(tmp_path / "d", x[:4], y[:4], kind="images", overwrite=True)
    assert len(open_dataset(tmp_path / "d")) == 4


def test_float16_overflow_is_refused(tmp_path):
    with pytest.raises(DataError, match="float32"):
        write_chunk(tmp_path, 0, np.full((1, 2), 1e6), np.zeros(1))

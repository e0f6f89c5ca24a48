"""Native event files (formats.md §1): layout, round trips, atomic writes, clear errors."""

import json
import math
import os

import numpy as np
import pytest
import uproot

from hepc9.errors import (
    ConfigError,
    DataError,
    MissingBranchError,
    OutputExistsError,
    SchemaError,
    ShapeError,
)
from hepc9.physics.constants import WilsonShifts
from hepc9.rootio import native
from hepc9.rootio._common import atomic_output, get_tree, open_root, require_branches


def make_events(n, seed=0, *, det=False):
    rng = np.random.default_rng(seed)
    ev = {
        "q2": rng.uniform(0.05, 19.0, n),
        "costheta_l": rng.uniform(-1.0, 1.0, n),
        "costheta_k": rng.uniform(-1.0, 1.0, n),
        "chi": rng.uniform(0.0, 2 * math.pi, n),
        "mkpi": rng.normal(0.89555, 0.02, n),
        "flavour": rng.choice(np.array([-1, 1], dtype=np.int8), n),
    }
    if det:
        ev["mbc"] = rng.normal(5.279, 0.003, n)
        ev["is_signal"] = np.ones(n, dtype=np.int8)
        ev["q2_true"] = ev["q2"] + rng.normal(0, 0.01, n)
        ev["q2_true"][::7] = np.nan
    return ev


def make_meta(**extra):
    return native.make_meta(
        level="gen",
        shifts={"dc9": -0.82},
        seed=20240917,
        n_events=0,
        config_digest="sha256:abc",
        **extra,
    )


@pytest.fixture
def written(tmp_path):
    ev = make_events(1000, det=True)
    path = native.write_events(tmp_path / "ev.root", ev, make_meta(spawn_key=[1, 2]))
    return path, ev


def test_layout_on_disk(written):
    path, _ = written
    with uproot.open(path) as f:
        names = {k.split(";")[0]: v for k, v in f.classnames().items()}
        assert names == {"events": "TTree", "hepc9_meta": "TObjString"}
        types = f["events"].typenames()
        meta = json.loads(str(f["hepc9_meta"]))
        assert f.file.compression == uproot.ZSTD(1)
    assert types["q2"] == "float"
    assert types["chi"] == "float"
    assert types["flavour"] == "int8_t"
    assert types["is_signal"] == "int8_t"
    assert types["q2_true"] == "float"
    for key in native.REQUIRED_META_KEYS:
        assert key in meta
    assert meta["format"] == "hepc9-events"
    assert meta["format_version"] == 1
    assert meta["dc9"] == -0.82
    assert meta["dc7"] == 0.0
    assert meta["n_events"] == 1000  # fixed to the rows written (0 was given)
    assert meta["spawn_key"] == [1, 2]  # extra keys preserved


def test_round_trip_values_and_dtypes(written):
    path, ev = written
    got, meta = native.read_events(path)
    assert set(got) == set(ev)
    for key, value in ev.items():
        if value.dtype.kind == "f":
            assert got[key].dtype == np.float64
            np.testing.assert_array_equal(got[key], value.astype(np.float32).astype(np.float64))
        else:
            assert got[key].dtype == np.int8
            np.testing.assert_array_equal(got[key], value)
    assert meta == native.read_meta(path)
    part, _ = native.read_events(path, columns=["q2", "flavour"], entry_start=10, entry_stop=20)
    assert list(part) == ["q2", "flavour"]
    np.testing.assert_array_equal(part["q2"], got["q2"][10:20])


def test_chunked_write_and_iterate(tmp_path):
    chunks = [make_events(n, seed=i) for i, n in enumerate([300, 0, 450, 250])]
    path = native.write_events(tmp_path / "c.root", iter(chunks), make_meta(), chunk_size=200)
    assert native.read_meta(path)["n_events"] == 1000
    whole, _ = native.read_events(path)
    pieces = list(native.iterate_events(path, step_size=333))
    assert [len(p["q2"]) for p in pieces] == [333, 333, 333, 1]
    for key in whole:
        np.testing.assert_array_equal(np.concatenate([p[key] for p in pieces]), whole[key])
        expected = np.concatenate([c[key] for c in chunks]).astype(native.NATIVE_DTYPES[key])
        np.testing.assert_array_equal(whole[key], expected)
    assert pieces[0]["q2"].dtype == np.float64
    assert pieces[0]["flavour"].dtype == np.int8


@pytest.mark.parametrize("compression", ["zstd", "lz4", "zlib", "none", "zstd:3"])
def test_compressions_round_trip(tmp_path, compression):
    ev = make_events(200)
    path = native.write_events(tmp_path / "z.root", ev, make_meta(), compression=compression)
    got, _ = native.read_events(path)
    np.testing.assert_array_equal(got["q2"], ev["q2"].astype(np.float32))


def test_bad_compression_name(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'zstd'"):
        native.write_events(tmp_path / "z.root", make_events(5), make_meta(), compression="zstf")
    assert not (tmp_path / "z.root").exists()


def test_dtype_override_and_unknown_columns(tmp_path):
    ev = make_events(50)
    ev["q2"] = ev["q2"] + 1e-9
    ev["my_float"] = np.linspace(0, 1, 50)
    ev["run"] = np.arange(50, dtype=np.int64)
    path = native.write_events(tmp_path / "d.root", ev, make_meta(), dtypes={"q2": np.float64})
    with uproot.open(path) as f:
        types = f["events"].typenames()
    assert types["q2"] == "double"
    assert types["my_float"] == "float"
    assert types["run"] == "int64_t"
    got, _ = native.read_events(path)
    np.testing.assert_array_equal(got["q2"], ev["q2"])


def test_chi_rounding_to_two_pi_is_written_as_zero(tmp_path):
    ev = make_events(3)
    ev["chi"] = np.array([2 * math.pi - 1e-9, 1.0, np.nextafter(2 * math.pi, 0)])
    path = native.write_events(tmp_path / "chi.root", ev, make_meta())
    got, _ = native.read_events(path)
    assert np.all((got["chi"] >= 0) & (got["chi"] < 2 * math.pi))
    assert got["chi"][0] == 0.0
    assert got["chi"][2] == 0.0


def test_existing_output_is_protected(written):
    path, _ = written
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="exists"):
        native.write_events(path, make_events(10), make_meta())
    assert path.read_bytes() == before
    native.write_events(path, make_events(10), make_meta(), overwrite=True)
    assert native.read_meta(path)["n_events"] == 10


def test_failed_write_leaves_nothing(tmp_path):
    def chunks():
        yield make_events(100)
        raise RuntimeError("generator died")

    target = tmp_path / "out" / "f.root"
    with pytest.raises(RuntimeError, match="generator died"):
        native.write_events(target, chunks(), make_meta())
    assert not target.exists()
    assert os.listdir(target.parent) == []

    # A failure while overwriting keeps the old file.
    native.write_events(target, make_events(20), make_meta())
    old = target.read_bytes()
    bad = make_events(30)
    bad["flavour"] = np.full(30, 0.5)
    with pytest.raises(DataError, match="'flavour' must hold integers"):
        native.write_events(target, bad, make_meta(), overwrite=True)
    assert target.read_bytes() == old
    assert os.listdir(target.parent) == ["f.root"]


def test_output_folder_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(DataError, match="cannot write to folder"):
        native.write_events(blocker / "x.root", make_events(5), make_meta())


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(DataError, match="cannot write to folder"):
            native.write_events(folder / "x.root", make_events(5), make_meta())
    finally:
        folder.chmod(0o700)


def test_write_schema_errors(tmp_path):
    ev = make_events(10)
    del ev["chi"]
    with pytest.raises(SchemaError, match="chi"):
        native.write_events(tmp_path / "a.root", ev, make_meta())
    ev = make_events(10)
    ev["mkpi"] = ev["mkpi"][:5]
    with pytest.raises(ShapeError, match="equal length"):
        native.write_events(tmp_path / "b.root", ev, make_meta())
    second = make_events(10)
    second["weight"] = np.ones(10)
    with pytest.raises(SchemaError, match="extra \\['weight'\\]"):
        native.write_events(tmp_path / "c.root", [make_events(10), second], make_meta())
    ev = make_events(10)
    ev["name"] = np.array(["a"] * 10)
    with pytest.raises(SchemaError, match="numeric"):
        native.write_events(tmp_path / "d.root", ev, make_meta())
    with pytest.raises(DataError, match="no event chunks"):
        native.write_events(tmp_path / "e.root", [], make_meta())
    with pytest.raises(ConfigError, match="make_meta"):
        native.write_events(tmp_path / "f.root", make_events(3), {"format": "other"})
    assert sorted(os.listdir(tmp_path)) == []


def test_make_meta_checks():
    meta = native.make_meta(
        level="det",
        shifts=WilsonShifts(dc9=-1.0, c10p=0.5),
        seed=None,
        n_events=5,
        config_digest=None,
        generator="basf2",
    )
    assert meta["dc9"] == -1.0
    assert meta["c10p"] == 0.5
    assert meta["seed"] is None
    with pytest.raises(ConfigError, match="did you mean 'dc9'"):
        native.make_meta(level="gen", shifts={"dC9": 1.0}, seed=1, n_events=0, config_digest="")
    with pytest.raises(ConfigError, match="level"):
        native.make_meta(level="reco", shifts={}, seed=1, n_events=0, config_digest="")
    with pytest.raises(ConfigError, match="not finite"):
        native.make_meta(
            level="gen", shifts={"dc9": math.inf}, seed=1, n_events=0, config_digest=""
        )
    with pytest.raises(ConfigError, match="clash"):
        native.make_meta(
            level="gen", shifts={}, seed=1, n_events=0, config_digest="", **{"format": "x"}
        )
    with pytest.raises(ConfigError, match="JSON"):
        native.make_meta(
            level="gen", shifts={}, seed=1, n_events=0, config_digest="", source=object()
        )


def test_empty_tree(tmp_path):
    ev = {key: value[:0] for key, value in make_events(10).items()}
    path = native.write_events(tmp_path / "empty.root", ev, make_meta())
    got, meta = native.read_events(path)
    assert meta["n_events"] == 0
    assert all(len(v) == 0 for v in got.values())
    assert got["q2"].dtype == np.float64
    assert list(native.iterate_events(path)) == []
    summary = native.file_summary(path)
    assert summary["entries"] == 0
    assert summary["branches"]["q2"]["min"] is None


def test_file_summary(written):
    path, ev = written
    summary = native.file_summary(path, step_size=128)
    json.dumps(summary)  # printable by `hepc9 info`
    assert summary["entries"] == 1000
    assert summary["meta"]["dc9"] == -0.82
    assert summary["size_bytes"] == path.stat().st_size
    q2 = ev["q2"].astype(np.float32).astype(np.float64)
    stats = summary["branches"]["q2"]
    assert stats["dtype"] == "float32"
    assert stats["min"] == q2.min()
    assert stats["max"] == q2.max()
    assert stats["mean"] == pytest.approx(q2.mean(), rel=1e-12)
    assert stats["n_nonfinite"] == 0
    true_stats = summary["branches"]["q2_true"]
    assert true_stats["n_nonfinite"] == len(range(0, 1000, 7))
    finite = ev["q2_true"][np.isfinite(ev["q2_true"])].astype(np.float32)
    assert true_stats["max"] == float(finite.max())
    assert summary["branches"]["flavour"]["dtype"] == "int8"


# ---- reading errors -------------------------------------------------------------------


def test_missing_file_and_not_root(tmp_path):
    with pytest.raises(DataError, match="not found"):
        native.read_events(tmp_path / "nope.root")
    with pytest.raises(DataError, match="folder"):
        native.read_meta(tmp_path)
    (tmp_path / "text.root").write_text("hello, not a ROOT file")
    with pytest.raises(SchemaError, match="not a ROOT file"):
        native.read_events(tmp_path / "text.root")
    (tmp_path / "zero.root").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        native.read_meta(tmp_path / "zero.root")


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.9, 0.999])
def test_truncated_file(written, tmp_path, fraction):
    path, _ = written
    data = path.read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(data[: max(8, int(len(data) * fraction))])
    with pytest.raises(DataError, match=r"truncated|damaged"):
        native.read_events(cut)


def test_corrupt_baskets(tmp_path):
    ev = make_events(20000)
    path = native.write_events(tmp_path / "big.root", ev, make_meta())
    with uproot.open(path) as f:
        start = int(f["events"]["q2"].member("fBasketSeek")[0])
    data = bytearray(path.read_bytes())
    # Keep the basket key header, scramble the compressed payload.
    data[start + 100 : start + 2100] = bytes(range(256)) * 7 + bytes(208)
    bad = tmp_path / "bad.root"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match="damaged"):
        native.read_events(bad, columns=["q2"])


def write_raw(path, meta=None, trees=("events",), n=5):
    ev = make_events(n)
    with uproot.recreate(path) as f:
        for tree in trees:
            f.mktree(tree, {k: native.NATIVE_DTYPES[k] for k in ev})
            f[tree].extend({k: v.astype(native.NATIVE_DTYPES[k]) for k, v in ev.items()})
        if meta is not None:
            f["hepc9_meta"] = meta if isinstance(meta, str) else json.dumps(meta)
    return path


def good_meta(n=5):
    return {**make_meta(), "n_events": n}


def test_missing_tree_lists_trees(tmp_path):
    path = write_raw(tmp_path / "t.root", good_meta(), trees=("gen", "det"))
    with pytest.raises(MissingBranchError) as info:
        native.read_events(path)
    err = info.value
    assert err.kind == "tree"
    assert "'events'" in str(err)
    assert "'gen'" in str(err)
    assert "'det'" in str(err)


def test_missing_branch_close_match(written):
    path, _ = written
    with pytest.raises(MissingBranchError, match="close matches: 'costheta_l'") as info:
        native.read_events(path, columns=["costheta_L"])
    assert isinstance(info.value, KeyError)
    with pytest.raises(MissingBranchError, match="mkpii"):
        next(native.iterate_events(path, columns=["mkpii"]))


def test_core_columns_required_on_read(tmp_path):
    meta = good_meta()
    with uproot.recreate(tmp_path / "m.root") as f:
        f.mktree("events", {"q2": np.float32})
        f["events"].extend({"q2": np.ones(5, np.float32)})
        f["hepc9_meta"] = json.dumps(meta)
    with pytest.raises(MissingBranchError, match="costheta_l"):
        native.read_events(tmp_path / "m.root")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (None, "no 'hepc9_meta'"),
        ("{not json", "not valid JSON"),
        ({**good_meta(), "format": "other"}, "format 'other'"),
        ({**good_meta(), "format_version": 2}, "upgrade hepc9"),
        ({**good_meta(), "format_version": "1"}, "invalid format_version"),
        ({k: v for k, v in good_meta().items() if k != "seed"}, "lacks the required keys seed"),
        ({**good_meta(), "n_events": 7}, "n_events = 7"),
        ({**good_meta(), "level": "reco"}, "level 'reco'"),
    ],
)
def test_bad_metadata(tmp_path, meta, message):
    path = write_raw(tmp_path / "m.root", meta)
    with pytest.raises(SchemaError, match=message):
        native.read_events(path)


# ---- _common helpers -------------------------------------------------------------------


def test_common_helpers(written, tmp_path):
    path, _ = written
    with open_root(path) as f:
        tree = get_tree(f, "events", path)
        assert require_branches(tree, ["q2"], path) == ["q2"]
        with pytest.raises(MissingBranchError, match="tree 'hepc9_meta'"):
            get_tree(f, "hepc9_meta", path)  # exists, but is not a tree
    target = tmp_path / "sub" / "a.txt"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp.exists()
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    with pytest.raises(OutputExistsError), atomic_output(target):
        pass
    with pytest.raises(DataError, match="is a folder"), atomic_output(tmp_path):
        pass

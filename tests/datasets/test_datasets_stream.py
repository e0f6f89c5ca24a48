"""Streamed batches (fresh images from the sampler, stored datasets) and the images command."""

from __future__ import annotations

import numpy as np
import pytest

from hepc9.cli import main
from hepc9.config import load_config
from hepc9.datasets.build import dataset_spec
from hepc9.datasets.store import open_dataset, write_dataset
from hepc9.datasets.stream import DatasetBatches, ImageStream
from hepc9.errors import ConfigError

SMALL = ["seed=3", "datasets.bins=[5,5,5]", "datasets.events_per_image=150",
         "datasets.grid='custom'", "datasets.labels=[-1.0,0.0,0.5]"]


def test_image_stream_is_deterministic_by_epoch_and_batch():
    cfg = load_config(overrides=SMALL)
    spec = dataset_spec(cfg)
    stream = ImageStream(cfg, spec, batch_size=4, batches_per_epoch=2, labels="grid")
    x, y = stream.batch(0, 1)
    assert x.shape == (4, 5, 5, 5, 2)
    assert x.dtype == np.float32
    assert y.dtype == np.float32
    assert set(y.tolist()) <= {-1.0, 0.0, 0.5}
    np.testing.assert_array_equal(stream.batch(0, 1)[0], x)
    assert not np.array_equal(stream.batch(1, 1)[0], x)
    assert not np.array_equal(stream.batch(0, 0)[0], x)
    assert np.all(x[..., 1].sum(axis=(1, 2, 3)) == 150)
    it = iter(stream)
    np.testing.assert_array_equal(next(it)[0], stream.batch(0, 0)[0])
    exact = load_config(overrides=[*SMALL, "datasets.prior_step=0"])
    cont = ImageStream(exact, spec, batch_size=8, batches_per_epoch=1, labels="continuous",
                       label_range=(-2.0, 1.0))
    yc = cont.batch(0, 0)[1]
    assert np.all((yc >= -2.0) & (yc <= 1.0))
    assert len(set(yc.tolist())) == 8
    assert cont.prior == {"low": -2.0, "high": 1.0}
    with pytest.raises(ConfigError):
        ImageStream(cfg, spec, batch_size=0, batches_per_epoch=1)


def test_dataset_batches_cover_each_item_once(tmp_path):
    x = np.arange(11 * 2, dtype=np.float32).reshape(11, 2)
    write_dataset(tmp_path, x, np.arange(11.0), kind="sets", dtype="float32", items_per_chunk=4)
    ds = open_dataset(tmp_path)
    batches = DatasetBatches(ds, 3, seed=1)
    assert len(batches) == 4
    seen = np.concatenate([batches.batch(0, i)[1] for i in range(len(batches))])
    assert sorted(seen.tolist()) == list(range(11))
    assert not np.array_equal(batches.order(0), batches.order(1))
    np.testing.assert_array_equal(batches.order(2), batches.order(2))
    xb, yb = batches.batch(1, 0)
    np.testing.assert_array_equal(xb[:, 0] / 2, yb)
    assert len(DatasetBatches(ds, 3, drop_last=True)) == 3


def test_images_command(tmp_path, capsys):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(
        "seed = 4\n[datasets]\nbins = [4, 4, 4]\nevents_per_image = 100\ngrid = 'custom'\n"
        "labels = [-1.0, 0.0]\ntrain_per_label = 2\nvalidation_per_label = 1\n"
        "test_per_label = 1\nitems_per_chunk = 2\n[scale]\nexecutor = 'serial'\n"
    )
    out = tmp_path / "ds"
    assert main(["-q", "images", "--config", str(cfg_file), "--output", str(out)]) == 0
    assert len(open_dataset(out / "train")) == 4
    assert main(["images", "--config", str(cfg_file), "--output", str(out)]) == 0
    assert "reused" in capsys.readouterr().out
    rc = main(["images", "--config", str(cfg_file), "--output", str(out),
               "--set", "datasets.bins=[3,3,3]"])
    assert rc == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["images", "--config", str(cfg_file), "--output", str(out), "--label", "1"]) == 2


def test_images_from_native_file(tmp_path, capsys):
    from hepc9.generate.sampler import sample_events
    from hepc9.rootio.native import make_meta, write_events

    ev = sample_events(450, seed=1, shifts={"dc9": -0.5})
    path = tmp_path / "ev.root"
    write_events(path, ev, make_meta(level="gen", shifts={"dc9": -0.5}, seed=1, n_events=450,
                                     config_digest="sha256:0"))
    out = tmp_path / "img"
    rc = main(["images", "--from", str(path), "--events-per-image", "200", "--output", str(out),
               "--set", "datasets.bins=[4,4,4]"])
    assert rc == 0, capsys.readouterr().err
    ds = open_dataset(out)
    assert len(ds) == 2
    assert ds.y.tolist() == [-0.5, -0.5]
    assert ds.index["n_items"] == 2
    assert "50 events left over" in capsys.readouterr().out
    x, _ = ds.batch([0, 1])
    assert np.all(x[..., 1].sum(axis=(1, 2, 3)) == 200)
    rc = main(["images", "--from", str(path), "--events-per-image", "200", "--output", str(out)])
    assert rc == 1
    assert "--overwrite" in capsys.readouterr().err
    out2 = tmp_path / "img2"
    rc = main(["images", "--from", str(path), "--events-per-image", "100", "--output", str(out2),
               "--like", str(out), "--label", "0.25"])
    assert rc == 0
    assert open_dataset(out2).spec == ds.spec
    assert open_dataset(out2).y[0] == 0.25


def test_continuous_labels_on_the_prior_lattice():
    cfg = load_config(overrides=[*SMALL, "datasets.prior_step=0.25"])
    stream = ImageStream(cfg, dataset_spec(cfg), batch_size=64, batches_per_epoch=1,
                         labels="continuous", label_range=(-1.0, 0.5))
    np.testing.assert_allclose(stream.lattice, [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5])
    assert stream.prior == {"low": -1.0, "high": 0.5, "step": 0.25}
    y = stream.batch(0, 0)[1]
    k = (y + 1.0) / 0.25
    np.testing.assert_allclose(k, np.round(k), atol=1e-6)  # every label on the lattice
    assert len(set(np.round(k).tolist())) >= 5  # and the lattice is used, not one point
    # both ends of the interval are reachable
    assert {0, 6} <= set(np.round(k).astype(int).tolist())
    for bad in ("datasets.prior_step=-0.1", "datasets.prior_step=5.0",
                "datasets.prior_step=nan"):
        with pytest.raises(ConfigError, match="prior_step"):
            load_config(overrides=[*SMALL, bad])


def test_batched_voxelisation_of_parts_equals_one_call_per_part():
    """The stream voxelises its parts in one call: same images as one call per part."""
    from hepc9.datasets.stream import _voxelize_parts
    from hepc9.datasets.voxelize import TWO_PI, ImageSpec, voxelize_batch
    from hepc9.simulation import ChunkEvents

    rng = np.random.default_rng(4)

    def cols(n):
        return {"costheta_l": rng.uniform(-1, 1, n), "costheta_k": rng.uniform(-1, 1, n),
                "chi": rng.uniform(0, TWO_PI, n), "q2": rng.uniform(1, 8, n),
                "mbc": rng.uniform(5.2, 5.29, n)}

    spec = ImageSpec(bins=(8, 8, 8), channels=("q2_mean", "count", "background"))
    parts = [ChunkEvents(cols(300 + 7 * i), cols(40 + i), np.array([0, 40 + i]),
                         np.array([0.5 + i])) for i in range(3)]
    batched = _voxelize_parts(parts, spec, threads=2)
    for i, p in enumerate(parts):
        one = voxelize_batch(p.signal, spec, n_images=1, background=p.background,
                             background_offsets=p.background_offsets,
                             background_scale=p.background_scale)
        np.testing.assert_array_equal(batched[i], one[0])
    assert batched[:, ..., 2].sum() > 0

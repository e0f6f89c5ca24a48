"""Dataset builds: label grids, split plans, seeding discipline, normalisation, resume."""

from __future__ import annotations

import numpy as np
import pytest

import hepc9.datasets.build as build_mod
from hepc9.config import load_config
from hepc9.datasets.build import (
    EventFactory,
    build_dataset,
    dataset_spec,
    make_chunk,
    plan_chunks,
)
from hepc9.datasets.labels import label_grid, midpoints, split_labels
from hepc9.datasets.sets import SetSpec, feature_matrix, make_sets, reference_set_spec
from hepc9.datasets.store import open_dataset
from hepc9.datasets.voxelize import ImageSpec, default_q2_scale
from hepc9.errors import ConfigError, DataError, OutputExistsError
from hepc9.seeding import seed_sequence

SMALL = [
    "seed=7",
    "datasets.bins=[6,6,6]",
    "datasets.events_per_image=200",
    "datasets.grid='custom'",
    "datasets.labels=[-1.0,0.0]",
    "datasets.train_per_label=3",
    "datasets.validation_per_label=2",
    "datasets.test_per_label=1",
    "datasets.items_per_chunk=2",
    "datasets.reference_events=3000",
    "generate.flavour='both'",
]


def _cfg(*extra):
    return load_config(overrides=[*SMALL, *extra])


def test_label_grids():
    paper = label_grid("paper22")
    assert len(paper) == 22
    assert paper[0] == -2.0
    assert paper[-1] == 1.1
    assert -0.82 in paper
    lee = label_grid("lee44")
    assert len(lee) == 44
    assert 0.0 in lee
    assert lee.min() == -2.0
    assert lee.max() == 1.1
    np.testing.assert_allclose(midpoints(np.array([0.0, 1.0, 3.0])), [0.5, 2.0])
    with pytest.raises(ConfigError, match="did you mean 'lee44'"):
        label_grid("lee4")
    labels = split_labels(load_config().datasets)
    assert len(labels["train"]) == 22
    assert len(labels["test"]) == 22 + 21 + 1  # grid, midpoints and 0.0
    assert set(labels["train"]) < set(labels["test"])


def test_plan_spawn_keys_are_distinct_across_splits_labels_chunks():
    plan = plan_chunks(_cfg("datasets.train_per_label=5"))
    keys = [t.spawn_key for tasks in plan.values() for t in tasks]
    assert len(keys) == len(set(keys))
    train = plan["train"]
    assert [t.count for t in train if t.label_index == 0] == [2, 2, 1]
    assert [t.number for t in train] == list(range(len(train)))
    assert train[0].spawn_key[0] != plan["test"][0].spawn_key[0]


def test_no_event_shared_and_determinism():
    cfg = _cfg()
    factory = EventFactory(cfg)
    plan = plan_chunks(cfg)
    tasks = [plan["train"][0], plan["train"][1], plan["validation"][0], plan["test"][0]]
    q2s = []
    for t in tasks:
        ss = seed_sequence(cfg.seed, t.stage, t.label_index, t.chunk)
        q2s.append(factory.draw(ss, t.label, t.count).signal["q2"])
    allq = np.concatenate(q2s)
    assert len(np.unique(allq)) == len(allq)  # fresh events for every image
    spec = dataset_spec(cfg)
    x1, y1 = make_chunk(cfg, plan["train"][0], spec)
    x2, _y2 = make_chunk(cfg, plan["train"][0], spec)
    np.testing.assert_array_equal(x1, x2)
    assert x1.shape == (2, 6, 6, 6, 2)
    assert y1.tolist() == [-1.0, -1.0]
    assert np.all(x1[..., 1].sum(axis=(1, 2, 3)) == 200)
    assert not np.array_equal(x1[0], x1[1])


def test_normalisation_fixed_once_and_label_independent(monkeypatch):
    assert dataset_spec(_cfg()).q2_scale == default_q2_scale()
    a = dataset_spec(_cfg("datasets.q2_normalisation='standard'"))
    b = dataset_spec(_cfg("datasets.q2_normalisation='standard'", "datasets.labels=[1.0,2.0]"))
    assert a == b
    assert a.q2_normalisation == "standard"
    assert 5.0 < a.q2_offset < 15.0
    assert 2.0 < a.q2_scale < 8.0
    # a different reference δC9 gives different statistics: the reference sample decides
    c = dataset_spec(_cfg("datasets.q2_normalisation='standard'", "datasets.reference_dc9=-2.0"))
    assert c.q2_offset != a.q2_offset


def test_build_resume_index_last_and_stored_normalisation(tmp_path, monkeypatch):
    cfg = _cfg("datasets.q2_normalisation='standard'")
    out = tmp_path / "ds"
    calls = []

    def stop_after_two(n_done):
        calls.append(n_done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(cfg, out, progress=stop_after_two)
    assert (out / "build.json").is_file()
    assert not (out / "train" / "index.json").exists()  # index written last
    with pytest.raises(DataError, match="incomplete"):
        open_dataset(out / "train")
    # the resumed build must reuse the stored normalisation, never redraw it
    monkeypatch.setattr(build_mod, "dataset_spec", lambda cfg: pytest.fail("redrawn"))
    summary = build_dataset(cfg, out)
    assert summary["splits"]["train"]["reused"] == 2
    assert summary["splits"]["train"]["written"] == 2
    train = open_dataset(out / "train", verify=True)
    spec = ImageSpec.from_dict(train.index["spec"])
    assert spec.q2_normalisation == "standard"
    assert next(c["spawn_key"] for c in train.index["chunks"]) == [10, 0, 0]
    assert len(train) == 6
    assert sorted(set(train.y.tolist())) == [-1.0, 0.0]
    test = open_dataset(out / "test")
    assert sorted(set(test.y.tolist())) == [-1.0, -0.5, 0.0]
    assert test.index["spec"] == train.index["spec"]
    # delete a finished chunk: the rerun rebuilds exactly it, bit for bit
    entry = train.index["chunks"][1]
    (out / "train" / "x-000001.npy").unlink()
    summary = build_dataset(cfg, out)
    assert summary["splits"]["train"]["written"] == 1
    again = open_dataset(out / "train", verify=True)
    assert again.index["chunks"][1]["x_digest"] == entry["x_digest"]


def test_executor_build_is_identical(tmp_path):
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    cfg = _cfg("datasets.validation_per_label=0", "datasets.test_per_label=0")
    assert pickle.loads(pickle.dumps(cfg)) == cfg  # chunks can go to other processes
    build_dataset(cfg, tmp_path / "serial")
    with ThreadPoolExecutor(2) as pool:
        build_dataset(cfg, tmp_path / "pool", executor=pool)
    a = open_dataset(tmp_path / "serial" / "train").index["chunks"]
    b = open_dataset(tmp_path / "pool" / "train").index["chunks"]
    assert [c["x_digest"] for c in a] == [c["x_digest"] for c in b]


def test_build_refuses_other_config(tmp_path):
    cfg = _cfg("datasets.train_per_label=1", "datasets.validation_per_label=0",
               "datasets.test_per_label=0")
    build_dataset(cfg, tmp_path / "ds")
    # settings that do not change the content (run name, thread counts) resume the build
    same = load_config(overrides=[*SMALL, "datasets.train_per_label=1",
                                  "datasets.validation_per_label=0", "datasets.test_per_label=0",
                                  "name='renamed'", "datasets.threads=1"])
    assert build_dataset(same, tmp_path / "ds")["splits"]["train"]["reused"] == 2
    other = _cfg("datasets.train_per_label=1", "datasets.validation_per_label=0",
                 "datasets.test_per_label=0", "datasets.bins=[4,4,4]")
    with pytest.raises(OutputExistsError, match="another configuration"):
        build_dataset(other, tmp_path / "ds")
    build_dataset(other, tmp_path / "ds", overwrite=True)
    assert open_dataset(tmp_path / "ds" / "train").item_shape == (4, 4, 4, 2)


def test_event_sets():
    cfg = _cfg("datasets.kind='sets'", "datasets.set_features=['q2','cos_chi','sin_chi','flavour']")
    spec = dataset_spec(cfg)
    assert isinstance(spec, SetSpec)
    assert spec.features[-1] == "flavour"
    assert spec.mean[-1] == 0.0
    assert spec.std[-1] == 1.0
    task = plan_chunks(cfg)["train"][0]
    x, _y = make_chunk(cfg, task, spec)
    assert x.shape == (2, 200, 4)
    assert x.dtype == np.float32
    assert abs(float(x[..., 0].mean())) < 0.3  # standardised q²
    assert set(np.unique(x[..., 3])) <= {-1.0, 1.0}
    raw = feature_matrix({"q2": np.array([1.0, 3.0]), "chi": np.array([0.0, np.pi / 2])},
                         ("q2", "cos_chi", "sin_chi"))
    np.testing.assert_allclose(raw, [[1, 1, 0], [3, 0, 1]], atol=1e-15)
    ref = reference_set_spec({"q2": np.array([1.0, 3.0]), "chi": np.array([0.0, 1.0])},
                             ("q2",))
    assert ref.mean == (2.0,)
    assert ref.std == (1.0,)
    np.testing.assert_allclose(
        make_sets({"q2": np.array([1.0, 3.0, 2.0, 2.0])}, ref, n_sets=2)[..., 0],
        [[-1, 1], [0, 0]])
    assert SetSpec.from_dict(spec.to_dict()) == spec


def test_config_errors():
    with pytest.raises(ConfigError, match="custom"):
        load_config(overrides=["datasets.grid='custom'"])
    with pytest.raises(ConfigError, match="background"):
        EventFactory(_cfg("datasets.channels=['q2_mean','background']"))
    with pytest.raises(ConfigError, match="detector"):
        EventFactory(_cfg("background.enabled=true"))


def test_detector_level_with_background_mixing():
    cfg = _cfg("detector.enabled=true", "background.enabled=true",
               "datasets.channels=['q2_mean','count','background']", "datasets.items_per_chunk=3")
    spec = dataset_spec(cfg)
    task = plan_chunks(cfg)["train"][0]
    x, _ = make_chunk(cfg, task, spec)
    n_bkg = round(cfg.background.fraction * 200)
    np.testing.assert_array_equal(x[..., 1].sum(axis=(1, 2, 3)), 200)
    np.testing.assert_allclose(x[..., 2].sum(axis=(1, 2, 3)), n_bkg, rtol=1e-4)
    ev = EventFactory(cfg).draw(seed_sequence(7, "images_train", 0, 0), -1.0, 3)
    assert np.isclose(ev.background_scale * np.diff(ev.background_offsets), n_bkg).all()


def test_angular_function_features_follow_the_rate_terms():
    """The f_i features are the physics.md §2.1 functions of the event's own angles."""
    from hepc9.datasets.sets import ANGULAR_FEATURES
    from hepc9.physics.angular import angular_functions

    rng = np.random.default_rng(3)
    ev = {"q2": rng.uniform(1, 8, 50), "costheta_l": rng.uniform(-1, 1, 50),
          "costheta_k": rng.uniform(-1, 1, 50), "chi": rng.uniform(-np.pi, np.pi, 50)}
    raw = feature_matrix(ev, ("q2", *ANGULAR_FEATURES))
    ref = angular_functions(ev["costheta_l"], ev["costheta_k"], ev["chi"])
    np.testing.assert_allclose(raw[:, 1:], ref.T, atol=1e-14)
    np.testing.assert_allclose(raw[:, 0], ev["q2"])
    one = feature_matrix(ev, ("f_4", "sin_chi"))  # f_4 = sin2θK sin2θℓ cos χ, in any order
    np.testing.assert_allclose(one[:, 0], ref[5], atol=1e-14)
    np.testing.assert_allclose(one[:, 1], np.sin(ev["chi"]), atol=1e-15)
    # cosθK = ±1: f_1s = sin²θK vanishes, f_1c = cos²θK is one
    edge = feature_matrix({k: v[:2] if k != "costheta_k" else np.array([1.0, -1.0])
                           for k, v in ev.items()}, ("f_1s", "f_1c"))
    np.testing.assert_allclose(edge, [[0, 1], [0, 1]], atol=1e-15)
    with pytest.raises(DataError, match="costheta_k"):
        feature_matrix({"costheta_l": ev["costheta_l"], "chi": ev["chi"]}, ("f_3",))
    with pytest.raises(ConfigError, match="f_10"):
        load_config(overrides=["datasets.set_features=['q2','f_10']"])

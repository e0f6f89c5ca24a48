"""``hepc9 train`` and ``hepc9 predict`` end to end on tiny stored datasets and ROOT files."""

import json

import numpy as np
import pytest

pytest.importorskip("keras")

from hepc9.cli import main
from hepc9.datasets.sets import SetSpec, make_sets
from hepc9.datasets.store import write_dataset
from hepc9.datasets.voxelize import ImageSpec, voxelize_batch
from hepc9.rootio import make_meta, write_events

SLIM = ["--set", "model.depth=10", "--set", "model.width=0.125", "--set", "model.dense_units=8",
        "--set", "model.phi_units=[8]", "--set", "model.rho_units=[8]",
        "--set", "train.batch_size=16"]


def fake_events(n, dc9, seed):
    """Angles uniform, q² shifted with δC9: enough to exercise the plumbing."""
    rng = np.random.default_rng(seed)
    return {
        "q2": np.clip(rng.normal(8.0 + dc9, 3.0, n), 0.05, 19.0),
        "costheta_l": rng.uniform(-1, 1, n),
        "costheta_k": rng.uniform(-1, 1, n),
        "chi": rng.uniform(0, 2 * np.pi, n),
        "mkpi": np.full(n, 0.89555),
        "flavour": np.ones(n, np.int8),
    }


def write_root(path, events, dc9=0.0):
    meta = make_meta(level="gen", shifts={"dc9": dc9}, seed=1, n_events=len(events["q2"]),
                     config_digest=None)
    write_events(path, events, meta)
    return path


def test_train_and_predict_images(tmp_path, capsys):
    spec = ImageSpec(bins=(6, 6, 6), channels=("q2_mean", "count"))
    labels = np.repeat([-1.0, 0.0, 1.0], 6).astype(np.float32)
    per_image = 150
    events = [fake_events(per_image, float(y), i) for i, y in enumerate(labels)]
    cat = {k: np.concatenate([e[k] for e in events]) for k in events[0]}
    x = voxelize_batch(cat, spec, n_images=len(labels))
    write_dataset(tmp_path / "ds", x, labels, kind="images", dtype="float32",
                  index={"spec": spec.to_dict(), "events_per_image": per_image})
    rc = main(["-q", "train", "--dataset", str(tmp_path / "ds"), "--model", "resnet3d",
               "--output", str(tmp_path / "m"), "--epochs", "2", "--json", *SLIM])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs_run"] == 2
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    assert info["dataset_index"]["spec"]["bins"] == [6, 6, 6]

    test_events = fake_events(3 * per_image + 17, -0.5, 99)
    root = write_root(tmp_path / "in.root", test_events, -0.5)
    rc = main(["predict", str(tmp_path / "m"), str(root), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_sets"] == 3
    assert out["events_per_set"] == per_image
    # the same numbers as voxelising the events ourselves with the stored spec
    from hepc9.train import load_predictor, predict

    model, minfo = load_predictor(tmp_path / "m")
    cols = {k: v[: 3 * per_image] for k, v in test_events.items()}
    expected = predict(model, minfo, voxelize_batch(cols, spec, n_images=3))["dc9"]
    np.testing.assert_allclose(out["dc9"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["mean"], expected.mean(), rtol=1e-5, atol=1e-6)

    rc = main(["predict", str(tmp_path / "m"), str(root), "--events-per-set", "200"])
    assert rc == 0
    assert "2 set(s) of 200" in capsys.readouterr().out

    # fine-tuning from the saved model; a model of another kind is refused in one line
    rc = main(["-q", "train", "--dataset", str(tmp_path / "ds"), "--model", "resnet3d",
               "--output", str(tmp_path / "m2"), "--epochs", "1", "--init-from",
               str(tmp_path / "m"), *SLIM])
    assert rc == 0
    info2 = json.loads((tmp_path / "m2" / "model.json").read_text())
    assert info2["training"]["init_from"] == str(tmp_path / "m")
    rc = main(["train", "--dataset", str(tmp_path / "ds"), "--model", "resnet3d", "--output",
               str(tmp_path / "m3"), "--init-from", str(tmp_path / "m"), *SLIM,
               "--set", "model.dense_units=16"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "another architecture" in err
    assert "Traceback" not in err
    assert not (tmp_path / "m3").exists()


def test_train_and_predict_sets_event_model(tmp_path, capsys):
    set_spec = SetSpec(features=("q2", "costheta_l", "cos_chi", "sin_chi"),
                       mean=(8.0, 0.0, 0.0, 0.0), std=(3.0, 0.58, 0.7, 0.7))
    labels = np.repeat([-1.0, 0.0, 1.0], 10).astype(np.float32)
    n = 50
    events = [fake_events(n, float(y), i) for i, y in enumerate(labels)]
    cat = {k: np.concatenate([e[k] for e in events]) for k in events[0]}
    x = make_sets(cat, set_spec, n_sets=len(labels))
    write_dataset(tmp_path / "ds" / "train", x, labels, kind="sets", dtype="float32",
                  index={"standardisation": set_spec.to_dict(),
                         "features": list(set_spec.features), "events_per_item": n})
    rc = main(["-q", "train", "--dataset", str(tmp_path / "ds"), "--model", "event",
               "--output", str(tmp_path / "m"), "--epochs", "1", *SLIM])
    assert rc == 0
    root = write_root(tmp_path / "in.root", fake_events(2 * n, 0.0, 5))
    rc = main(["predict", str(tmp_path / "m"), str(root), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_sets"] == 2
    assert len(out["posterior_std"]) == 2
    assert all(-1.0 <= v <= 1.0 for v in out["dc9"])


def test_cli_errors(tmp_path, capsys):
    rc = main(["train", "--dataset", str(tmp_path / "missing"), "--output", str(tmp_path / "m")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert "Traceback" not in err
    rc = main(["predict", str(tmp_path), "x.root"])
    assert rc == 1
    assert "not a saved hepc9 model" in capsys.readouterr().err
    assert main(["train", "--dataset", "d"]) == 2


@pytest.mark.slow
def test_stream_training_from_the_sampler(tmp_path, capsys):
    overrides = [
        "--set", "datasets.bins=[6,6,6]", "--set", "datasets.events_per_image=300",
        "--set", "datasets.grid='custom'", "--set", "datasets.labels=[-1.0,0.0,1.0]",
        "--set", "datasets.channels=['q2_mean','count']",
        "--set", "train.steps_per_epoch=2", "--set", "train.validation_steps=1",
        "--set", "train.batch_size=4",
    ]
    rc = main(["-q", "train", "--stream", "--model", "resnet3d", "--output",
               str(tmp_path / "m"), "--epochs", "2", "--json", *SLIM[:-2], *overrides])
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs_run"] == 2
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    assert info["dataset_index"]["spec"]["bins"] == [6, 6, 6]
    assert info["dataset_index"]["events_per_item"] == 300
    # streamed labels come from the [datasets] prior (default [-2.5, 1.5], 0.05 lattice)
    assert info["labels"]["prior"] == {"low": -2.5, "high": 1.5, "step": 0.05}
    assert info["training"]["labels"] == "prior"
    np.testing.assert_allclose(info["labels"]["mean"], -0.5, atol=1e-12)


def test_train_summary_shows_the_metrics_the_estimator_reports(tmp_path, capsys):
    """event_exact reports its cross-entropy and KL excess, not regression metrics."""
    rc = main(["train", "--model", "event_exact", "--output", str(tmp_path / "m"),
               "--set", "train.exact_events=100000", "--set", "train.ratio_block_events=50000",
               "--set", "train.ratio_reference_events=20000", "--set", "model.exact_units=[8]"])
    assert rc == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "validation: crossentropy " in line
    assert "excess " in line
    assert "nan" not in line


def test_predict_reports_the_ratio_normalisation_error(tmp_path, capsys):
    """``hepc9 predict`` of a ``ratio`` model lists each set's normalisation error."""
    from hepc9.generate.sampler import sample_events

    rc = main(["-q", "train", "--model", "ratio", "--output", str(tmp_path / "m"),
               "--set", "train.ratio_events=200000", "--set", "train.ratio_block_events=100000",
               "--set", "train.ratio_reference_events=50000",
               "--set", "datasets.events_per_image=500", "--set", "model.ratio_units=[16]"])
    assert rc == 0
    capsys.readouterr()
    ev = sample_events(1500, seed=4, threads=1)
    ev = {**{k: ev[k] for k in ("q2", "costheta_l", "costheta_k", "chi")},
          "mkpi": np.full(1500, 0.89555), "flavour": np.ones(1500, np.int8)}
    root = write_root(tmp_path / "gen.root", ev)
    rc = main(["predict", str(tmp_path / "m"), str(root), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_sets"] == 3
    assert len(out["common_error"]) == 3
    assert all(0 < c < s for c, s in zip(out["common_error"], out["posterior_std"], strict=True))

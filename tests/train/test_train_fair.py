"""Fair training: continuous prior, disjoint validation splits, label-free normalisation."""

from __future__ import annotations

import numpy as np

from hepc9.config import load_config
from hepc9.datasets.build import dataset_spec
from hepc9.datasets.stream import ImageStream
from hepc9.models import get_spec
from hepc9.models.targets import encode_labels, label_info
from hepc9.train.loop import _halves
from hepc9.train.model_info import model_info as _model_info
from hepc9.train.sources import (
    CALIBRATION_EPOCH,
    VALIDATION_EPOCH,
    ArraySource,
    StreamSource,
    gather,
)

SETS = ["seed=5", "datasets.kind='sets'", "datasets.events_per_image=40",
        "datasets.reference_events=2000", "datasets.prior_range=[-2.5, 1.5]"]


def _stream(batch_size=64):
    cfg = load_config(overrides=SETS)
    stream = ImageStream(cfg, dataset_spec(cfg), batch_size=batch_size, batches_per_epoch=3)
    return cfg, stream


def test_prior_labels_are_continuous_and_cover_the_range():
    _, stream = _stream(256)
    assert stream.prior == {"low": -2.5, "high": 1.5, "step": 0.05}
    y = np.concatenate([stream.batch(0, i)[1] for i in range(2)])
    assert np.all((y >= -2.5) & (y <= 1.5))
    # the 81-point prior lattice, not the 7-point grid: labels spread over all of it
    assert np.unique(y).size > 70
    # uniform over the whole interval: every eighth of it is populated
    counts = np.histogram(y, bins=8, range=(-2.5, 1.5))[0]
    assert counts.min() > 0.5 * y.size / 8
    src = StreamSource.from_stream(stream)
    info = label_info("grid", src.labels, standardize=True, prior=src.prior, bins=81)
    assert info["prior"] == {"low": -2.5, "high": 1.5, "step": 0.05}
    assert len(info["grid"]) == 81
    idx = encode_labels(y, {"labels": info})
    # lattice labels sit on the classifier's bin centres
    np.testing.assert_allclose(np.asarray(info["grid"])[idx], y, atol=1e-6)
    reg = label_info("regression", src.labels, standardize=True, prior=src.prior)
    assert abs(reg["mean"] + 0.5) < 1e-12
    assert abs(reg["std"] - 4 / np.sqrt(12)) < 1e-12


def test_validation_splits_are_disjoint_from_training_and_each_other():
    _, stream = _stream(8)
    src = StreamSource.from_stream(stream)
    stop = gather(src, VALIDATION_EPOCH, 2)
    calib = gather(src, CALIBRATION_EPOCH, 2)
    train = np.concatenate([src.draw(e, b)[0] for e in range(2) for b in range(3)])

    def rows(x):
        return {r.tobytes() for r in np.asarray(x).reshape(-1, x.shape[-1])}

    a, b, t = rows(stop.x), rows(calib.x), rows(train)
    assert len(a) == stop.x.shape[0] * stop.x.shape[1]  # no event repeated inside a split
    assert not a & b
    assert not a & t
    assert not b & t
    np.testing.assert_array_equal(gather(src, VALIDATION_EPOCH, 2).x, stop.x)
    s, c = _halves(np.arange(11), 3)
    assert not set(s) & set(c)
    assert sorted([*s, *c]) == list(range(11))


def test_input_normalisation_does_not_depend_on_labels():
    cfg = load_config(overrides=SETS)
    rng = np.random.default_rng(0)
    # the first items differ from the rest: a "first items" normalisation would see them only
    x = rng.normal(size=(40, 10, 5)).astype(np.float32)
    x[:5] += 3.0
    spec = get_spec("deepsets")
    a = ArraySource(x, np.repeat([-2.0, 0.0], 20))
    b = ArraySource(x, np.repeat([1.0, -1.0], 20))
    na = _model_info(spec, cfg, a, a.y, a.x)["input_normalisation"]
    nb = _model_info(spec, cfg, b, b.y, b.x)["input_normalisation"]
    assert na == nb
    np.testing.assert_allclose(na["mean"], x.reshape(-1, 5).mean(axis=0), atol=1e-5)

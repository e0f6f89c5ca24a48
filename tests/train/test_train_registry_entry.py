"""One registry entry is enough: a toy estimator trains and predicts through hepc9.train."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from hepc9.config import load_config  # noqa: E402
from hepc9.models import EstimatorSpec, register, unregister  # noqa: E402
from hepc9.models.targets import predict_regression  # noqa: E402
from hepc9.train import load_predictor, predict, train_model  # noqa: E402

GRID = np.array([-1.0, 0.0, 1.0])


def build_set_mean(input_shape, cfg):
    """Mean over the events of a set, then one linear output: the smallest set regressor."""
    inputs = keras.Input(shape=input_shape)
    pooled = keras.layers.GlobalAveragePooling1D(name="mean")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="dc9")(pooled))


def predict_with_marker(model, info, x, *, batch_size, quantiles):
    out = predict_regression(model, info, x, batch_size=batch_size, quantiles=quantiles)
    return {**out, "hook": np.ones_like(out["dc9"])}


@pytest.fixture
def toy_entry():
    spec = register(EstimatorSpec(
        name="toy_set_mean", builder=build_set_mean, item_kind="sets", loss="mse",
        predictor=predict_with_marker, description="test-only estimator",
    ))
    yield spec
    unregister(spec.name)


def toy_sets(n, seed, n_events=12):
    rng = np.random.default_rng(seed)
    y = rng.choice(GRID, n).astype(np.float32)
    return (rng.normal(size=(n, n_events, 2)) + y[:, None, None]).astype(np.float32), y


def test_toy_entry_trains_and_predicts_through_the_generic_path(tmp_path, toy_entry):
    cfg = load_config(None, ["train.optimizer='adam'", "train.learning_rate=0.05",
                             "train.batch_size=8"])
    x, y = toy_sets(64, 0)
    result = train_model((x, y), model_name="toy_set_mean", cfg=cfg, output=tmp_path,
                         epochs=3)
    assert result.model == "toy_set_mean"
    info = json.loads((tmp_path / "model.json").read_text())
    # the entry decided loss, batch size, input shape, targets and normalisation
    assert info["training"]["loss"] == "mse"
    assert info["training"]["batch_size"] == 8
    assert info["input_shape"] == [12, 2]
    assert info["labels"]["kind"] == "standardized"
    assert info["input_normalisation"]["mask_padding"] is False
    assert info["builder"].endswith(":build_set_mean")
    model, minfo = load_predictor(tmp_path)
    xt, yt = toy_sets(30, 1)
    out = predict(model, minfo, xt)
    np.testing.assert_array_equal(out["hook"], 1.0)  # the entry's prediction hook ran
    assert np.corrcoef(out["dc9"], yt)[0, 1] > 0.8
    with pytest.raises(Exception, match="needs an event-set dataset"):
        train_model((np.zeros((8, 4, 4, 4, 1), np.float32), y[:8]), model_name="toy_set_mean",
                    cfg=cfg, output=tmp_path / "images", epochs=1)


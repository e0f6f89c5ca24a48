"""Deep Sets builder: permutation invariance, set-size independence, padding mask."""

import numpy as np
import pytest

pytest.importorskip("keras")

from hepc9.config import ModelConfig
from hepc9.errors import ShapeError
from hepc9.models import build_model


def _model(mask=False):
    cfg = ModelConfig(phi_units=(16, 8), rho_units=(8,), mask_padding=mask)
    return build_model("deepsets", (50, 4), cfg)


def test_permutation_invariance():
    model = _model()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 50, 4)).astype(np.float32)
    perm = rng.permutation(50)
    a = np.asarray(model(x))
    b = np.asarray(model(x[:, perm]))
    assert a.shape == (4, 1)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # and it is not a constant: different sets give different outputs
    assert np.ptp(a) > 0


def test_any_set_size_and_mean_pooling():
    model = _model()
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 30, 4)).astype(np.float32)
    # the mean over a set equals the mean over the set repeated twice
    a = np.asarray(model(x))
    b = np.asarray(model(np.concatenate([x, x], axis=1)))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_padding_mask():
    model = _model(mask=True)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 20, 4)).astype(np.float32)
    padded = np.concatenate([x, np.zeros((1, 30, 4), np.float32)], axis=1)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(model(padded)),
                               rtol=1e-5, atol=1e-6)
    unmasked = _model(mask=False)
    unmasked.set_weights(model.get_weights())
    assert not np.allclose(np.asarray(unmasked(x)), np.asarray(unmasked(padded)))


def test_shape_error():
    with pytest.raises(ShapeError, match="n_events, n_features"):
        build_model("deepsets", (8, 8, 8, 1), ModelConfig())



def test_pool_norm_running_statistics(tmp_path):
    # pool_norm = "running": a training call folds the batch statistics into running ones
    # (bias corrected: the first batch counts fully) and standardises with them; predictions
    # use the same map, so a set's output never depends on the other sets of its batch
    import keras

    cfg = ModelConfig(phi_units=(16, 8), rho_units=(8,), pool_norm="running")
    model = build_model("deepsets", (50, 4), cfg)
    norm = model.get_layer("pool_norm")
    pooled = keras.Model(model.input, norm.output)
    rng = np.random.default_rng(6)
    shift = 0.2 * rng.normal(size=(64, 1, 4))  # sets differ a little, as at different δC9
    x = (rng.normal(size=(64, 200, 4)) + 3.0 + shift).astype(np.float32)
    raw = np.asarray(keras.Model(model.input, model.get_layer("mean_pool").output)(x))
    z = np.asarray(pooled(x, training=True))
    # units (nearly) dead on every event keep a variance near epsilon = 1e-8
    active = raw.var(axis=0) > 1e-6
    assert active.sum() >= 4
    # set-to-set spread of the pooled means ~ 1/sqrt(200) of the per-event one, yet unit
    # variance after the layer (BatchNormalization's epsilon = 1e-3 would swamp it)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z.std(axis=0)[active], 1.0, rtol=1e-2)
    np.testing.assert_allclose(np.asarray(pooled(x, training=False)), z, rtol=1e-4, atol=1e-4)
    one = np.asarray(model(x[:1], training=False))
    np.testing.assert_allclose(np.asarray(model(x, training=False))[:1], one, rtol=1e-5)
    # a second batch moves the statistics by 1 % (momentum 0.99, after the bias correction)
    before = keras.ops.convert_to_numpy(norm.moving_mean).copy()
    pooled(x + 1.0, training=True)
    after = keras.ops.convert_to_numpy(norm.moving_mean)
    assert not np.allclose(before, after)
    perm = rng.permutation(200)
    np.testing.assert_allclose(np.asarray(model(x[:, perm])), np.asarray(model(x)),
                               rtol=1e-5, atol=1e-6)
    # the statistics travel with the saved model
    model.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(back(x)), np.asarray(model(x)), rtol=1e-5)
    assert "pool_norm" not in [layer.name for layer in _model().layers]

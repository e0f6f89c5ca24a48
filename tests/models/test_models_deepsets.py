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

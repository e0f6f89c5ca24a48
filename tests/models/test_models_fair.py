"""Circular χ padding of the ResNet and the continuous event-classifier posterior."""

from __future__ import annotations

import numpy as np

from hepc9.config import load_config
from hepc9.models.event_classifier import build as build_event
from hepc9.models.event_classifier import predict_sets
from hepc9.models.quadratic_head import normalised_theta


def _conv_model(periodic):
    import keras

    from hepc9.models.resnet3d import conv3d

    inp = keras.Input(shape=(4, 4, 6, 2))
    out = conv3d(inp, 3, 3, name="c", periodic=periodic)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def test_circular_padding_commutes_with_a_roll_along_chi():
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 6, 2)).astype(np.float32)
    rolled = np.roll(x, 2, axis=3)
    periodic = _conv_model(True)
    y = np.asarray(periodic.predict_on_batch(x))
    assert y.shape == (2, 4, 4, 6, 3)
    np.testing.assert_allclose(np.asarray(periodic.predict_on_batch(rolled)),
                               np.roll(y, 2, axis=3), atol=1e-5)
    zero = _conv_model(False)  # zero padding breaks the symmetry
    assert not np.allclose(np.asarray(zero.predict_on_batch(rolled)),
                           np.roll(np.asarray(zero.predict_on_batch(x)), 2, axis=3), atol=1e-3)


def test_resnet_with_periodic_chi_keeps_the_output_shape():
    from hepc9.models.resnet3d import build

    cfg = load_config(overrides=["model.depth=10", "model.width=0.0625",
                                 "model.dense_units=4"]).model
    model = build((5, 5, 5, 2), cfg)
    assert model.output_shape == (None, 1)
    assert any(layer.name == "stem_conv_chi_pad" for layer in model.layers)


def _peaked_model(t0, nodes):
    """Every event: q = const, Z minimal at t0, so the set posterior peaks at t0."""
    cfg = load_config(overrides=["model.event_units=[4]"]).model
    model = build_event((3,), cfg, n_classes=len(nodes), nodes=nodes)
    weights = [np.zeros_like(w) for w in model.get_weights()]
    # z = (u, v, w) with u = w = 0: the minimum of Z lies at t = −0.999 tanh(v)
    weights[-1] = np.array([0.0, np.arctanh(-t0 / 0.999), 0.0], np.float32)
    weights[-2] = np.array([0.0, 0.0, -30.0], np.float32)  # q ≈ constant
    model.set_weights(weights)
    return model


def test_event_posterior_is_smooth_between_grid_nodes():
    nodes = [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0]
    info = {"labels": {"kind": "grid", "grid": nodes}}
    x = np.zeros((1, 400, 3), np.float32)
    modes = []
    for theta in (0.1, 0.23, 0.3):
        t0 = float(normalised_theta(theta, nodes))
        out = predict_sets(_peaked_model(t0, nodes), info, x)
        modes.append(float(out["mode"][0]))
        assert out["lower"][0] < out["dc9"][0] < out["upper"][0]
    # the estimates follow the peak between the nodes (spacing 0.5), no staircase
    np.testing.assert_allclose(modes, [0.1, 0.23, 0.3], atol=0.01)

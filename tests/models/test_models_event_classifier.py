"""Event classifier: set combination and posterior summaries (papers/003 event model)."""

import numpy as np
import pytest

from hepc9.errors import DataError, ShapeError
from hepc9.models.event_classifier import log_softmax, posterior_summary, set_log_posterior


def test_set_combination_is_sum_of_event_log_probabilities():
    keras = pytest.importorskip("keras")
    from hepc9.config import ModelConfig
    from hepc9.models import build_model

    model = build_model("event", (4,), ModelConfig(event_units=(8,)), n_classes=5)
    assert model.output_shape == (None, 5)
    rng = np.random.default_rng(0)
    sets = rng.normal(size=(3, 40, 4)).astype(np.float32)
    logits = np.asarray(model(sets.reshape(-1, 4))).reshape(3, 40, 5)
    combined = set_log_posterior(logits)
    for s in range(3):
        # one event at a time through the network, log p_k = logit_k − log Σ exp logits
        per_event = [np.asarray(model(sets[s, i:i + 1]), dtype=np.float64)[0] for i in range(40)]
        total = np.zeros(5)
        for z in per_event:
            total += z - np.log(np.sum(np.exp(z)))
        expected = total - np.log(np.sum(np.exp(total - total.max()))) - total.max()
        np.testing.assert_allclose(combined[s], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.exp(combined).sum(axis=1), 1.0, rtol=1e-12)
    del keras


def test_flat_prior_bayes_by_hand():
    # two classes, events with p(class 1 | x) = 0.8 each: posterior odds 4^n (flat prior)
    p = np.array([0.2, 0.8])
    logits = np.tile(np.log(p), (3, 1))
    post = np.exp(set_log_posterior(logits))
    np.testing.assert_allclose(post, np.array([1, 64]) / 65, rtol=1e-12)


def test_extreme_logits_are_stable():
    logits = np.array([[[1e4, 0.0, -1e4]] * 1000])
    lp = set_log_posterior(logits)
    assert np.all(np.isfinite(lp[np.isfinite(lp)]))
    np.testing.assert_allclose(np.exp(lp).sum(), 1.0)
    np.testing.assert_allclose(log_softmax(np.array([1e300, 0.0]))[0], 0.0)


def test_mask_drops_padding():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 10, 4))
    mask = np.ones((2, 10), bool)
    mask[:, 6:] = False
    np.testing.assert_allclose(set_log_posterior(logits, mask=mask),
                               set_log_posterior(logits[:, :6]), rtol=1e-12)
    with pytest.raises(ShapeError):
        set_log_posterior(logits, mask=mask[:, :5])


def test_summary_uses_values_not_indices():
    grid = np.array([-2.0, -0.82, 0.0, 0.5, 1.1])  # non-uniform, as a real label grid
    p = np.array([0.0, 0.25, 0.5, 0.25, 0.0])
    with np.errstate(divide="ignore"):
        summary = posterior_summary(np.log(p), grid)
    mean = float(np.sum(p * grid))
    np.testing.assert_allclose(summary["mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(summary["std"], np.sqrt(np.sum(p * (grid - mean) ** 2)))
    assert summary["mode"] == 0.0
    assert -0.82 <= summary["lower"] < 0.0 < summary["upper"] <= 0.5


def test_summary_at_grid_edges_and_batches():
    grid = np.linspace(-2.0, 1.1, 44)
    lp = np.full((2, 44), -np.inf)
    lp[0, 0] = 0.0
    lp[1, -1] = 0.0
    s = posterior_summary(lp, grid)
    np.testing.assert_allclose(s["mean"], [-2.0, 1.1])
    np.testing.assert_allclose(s["std"], [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(s["lower"], [-2.0, 1.1])
    np.testing.assert_allclose(s["upper"], [-2.0, 1.1])


def test_summary_errors():
    with pytest.raises(ShapeError):
        posterior_summary(np.zeros(3), [0.0, 1.0])
    with pytest.raises(DataError, match="increasing"):
        posterior_summary(np.zeros(2), [1.0, 0.0])


def test_set_offsets_undo_a_per_event_bias():
    from hepc9.models.event_classifier import fit_set_offsets

    rng = np.random.default_rng(7)
    n, k_classes, n_sets = 1000, 3, 600
    true = rng.integers(0, k_classes, n_sets)
    grid_pos = np.arange(k_classes)
    # calibrated set evidence (a few nats between neighbours) plus noise ...
    base = -2.0 * (grid_pos[None, :] - true[:, None]) ** 2 + rng.normal(0, 1.0, (n_sets, 3))
    # ... spoiled by a per-event bias that 1000 events turn into ±10 nats
    bias = np.array([0.0, 0.01, -0.01])
    summed = base + n * bias
    raw = set_log_posterior(summed[:, None, :])  # one "event" carrying the whole sum
    assert np.mean(np.argmax(raw, axis=1) == true) < 0.5
    offsets = fit_set_offsets(summed, n, true)
    np.testing.assert_allclose(offsets, -(bias - bias.mean()), atol=1.5e-3)
    assert abs(offsets.sum()) < 1e-12
    fixed = np.argmax(summed + n * offsets, axis=1)
    assert np.mean(fixed == true) > 0.9

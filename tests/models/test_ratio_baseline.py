"""The ``ratio`` baseline: exact coefficients at the observed kinematics, and how it is used."""

import typing

import numpy as np
import pytest

from hepc9.config import load_config
from hepc9.config.study import ModelConfig
from hepc9.datasets.sets import DEFAULT_FEATURES, feature_matrix
from hepc9.errors import DataError
from hepc9.generate.sampler import sample_events
from hepc9.models.ratio import coefficient_vector, per_event_outputs
from hepc9.models.ratio_baseline import BASELINES, baseline_coefficients, baseline_spec
from hepc9.physics.constants import ZERO_SHIFTS
from hepc9.physics.quadratic import quadratic_coefficients


def _spec(params=("dc9",), shifts=ZERO_SHIFTS, constants=None, q2_range=None):
    return baseline_spec("observed", params=params, shifts=shifts, constants=constants or {},
                         q2_range=q2_range)


@pytest.mark.parametrize("params", [("dc9",), ("dc9", "dc10")])
def test_baseline_equals_the_exact_coefficients_at_the_event(params):
    shifts = ZERO_SHIFTS.with_(dc9=-0.4, dc10=0.2)
    ev = sample_events(40_000, seed=11, shifts={"dc9": -0.4, "dc10": 0.2}, threads=1)
    exact = coefficient_vector(quadratic_coefficients(
        ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"], params=params, at=shifts))
    got = baseline_coefficients(_spec(params, shifts), feature_matrix(ev, DEFAULT_FEATURES),
                                DEFAULT_FEATURES)
    assert got.shape == exact.shape
    # linear interpolation on 4096 ln q² nodes: far below the coefficients' spread
    rms = np.sqrt(np.mean((got - exact) ** 2, axis=0))
    assert np.all(rms < 1e-3 * exact.std(axis=0) + 1e-12), (rms, exact.std(axis=0))
    # χ or its circle give the same numbers
    feats = ("q2", "costheta_l", "costheta_k", "chi")
    np.testing.assert_allclose(baseline_coefficients(_spec(params, shifts),
                                                     feature_matrix(ev, feats), feats),
                               got, rtol=1e-9, atol=1e-12)


def test_baseline_follows_the_constants_and_the_reference_point():
    ev = sample_events(5000, seed=12, threads=1)
    x = feature_matrix(ev, DEFAULT_FEATURES)
    ref = baseline_coefficients(_spec(), x, DEFAULT_FEATURES)
    moved = baseline_coefficients(_spec(shifts=ZERO_SHIFTS.with_(dc9=-1.0)), x,
                                  DEFAULT_FEATURES)
    exact = coefficient_vector(quadratic_coefficients(
        ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"],
        at=ZERO_SHIFTS.with_(dc9=-1.0)))
    assert np.abs(moved - ref).mean() > 10 * np.abs(moved - exact).mean()
    other = baseline_coefficients(_spec(constants={"c9_sm": 3.8}), x, DEFAULT_FEATURES)
    assert np.abs(other - ref).mean() > 1e-3


def test_baseline_outside_the_window_is_finite():
    spec = _spec(q2_range=(1.1, 6.0))
    x = np.array([[0.5, 0.3, -0.2, 0.9, 0.1],     # q² below the window: edge node
                  [7.0, 0.3, -0.2, 0.9, 0.1],     # above it
                  [3.0, 1.2, -1.3, 0.9, 0.1]])    # cosines outside [−1, 1]: clamped
    got = baseline_coefficients(spec, x, DEFAULT_FEATURES)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[2], baseline_coefficients(
        spec, np.array([[3.0, 1.0, -1.0, 0.9, 0.1]]), DEFAULT_FEATURES)[0])


def test_unknown_baseline_is_refused_and_the_config_names_match_the_registry():
    with pytest.raises(DataError, match="unknown ratio baseline 'exact'"):
        baseline_spec("exact", params=("dc9",), shifts=ZERO_SHIFTS, constants={},
                      q2_range=None)
    assert baseline_spec("none", params=("dc9",), shifts=ZERO_SHIFTS, constants={},
                         q2_range=None) is None
    hint = typing.get_type_hints(ModelConfig)["ratio_baseline"]
    assert set(typing.get_args(hint)) == set(BASELINES)
    assert load_config(None).model.ratio_baseline == "observed"
    with pytest.raises(Exception, match="ratio_baseline"):
        load_config(None, ["model.ratio_baseline=exact"])


class _Zero:
    """A stand-in network whose standardised outputs are all zero."""

    def __init__(self, n_out):
        self.n_out = n_out

    def predict_on_batch(self, z):
        return np.zeros((len(z), self.n_out), dtype=np.float32)


@pytest.mark.parametrize("background", [False, True])
def test_outputs_are_the_residual_added_to_the_baseline(background):
    ev = sample_events(3000, seed=13, threads=1)
    x = feature_matrix(ev, DEFAULT_FEATURES)
    spec = _spec()
    base = baseline_coefficients(spec, x, DEFAULT_FEATURES)
    mean = [0.01, -0.002] + ([0.6] if background else [])
    info = {"ratio": {"params": ["dc9"], "features": list(DEFAULT_FEATURES),
                      "input_normalisation": {"mean": [0.0] * 17, "std": [1.0] * 17},
                      "target_mean": mean, "target_std": [1.0] * len(mean),
                      "background": background, "background_model": "mixture",
                      "baseline": spec}}
    coef, pi = per_event_outputs(_Zero(len(mean)), info, x)
    if background:
        np.testing.assert_allclose(pi, 0.6)
        np.testing.assert_allclose(coef, 0.6 * base + np.array([0.01, -0.002]), atol=1e-12)
    else:
        assert pi is None
        np.testing.assert_allclose(coef, base + np.array([0.01, -0.002]), atol=1e-12)
    # a model without a baseline (trained before it existed) returns the network alone
    del info["ratio"]["baseline"]
    coef0, _ = per_event_outputs(_Zero(len(mean)), info, x)
    np.testing.assert_allclose(coef0, np.broadcast_to(np.array([0.01, -0.002]), coef0.shape))

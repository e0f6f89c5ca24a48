"""The ``ratio`` estimator's numpy parts: coefficient layout, inputs, set likelihood, intervals."""

import numpy as np
import pytest

from hepc9.config import Config
from hepc9.errors import ConfigError, ShapeError
from hepc9.generate.sampler import sample_events
from hepc9.models.ratio import (
    coefficient_names,
    coefficient_vector,
    expand_features,
    n_coefficients,
)
from hepc9.models.ratio_fit import fit_set, fit_sets, monomials, set_nll
from hepc9.physics.constants import ZERO_SHIFTS
from hepc9.physics.quadratic import normalisation_matrix, quadratic_coefficients, quadratic_form


@pytest.mark.parametrize("params", [("dc9",), ("dc9", "dc10")])
def test_coefficient_vector_reproduces_the_quadratic_form(params):
    rng = np.random.default_rng(3)
    n = 50
    q2 = rng.uniform(1.0, 8.0, n)
    m = quadratic_coefficients(q2, rng.uniform(-1, 1, n), rng.uniform(-1, 1, n),
                               rng.uniform(0, 2 * np.pi, n), params=params)
    c = coefficient_vector(m)
    assert c.shape == (n, n_coefficients(len(params))) == (n, len(coefficient_names(params)))
    for theta in ([0.3, -0.7][: len(params)], [-1.2, 0.4][: len(params)]):
        exact = quadratic_form(m, theta) / m[:, 0, 0]
        assert np.allclose(1.0 + c @ monomials(theta), exact, rtol=1e-12)
    with pytest.raises(ShapeError):
        coefficient_vector(np.ones((3, 1, 1)))


def test_expand_features_needs_the_angles_and_accepts_chi_or_its_circle():
    x = np.array([[2.0, 0.1, -0.3, np.cos(1.0), np.sin(1.0)]])
    a = expand_features(x, ("q2", "costheta_l", "costheta_k", "cos_chi", "sin_chi"))
    b = expand_features(x[:, [0, 1, 2, 3]] * [1, 1, 1, 0] + [0, 0, 0, 1.0],
                        ("q2", "costheta_l", "costheta_k", "chi"))
    assert a.shape == (1, 17)
    assert np.allclose(a, b)
    with pytest.raises(ShapeError):
        expand_features(x[:, :3], ("q2", "costheta_l", "costheta_k"))


def _exact_sets(truth, n_sets, n_events, seed):
    ev = sample_events(n_sets * n_events, seed=seed, shifts={"dc9": truth}, threads=1)
    m = quadratic_coefficients(ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"])
    return coefficient_vector(m).reshape(n_sets, n_events, -1)


def test_exact_coefficients_give_unit_pulls_and_covering_intervals():
    # the set likelihood with the exact per-event ratios and the exact normalisation
    norm_m = normalisation_matrix()
    norm = coefficient_vector(norm_m[None])[0]
    truth, n_sets = -0.5, 40
    coef = _exact_sets(truth, n_sets, 2000, 11)
    out = fit_sets(coef, None, norm)
    pulls = (out["dc9"] - truth) / out["std"]
    assert abs(pulls.mean()) < 3 / np.sqrt(n_sets)
    assert 0.7 < pulls.std(ddof=1) < 1.3
    assert np.all(out["lower"] < out["dc9"])
    assert np.all(out["dc9"] < out["upper"])
    cover = np.mean((out["lower"] <= truth) & (truth <= out["upper"]))
    assert 0.5 < cover < 0.85
    assert np.all(out["valid"] == 1.0)


def test_two_shifts_and_background_fraction_are_fitted_together():
    norm2 = coefficient_vector(normalisation_matrix(params=("dc9", "dc10"))[None])[0]
    ev = sample_events(20000, seed=5, shifts={"dc9": 0.3}, threads=1)
    m = quadratic_coefficients(ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"],
                               params=("dc9", "dc10"))
    res = fit_set(coefficient_vector(m), norm2, params=("dc9", "dc10"))
    assert abs(res["dc9"] - 0.3) < 4 * res["dc9_std"]
    assert abs(res["dc10"]) < 4 * res["dc10_std"]
    # a flat "background" with odds 1 (its density equals the reference): fraction found
    coef1 = coefficient_vector(quadratic_coefficients(
        ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"]))
    norm1 = coefficient_vector(normalisation_matrix()[None])[0]
    base = set_nll(np.array([0.3]), coef1, norm1)
    assert np.isfinite(base)
    res_b = fit_set(coef1, norm1, np.ones(len(coef1)))
    assert 0.0 <= res_b["fraction"] <= 1.0
    assert np.isfinite(res_b["dc9"])


def test_ratio_config_keys_are_validated():
    from hepc9.config.validate import validate

    base = Config()
    assert base.train.ratio_events > 0
    assert base.model.ratio_params == ("dc9",)
    with pytest.raises(ConfigError, match="ratio_params"):
        validate(base.replace(model=base.model.__class__(ratio_params=("dc99",))), "t")
    with pytest.raises(ConfigError, match="ratio_events"):
        validate(base.replace(train=base.train.__class__(ratio_events=0)), "t")
    assert ZERO_SHIFTS.dc9 == 0.0

"""The ``ratio`` estimator's numpy parts: coefficient layout, inputs, set likelihood, intervals."""

import numpy as np
import pytest

from hepc9.config import Config
from hepc9.errors import ConfigError, DataError, ShapeError
from hepc9.generate.sampler import sample_events
from hepc9.models.ratio import (
    coefficient_names,
    coefficient_vector,
    encode_features,
    expand_features,
    input_normalisation,
    n_coefficients,
)
from hepc9.models.ratio_fit import fit_set, fit_sets, monomials, normalisation_error, set_nll
from hepc9.physics.angular import angular_functions
from hepc9.physics.constants import SEED_MODEL, ZERO_SHIFTS, q2_limits
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


def test_encoded_features_are_the_standardised_physics_functions():
    """The fused encoder equals q², angles, cos χ, sin χ and f_i(Ω) of physics, standardised."""
    rng = np.random.default_rng(5)
    n = 10_001  # more than two threads' blocks, and a partial last block
    x = np.column_stack([rng.uniform(1, 19, n), rng.uniform(-1, 1, n), rng.uniform(-1, 1, n),
                         rng.uniform(0, 2 * np.pi, n)])
    feats = ("q2", "costheta_l", "costheta_k", "chi")
    ref = np.column_stack([x[:, 0], x[:, 1], x[:, 2], np.cos(x[:, 3]), np.sin(x[:, 3]),
                           angular_functions(x[:, 1], x[:, 2], x[:, 3]).T])
    z = expand_features(x, feats)
    np.testing.assert_allclose(z, ref, rtol=1e-12, atol=1e-12)
    norm = input_normalisation(z)
    enc = encode_features(x, norm, feats)
    assert enc.dtype == np.float32
    expect = ((z - np.array(norm["mean"])) / np.array(norm["std"])).astype(np.float32)
    np.testing.assert_array_equal(enc, expect)
    with pytest.raises(DataError, match="retrain"):
        encode_features(x, {"mean": [0.0] * 5, "std": [1.0] * 5}, feats)


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
    assert np.isfinite(set_nll(np.array([0.3, 0.0]), coefficient_vector(m), norm2))


def _mixture_outputs(ev, f_t, distort=0.0):
    """Exact a = π c, π̂ (optionally distorted) and c of events, against the flat background."""
    big = normalisation_matrix()
    norm = coefficient_vector(big[None])[0]
    lo, hi = q2_limits(SEED_MODEL)
    volume = (hi - lo) * 8.0 * np.pi
    m = quadratic_coefficients(ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"])
    c = coefficient_vector(m)
    s = big[0, 0] / (volume * m[:, 0, 0])
    pi = (1.0 - f_t) / (1.0 - f_t + f_t * s)
    pi_hat = np.minimum(pi * np.exp(distort * np.tanh((c[:, 0] - norm[0]) / 0.065)), 1.0)
    return pi[:, None] * c, pi_hat, c


def _flat(n, rng):
    lo, hi = q2_limits(SEED_MODEL)
    return {"q2": rng.uniform(lo, hi, n), "costheta_l": rng.uniform(-1, 1, n),
            "costheta_k": rng.uniform(-1, 1, n), "chi": rng.uniform(0, 2 * np.pi, n)}


def _reference_mixture(n_ref, seed, rng, f_t):
    """(N_π, N_a) over a reference mixture of n_ref signal and n_ref background events, and
    the covariance of that Monte Carlo mean."""
    parts = [_mixture_outputs(sample_events(n_ref, seed=seed, threads=1), f_t),
             _mixture_outputs(_flat(n_ref, rng), f_t)]
    vs = [np.concatenate([p[:, None], a], axis=1) for a, p, _ in parts]
    w = (1.0 - f_t, f_t)
    mean = sum(wi * v.mean(axis=0) for wi, v in zip(w, vs, strict=True))
    cov = sum(wi ** 2 * np.cov(v.T) / len(v) for wi, v in zip(w, vs, strict=True))
    return mean, cov


def _mixture_sets(truth, fraction, n_sets, n_events, seed, *, f_t=0.4, distort=0.0):
    """Sets of signal at ``truth`` and a background flat in (q², cosθℓ, cosθK, χ).

    The reference density is p₀ = M₀₀ / 𝕄₀₀ (the exact rate), so s = p_b / p₀, the signal
    probability π = (1 − f_t) / (1 − f_t + f_t s) of the reference mixture and a = π c are
    exact; ``distort`` multiplies π by exp(distort · tanh((ℓ − R_ℓ) / 0.065)), a relative
    error up to ± distort correlated with ℓ.  Returns a, π̂, (N_π, N_a), c, the odds implied
    by π̂, and R.
    """
    norm = coefficient_vector(normalisation_matrix()[None])[0]
    rng = np.random.default_rng(seed)
    n_b = round(fraction * n_events)
    k = n_events - n_b
    sig = sample_events(n_sets * k, seed=seed, shifts={"dc9": truth}, threads=1)
    n_ref = 300_000
    ref = [_mixture_outputs(sample_events(n_ref, seed=seed + 1, threads=1), f_t, distort),
           _mixture_outputs(_flat(n_ref, rng), f_t, distort)]
    n_mix = sum(w * np.concatenate([p[:, None], a], axis=1).mean(axis=0)
                for w, (a, p, _) in zip((1.0 - f_t, f_t), ref, strict=True))
    parts = [_mixture_outputs(sig, f_t, distort),
             _mixture_outputs(_flat(n_sets * n_b, rng), f_t, distort)]
    a, p, c = (np.concatenate([parts[0][j].reshape(n_sets, k, -1),
                               parts[1][j].reshape(n_sets, n_b, -1)], axis=1) for j in range(3))
    p = p[..., 0]
    odds = (1.0 - f_t) * (1.0 - p) / (f_t * np.maximum(p, 1e-12))
    return a, p, n_mix, c, odds, norm


def test_normalisation_error_predicts_the_spread_over_reference_samples():
    """One set fitted with the normalisations of 40 independent reference mixtures: the
    estimates scatter as the propagated Monte Carlo error of the normalisation says."""
    a, p, *_ = _mixture_sets(-0.5, 0.4, 1, 60_000, 51)
    a, p = a[0], p[0]
    rng = np.random.default_rng(52)
    est, pred = [], []
    for r in range(40):
        n_mix, cov = _reference_mixture(20_000, 1000 + r, rng, 0.4)
        o = fit_set(a, n_mix, p, minos=False)
        est.append(o["dc9"])
        pred.append(normalisation_error(a, n_mix, cov, p, [o["dc9"]], o["fraction"])[0])
        if r == 0:
            # linear in the covariance's scale; zero without an error
            twice = normalisation_error(a, n_mix, 4 * cov, p, [o["dc9"]], o["fraction"])[0]
            assert twice == pytest.approx(2 * pred[0], rel=1e-6)
            assert normalisation_error(a, n_mix, 0 * cov, p, [o["dc9"]], o["fraction"])[0] == 0
            out = fit_sets(a[None], p[None], n_mix, minos=False, norm_cov=cov)
            assert out["common_error"][0] == pytest.approx(pred[0], rel=1e-3)
            assert out["dc9_common"][0] == out["common_error"][0]
    spread, mean_pred = np.std(est, ddof=1), np.mean(pred)
    # 40 samples: the empirical spread is known to ±11 %; the statistical σ is far larger
    assert 0.7 < spread / mean_pred < 1.35, (spread, mean_pred)
    assert mean_pred > 0.05 * o["dc9_std"]


@pytest.mark.parametrize("truth", [-0.6, 0.4])
def test_mixture_likelihood_with_exact_ingredients_has_unit_pulls(truth):
    a, p, n_mix, *_ = _mixture_sets(truth, 0.3, 30, 4000, 21)
    out = fit_sets(a, p, n_mix)
    pulls = (out["dc9"] - truth) / out["std"]
    assert abs(pulls.mean()) < 3.5 / np.sqrt(30), pulls.mean()
    assert 0.6 < pulls.std(ddof=1) < 1.4
    frac = out["background_fraction"]
    assert abs(frac.mean() - 0.3) < 3.5 * frac.std(ddof=1) / np.sqrt(30), frac
    with pytest.raises(ShapeError):
        fit_set(a[0], n_mix[1:], p[0])


def test_mixture_likelihood_is_robust_to_errors_of_the_signal_probability():
    """A 20 % error of π correlated with ℓ: the joint-target mixture stays unbiased at the
    reference point, the product of separately learned odds and coefficients does not."""
    n_sets = 30
    a, p, n_mix, c, odds, norm = _mixture_sets(0.0, 0.4, n_sets, 4000, 31, distort=0.2)
    a0, p0, n0, *_ = _mixture_sets(0.0, 0.4, n_sets, 4000, 31)  # the same sets, exact π
    out = fit_sets(a, p, n_mix, minos=False)
    exact = fit_sets(a0, p0, n0, minos=False)
    sigma = np.median(exact["std"])
    # paired with the exact-π fit of the same sets: a shift far below the spread
    shift = np.mean(out["dc9"] - exact["dc9"])
    assert abs(shift) < 0.1 * sigma, (shift, sigma)

    def product_nll(v, i):  # ln L of the learned-odds form (1 − f) w / W + f s
        w = np.maximum(1.0 + c[i] @ monomials(v[:1]), 1e-12) / (1.0 + norm @ monomials(v[:1]))
        return -np.sum(np.log((1.0 - v[1]) * w + v[1] * odds[i]))

    from scipy.optimize import minimize

    old = np.array([minimize(product_nll, [0.0, 0.4], args=(i,), method="Nelder-Mead").x[0]
                    for i in range(10)])
    assert abs(np.mean(old - exact["dc9"][:10])) > 0.3 * sigma, (old, sigma)


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

"""Unbinned likelihood: packing, kernels vs numpy twins, gradients, direct density, bad input."""

import json
import math

import numpy as np
import pytest

from hepc9.errors import DataError, DroppedRowsWarning, FitNotConvergedWarning, ShapeError
from hepc9.fit.likelihood import (
    FitResult,
    LikelihoodFit,
    UnbinnedNLL,
    check_free,
    fit_events,
    hessian_terms,
    hessian_terms_numpy,
    monomial_jacobian,
    monomials,
    n_packed,
    nll_terms,
    nll_terms_numpy,
    pack_matrices,
    unpack,
)
from hepc9.generate.sampler import sample_events
from hepc9.physics.constants import WilsonShifts
from hepc9.physics.rate import decay_density

WINDOW = (1.1, 6.0)


@pytest.fixture(scope="module")
def sample():
    return sample_events(6000, seed=11, shifts=WilsonShifts(dc9=-0.82), q2_range=WINDOW, threads=1)


@pytest.fixture(scope="module")
def fit2(sample):
    return LikelihoodFit.from_events(sample, free="dc9,dc10", q2_range=WINDOW)


def test_pack_unpack_and_monomials_reproduce_quadratic_form():
    rng = np.random.default_rng(1)
    for k in (1, 2, 6):
        a = rng.normal(size=(5, k + 1, k + 1))
        m = a + np.swapaxes(a, -1, -2)
        packed = pack_matrices(m)
        assert packed.shape == (5, n_packed(k))
        np.testing.assert_array_equal(unpack(packed), m)
        theta = rng.normal(size=k)
        tt = np.concatenate(([1.0], theta))
        direct = np.einsum("a,nab,b->n", tt, m, tt)
        np.testing.assert_allclose(packed @ monomials(theta), direct, rtol=1e-13)


def test_monomial_jacobian_matches_finite_differences():
    theta = np.array([0.3, -1.2, 0.7])
    jac = monomial_jacobian(theta)
    h = 1e-6
    for a in range(3):
        e = np.zeros(3)
        e[a] = h
        fd = (monomials(theta + e) - monomials(theta - e)) / (2 * h)
        np.testing.assert_allclose(jac[:, a], fd, rtol=1e-8, atol=1e-9)


def test_pack_rejects_non_square():
    with pytest.raises(ShapeError):
        pack_matrices(np.zeros((3, 2, 3)))
    with pytest.raises(ShapeError):
        unpack(np.zeros(4))


def _random_inputs(k, n=500, seed=3):
    rng = np.random.default_rng(seed)
    l = rng.normal(size=(n, k + 1, k + 1))
    m = np.einsum("nab,ncb->nac", l, l) + 0.1 * np.eye(k + 1)  # positive definite forms
    c = pack_matrices(m)
    norm = c.mean(axis=0) * 3.0
    bkg = rng.uniform(0.05, 0.5, n)
    return c, norm, bkg


@pytest.mark.parametrize("k", [1, 2, 6])
@pytest.mark.parametrize("frac", [0.0, 0.3])
def test_numba_kernels_agree_with_numpy_twins(k, frac):
    c, norm, bkg = _random_inputs(k)
    theta = np.linspace(-0.5, 0.5, k)
    mono = monomials(theta)
    jac = np.ascontiguousarray(monomial_jacobian(theta))
    gamma = float(norm @ mono)
    fast = nll_terms(c, mono, bkg, frac, gamma)
    slow = nll_terms_numpy(c, mono, bkg, frac, gamma)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    nvec = norm @ jac
    fast_h = hessian_terms(c, mono, jac, nvec, bkg, frac, gamma)
    slow_h = hessian_terms_numpy(c, mono, jac, nvec, bkg, frac, gamma)
    for a, b in zip(fast_h, slow_h, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize(
    ("k", "fit_fraction", "constraint"),
    [(1, False, None), (2, False, None), (2, True, None), (3, True, (0.2, 0.05))],
)
def test_gradient_and_hessian_match_finite_differences(k, fit_fraction, constraint):
    c, norm, bkg = _random_inputs(k)
    nll = UnbinnedNLL(
        c,
        norm,
        names=("dc7", "dc9", "dc10")[:k],
        background=bkg,
        fraction=0.2,
        fit_fraction=fit_fraction,
        fraction_constraint=constraint,
    )
    x = np.array([0.2, -0.4, 0.1][:k] + ([0.25] if fit_fraction else []))
    grad = nll.grad(x)
    hess = nll.hessian_matrix(x)
    h = 1e-6
    for a in range(x.size):
        e = np.zeros(x.size)
        e[a] = h
        fd = (nll(x + e) - nll(x - e)) / (2 * h)
        assert grad[a] == pytest.approx(fd, rel=1e-6, abs=1e-6)
        fd_g = (nll.grad(x + e) - nll.grad(x - e)) / (2 * h)
        np.testing.assert_allclose(hess[:, a], fd_g, rtol=1e-5, atol=1e-5)


def test_quadratic_form_nll_equals_direct_density(sample, fit2):
    """−ln L from the packed forms equals −Σ ln decay_density (physics.rate) at any point."""
    for dc9, dc10 in [(0.0, 0.0), (-0.82, 0.0), (0.5, -0.7)]:
        dens = decay_density(
            sample["q2"],
            sample["costheta_l"],
            sample["costheta_k"],
            sample["chi"],
            dc9=dc9,
            dc10=dc10,
            q2_range=WINDOW,
        )
        direct = -np.sum(np.log(dens))
        assert fit2.nll([dc9, dc10]) == pytest.approx(direct, rel=1e-10)


def test_fit_recovers_truth_and_reports_consistent_result(sample):
    lf = LikelihoodFit.from_events(sample, q2_range=WINDOW)
    res = lf.fit(minos=True)
    assert res.valid
    assert res.n_events == 6000
    assert abs(res.values["dc9"] + 0.82) < 4 * res.errors["dc9"]
    lo, hi = res.interval("dc9")
    assert lo < res.values["dc9"] < hi
    assert res.minos["dc9"][0] == pytest.approx(-res.errors["dc9"], rel=0.1)
    # scan: ΔNLL = 0.5 at the MINOS bounds (exactly, for one parameter)
    scan = lf.scan("dc9", [lo, res.values["dc9"], hi], profile=False)
    np.testing.assert_allclose(scan.delta_nll, [0.5, 0.0, 0.5], atol=2e-3)
    # round trip through JSON
    back = FitResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back == res
    assert "dc9" in res.table()
    assert res.shifts().dc9 == res.values["dc9"]


def test_two_parameter_fit_profile_scan(fit2):
    res = fit2.fit(minos=True)
    assert res.valid
    assert res.parameters == ("dc9", "dc10")
    assert abs(res.values["dc10"]) < 4 * res.errors["dc10"]
    assert -1 < res.correlation[0][1] < 1
    lo, hi = res.interval("dc10")
    scan = fit2.scan("dc10", [lo, hi], profile=True)
    np.testing.assert_allclose(scan.delta_nll, [0.5, 0.5], atol=5e-3)
    assert scan.valid.all()


def test_fixed_shifts_move_the_expansion_point(sample):
    res = fit_events(sample, q2_range=WINDOW, fixed={"dc10": 0.3})
    assert res.fixed["dc10"] == 0.3
    res0 = fit_events(sample, q2_range=WINDOW)
    assert res.values["dc9"] != pytest.approx(res0.values["dc9"], abs=1e-3)


# ---------------------------------------------------------------------------- bad input


def test_empty_and_too_small_samples_raise():
    empty = {c: np.zeros(0) for c in ("q2", "costheta_l", "costheta_k", "chi")}
    with pytest.raises(DataError, match="empty"):
        fit_events(empty, q2_range=WINDOW)
    few = {
        "q2": np.full(5, 2.0),
        "costheta_l": np.zeros(5),
        "costheta_k": np.zeros(5),
        "chi": np.ones(5),
    }
    with pytest.raises(DataError, match="at least 10"):
        fit_events(few, q2_range=WINDOW)


def test_events_outside_window_raise_or_drop(sample):
    ev = {k: v.copy() for k, v in sample.items()}
    ev["q2"][:7] = 8.0
    with pytest.raises(DataError, match="7 of 6000"):
        fit_events(ev, q2_range=WINDOW)
    with pytest.warns(DroppedRowsWarning, match="dropped 7"):
        res = fit_events(ev, q2_range=WINDOW, outside="drop")
    assert res.n_events == 5993
    assert res.n_dropped == 7


def test_invalid_columns_raise(sample):
    ev = {k: v.copy() for k, v in sample.items()}
    ev["chi"][3] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        fit_events(ev, q2_range=WINDOW)
    ev = {k: v.copy() for k, v in sample.items()}
    ev["costheta_l"][0] = 1.5
    with pytest.raises(DataError, match="outside"):
        fit_events(ev, q2_range=WINDOW)
    ev = {k: v for k, v in sample.items() if k != "costheta_k"}
    with pytest.raises(DataError, match="costheta_k"):
        fit_events(ev, q2_range=WINDOW)
    ev = {k: v.copy() for k, v in sample.items()}
    ev["chi"] = ev["chi"] - math.pi  # (−π, π] instead of [0, 2π)
    with pytest.raises(DataError, match="chi"):
        fit_events(ev, q2_range=WINDOW)


def test_bad_parameters_raise(sample):
    with pytest.raises(DataError, match="did you mean 'dc9'"):
        check_free("dc8")
    with pytest.raises(DataError, match="duplicates"):
        check_free(["dc9", "dc9"])
    with pytest.raises(DataError, match="kinematic range"):
        fit_events(sample, q2_range=(1.0, 25.0))
    with pytest.raises(DataError, match="low < high"):
        fit_events(sample, q2_range=(6.0, 1.1))
    with pytest.raises(DataError, match="without a background model"):
        fit_events(sample, q2_range=WINDOW, background_fraction=0.3)


def test_non_convergence_warns_and_flags_invalid(sample):
    lf = LikelihoodFit.from_events(sample, q2_range=WINDOW)
    with pytest.warns(FitNotConvergedWarning, match="not valid"):
        res = lf.fit(start={"dc9": 5.0}, max_calls=2)
    assert not res.valid
    assert res.message
    assert "INVALID" in res.table()


def test_numpy_and_numba_fits_agree(sample):
    fast = LikelihoodFit.from_events(sample, q2_range=WINDOW)
    slow = LikelihoodFit(
        fast.nll.coefficients, fast.nll.normalisation, q2_range=WINDOW, use_numba=False
    )
    a, b = fast.fit(), slow.fit()
    assert a.values["dc9"] == pytest.approx(b.values["dc9"], abs=1e-6)
    assert a.errors["dc9"] == pytest.approx(b.errors["dc9"], rel=1e-6)


def test_weighted_events_warn_that_weights_are_ignored(sample):
    from hepc9.errors import Hepc9Warning

    ev = dict(sample)
    ev["weight"] = np.full(sample["q2"].size, 0.5)
    with pytest.warns(Hepc9Warning, match="weights"):
        fit_events(ev, q2_range=WINDOW)


@pytest.mark.parametrize("start", [-6.0, 2.0, 8.0])
def test_far_starts_converge_to_the_same_minimum(sample, start):
    """Negative curvature at the start (far from the minimum) is handled."""
    lf = LikelihoodFit.from_events(sample, q2_range=WINDOW)
    ref = lf.fit()
    res = lf.fit(start={"dc9": start})
    assert res.valid
    assert res.values["dc9"] == pytest.approx(ref.values["dc9"], abs=1e-3 * ref.errors["dc9"])

"""The one iminuit driver: MIGRAD/HESSE, limits, fixed parameters, the g2 retry, MINOS, validity."""

import numpy as np
import pytest
from iminuit import Minuit

from hepc9.minuit import LIKELIHOOD, migrad_hesse, minimum_problems, run_minos
from hepc9.models.ratio_fit import fit_set, set_nll


def _gauss_nll(x):
    """−ln L of two Gaussian measurements: a = 1 ± 2, b = −3 ± 0.5."""
    return 0.5 * ((x[0] - 1.0) / 2.0) ** 2 + 0.5 * ((x[1] + 3.0) / 0.5) ** 2


def test_errors_intervals_limits_and_fixed_parameters():
    m = migrad_hesse(_gauss_nll, [0.0, 0.0], names=("a", "b"), errordef=LIKELIHOOD,
                     steps={"a": 0.1, "b": 0.1})
    assert m.valid
    assert minimum_problems(m) == []
    assert m.values["a"] == pytest.approx(1.0, abs=1e-4)
    assert m.errors["a"] == pytest.approx(2.0, rel=1e-3)
    assert m.errors["b"] == pytest.approx(0.5, rel=1e-3)
    both = run_minos(m, ("a", "b"))
    each = run_minos(m, ("a", "b"), each=True)
    assert both.failed is None
    assert each.failed is None
    assert both.invalid() == []
    for name, err in (("a", 2.0), ("b", 0.5)):
        lo, hi = each.intervals[name]
        assert lo == pytest.approx(-err, rel=1e-3)
        assert hi == pytest.approx(err, rel=1e-3)
        assert both.intervals[name] == pytest.approx(each.intervals[name], rel=1e-6)
    # a limit holds the minimum at its edge; a fixed parameter stays at its start
    lim = migrad_hesse(_gauss_nll, [2.0, 0.0], names=("a", "b"), errordef=LIKELIHOOD,
                       limits={"a": (1.5, 4.0)}, fixed=("b",), hesse="never")
    assert lim.values["a"] == pytest.approx(1.5, abs=1e-3)
    assert lim.values["b"] == 0.0
    assert lim.fixed["b"]


def test_call_limit_is_reported_and_a_failing_hessian_is_retried_with_g2():
    m = migrad_hesse(lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2, [-1.2, 1.0],
                     names=("x", "y"), ncall=5)
    problems = minimum_problems(m)
    assert len(problems) == 1
    assert problems[0].startswith("MIGRAD did not converge")
    assert "call limit reached" in problems[0]
    assert not m.valid

    def failing_once():
        calls = [0]

        def fcn(x):
            calls[0] += 1
            if calls[0] == 1:  # as Minuit2 fails on its first step in iminuit 2.33
                raise TypeError("'NoneType' object is not callable")
            return _gauss_nll(x)

        return fcn

    with pytest.raises(TypeError):
        migrad_hesse(failing_once(), [0.0, 0.0], names=("a", "b"), errordef=LIKELIHOOD)
    def g2(x):
        return np.array([0.25, 4.0])

    ok = migrad_hesse(failing_once(), [0.0, 0.0], names=("a", "b"), errordef=LIKELIHOOD,
                      retry_g2=g2)
    assert ok.valid
    assert ok.values["b"] == pytest.approx(-3.0, abs=1e-4)


def _former_fit_set(coef, norm, odds, params):
    """The Minuit calls ``fit_set`` made before the shared driver (the reference)."""
    k = len(params)
    with_bkg = odds is not None
    names = [*params, "fraction"] if with_bkg else list(params)

    def nll(*v):
        return set_nll(np.asarray(v[:k]), coef, norm, odds, v[k] if with_bkg else 0.0)

    m = Minuit(nll, *([0.0] * k + ([1.0 - float(norm[0])] if with_bkg else [])), name=names)
    m.errordef = Minuit.LIKELIHOOD
    for p in params:
        m.errors[p] = 0.1
    if with_bkg:
        m.limits["fraction"] = (0.0, 1.0)
        m.errors["fraction"] = 0.05
    m.migrad()
    m.hesse()
    out = {"valid": float(m.valid)}
    for p in params:
        out[p], out[f"{p}_std"] = float(m.values[p]), float(m.errors[p])
        out[f"{p}_lower"], out[f"{p}_upper"] = out[p] - out[f"{p}_std"], out[p] + out[f"{p}_std"]
    if m.valid:
        for p in params:
            try:
                m.minos(p)
            except RuntimeError:
                continue
            if m.merrors[p].is_valid:
                out[f"{p}_lower"] = out[p] + float(m.merrors[p].lower)
                out[f"{p}_upper"] = out[p] + float(m.merrors[p].upper)
    if with_bkg:
        out["fraction"] = float(m.values["fraction"])
        out["fraction_std"] = float(m.errors["fraction"])
    return out


@pytest.mark.parametrize(("params", "background"), [(("dc9",), False), (("dc9",), True),
                                               (("dc9", "dc10"), False)])
def test_ratio_set_fit_is_bit_identical_to_its_former_minuit_calls(params, background):
    rng = np.random.default_rng(3)
    k = len(params)
    n_coef = k * (k + 3) // 2
    coef = rng.normal(0.0, 0.3, size=(200, n_coef))
    coef[:, k:] = np.abs(coef[:, k:]) * 0.1
    norm = np.linspace(0.01, 0.05, n_coef)
    # with background: learned signal probabilities and the normalisation (N_π, N_a)
    odds = rng.uniform(0.2, 0.9, size=200) if background else None
    if background:
        norm = np.concatenate([[0.56], norm])
    assert fit_set(coef, norm, odds, params=params) == _former_fit_set(coef, norm, odds, params)

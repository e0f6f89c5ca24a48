"""Background templates, acceptance normalisation and the Cramér–Rao bound."""

import math

import numpy as np
import pytest

from hepc9.errors import DataError, DroppedRowsWarning
from hepc9.fit.acceptance import acceptance_sample
from hepc9.fit.fisher import CRBResult, cramer_rao
from hepc9.fit.likelihood import model_normalisation, unpack
from hepc9.fit.templates import BackgroundTemplate, fit_template
from hepc9.generate.sampler import sample_events
from hepc9.physics.constants import WilsonShifts

WINDOW = (1.1, 6.0)
ORDERS = (2, 2, 2, 1)
TRUE_COEFFS = np.array([-0.4, 0.1, 0.3, -0.2, -0.8, 0.4, 0.15, 0.0])  # same as conftest


def test_template_fit_recovers_known_shape_and_is_normalised(draw_background):
    bkg = draw_background(20000, 1)
    t = fit_template(bkg, q2_range=WINDOW, orders=ORDERS)
    assert t.n_events == 20000
    np.testing.assert_allclose(t.coefficients, TRUE_COEFFS, atol=0.06)
    # normalisation: MC integral of the density over the box is 1
    rng = np.random.default_rng(2)
    m = 400000
    u = {
        "q2": rng.uniform(*WINDOW, m),
        "costheta_l": rng.uniform(-1, 1, m),
        "costheta_k": rng.uniform(-1, 1, m),
        "chi": rng.uniform(0, 2 * math.pi, m),
    }
    volume = (WINDOW[1] - WINDOW[0]) * 4 * 2 * math.pi
    assert np.mean(t.density(u)) * volume == pytest.approx(1.0, rel=0.01)
    assert BackgroundTemplate.from_dict(t.to_dict()) == t


def test_template_errors(draw_background):
    bkg = draw_background(1000, 3)
    with pytest.raises(DataError, match="orders"):
        fit_template(bkg, q2_range=WINDOW, orders=(1, 2, 3))
    with pytest.raises(DataError, match="at least"):
        fit_template({k: v[:5] for k, v in bkg.items()}, q2_range=WINDOW)
    wide = {k: v.copy() for k, v in bkg.items()}
    wide["q2"][:10] = 7.0
    with pytest.warns(DroppedRowsWarning):
        t = fit_template(wide, q2_range=WINDOW)
    assert t.n_events == 990
    with pytest.raises(DataError, match="acceptance"):
        t.density_for_fit(bkg, acceptance=object())


@pytest.fixture(scope="module")
def sm_sample():
    return sample_events(60000, seed=21, shifts=WilsonShifts(dc9=-0.82), q2_range=WINDOW, threads=1)


def test_acceptance_sample_without_acceptance_reproduces_model_normalisation(sm_sample):
    """With ε = 1 the weighted simulation sum is proportional to the exact 𝕄 (MC precision)."""
    acc = acceptance_sample(sm_sample, generated_at={"dc9": -0.82}, q2_range=WINDOW)
    assert acc.n_events == 60000
    for params in (("dc9",), ("dc9", "dc10")):
        mc = acc.normalisation(params=params, at=WilsonShifts())
        exact = model_normalisation(params=params, q2_range=WINDOW)
        scaled = unpack(mc * exact[0] / mc[0])
        ex = unpack(exact)
        scale = np.sqrt(np.outer(np.diag(ex), np.diag(ex)))
        assert np.all(np.abs(scaled - ex) < 0.02 * scale)
    err = acc.relative_error([-0.82], params=("dc9",), at=WilsonShifts())
    assert err == pytest.approx(1 / math.sqrt(60000), rel=0.05)  # weights ∝ 1/rate: r·w constant


def test_acceptance_errors(sm_sample):
    with pytest.raises(DataError, match="empty"):
        acceptance_sample(
            {k: v[:0] for k, v in sm_sample.items()}, generated_at={}, q2_range=WINDOW
        )
    with pytest.raises(DataError, match="usable"):
        acceptance_sample(sm_sample, generated_at={}, q2_range=(15.0, 15.1))
    acc = acceptance_sample(sm_sample, generated_at={"dc9": -0.82}, q2_range=WINDOW)
    with pytest.raises(DataError, match="same q2_range"):
        acc.check_window((1.0, 6.0))


def test_crb_quadrature_converges_and_agrees_with_model_sample(sm_sample):
    coarse = cramer_rao(24000, at={"dc9": -0.82}, q2_range=WINDOW, nodes=(16, 12, 12, 12))
    fine = cramer_rao(24000, at={"dc9": -0.82}, q2_range=WINDOW)
    assert coarse.sigma["dc9"] == pytest.approx(fine.sigma["dc9"], rel=2e-3)
    mc = cramer_rao(24000, at={"dc9": -0.82}, q2_range=WINDOW, sample=sm_sample)
    i_q = fine.fisher[0][0]
    i_mc, e_mc = mc.fisher[0][0], mc.fisher_error[0][0]
    assert abs(i_mc - i_q) < 4 * e_mc
    acc = acceptance_sample(sm_sample, generated_at={"dc9": -0.82}, q2_range=WINDOW)
    am = cramer_rao(24000, at={"dc9": -0.82}, q2_range=WINDOW, acceptance=acc)
    assert am.method == "acceptance"
    assert abs(am.fisher[0][0] - i_q) < 4 * am.fisher_error[0][0]
    # σ scales as 1/√N
    half = cramer_rao(6000, at={"dc9": -0.82}, q2_range=WINDOW)
    assert half.sigma["dc9"] == pytest.approx(2 * fine.sigma["dc9"], rel=1e-12)
    assert CRBResult.from_dict(fine.to_dict()) == fine
    assert "σ_CRB(dc9)" in fine.table()


def test_crb_joint_parameters_and_background_dilution(draw_background):
    single = cramer_rao(24000, at={"dc9": -0.82}, q2_range=WINDOW, nodes=(16, 12, 12, 12))
    joint = cramer_rao(
        24000, at={"dc9": -0.82}, params="dc9,dc10", q2_range=WINDOW, nodes=(16, 12, 12, 12)
    )
    assert joint.sigma["dc9"] >= single.sigma["dc9"]
    t = fit_template(draw_background(5000, 4), q2_range=WINDOW, orders=ORDERS)
    kw = {"at": {"dc9": -0.82}, "q2_range": WINDOW, "background": t, "nodes": (16, 12, 12, 12)}
    diluted = cramer_rao(24000, background_fraction=0.3, **kw)
    nuisance = cramer_rao(24000, background_fraction=0.3, fraction_free=True, **kw)
    # fewer signal events at least: σ grows by more than 1/√0.7 is not required, but it grows
    assert diluted.sigma["dc9"] > single.sigma["dc9"]
    assert nuisance.sigma["dc9"] >= diluted.sigma["dc9"] * (1 - 1e-12)
    assert nuisance.parameters == ("dc9", "f_bkg")


def test_crb_errors():
    with pytest.raises(DataError, match="positive integer"):
        cramer_rao(0)
    with pytest.raises(DataError, match="background template"):
        cramer_rao(100, background_fraction=0.2)
    with pytest.raises(DataError, match="did you mean"):
        cramer_rao(100, params="dc99")

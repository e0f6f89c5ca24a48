"""Template order scan and the template/efficiency components of the fit error."""

import json
import math

import numpy as np
import pytest

from hepc9.fit import fit_events, fit_template
from hepc9.fit.acceptance import acceptance_sample
from hepc9.fit.results import FitResult
from hepc9.fit.template_scan import scan_template_orders
from hepc9.generate import sample_events

from .conftest import ORDERS, WINDOW


def _draw(n, seed, fq, fl):
    """Accept–reject draw: q² and cosθℓ shapes from fq, fl (max 1 on the window), flat others."""
    rng = np.random.default_rng(seed)
    parts = []
    while sum(p["q2"].size for p in parts) < n:
        m = 4 * n
        ev = {
            "q2": rng.uniform(*WINDOW, m),
            "costheta_l": rng.uniform(-1, 1, m),
            "costheta_k": rng.uniform(-1, 1, m),
            "chi": rng.uniform(0, 2 * math.pi, m),
        }
        keep = rng.uniform(size=m) < fq(ev["q2"]) * fl(ev["costheta_l"])
        parts.append({k: v[keep] for k, v in ev.items()})
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def _u(q2):
    return 2 * (q2 - WINDOW[0]) / (WINDOW[1] - WINDOW[0]) - 1


def test_order_scan_picks_the_order_the_truth_needs():
    # ln density in q² with P2 and P4 terms and cosθℓ with P2 only (even shapes: the scan
    # needs its jump of two orders)
    def fq(q):
        u = _u(q)
        return np.exp(-0.5 * (3 * u**2 - 1) / 2 + 0.6 * (35 * u**4 - 30 * u**2 + 3) / 8 - 1.2)

    fl = lambda c: (1 + 0.8 * c**2) / 1.8  # noqa: E731
    sb = _draw(20000, 3, fq, fl)
    scan = scan_template_orders(sb, q2_range=WINDOW, start=(1, 1, 1, 1), max_orders=(6, 6, 6, 4))
    o = scan.template.orders
    assert o[0] >= 4
    assert o[1] >= 2
    assert o[2] <= 2
    assert o[3] <= 2
    assert scan.to_dict()["chosen"] == list(o)
    assert any(s["accepted"] for s in scan.steps)
    flat = _draw(20000, 4, lambda q: np.ones_like(q), lambda c: np.ones_like(c))
    low = scan_template_orders(flat, q2_range=WINDOW, start=(1, 1, 1, 1), max_orders=(6, 6, 6, 4))
    assert sum(low.template.orders) <= 5
    fixed = scan_template_orders(sb, criterion="none", start=(2, 2, 2, 1), q2_range=WINDOW)
    assert fixed.template.orders == (2, 2, 2, 1)
    assert fixed.steps == ()


def _data(draw_background, n=20000, frac=0.3, seed=0):
    n_b = int(frac * n)
    sig = sample_events(n - n_b, seed=900 + seed, shifts={"dc9": -0.82}, q2_range=WINDOW, threads=1)
    bkg = draw_background(n_b, 950 + seed)
    return {k: np.concatenate((sig[k], bkg[k])) for k in bkg}


def test_template_component_grows_for_a_smaller_sideband(draw_background):
    data = _data(draw_background)
    comps = {}
    for n_sb in (20000, 1000):
        tpl = fit_template(draw_background(n_sb, 7), q2_range=WINDOW, orders=ORDERS)
        res = fit_events(data, q2_range=WINDOW, background=tpl, background_fraction=0.3)
        assert res.valid
        comp = res.error_components
        assert comp is not None
        assert comp["sideband_events"] == n_sb
        assert comp["efficiency"]["dc9"] == 0.0  # no acceptance sample
        tot = math.hypot(comp["statistical"]["dc9"], comp["template"]["dc9"])
        assert res.errors["dc9"] == pytest.approx(tot)
        assert FitResult.from_dict(res.to_dict()).error_components == comp
        comps[n_sb] = (comp, res.errors["dc9"])
    ratio = comps[1000][0]["template"]["dc9"] / comps[20000][0]["template"]["dc9"]
    assert 2.5 < ratio < 8.0  # 1/√n_sb: √20 ≈ 4.5
    assert comps[1000][1] > 1.05 * comps[20000][1]  # visibly larger total error
    # the statistical part is the plain HESSE error of the same likelihood
    assert comps[1000][0]["statistical"]["dc9"] == pytest.approx(
        comps[20000][0]["statistical"]["dc9"], rel=0.15
    )


def _cut(ev):
    return {k: v[np.abs(ev["costheta_l"]) < 0.85] for k, v in ev.items()}


def _simulation(n=80000):
    return _cut(sample_events(n, seed=31, shifts={}, q2_range=WINDOW, threads=1))


def test_efficiency_component_scales_with_the_simulation_size():
    sim = _simulation()
    data = _cut(sample_events(5000, seed=32, shifts={"dc9": -0.82}, q2_range=WINDOW, threads=1))
    eff = {}
    for n_sim in (sim["q2"].size, sim["q2"].size // 8):
        acc = acceptance_sample(
            {k: v[:n_sim] for k, v in sim.items()}, generated_at={}, q2_range=WINDOW
        )
        res = fit_events(data, q2_range=WINDOW, acceptance=acc)
        comp = res.error_components
        assert comp["template"]["dc9"] == 0.0
        assert comp["efficiency_method"] == "linear"
        assert comp["efficiency_replicas"] == 0
        assert comp["efficiency_effective_size"] == pytest.approx(acc.effective_size)
        eff[n_sim] = comp["efficiency"]["dc9"]
    small, large = sorted(eff)
    assert 2.3 < eff[small] / eff[large] < 3.4  # √8 ≈ 2.8 (the linear method has no noise)
    boot = fit_events(data, q2_range=WINDOW, acceptance=acc, efficiency_error="bootstrap",
                      efficiency_replicas=30)
    assert boot.error_components["efficiency_replicas"] == 30
    again = fit_events(data, q2_range=WINDOW, acceptance=acc, efficiency_error="bootstrap",
                       efficiency_replicas=30)
    assert again.error_components == boot.error_components  # one seed fixes the bootstrap
    none = fit_events(data, q2_range=WINDOW, acceptance=acc, efficiency_error="none")
    assert none.error_components["efficiency"]["dc9"] == 0.0
    assert none.errors["dc9"] == pytest.approx(none.error_components["statistical"]["dc9"])


def test_linear_components_match_the_bootstrap_and_full_refits(draw_background):
    """The delta method agrees with 400 bootstrap refits and with exact template refits."""
    from hepc9.fit.driver import LikelihoodFit

    acc = acceptance_sample(_simulation(60000), generated_at={}, q2_range=WINDOW)
    data = _cut(_data(draw_background, n=12000, frac=0.4))
    tpl = fit_template(_cut(draw_background(3000, 5)), q2_range=WINDOW, orders=ORDERS,
                       acceptance=acc)
    kw = {"q2_range": WINDOW, "acceptance": acc, "background": tpl, "background_fraction": 0.4}
    lin = fit_events(data, **kw)
    boot = fit_events(data, efficiency_error="bootstrap", efficiency_replicas=400, **kw)
    for name in ("dc9", "f_bkg"):
        ratio = lin.error_components["efficiency"][name] / boot.error_components["efficiency"][name]
        assert 0.85 < ratio < 1.15, (name, ratio)  # bootstrap precision ≈ 1/√800 ≈ 3.5 %
        assert lin.error_components["template"][name] == boot.error_components["template"][name]
    # template: full refits (exact renormalisation over the acceptance sample) along the
    # eigenvectors of the coefficient covariance give the same component
    lam, vec = np.linalg.eigh(np.asarray(tpl.covariance))
    var = 0.0
    for k in range(lam.size):
        step = np.sqrt(lam[k]) * vec[:, k]
        fits = [LikelihoodFit.from_events(data, **{**kw, "background": tpl.with_coefficients(
            np.asarray(tpl.coefficients) + sign * step)}).fit(start=lin.values).values["dc9"]
            for sign in (1, -1)]
        var += (0.5 * (fits[0] - fits[1])) ** 2
    assert lin.error_components["template"]["dc9"] == pytest.approx(np.sqrt(var), rel=0.1)


def test_fit_file_reports_the_order_scan_and_components(tmp_path, draw_background):
    from hepc9.config import load_config
    from hepc9.pipeline.fit import fit_file
    from hepc9.rootio.native import make_meta, write_events

    data = _data(draw_background, n=4000)
    sb = draw_background(8000, 11)
    extra = {"mkpi": 0.89555, "flavour": 1}
    for name, ev in (("data", data), ("sb", sb)):
        n = ev["q2"].size
        cols = {**ev, **{k: np.full(n, v) for k, v in extra.items()}}
        cols["flavour"] = cols["flavour"].astype(np.int8)
        meta = make_meta(level="det", shifts={}, seed=1, n_events=n, config_digest=None)
        write_events(tmp_path / f"{name}.root", cols, meta)
    out = tmp_path / "fit.json"
    for criterion in ("bic", "none"):
        cfg = load_config(overrides=[f"fit.template_criterion={criterion}"])
        res = fit_file(tmp_path / "data.root", config=cfg, q2_range=WINDOW,
                       sideband=tmp_path / "sb.root", output=out, overwrite=True)
        saved = json.loads(out.read_text())
        scan = saved["background_template"]["order_scan"]
        assert scan["criterion"] == criterion
        assert saved["background_template"]["orders"] == scan["chosen"]
        assert saved["errors"]["dc9"] == pytest.approx(res.errors["dc9"])
        assert saved["error_components"]["template"]["dc9"] > 0.0
        if criterion == "none":
            assert scan["chosen"] == [2, 2, 2, 1]
        else:
            # the truth has orders (2,2,2,1) (conftest): BIC tries raises and rejects them
            assert scan["chosen"] == [2, 2, 2, 1]
            assert scan["steps"]
            assert not any(s["accepted"] for s in scan["steps"])


def test_weighted_covariance_kernel_matches_numpy():
    from hepc9.fit.kernels import weighted_covariance, weighted_covariance_numpy

    rng = np.random.default_rng(5)
    y, w, g = rng.normal(size=(500, 3)), rng.uniform(size=500), rng.normal(size=500)
    for extra in (None, g):
        m1, c1 = weighted_covariance(y, w, extra)
        m2, c2 = weighted_covariance_numpy(y, w, extra)
        assert m1.shape == (3 if extra is None else 4,)
        np.testing.assert_allclose(m1, m2, rtol=1e-12)
        np.testing.assert_allclose(c1, c2, rtol=1e-10, atol=1e-14)

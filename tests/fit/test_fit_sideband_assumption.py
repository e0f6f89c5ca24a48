"""The sideband assumption: Mbc-dependent background shapes bias the plain template fit; the
two-slice extrapolation (hepc9.fit.sideband_slices) removes most of the bias."""

import numpy as np
import pytest

from hepc9.background import generate_background
from hepc9.config import BackgroundConfig
from hepc9.errors import DataError
from hepc9.fit import fit_events, fit_template
from hepc9.fit.sideband_slices import argus_mean, extrapolated_template
from hepc9.generate import sample_events
from hepc9.kinematics import BELLE2
from hepc9.physics.constants import SEED_MODEL, q2_limits

WINDOW = tuple(float(x) for x in q2_limits(SEED_MODEL))
COLS = ("q2", "costheta_l", "costheta_k", "chi")


def _regions(strength, n, seed):
    b = generate_background(n, config=BackgroundConfig(mbc_shape_strength=strength),
                            beam=BELLE2, rng=np.random.default_rng(seed))
    sr = {k: v[b["mbc"] > 5.27] for k, v in b.items()}
    sb = {k: v[(b["mbc"] > 5.20) & (b["mbc"] < 5.26)] for k, v in b.items()}
    return sr, sb


def test_argus_mean_and_slice_checks():
    m0 = BELLE2.e_beam_cm
    sr = argus_mean(5.27, m0, c=-20.0, m0=m0, m_min=5.2)
    assert 5.27 < sr < m0
    assert argus_mean(5.20, 5.26, c=-20.0, m0=m0, m_min=5.2) < 5.235  # ARGUS rises to low Mbc
    _, sb = _regions(0.0, 20000, 1)
    tpl, info = extrapolated_template(sb, mbc_target=sr, orders=(1, 1, 1, 1), q2_range=WINDOW)
    k = info["k"]
    assert k > 0.5  # the signal region lies beyond the upper slice
    plain = fit_template(sb, orders=(1, 1, 1, 1), q2_range=WINDOW)
    # extrapolating costs statistics: the covariance grows by about (1+k)² + k² over 2 halves
    ratio = np.trace(np.asarray(tpl.covariance)) / np.trace(np.asarray(plain.covariance))
    assert 2 * (k**2 + (1 + k) ** 2) * 0.6 < ratio < 2 * (k**2 + (1 + k) ** 2) * 1.6
    with pytest.raises(DataError, match="mbc"):
        extrapolated_template({c: sb[c] for c in COLS}, mbc_target=sr, orders=(1, 1, 1, 1),
                              q2_range=WINDOW)


@pytest.mark.slow
def test_extrapolation_reduces_the_bias_of_mbc_dependent_shapes():
    sr, sb = _regions(1.0, 100_000, 5)
    n_b = sr["q2"].size
    sig = sample_events(int(n_b / 0.44 * 0.56), seed=7, shifts={"dc9": -0.82}, threads=1)
    data = {k: np.concatenate((sig[k], sr[k])) for k in COLS}
    ref = fit_events(sig).values["dc9"]  # the same signal events alone
    m0 = BELLE2.e_beam_cm
    target = argus_mean(5.27, m0, c=-20.0, m0=m0, m_min=5.2)
    plain = fit_template(sb, orders=(2, 2, 2, 1), q2_range=WINDOW)
    ext, _ = extrapolated_template(sb, mbc_target=target, orders=(2, 2, 2, 1), q2_range=WINDOW)
    shifts, fracs = {}, {}
    for name, tpl in (("plain", plain), ("extrapolated", ext)):
        res = fit_events(data, background=tpl, background_fraction=0.44)
        assert res.valid
        shifts[name] = res.values["dc9"] - ref
        fracs[name] = res.values["f_bkg"]
    assert abs(shifts["plain"]) > 0.3  # the sideband assumption fails visibly
    assert abs(shifts["extrapolated"]) < 0.5 * abs(shifts["plain"])
    assert abs(fracs["extrapolated"] - 0.44) < abs(fracs["plain"] - 0.44)


def test_pipeline_template_uses_the_slice_extrapolation(tmp_path):
    from hepc9.config import load_config
    from hepc9.pipeline.fit import load_template
    from hepc9.rootio.native import make_meta, write_events

    _, sb = _regions(0.5, 60_000, 2)
    cols = {k: v for k, v in sb.items() if not k.endswith("_true")}
    meta = make_meta(level="det", shifts={}, seed=2, n_events=cols["q2"].size, config_digest=None)
    write_events(tmp_path / "sb.root", cols, meta)
    base = ["fit.template_criterion=none", "fit.template_orders=[1,1,1,1]"]
    plain = load_template(tmp_path / "sb.root", config=load_config(overrides=base),
                          q2_range=None)
    assert plain.extrapolation is None
    cfg = load_config(overrides=[*base, "fit.sideband_extrapolation=true"])
    ext = load_template(tmp_path / "sb.root", config=cfg, q2_range=None)
    info = ext.to_dict()["extrapolation"]
    assert info["slice_mbc"][0] < info["slice_mbc"][1] < info["mbc_target"]
    # s > 0 lowers ⟨P1(u_q)⟩ towards the signal region: the q² slope coefficient moves on
    lo, hi = (c[0] for c in info["slice_coefficients"])
    assert (ext.template.coefficients[0] - hi) * (hi - lo) > 0

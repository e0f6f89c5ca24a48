"""Track selection of combinatorial background candidates (``accept_background``).

Background candidates must pass the same acceptance, momentum thresholds and identification
as signal tracks (physics.md §8: "acceptance removes large |cosθℓ| at low q²"), so that the
signal efficiency ε(x) cancels between the signal and background terms of the likelihood.
"""

import dataclasses

import numpy as np
import pytest

from hepc9 import detector as det
from hepc9.background import generate_background
from hepc9.config import BackgroundConfig, DetectorConfig
from hepc9.errors import ConfigError, DataError, ShapeError
from hepc9.kinematics import BELLE2
from hepc9.physics.constants import SEED_MODEL as C


@pytest.fixture(scope="module")
def bkg():
    return generate_background(40_000, config=BackgroundConfig(), beam=BELLE2,
                               rng=np.random.default_rng(5))


def _accept(events, seed, engine="numba", config=None):
    return det.accept_background(events, config=config or DetectorConfig(),
                                 rng=np.random.default_rng(seed), engine=engine)


def test_numba_and_numpy_twins_agree(bkg):
    fast = _accept(bkg, 3)
    slow = _accept(bkg, 3, engine="numpy")
    assert fast.dtype == bool
    assert fast.shape == (40_000,)
    # the same draws and the same cuts; a track exactly on a cut edge could differ by rounding
    assert np.count_nonzero(fast != slow) <= 2


def test_seeded_and_reproducible(bkg):
    a = _accept(bkg, 3)
    assert np.array_equal(a, _accept(bkg, 3))
    assert not np.array_equal(a, _accept(bkg, 4))


def test_acceptance_removes_large_costheta_l_at_low_q2(bkg):
    keep = _accept(bkg, 3)
    assert 0.3 < keep.mean() < 0.7
    low = bkg["q2"] < 2.0
    edge = np.abs(bkg["costheta_l"]) > 0.8
    # physics.md §8: low q² and large |cos θℓ| put one muon below the 0.6 GeV threshold
    assert keep[low & edge].mean() < 0.05
    assert keep[low & ~edge].mean() > 0.25
    assert keep[~low & ~edge].mean() > 0.4


def test_ideal_detector_keeps_everything(bkg):
    ideal = dataclasses.replace(
        DetectorConfig(), theta_min_deg=0.0, theta_max_deg=180.0, pt_min=0.0, p_min_muon=0.0,
        p_min_kaon=0.0, p_min_pion=0.0, muon_id_plateau=1.0, muon_id_p_half=-100.0,
        muon_id_p_width=0.0, muon_id_endcap_factor=1.0, kaon_id_plateau=1.0, kaon_id_slope=0.0,
    )
    assert _accept(bkg, 3, config=ideal).all()


def test_same_efficiency_as_signal(make):
    """ε(q², cos θℓ) of background tracks equals that of the signal detector simulation."""
    n = 80_000
    sig = make(n, 31)
    sim, _ = det.simulate_detector(sig, config=DetectorConfig(), rng=np.random.default_rng(32))
    decay = {k: make(n, 33)[k] for k in det.BACKGROUND_INPUT_COLUMNS}
    keep = _accept(decay, 34)
    q2_edges = np.array([0.1, 1.0, 2.0, 4.0, 8.0, 13.0, 19.0])
    ctl_edges = np.linspace(-1.0, 1.0, 6)

    def eff(q2, ctl, q2_pass, ctl_pass):
        gen, _, _ = np.histogram2d(q2, ctl, [q2_edges, ctl_edges])
        sel, _, _ = np.histogram2d(q2_pass, ctl_pass, [q2_edges, ctl_edges])
        return sel, gen

    s_sel, s_gen = eff(sig["q2"], sig["costheta_l"], sim["q2_true"], sim["costheta_l_true"])
    b_sel, b_gen = eff(decay["q2"], decay["costheta_l"], decay["q2"][keep],
                       decay["costheta_l"][keep])
    e_s, e_b = s_sel / s_gen, b_sel / b_gen
    var = e_s * (1 - e_s) / s_gen + e_b * (1 - e_b) / b_gen
    ok = var > 0
    chi2 = float(np.sum((e_s - e_b)[ok] ** 2 / var[ok]))
    ndf = int(ok.sum())
    assert ndf >= 25
    # χ² of 30 bins: mean 30, σ ≈ 7.7; 4σ limit
    assert chi2 < ndf + 4 * np.sqrt(2 * ndf)
    # and the efficiency really varies (low q², large |cos θℓ| is nearly empty)
    assert e_s.min() < 0.1 < 0.4 < e_s.max()


def test_points_outside_phase_space_are_kept_finite():
    n = 1000
    ev = {
        "q2": np.full(n, 19.1),  # above (m_B − 0.99 GeV)² but inside the narrow-K* range
        "costheta_l": np.linspace(-1.0, 1.0, n),
        "costheta_k": np.linspace(1.0, -1.0, n),
        "chi": np.linspace(0.0, 6.2, n),
        "mkpi": np.full(n, 0.99),
        "flavour": np.ones(n, dtype=np.int8),
    }
    assert (C.m_B0 - 0.99) ** 2 < 19.1
    keep = _accept(ev, 1)
    assert keep.shape == (n,)
    assert np.array_equal(keep, _accept(ev, 1, engine="numpy"))


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_empty_input(bkg, engine):
    empty = {k: v[:0] for k, v in bkg.items()}
    assert _accept(empty, 1, engine=engine).shape == (0,)


def test_bad_inputs(bkg):
    with pytest.raises(DataError, match="mkpi"):
        _accept({k: v for k, v in bkg.items() if k != "mkpi"}, 1)
    with pytest.raises(ShapeError, match="chi"):
        _accept({**bkg, "chi": bkg["chi"][:-1]}, 1)
    with pytest.raises(DataError, match="flavour"):
        _accept({**bkg, "flavour": np.zeros(len(bkg["q2"]), dtype=np.int8)}, 1)
    with pytest.raises(ConfigError, match="rng"):
        det.accept_background(bkg, config=DetectorConfig(), rng=1)
    with pytest.raises(ConfigError, match="engine"):
        _accept(bkg, 1, engine="cuda")

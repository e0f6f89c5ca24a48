"""Mbc-dependent background shapes ([background] mbc_shape_strength)."""

import numpy as np
import pytest

from hepc9.background import generate_background
from hepc9.background.mbc_correlation import correlate_with_mbc, mbc_coordinate
from hepc9.config import BackgroundConfig
from hepc9.errors import ConfigError
from hepc9.kinematics import BELLE2


def _slices(strength, n=100_000, seed=3):
    cfg = BackgroundConfig(mbc_shape_strength=strength)
    ev = generate_background(n, config=cfg, beam=BELLE2, rng=np.random.default_rng(seed))
    low = ev["mbc"] < np.median(ev["mbc"])
    return ev, low


def test_zero_strength_draws_nothing_and_keeps_the_events():
    base = generate_background(2000, config=BackgroundConfig(), beam=BELLE2,
                               rng=np.random.default_rng(1))
    gen = np.random.default_rng(9)
    state = gen.bit_generator.state
    copy = {k: v.copy() for k, v in base.items()}
    correlate_with_mbc(copy, strength=0.0, config=BackgroundConfig(), m0=BELLE2.e_beam_cm,
                       q2_range=(0.04, 19.0), rng=gen)
    assert gen.bit_generator.state == state
    for k, v in base.items():
        np.testing.assert_array_equal(copy[k], v)


@pytest.mark.parametrize("column", ["costheta_k", "q2"])
def test_shapes_change_with_mbc_as_configured(column):
    diffs = {}
    for strength in (0.0, 0.8):
        ev, low = _slices(strength)
        diffs[strength] = ev[column][low].mean() - ev[column][~low].mean()
        scale = ev[column].std() / np.sqrt(low.sum()) * np.sqrt(2)
    assert abs(diffs[0.0]) < 4 * scale  # independent shapes: no Mbc dependence
    assert diffs[0.8] > 10 * scale  # low Mbc (large z) pushes q² and cos θK up
    ev, _ = _slices(0.8, n=2000)
    assert set(ev) >= {"q2", "costheta_l", "costheta_k", "mbc"}
    z = mbc_coordinate(ev["mbc"], m0=BELLE2.e_beam_cm, mbc_min=5.2)
    assert z.min() >= 0.0
    assert z.max() <= 1.0


def test_cos_theta_l_p2_shape_changes():
    ev, low = _slices(0.8)
    p2 = 0.5 * (3 * ev["costheta_l"] ** 2 - 1)
    assert p2[low].mean() - p2[~low].mean() > 0.02


def test_strength_is_checked():
    with pytest.raises(ConfigError, match="mbc_shape_strength"):
        generate_background(10, config=BackgroundConfig(mbc_shape_strength=1.5), beam=BELLE2,
                            rng=np.random.default_rng(0))

"""Signal region, Mbc sideband, K* window (physics.md §8) and the Cutflow record."""

import math

import numpy as np
import pytest

from hepc9.config import SelectionConfig, load_config
from hepc9.errors import ConfigError, DataError, ShapeError
from hepc9.selection import Cutflow, kstar_window, sideband, signal_region

CFG = SelectionConfig()


def _events(mbc, delta_e, mkpi=None):
    out = {"mbc": np.asarray(mbc, dtype=np.float64), "delta_e": np.asarray(delta_e, dtype=float)}
    if mkpi is not None:
        out["mkpi"] = np.asarray(mkpi, dtype=np.float64)
    return out


def test_defaults_are_the_seed_windows():
    # physics.md §8: Mbc > 5.27, |ΔE| < 0.05, sideband 5.20-5.26, |m(Kπ) - 0.892| <= 0.10
    assert (CFG.mbc_signal_min, CFG.delta_e_max) == (5.27, 0.05)
    assert CFG.mbc_sideband == (5.20, 5.26)
    assert (CFG.mkpi_centre, CFG.mkpi_window) == (0.892, 0.10)


def test_signal_region_boundaries_are_open():
    up = math.nextafter(5.27, 10.0)
    mask = signal_region(_events([5.27, up, up, up, up], [0.0, 0.0, 0.05, -0.05,
                                                         math.nextafter(0.05, 0.0)]), CFG)
    assert mask.tolist() == [False, True, False, False, True]


def test_sideband_boundaries_are_open_and_exact():
    lo, hi = CFG.mbc_sideband
    mbc = [lo, math.nextafter(lo, 6.0), 5.23, math.nextafter(hi, 0.0), hi, 5.23, 5.23]
    de = [0.0, 0.0, 0.0, 0.0, 0.0, 0.05, math.nextafter(-0.05, 0.0)]
    assert sideband(_events(mbc, de), CFG).tolist() == [False, True, True, True, False, False,
                                                        True]


def test_sideband_and_signal_region_are_disjoint():
    rng = np.random.default_rng(1)
    ev = _events(rng.uniform(5.15, 5.30, 100_000), rng.uniform(-0.1, 0.1, 100_000))
    assert not np.any(signal_region(ev, CFG) & sideband(ev, CFG))


def test_kstar_window_is_closed():
    cfg = SelectionConfig(mkpi_centre=1.0, mkpi_window=0.25)  # exact binary numbers
    mkpi = [0.75, 1.25, math.nextafter(1.25, 2.0), math.nextafter(0.75, 0.0), 1.0]
    assert kstar_window({"mkpi": np.array(mkpi)}, cfg).tolist() == [True, True, False, False,
                                                                     True]


def test_custom_sideband_from_config():
    cfg = load_config(overrides=["selection.mbc_sideband=[5.0, 5.26]",
                                 "background.mbc_min=5.0"]).selection
    ev = _events([5.1, 5.19], [0.0, 0.0])
    assert sideband(ev, cfg).all()
    assert not sideband(ev, CFG).any()


def test_missing_and_bad_columns():
    with pytest.raises(DataError, match="'delta_e'"):
        signal_region({"mbc": np.ones(3)}, CFG)
    with pytest.raises(DataError, match="'mkpi'"):
        kstar_window({"mbc": np.ones(3)}, CFG)
    with pytest.raises(ShapeError, match="1-D"):
        sideband({"mbc": np.ones((2, 2)), "delta_e": np.ones((2, 2))}, CFG)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("selection.mbc_sideband=[5.26, 5.20]", "must be \\(low, high\\)"),
        ("selection.mbc_sideband=[5.20, 5.28]", "overlaps the signal region"),
        ("selection.delta_e_max=0.0", "delta_e_max"),
        ("selection.mkpi_window=-0.1", "mkpi_window"),
    ],
)
def test_bad_selection_config(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=[override])


def test_cutflow_fractions_and_table():
    flow = Cutflow()
    flow.add("generated", 1000)
    flow.add("acceptance", 800)
    flow.add("signal region", 200)
    d = flow.to_dict()["steps"]
    assert [s["name"] for s in d] == ["generated", "acceptance", "signal region"]
    assert d[1]["relative"] == pytest.approx(0.8)
    assert d[2]["relative"] == pytest.approx(0.25)
    assert d[2]["cumulative"] == pytest.approx(0.2)
    assert flow["acceptance"] == 800
    assert len(flow) == 3
    table = flow.table().splitlines()
    assert len(table) == 4
    assert "signal region" in table[3]
    assert "0.2000" in table[3]
    assert Cutflow.from_dict(flow.to_dict()).steps == flow.steps


def test_cutflow_merge_and_errors():
    a = Cutflow([("generated", 10), ("cut", 4)])
    b = Cutflow([("generated", 5), ("cut", 5)])
    assert Cutflow.total([a, b]).steps == [("generated", 15), ("cut", 9)]
    assert Cutflow.total([]).steps == []
    with pytest.raises(DataError, match="different steps"):
        a.merge(Cutflow([("generated", 1)]))
    with pytest.raises(DataError, match="unique"):
        a.add("cut", 1)
    with pytest.raises(DataError, match="negative"):
        a.add("other", -1)
    empty = Cutflow([("generated", 0), ("cut", 0)]).to_dict()["steps"]
    assert math.isnan(empty[1]["relative"])

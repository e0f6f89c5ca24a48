"""The one q² window rule (physics.md §1.2): full range, edges, errors, clip and raise modes."""

import math

import pytest

from hepc9.errors import ConfigError, DataError
from hepc9.fit.likelihood import resolve_q2_range as fit_resolve
from hepc9.physics import rate
from hepc9.physics.constants import SEED_MODEL, q2_limits
from hepc9.physics.window import EDGE_TOLERANCE, resolve_q2_range

LO, HI = (float(x) for x in q2_limits(SEED_MODEL))
MODES = ("clip", "raise")


@pytest.mark.parametrize("mode", MODES)
def test_none_is_the_full_kinematic_range(mode):
    assert resolve_q2_range(None, mode=mode) == (LO, HI)
    assert resolve_q2_range((None, None), mode=mode) == (LO, HI)
    # physics.md §1.2: 4 m_μ² and (m_B − m_K*)²
    assert pytest.approx(4 * SEED_MODEL.m_mu**2, rel=1e-15) == LO
    assert pytest.approx((SEED_MODEL.m_B0 - SEED_MODEL.m_kstar) ** 2, rel=1e-15) == HI


@pytest.mark.parametrize("mode", MODES)
def test_a_none_edge_is_the_kinematic_limit(mode):
    assert resolve_q2_range((1.1, None), mode=mode) == (1.1, HI)
    assert resolve_q2_range((None, 6.0), mode=mode) == (LO, 6.0)


@pytest.mark.parametrize("mode", MODES)
def test_edges_exactly_at_the_limits_are_kept(mode):
    assert resolve_q2_range((LO, HI), mode=mode) == (LO, HI)
    assert resolve_q2_range((LO, 6.0), mode=mode) == (LO, 6.0)
    assert resolve_q2_range((1.1, HI), mode=mode) == (1.1, HI)


def test_raise_mode_snaps_edges_within_the_tolerance_and_rejects_beyond():
    eps = 0.5 * EDGE_TOLERANCE
    assert resolve_q2_range((LO - eps, HI + eps), mode="raise") == (LO, HI)
    with pytest.raises(DataError, match="leaves the kinematic range"):
        resolve_q2_range((LO - 10 * EDGE_TOLERANCE, 6.0), mode="raise")
    with pytest.raises(DataError, match="leaves the kinematic range"):
        resolve_q2_range((1.0, 25.0), mode="raise")
    with pytest.raises(DataError, match="leaves the kinematic range"):
        resolve_q2_range((20.0, 25.0), mode="raise")


def test_clip_mode_clips_and_rejects_windows_outside_phase_space():
    assert resolve_q2_range((0.0, 30.0), mode="clip") == (LO, HI)
    assert resolve_q2_range((-5.0, 6.0)) == (LO, 6.0)  # clip is the default
    assert resolve_q2_range((10.0, 1e3)) == (10.0, HI)
    with pytest.raises(DataError, match="outside the kinematic range"):
        resolve_q2_range((20.0, 25.0), mode="clip")
    with pytest.raises(DataError, match="outside the kinematic range"):
        resolve_q2_range((-2.0, -1.0), mode="clip")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("window", [(6.0, 1.1), (3.0, 3.0), (math.nan, 6.0), (1.0, math.inf)])
def test_inverted_empty_or_non_finite_windows_raise(mode, window):
    with pytest.raises(DataError, match="low < high"):
        resolve_q2_range(window, mode=mode)


@pytest.mark.parametrize("window", ["abc", (1.0,), (1.0, 2.0, 3.0), ("a", 2.0), 5.0])
def test_malformed_windows_raise(window):
    with pytest.raises(DataError, match="pair of numbers"):
        resolve_q2_range(window)


def test_config_callers_get_config_errors_naming_the_setting():
    with pytest.raises(ConfigError, match=r"\[fit\] q2_min/q2_max"):
        resolve_q2_range((6.0, 1.0), mode="raise", what="[fit] q2_min/q2_max", error=ConfigError)
    with pytest.raises(ConfigError, match=r"\[generate\] q2_min/q2_max .* leaves"):
        resolve_q2_range((None, 30.0), mode="raise", what="[generate] q2_min/q2_max",
                         error=ConfigError)  # fmt: skip


def test_kpi_mass_moves_the_upper_limit():
    m = 0.8
    lo, hi = resolve_q2_range(None, mkpi=m)
    assert (lo, hi) == (LO, (SEED_MODEL.m_B0 - m) ** 2)
    with pytest.raises(DataError, match="leaves"):
        resolve_q2_range((1.0, HI + 0.5), mode="raise", mkpi=1.2)


def test_bad_mode_is_rejected():
    with pytest.raises(DataError, match="mode"):
        resolve_q2_range(None, mode="wrap")  # type: ignore[arg-type]


def test_rate_and_fit_use_the_one_rule_with_their_contracts():
    # physics.rate keeps the clipping contract, the fit keeps the raising one
    assert rate.resolve_q2_range is resolve_q2_range
    assert rate.resolve_q2_range((0.0, 30.0)) == (LO, HI)
    assert fit_resolve(None) == (LO, HI)
    assert fit_resolve((1.1, None)) == (1.1, HI)
    with pytest.raises(DataError, match="kinematic range"):
        fit_resolve((0.0, 30.0))
    for window in [(0.5, 8.0), (LO, HI), (LO - 0.5 * EDGE_TOLERANCE, 19.0)]:
        assert fit_resolve(window) == resolve_q2_range(window, mode="raise")

"""Model constants, Wilson shifts and q² limits (physics.md §1.1, §1.2, §3.4, §9)."""

import dataclasses

import numpy as np
import pytest

from hepc9.errors import ConfigError, DataError
from hepc9.physics.constants import (
    SEED_MODEL,
    SHIFT_NAMES,
    ZERO_SHIFTS,
    ModelConstants,
    WilsonShifts,
    model_constants,
    q2_limits,
)


def test_seed_model_numbers_physics_md_3_4():
    # §3.4 / §7.3: the inputs of basf2 BTOSLLNPR
    c = SEED_MODEL
    assert (c.m_B0, c.m_kstar, c.m_mu) == (5.27965, 0.89555, 0.1056584)
    assert (c.c7eff, c.c9_sm, c.c10_sm) == (-0.304, 4.211, -4.103)
    assert (c.c1, c.c2, c.c3, c.c4, c.c5, c.c6) == (-0.257, 1.009, -0.005, -0.078, 0.0, 0.001)
    assert (c.m_b_quark, c.m_c, c.mu) == (4.8, 1.3, 4.8)
    assert (c.m_pole_0m, c.m_pole_1m, c.m_pole_1p) == (5.366, 5.415, 5.829)
    assert c.ff_a12_a0 == 0.265375
    assert c.alpha_em == pytest.approx(1 / 133)
    assert (c.vtbvts, c.tau_b0) == (0.0412, 1.519e-12)
    # §1.1: τ = 1.519 ps = 2.308e12 GeV⁻¹
    assert c.hbar_tau == pytest.approx(2.308e12, rel=5e-4)


def test_q2_limits_physics_md_1_2():
    lo, hi = q2_limits()
    assert lo == pytest.approx(0.0446548, abs=5e-8)
    # the printed 19.2204 uses m_B = 5.27966 (§1.1 flavio/PDG 2022); the seed file has 5.27965
    assert q2_limits(model_constants({"m_B0": 5.27966}))[1] == pytest.approx(19.2204, abs=5e-5)
    assert hi == pytest.approx((5.27965 - 0.89555) ** 2, rel=1e-15)
    _, hi_arr = q2_limits(SEED_MODEL, np.array([0.8, 1.0]))
    np.testing.assert_allclose(hi_arr, (5.27965 - np.array([0.8, 1.0])) ** 2)


def test_model_constants_override_and_errors():
    c = model_constants({"c9_sm": 4.0})
    assert c.c9_sm == 4.0
    assert c.c10_sm == SEED_MODEL.c10_sm
    assert model_constants(None) is SEED_MODEL
    assert SEED_MODEL.replace(m_c=1.5).m_c == 1.5
    with pytest.raises(ConfigError, match="did you mean 'c9_sm'"):
        model_constants({"c9sm": 4.0})
    with pytest.raises(ConfigError, match="finite"):
        model_constants({"c9_sm": float("nan")})
    with pytest.raises(ConfigError, match="positive"):
        model_constants({"m_mu": -1.0})
    with pytest.raises(ConfigError, match="phase space"):
        model_constants({"m_B0": 1.0})
    with pytest.raises(ConfigError, match="number"):
        ModelConstants(c9_sm="4.2")
    assert hash(SEED_MODEL) == hash(ModelConstants())


def test_wilson_shifts():
    s = WilsonShifts(dc9=-1, c10p=0.5)
    assert s.dc9 == -1.0
    assert isinstance(s.dc9, float)
    np.testing.assert_array_equal(s.as_array(), [0, -1, 0, 0, 0, 0.5])
    assert list(s.to_dict()) == list(SHIFT_NAMES)
    assert s.with_(dc9=0.0, c10p=0.0) == ZERO_SHIFTS
    assert WilsonShifts.from_array(s.as_array()) == s
    assert WilsonShifts.from_mapping({"dc9": -1, "c10p": 0.5}) == s
    assert ZERO_SHIFTS.is_zero()
    assert not s.is_zero()
    with pytest.raises(DataError, match="dc9"):
        WilsonShifts(dc9=float("inf"))
    with pytest.raises(DataError, match="real number"):
        WilsonShifts(dc9="x")
    with pytest.raises(ConfigError, match="did you mean 'dc9'"):
        s.with_(dc99=1.0)
    with pytest.raises(ConfigError, match="unknown Wilson shift"):
        WilsonShifts.from_mapping({"c9": 1.0})
    with pytest.raises(DataError, match="shape"):
        WilsonShifts.from_array([1.0, 2.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.dc9 = 2.0  # type: ignore[misc]

"""BSZ form factors (physics.md §4)."""

import numpy as np
import pytest

from hepc9.physics.constants import SEED_MODEL, model_constants
from hepc9.physics.formfactors import a2_t3, form_factors, z_expansion

# §4.4 uses flavio's pole masses, m_B = 5.27966 and the constrained α0^A12
FLAVIO_FF = model_constants(
    {"m_B0": 5.27966, "m_pole_0m": 5.367, "m_pole_1p": 5.830, "ff_a12_a0": 0.264244}
)

# §4.4 table: q², V, A0, A1, A12, A2, T1, T2, T23, T3
TABLE_4_4 = [
    (0, 0.37631, 0.36920, 0.29725, 0.26424, 0.26786, 0.31206, 0.31206, 0.66741, 0.21380),
    (1, 0.39767, 0.39181, 0.30365, 0.26865, 0.28009, 0.33003, 0.31821, 0.67886, 0.22382),
    (4, 0.47509, 0.47254, 0.32567, 0.28324, 0.32345, 0.39488, 0.33955, 0.71856, 0.25962),
    (8, 0.62301, 0.62268, 0.36400, 0.30683, 0.40335, 0.51773, 0.37727, 0.78895, 0.32653),
    (12, 0.85947, 0.85543, 0.41863, 0.33734, 0.52724, 0.71215, 0.43214, 0.89211, 0.43130),
    (16, 1.27494, 1.25290, 0.50240, 0.37923, 0.75026, 1.05020, 0.51838, 1.05608, 0.61140),
]


@pytest.mark.parametrize("row", TABLE_4_4, ids=lambda r: f"q2={r[0]}")
def test_form_factor_table_physics_md_4_4(row):
    q2 = np.array([float(row[0])])
    ff = form_factors(q2, constants=FLAVIO_FF)
    a2, t3 = a2_t3(q2, ff, constants=FLAVIO_FF)
    got = [ff["V"], ff["A0"], ff["A1"], ff["A12"], a2, ff["T1"], ff["T2"], ff["T23"], t3]
    for value, ref in zip(got, row[1:], strict=True):
        assert value[0] == pytest.approx(ref, abs=6e-6)


def test_z_numbers_physics_md_4_1():
    # z(0) = +0.087432, z(t−) = −0.087432 with m_B = 5.27966
    m_b, m_v = 5.27966, 0.89555
    t_minus = (m_b - m_v) ** 2
    assert z_expansion(np.array([t_minus]), m_b, m_v)[0] == pytest.approx(-2 * 0.087432, abs=2e-6)


def test_form_factors_broadcast_mkpi():
    q2 = np.array([1.0, 5.0, 10.0])
    narrow = form_factors(q2)
    per_event = form_factors(q2, mkpi=np.full(3, SEED_MODEL.m_kstar))
    for name in narrow:
        np.testing.assert_allclose(per_event[name], narrow[name], rtol=1e-15)
    heavy = form_factors(q2, mkpi=np.full(3, 1.0))
    assert not np.allclose(heavy["V"], narrow["V"])

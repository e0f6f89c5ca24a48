"""Tests of the numba event generator and its numpy reference (hepc9.generate.sampler)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from hepc9.errors import DataError
from hepc9.generate import kernels as K
from hepc9.generate import sampler as S
from hepc9.physics.angular import angular_coefficients, angular_functions
from hepc9.physics.constants import SEED_MODEL, WilsonShifts, q2_limits
from hepc9.physics.rate import dgamma_dq2, total_rate

SM = WilsonShifts()
Q2_MIN, Q2_MAX = q2_limits(SEED_MODEL)


def _chi2_two_sample(a: np.ndarray, b: np.ndarray, edges: np.ndarray) -> float:
    """p-value of the two-sample χ² test of histograms of ``a`` and ``b``."""
    ha = np.histogram(a, edges)[0].astype(float)
    hb = np.histogram(b, edges)[0].astype(float)
    keep = (ha + hb) > 0
    ha, hb = ha[keep], hb[keep]
    na, nb = ha.sum(), hb.sum()
    chi2 = np.sum((ha * math.sqrt(nb / na) - hb * math.sqrt(na / nb)) ** 2 / (ha + hb))
    return float(stats.chi2.sf(chi2, keep.sum() - 1))


def _chi2_two_sample_2d(a: tuple, b: tuple, edges: tuple) -> float:
    ha = np.histogram2d(*a, bins=edges)[0].ravel()
    hb = np.histogram2d(*b, bins=edges)[0].ravel()
    keep = (ha + hb) > 0
    ha, hb = ha[keep], hb[keep]
    na, nb = ha.sum(), hb.sum()
    chi2 = np.sum((ha * math.sqrt(nb / na) - hb * math.sqrt(na / nb)) ** 2 / (ha + hb))
    return float(stats.chi2.sf(chi2, keep.sum() - 1))


@pytest.fixture(scope="module")
def table() -> S.Q2Table:
    return S.Q2Table()


@pytest.fixture(scope="module")
def numba_sm() -> dict:
    return S.sample_events(200_000, seed=11, chunk_size=50_000, threads=2)


@pytest.fixture(scope="module")
def numpy_sm() -> dict:
    return S.sample_events_numpy(200_000, seed=12)


# ------------------------------------------------------------------------------------------
# the q² table: error bound against the exact physics
# ------------------------------------------------------------------------------------------


def test_table_midpoint_error_within_tolerance(table):
    # The refinement target is 1e-6 of the local rate at every interval midpoint.
    assert table.max_relative_error() <= 1.0e-6
    assert table.total_variation_bound() < 1e-5
    assert table.grid_size >= 4096


def test_table_matches_exact_physics_at_random_points(table):
    # Independent points (not the refinement midpoints): the tabulated J_i agree with
    # angular_coefficients to 2e-6 of the local rate wherever the rate is not negligible.
    q2 = np.random.default_rng(5).uniform(Q2_MIN, Q2_MAX, 20_000)
    exact = angular_coefficients(q2, shifts=SM, constants=SEED_MODEL)
    rate = dgamma_dq2(q2, shifts=SM, constants=SEED_MODEL)
    err = np.max(np.abs(table.coefficients_at(q2) - exact), axis=0)
    keep = rate > 1e-3 * rate.max()
    assert np.max(err[keep] / rate[keep]) < 2e-6
    np.testing.assert_allclose(table.dgamma_dq2(q2)[keep], rate[keep], rtol=2e-6)


def test_table_rate_equals_total_rate(table):
    # physics.md §6.1: the integral of dΓ/dq² over the range is the total rate.
    assert table.rate == pytest.approx(total_rate(shifts=SM, constants=SEED_MODEL), rel=1e-6)


def test_table_window_and_shift():
    shifts = WilsonShifts(dc9=-1.0, c10p=0.5)
    tab = S.Q2Table(shifts, q2_range=(1.1, 6.0), grid_points=256)
    assert tab.q2[0] == pytest.approx(1.1)
    assert tab.q2[-1] == pytest.approx(6.0)
    assert tab.max_relative_error() <= 1e-6
    ref = total_rate(shifts=shifts, constants=SEED_MODEL, q2_range=(1.1, 6.0))
    assert tab.rate == pytest.approx(ref, rel=1e-6)
    assert np.all(tab.coefficients_at(np.array([1.0, 6.5])) == 0.0)


def test_table_dgamma_matches_section9_values(table):
    # physics.md §9, seed-model SM dB/dq² in 1e-8 GeV⁻²: the tabulated shape reproduces the
    # ratios of the printed values (3 significant digits).
    q2 = np.array([0.5, 2.0, 10.0, 16.0])
    printed = np.array([8.07, 4.63, 7.90, 7.48])
    got = table.dgamma_dq2(q2)
    np.testing.assert_allclose(got / got[2], printed / printed[2], rtol=2e-3)


def test_mapping_round_trip():
    v = np.linspace(0.0, 1.0, 101)
    q2 = S._v_to_q2(v, 0.5, 7.0)
    np.testing.assert_allclose(S._q2_to_v(q2, 0.5, 7.0), v, atol=1e-12)
    # Jacobian against a finite difference
    vm = np.linspace(0.05, 0.95, 19)
    fd = (S._v_to_q2(vm + 1e-6, 0.5, 7.0) - S._v_to_q2(vm - 1e-6, 0.5, 7.0)) / 2e-6
    np.testing.assert_allclose(S._dq2_dv(vm, 0.5, 7.0), fd, rtol=1e-8)


# ------------------------------------------------------------------------------------------
# numba kernels against their plain twins
# ------------------------------------------------------------------------------------------


def _random_j(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q2 = rng.uniform(Q2_MIN, Q2_MAX, n)
    shifts = WilsonShifts(dc9=-1.5, c9p=0.7, c10p=-0.4, dc7=0.05)
    return np.concatenate(
        [angular_coefficients(q2, shifts=SM), angular_coefficients(q2, shifts=shifts)], axis=1
    )


def test_angular_bound_bounds_density():
    jj = _random_j(200, 1)
    bound = S._angular_bound(jj)
    rng = np.random.default_rng(2)
    ctl, ctk, chi = rng.uniform(-1, 1, 4000), rng.uniform(-1, 1, 4000), rng.uniform(0, 6.3, 4000)
    dens = jj.T @ angular_functions(ctl, ctk, chi)  # (n_j, n_points)
    assert np.all(dens <= bound[:, None])
    # the bound is attained to within a factor 2 (it is not uselessly loose)
    assert np.all(dens.max(axis=1) > 0.5 * bound)


def test_angular_bound_numba_equals_numpy():
    jj = np.concatenate([_random_j(100, 6), np.random.default_rng(6).normal(size=(12, 500))], 1)
    np.testing.assert_allclose(S._angular_bound_fast(jj), S._angular_bound(jj), rtol=1e-12)


def test_angular_bound_on_threads_equals_one_thread(monkeypatch):
    from hepc9.generate import tables

    jj = np.random.default_rng(7).normal(size=(12, 3001))
    monkeypatch.setattr(tables, "_BOUND_NODES_PER_THREAD", 10**9)
    one = S._angular_bound_fast(jj)
    monkeypatch.setattr(tables, "_BOUND_NODES_PER_THREAD", 1000)
    monkeypatch.setattr(tables, "resolve_threads", lambda threads: 3)
    np.testing.assert_array_equal(S._angular_bound_fast(jj), one)


def test_tables_of_other_shifts_start_from_the_seed_grid():
    base = S.Q2Table(grid_points=512)
    other = S.Q2Table(WilsonShifts(dc9=-2.0, c10p=0.8), grid_points=512)
    assert np.all(np.isin(base.v, other.v))
    assert other.max_relative_error() <= 1e-6


def test_interpolated_node_bounds_bound_interpolated_density(table):
    # convexity: inside a grid interval the interpolated node bounds dominate the density of
    # the interpolated coefficients (what the kernels rely on)
    rng = np.random.default_rng(3)
    k = rng.integers(0, table.grid_size - 1, 3000)
    s = rng.random(3000)
    jj = ((1 - s) * table.k[k].T + s * table.k[k + 1].T)
    bound = (1 - s) * table.bound[k] + s * table.bound[k + 1]
    ctl, ctk, chi = rng.uniform(-1, 1, 3000), rng.uniform(-1, 1, 3000), rng.uniform(0, 6.3, 3000)
    dens = np.einsum("ij,ij->j", jj, angular_functions(ctl, ctk, chi))
    assert np.all(dens <= bound)
    assert np.all(S._angular_bound(jj) <= bound * (1 + 1e-12))


def test_angular_sum_matches_physics_angular_functions():
    jj = _random_j(20, 3)
    rng = np.random.default_rng(4)
    ctl, ctk, chi = rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50), rng.uniform(0, 6.3, 50)
    f = angular_functions(ctl, ctk, chi)
    for i in range(jj.shape[1]):
        j = np.ascontiguousarray(jj[:, i])
        got = [
            S._angular_sum(j, a, b, math.cos(c), math.sin(c))
            for a, b, c in zip(ctl, ctk, chi, strict=True)
        ]
        np.testing.assert_allclose(got, j @ f, rtol=1e-12, atol=1e-12 * np.abs(j).max())


_KERNEL_HELPERS = ("_draw_guided", "_map_q2", "_draw_angles", "_draw_angles_or_flat",
                   "_angular_sum", "_draw_flavour")


def _interpreted(monkeypatch, name):
    """The kernel ``name`` running entirely in the interpreter (plain Python/numpy twin)."""
    for helper in _KERNEL_HELPERS:
        monkeypatch.setattr(K, helper, getattr(K, helper).py_func)
    return getattr(K, name).py_func


@pytest.mark.parametrize("flat", [0.0, 0.5, 1.0])
def test_narrow_kernel_equals_interpreted_twin(monkeypatch, table, flat):
    n = 150
    compiled = [np.empty(n) for _ in range(4)] + [np.empty(n, np.int8)]
    args = (table.v, table.k, table.bound, table.density, table.cdf, table.guide, table.q2_lo,
            table.q2_hi, *table.powers, 0, flat)  # fmt: skip
    S._sample_chunk_narrow(np.random.Generator(np.random.PCG64(9)), *args, *compiled)
    twin = _interpreted(monkeypatch, "_sample_chunk_narrow")
    plain = [np.empty(n) for _ in range(4)] + [np.empty(n, np.int8)]
    twin(np.random.Generator(np.random.PCG64(9)), *args, *plain)
    for a, b in zip(compiled[:4], plain[:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(compiled[4], plain[4])


@pytest.mark.parametrize("flat", [0.0, 0.5])
def test_relbw_kernel_equals_interpreted_twin(monkeypatch, flat):
    mt = S._mass_table(SM, SEED_MODEL)
    n = 100
    args = (mt.ls_grid, mt.ls_density, mt.ls_cdf, mt.ls_guide, mt.masses, mt.v, mt.k, mt.bound,
            mt.density, mt.cdf, mt.guides, mt.totals, mt.q2_min, SEED_MODEL.m_B0, 1.0, 8.0,
            1, flat)  # fmt: skip
    compiled = [np.empty(n) for _ in range(5)] + [np.empty(n, np.int8)]
    S._sample_chunk_relbw(np.random.Generator(np.random.PCG64(3)), *args, *compiled)
    twin = _interpreted(monkeypatch, "_sample_chunk_relbw")
    plain = [np.empty(n) for _ in range(5)] + [np.empty(n, np.int8)]
    twin(np.random.Generator(np.random.PCG64(3)), *args, *plain)
    for a, b in zip(compiled[:5], plain[:5], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(compiled[5], plain[5])


def test_guide_table_locates_intervals(table):
    u = np.random.default_rng(0).random(10_000)
    target = u * table.cdf[-1]
    idx = table.guide[(u * table.guide.size).astype(int)]
    true = np.searchsorted(table.cdf, target, side="right") - 1
    assert np.all(idx <= true)


# ------------------------------------------------------------------------------------------
# output, determinism, threads and chunks
# ------------------------------------------------------------------------------------------


def test_output_columns_and_ranges(numba_sm):
    ev = numba_sm
    assert set(ev) == {"q2", "costheta_l", "costheta_k", "chi", "mkpi", "flavour"}
    for name in ("q2", "costheta_l", "costheta_k", "chi", "mkpi"):
        assert ev[name].dtype == np.float64
        assert ev[name].shape == (200_000,)
    assert ev["flavour"].dtype == np.int8
    assert np.all(ev["flavour"] == 1)
    assert np.all((ev["q2"] >= Q2_MIN) & (ev["q2"] <= Q2_MAX))
    assert np.all(np.abs(ev["costheta_l"]) <= 1)
    assert np.all(np.abs(ev["costheta_k"]) <= 1)
    assert np.all((ev["chi"] >= 0) & (ev["chi"] < 2 * np.pi))
    assert np.all(ev["mkpi"] == SEED_MODEL.m_kstar)


def test_same_seed_identical_for_any_thread_count():
    kw = {"seed": 5, "chunk_size": 3000, "shifts": {"dc9": -0.8}}
    one = S.sample_events(20_000, threads=1, **kw)
    two = S.sample_events(20_000, threads=2, **kw)
    three = S.sample_events(20_000, threads=3, **kw)
    for name in one:
        np.testing.assert_array_equal(one[name], two[name])
        np.testing.assert_array_equal(one[name], three[name])


@pytest.mark.parametrize("line_shape", ["narrow", "relbw"])
def test_iter_sample_events_pieces_concatenate_to_sample_events(line_shape):
    kw = {"seed": 6, "chunk_size": 2000, "line_shape": line_shape, "flavour": "both"}
    whole = S.sample_events(9_000, threads=2, **kw)
    done = []
    pieces = list(S.iter_sample_events(9_000, threads=2, **kw))
    assert [len(p["q2"]) for p in pieces] == [2000, 2000, 2000, 2000, 1000]
    S.sample_events(9_000, threads=2, progress=done.append, **kw)
    assert done == [2000, 4000, 6000, 8000, 9000]
    for name in whole:
        np.testing.assert_array_equal(np.concatenate([p[name] for p in pieces]), whole[name])


def test_chunks_are_keyed_streams():
    # chunk c uses child c of the root: a shorter run with the same chunk size is a prefix
    long = S.sample_events(10_000, seed=8, chunk_size=2500, threads=2)
    short = S.sample_events(7_500, seed=8, chunk_size=2500, threads=1)
    for name in long:
        np.testing.assert_array_equal(long[name][:7_500], short[name])
    other = S.sample_events(7_500, seed=8, chunk_size=1000, threads=1)
    assert not np.array_equal(other["q2"], short["q2"])


def test_seed_sequence_argument_and_different_seeds():
    ss = np.random.SeedSequence(8, spawn_key=(1,))
    a = S.sample_events(1000, seed=ss, threads=1)
    b = S.sample_events(1000, seed=8, threads=1)  # int seed → seed_sequence(8, "generate")
    np.testing.assert_array_equal(a["q2"], b["q2"])
    c = S.sample_events(1000, seed=9, threads=1)
    assert not np.any(a["q2"] == c["q2"])


def test_progress_callback_reports_all_events():
    seen: list[int] = []
    S.sample_events(10_000, seed=1, chunk_size=3000, threads=2, progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 10_000
    assert len(seen) == 4


def test_resolve_threads():
    assert S.resolve_threads(3) == 3
    assert S.resolve_threads(0) >= 1
    with pytest.raises(DataError, match="threads"):
        S.resolve_threads(-1)


# ------------------------------------------------------------------------------------------
# statistics: numba sampler versus the exact-physics numpy reference
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "edges"),
    [
        ("q2", np.concatenate([np.linspace(Q2_MIN, 1.0, 15), np.linspace(1.0, Q2_MAX, 40)[1:]])),
        ("costheta_l", np.linspace(-1, 1, 41)),
        ("costheta_k", np.linspace(-1, 1, 41)),
        ("chi", np.linspace(0, 2 * np.pi, 41)),
    ],
)
def test_numba_and_numpy_samplers_agree_1d(numba_sm, numpy_sm, column, edges):
    assert _chi2_two_sample(numba_sm[column], numpy_sm[column], edges) > 1e-3
    assert stats.ks_2samp(numba_sm[column], numpy_sm[column]).pvalue > 1e-3


def test_numba_and_numpy_samplers_agree_2d(numba_sm, numpy_sm):
    edges = (np.linspace(-1, 1, 11), np.array([Q2_MIN, 0.3, 1.1, 2.5, 4, 6, 8, 11, 13, 15, 17,
                                                 Q2_MAX]))  # fmt: skip
    p = _chi2_two_sample_2d(
        (numba_sm["costheta_l"], numba_sm["q2"]), (numpy_sm["costheta_l"], numpy_sm["q2"]), edges
    )
    assert p > 1e-3


def test_numpy_reference_projection_matches_exact_costheta_k(numpy_sm):
    # physics.md §2.4: the cosθK projection integrated over q² is
    # ∝ (3J1s − J2s) sin²θK + (3J1c − J2c) cos²θK, with the q²-integrated J_i.
    q2 = np.linspace(Q2_MIN, Q2_MAX, 20001)
    jj = angular_coefficients(q2, shifts=SM)
    ji = np.trapezoid(jj, q2, axis=1)
    a, b = 3 * ji[0] - ji[2], 3 * ji[1] - ji[3]
    edges = np.linspace(-1, 1, 21)
    cdf = lambda x: a * (x - x**3 / 3) + b * x**3 / 3  # noqa: E731
    expected = np.diff(cdf(edges)) / (cdf(1.0) - cdf(-1.0)) * numpy_sm["q2"].size
    observed = np.histogram(numpy_sm["costheta_k"], edges)[0]
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert stats.chi2.sf(chi2, 19) > 1e-3


# ------------------------------------------------------------------------------------------
# flavours and windows
# ------------------------------------------------------------------------------------------


def test_flavour_options():
    b0bar = S.sample_events(50_000, seed=3, flavour="b0bar", threads=1)
    assert np.all(b0bar["flavour"] == -1)
    both = S.sample_events(50_000, seed=4, flavour="both", threads=1)
    assert set(np.unique(both["flavour"])) == {-1, 1}
    frac = np.mean(both["flavour"] == 1)
    assert abs(frac - 0.5) < 5 * math.sqrt(0.25 / 50_000)
    b0 = S.sample_events(50_000, seed=5, flavour="b0", threads=1)
    # conjugate angle convention: B0 and B̄0 samples have one distribution (physics.md §1.5)
    for name, edges in (("costheta_l", np.linspace(-1, 1, 21)), ("chi", np.linspace(0, 6.3, 21)),
                        ("q2", np.linspace(Q2_MIN, Q2_MAX, 21))):  # fmt: skip
        assert _chi2_two_sample(b0[name], b0bar[name], edges) > 1e-3
        sel_p, sel_m = both["flavour"] == 1, both["flavour"] == -1
        assert _chi2_two_sample(both[name][sel_p], both[name][sel_m], edges) > 1e-3
    num = S.sample_events_numpy(2000, seed=4, flavour="both")
    assert set(np.unique(num["flavour"])) == {-1, 1}


def test_window_is_respected_and_shape_matches():
    ev = S.sample_events(50_000, seed=6, q2_range=(1.1, 6.0), threads=1)
    assert ev["q2"].min() >= 1.1
    assert ev["q2"].max() <= 6.0
    ref = S.sample_events_numpy(50_000, seed=7, q2_range=(1.1, 6.0))
    assert ref["q2"].min() >= 1.1
    assert ref["q2"].max() <= 6.0
    assert _chi2_two_sample(ev["q2"], ref["q2"], np.linspace(1.1, 6.0, 26)) > 1e-3


def test_window_at_the_kinematic_limit_is_accepted():
    ev = S.sample_events(100, seed=1, q2_range=(Q2_MIN, 19.0), threads=1)
    assert ev["q2"].max() <= 19.0


# ------------------------------------------------------------------------------------------
# the relbw line shape
# ------------------------------------------------------------------------------------------


def test_relbw_range_and_normalisation():
    lo, hi = S.relbw_mass_range()
    assert lo == pytest.approx(0.89555 - 0.25)
    assert hi == pytest.approx(0.89555 + 15 * 0.0473)
    from scipy.integrate import quad

    val, _ = quad(lambda m: float(S.relbw_line_shape(np.array([m]))[0]), lo, hi,
                  points=[0.85, 0.89555, 0.94], limit=200)  # fmt: skip
    assert val == pytest.approx(1.0, rel=1e-8)
    assert np.all(S.relbw_line_shape(np.array([lo - 0.01, hi + 0.01])) == 0.0)
    m = np.linspace(lo, hi, 2001)
    assert abs(m[np.argmax(S.relbw_line_shape(m))] - 0.89555) < 0.01


def test_relbw_table_error_bound():
    mt = S._mass_table(SM, SEED_MODEL)
    # bilinear (m, v) interpolation: at most a few 1e-3 of the local rate next to the charm
    # threshold cusp, and a total-variation distance below 1e-4 at every mass.
    assert mt.max_relative_error() < 1e-2
    assert mt.total_variation_bound() < 1e-4
    totals = S._exact_total_at_mass(mt, mt.masses)
    np.testing.assert_allclose(mt.totals, totals, rtol=2e-4)


def test_relbw_reference_total_matches_physics_total_rate():
    # Γ(m = m_K*) of the quadrature used by the reference sampler equals physics.rate.
    got = S._total_at_mass_quadrature(SM, SEED_MODEL, SEED_MODEL.m_kstar)
    assert got == pytest.approx(total_rate(shifts=SM, constants=SEED_MODEL), rel=1e-10)


def test_relbw_numba_and_numpy_agree():
    fast = S.sample_events(40_000, seed=21, line_shape="relbw", threads=2, chunk_size=10_000)
    ref = S.sample_events_numpy(40_000, seed=22, line_shape="relbw")
    lo, hi = S.relbw_mass_range()
    assert fast["mkpi"].min() >= lo
    assert fast["mkpi"].max() <= hi
    assert np.all(fast["q2"] <= (SEED_MODEL.m_B0 - fast["mkpi"]) ** 2)
    assert np.all(fast["q2"] >= Q2_MIN)
    edges_m = np.concatenate([[lo], np.linspace(0.78, 1.0, 23), [1.2, hi]])
    for name, edges in (("mkpi", edges_m), ("q2", np.linspace(Q2_MIN, (SEED_MODEL.m_B0 - lo) ** 2,
                        31)), ("costheta_l", np.linspace(-1, 1, 21))):  # fmt: skip
        assert _chi2_two_sample(fast[name], ref[name], edges) > 1e-3
    # the m(Kπ) marginal is the line shape itself (full q² range)
    expected = np.array([
        _line_shape_integral(a, b) for a, b in itertools.pairwise(edges_m)
    ]) * fast["mkpi"].size  # fmt: skip
    observed = np.histogram(fast["mkpi"], edges_m)[0]
    assert stats.chi2.sf(np.sum((observed - expected) ** 2 / expected), edges_m.size - 2) > 1e-3


def _line_shape_integral(a: float, b: float) -> float:
    from scipy.integrate import quad

    return quad(lambda m: float(S.relbw_line_shape(np.array([m]))[0]), a, b, limit=200)[0]


def test_relbw_window():
    ev = S.sample_events(5_000, seed=2, line_shape="relbw", q2_range=(15.0, 19.0), threads=1)
    assert ev["q2"].min() >= 15.0
    assert ev["q2"].max() <= 19.0
    # q² ≥ 15 needs m(Kπ) ≤ m_B − √15
    assert ev["mkpi"].max() <= SEED_MODEL.m_B0 - math.sqrt(15.0)
    ref = S.sample_events_numpy(5_000, seed=3, line_shape="relbw", q2_range=(15.0, 19.0))
    assert _chi2_two_sample(ev["mkpi"], ref["mkpi"], np.linspace(0.64, 1.4, 16)) > 1e-3


# ------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n "),
        ({"n": -5}, "n "),
        ({"n": 2.5}, "n "),
        ({"shifts": {"dc9": float("nan")}}, "finite"),
        ({"shifts": {"dc9": float("inf")}}, "finite"),
        ({"q2_range": (0.01, 5.0)}, r"kinematic limits \[0.04465"),
        ({"q2_range": (1.0, 25.0)}, "19.22"),
        ({"q2_range": (6.0, 1.0)}, "q2_min < q2_max"),
        ({"q2_range": (1.0, float("nan"))}, "finite"),
        ({"q2_range": "1-6"}, "pair of numbers"),
        ({"flavour": "B0bar"}, "did you mean 'b0bar'"),
        ({"line_shape": "bw"}, "line_shape"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"threads": -1}, "threads"),
        ({"seed": -3}, "seed"),
        ({"line_shape": "relbw", "q2_range": (1.0, 22.0)}, "kinematic limits"),
    ],
)
def test_bad_inputs_raise_data_error(kwargs, match):
    args = {"n": 10, "seed": 1, **kwargs}
    n = args.pop("n")
    with pytest.raises(DataError, match=match):
        S.sample_events(n, **args)
    if "chunk_size" in args or "threads" in args:
        return  # options of the fast sampler only
    with pytest.raises(DataError, match=match):
        S.sample_events_numpy(n, **args)


def test_table_rejects_bad_grid():
    with pytest.raises(DataError, match="grid_points"):
        S.Q2Table(grid_points=3)
    with pytest.raises(DataError, match="tolerance"):
        S.Q2Table(tolerance=0.0)


# ------------------------------------------------------------------------------------------
# lab-frame four-vectors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line_shape", ["narrow", "relbw"])
def test_lab_four_vectors_round_trip(line_shape):
    from hepc9 import kinematics

    ev = S.sample_events(2000, seed=4, flavour="both", line_shape=line_shape, threads=1)
    out = S.lab_four_vectors(ev, rng=np.random.default_rng(7))
    p4 = {
        name: np.stack([out[f"{name}_{c}"] for c in ("e", "px", "py", "pz")], axis=1)
        for name in ("k", "pi", "mup", "mum")
    }
    for name, mass in (("k", SEED_MODEL.m_K), ("pi", SEED_MODEL.m_pi), ("mup", SEED_MODEL.m_mu)):
        m2 = p4[name][:, 0] ** 2 - np.sum(p4[name][:, 1:] ** 2, axis=1)
        np.testing.assert_allclose(np.sqrt(m2), mass, rtol=1e-6)
    tot = sum(p4.values())
    m_b = np.sqrt(tot[:, 0] ** 2 - np.sum(tot[:, 1:] ** 2, axis=1))
    np.testing.assert_allclose(m_b, SEED_MODEL.m_B0, rtol=1e-10)
    back = kinematics.angles_from_four_vectors(p4["k"], p4["pi"], p4["mup"], p4["mum"],
                                               ev["flavour"])  # fmt: skip
    for name in ("q2", "costheta_l", "costheta_k", "mkpi"):
        np.testing.assert_allclose(back[name], ev[name], atol=1e-9)
    dchi = np.abs(back["chi"] - ev["chi"])
    assert np.all(np.minimum(dchi, 2 * np.pi - dchi) < 1e-9)
    # input columns are kept, and the lab frame is boosted (Belle II: βγ ≈ 0.28 along +z)
    for name in ev:
        np.testing.assert_array_equal(out[name], ev[name])
    assert np.mean(tot[:, 3]) > 1.0


def test_lab_four_vectors_needs_columns_and_generator():
    ev = S.sample_events(10, seed=1, threads=1)
    del ev["mkpi"]
    with pytest.raises(DataError, match="missing mkpi"):
        S.lab_four_vectors(ev, rng=np.random.default_rng(1))
    ev = S.sample_events(10, seed=1, threads=1)
    with pytest.raises(DataError, match="Generator"):
        S.lab_four_vectors(ev, rng=1)


def test_relbw_window_keeping_almost_nothing_is_refused():
    mt = S._mass_table(SM, SEED_MODEL)
    assert S._check_relbw_window_fraction(mt, 1.1, 6.0) == pytest.approx(0.194, abs=0.005)
    with pytest.raises(DataError, match="widen the window"):
        S.sample_events(10, seed=1, line_shape="relbw", q2_range=(21.0, 21.47))

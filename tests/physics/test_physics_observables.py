"""Binned observables, A_FB zero crossing and the method of moments (physics.md §7, §9)."""

import itertools

import numpy as np
import pytest

from hepc9.errors import DataError, ShapeError
from hepc9.physics.constants import WilsonShifts, model_constants
from hepc9.physics.observables import (
    MOMENT_OBSERVABLES,
    STANDARD_BINS,
    afb_zero_crossing,
    angular_gram_matrix,
    binned_observables,
    moments,
)
from hepc9.physics.rate import differential_rate

# §7.3 seed-generator table: (bin, δC9, F_L, A_FB, S3, S4, S5, P5′, B in bin)
TABLE_7_3 = [
    ((1.1, 2.5), 0, "0.810", "-0.100", "-0.001", "-0.029", "-0.018", "-0.050", "6.68e-8"),
    ((2.5, 4.0), 0, "0.818", "0.027", "-0.012", "-0.156", "-0.252", "-0.688", "7.23e-8"),
    ((4.0, 6.0), 0, "0.721", "0.162", "-0.024", "-0.226", "-0.378", "-0.859", "1.12e-7"),
    ((1.1, 6.0), 0, "0.773", "0.054", "-0.014", "-0.153", "-0.246", "-0.613", "2.51e-7"),
    ((15.0, 19.0), 0, "0.342", "0.367", "-0.204", "-0.301", "-0.281", "-0.593", "2.49e-7"),
    ((1.1, 2.5), -1, "0.742", "-0.153", "-0.001", "-0.031", "0.079", "0.195", "5.73e-8"),
    ((2.5, 4.0), -1, "0.783", "-0.037", "-0.011", "-0.152", "-0.168", "-0.425", "5.93e-8"),
    ((4.0, 6.0), -1, "0.706", "0.107", "-0.024", "-0.223", "-0.322", "-0.720", "8.94e-8"),
    ((1.1, 6.0), -1, "0.738", "-0.007", "-0.014", "-0.149", "-0.166", "-0.393", "2.06e-7"),
    ((15.0, 19.0), -1, "0.342", "0.343", "-0.204", "-0.301", "-0.265", "-0.559", "1.98e-7"),
]
# §7.3 whole q² range: δC9, F_L, A_FB, S3, S4, S5, B(total)
TABLE_WHOLE = [
    (-2.0, "0.461", "0.147", "-0.079", "-0.219", "-0.176", "8.90e-7"),
    (-1.0, "0.482", "0.225", "-0.081", "-0.222", "-0.260", "1.063e-6"),
    (0.0, "0.496", "0.265", "-0.083", "-0.227", "-0.301", "1.312e-6"),
    (1.1, "0.505", "0.279", "-0.085", "-0.233", "-0.315", "1.674e-6"),
]
# §9 seed-model A_FB zero crossings
ZEROS = [(-2, 4.82), (-1.5, 4.18), (-1, 3.68), (-0.5, 3.27), (0, 2.94), (0.5, 2.67), (1, 2.45),
         (1.1, 2.41)]  # fmt: skip


def _printed(value, ref: str) -> bool:
    """True if ``value`` rounds to the printed ``ref``.

    A few printed values were rounded twice (−0.09945 -> −0.0995 -> −0.100, 5.7245 -> 5.725 ->
    5.73), so the tolerance is 0.55 units of the last printed digit, the largest deviation
    double rounding can produce.
    """
    mantissa = ref.split("e")[0]
    exponent = int(ref.split("e")[1]) if "e" in ref else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return abs(value - float(ref)) <= 0.55 * 10.0 ** (exponent - decimals)


@pytest.mark.parametrize("row", TABLE_7_3, ids=lambda r: f"{r[0]}-dc9={r[1]}")
def test_binned_table_physics_md_7_3(row):
    (bin_, dc9, *refs) = row
    (got,) = binned_observables([bin_], shifts=WilsonShifts(dc9=dc9))
    names = ("FL", "AFB", "S3", "S4", "S5", "P5p", "B")
    bad = [(n, got[n], r) for n, r in zip(names, refs, strict=True) if not _printed(got[n], r)]
    assert not bad
    # S7 = 0 exactly, S8 ≈ +0.001…+0.003, S9 ≤ 1e-3
    assert abs(got["S7"]) < 1e-15
    assert 0.0005 < got["S8"] < 0.0035
    assert abs(got["S9"]) <= 1e-3
    assert got["dB_dq2"] == pytest.approx(got["B"] / (bin_[1] - bin_[0]))


@pytest.mark.parametrize("row", TABLE_WHOLE, ids=lambda r: f"dc9={r[0]}")
def test_whole_range_table_physics_md_7_3(row):
    dc9, *refs = row
    (got,) = binned_observables([(0.0, 20.0)], shifts=WilsonShifts(dc9=dc9))
    names = ("FL", "AFB", "S3", "S4", "S5", "B")
    bad = [(n, got[n], r) for n, r in zip(names, refs, strict=True) if not _printed(got[n], r)]
    assert not bad


@pytest.mark.parametrize(("dc9", "q0"), ZEROS)
def test_afb_zero_crossing_physics_md_9(dc9, q0):
    assert afb_zero_crossing(shifts=WilsonShifts(dc9=dc9)) == pytest.approx(q0, abs=0.005)


def test_afb_zero_crossing_errors():
    with pytest.raises(DataError, match="no negative-to-positive"):
        afb_zero_crossing(q2_range=(10.0, 19.0))


def test_high_q2_nearly_independent_of_dc9_physics_md_9():
    a, b = (binned_observables([(15.0, 19.0)], shifts=WilsonShifts(dc9=d))[0] for d in (0, -2))
    for name in ("FL", "S3", "S4"):
        assert a[name] == pytest.approx(b[name], abs=2e-3)


def test_gram_matrix():
    g = angular_gram_matrix()
    assert g.shape == (12, 12)
    # ∫ sin⁴θ_K dcos · 2 · 2π = 16/15 · 4π  (f_1s²);  ∫ cos⁴ = 2/5 → f_1c² = 2/5 · 4π
    assert g[0, 0] == pytest.approx(16 / 15 * 4 * np.pi, rel=1e-13)
    assert g[1, 1] == pytest.approx(2 / 5 * 4 * np.pi, rel=1e-13)
    # f_1s + f_1c = 1: Σ_j G[1s, j] over {1s, 1c} = ∫ sin²θ_K = 4/3 · 4π
    assert g[0, 0] + g[0, 1] == pytest.approx(4 / 3 * 4 * np.pi, rel=1e-13)
    assert np.linalg.cond(g) < 1e3
    with pytest.raises(ValueError, match="read-only"):
        g[0, 0] = 1.0


def _quadrature_events(bin_, nq=96, na=10, nphi=8):
    """Tensor Gauss–Legendre grid as weighted 'events': exact moments up to quadrature error."""
    qx, qw = np.polynomial.legendre.leggauss(nq)
    lo, hi = bin_
    edges = [lo, *[e for e in (6.76,) if lo < e < hi], hi]
    q_all, w_all = [], []
    for a, b in itertools.pairwise(edges):
        q_all.append(0.5 * (b - a) * qx + 0.5 * (a + b))
        w_all.append(0.5 * (b - a) * qw)
    q, wq = np.concatenate(q_all), np.concatenate(w_all)
    x, w = np.polynomial.legendre.leggauss(na)
    phi = 2 * np.pi * (np.arange(nphi) + 0.5) / nphi
    Q, CL, CK, PH = np.meshgrid(q, x, x, phi, indexing="ij")
    W = wq[:, None, None, None] * w[None, :, None, None] * w[None, None, :, None]
    W = np.broadcast_to(W, Q.shape)
    return Q.ravel(), CL.ravel(), CK.ravel(), PH.ravel(), W.ravel()


@pytest.mark.parametrize("dc9", [0.0, -1.5])
def test_moments_exact_on_weighted_quadrature_grid(dc9):
    shifts = WilsonShifts(dc9=dc9)
    for bin_ in [(1.1, 2.5), (4.0, 6.0), (15.0, 19.0)]:
        q, ctl, ctk, chi, wq = _quadrature_events(bin_)
        w = wq * differential_rate(q, ctl, ctk, chi, shifts=shifts)
        (est,) = moments(q, ctl, ctk, chi, bins=[bin_], weights=w)
        (ref,) = binned_observables([bin_], shifts=shifts)
        for name in MOMENT_OBSERVABLES:
            assert est[name] == pytest.approx(ref[name], abs=1e-7), name


def test_moments_importance_weighted_uniform_points():
    rng = np.random.default_rng(20240917)
    n_rep, n = 40, 20000
    bin_ = (1.1, 6.0)
    (ref,) = binned_observables([bin_])
    pulls = {name: [] for name in MOMENT_OBSERVABLES}
    for _ in range(n_rep):
        q = rng.uniform(*bin_, n)
        ctl, ctk = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
        chi = rng.uniform(0, 2 * np.pi, n)
        w = differential_rate(q, ctl, ctk, chi)
        (est,) = moments(q, ctl, ctk, chi, bins=[bin_], weights=w)
        assert est["n"] == n
        for name in MOMENT_OBSERVABLES:
            pulls[name].append((est[name] - ref[name]) / est[name + "_err"])
    for name, p in pulls.items():
        p = np.asarray(p)
        # mean within 4 standard errors of 0, width within ±35 % of 1 (40 replicas)
        assert abs(p.mean()) < 4 / np.sqrt(n_rep), name
        assert 0.65 < p.std(ddof=1) < 1.35, name


def test_moments_bins_and_errors():
    rng = np.random.default_rng(1)
    q = rng.uniform(0.1, 19, 1000)
    a, b, c = rng.uniform(-1, 1, 1000), rng.uniform(-1, 1, 1000), rng.uniform(0, 6, 1000)
    rows = moments(q, a, b, c, bins=[(1.0, 2.0), (30.0, 40.0)])
    assert rows[0]["n"] == np.count_nonzero((q >= 1) & (q < 2))
    assert rows[0]["sum_w"] == rows[0]["n"]
    assert np.isnan(rows[1]["FL"])
    assert rows[1]["n"] == 0
    # flat angles: J1s = J1c, J2 = 0 (F_L = −J2c/Γ = 0) and every S_i = 0, within errors
    (flat,) = moments(q, a, b, c, bins=[(0.0, 20.0)])
    for name in ("FL", "AFB", "S3", "S4", "S5", "S7", "S8", "S9"):
        assert abs(flat[name]) < 4 * flat[name + "_err"], name
    with pytest.raises(ShapeError, match="equal lengths"):
        moments(q, a[:5], b, c)
    with pytest.raises(ShapeError, match="1-D"):
        moments(q.reshape(10, 100), a, b, c)
    with pytest.raises(DataError, match="non-finite"):
        moments(np.where(q > 5, np.nan, q), a, b, c)
    with pytest.raises(DataError, match="non-negative"):
        moments(q, a, b, c, weights=-np.ones(1000))
    with pytest.raises(DataError, match="q2_min < q2_max"):
        moments(q, a, b, c, bins=[(3.0, 2.0)])


def test_binned_observables_respect_constants():
    (base,) = binned_observables([(4.0, 6.0)])
    (other,) = binned_observables([(4.0, 6.0)], constants=model_constants({"c9_sm": 3.8}))
    assert other["AFB"] != pytest.approx(base["AFB"], abs=1e-3)
    assert len(binned_observables()) == len(STANDARD_BINS)

"""Combinatorial background: exact shapes (KS tests), yield and signal-region fraction."""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from hepc9 import background as bg
from hepc9.config import BackgroundConfig, SelectionConfig, load_config
from hepc9.errors import ConfigError, DataError
from hepc9.kinematics import BELLE2

M0 = BELLE2.e_beam_cm
# KS p-values of correct shapes are uniform; with fixed seeds they are fixed numbers.  A wrong
# shape at these sample sizes gives p far below 1e-3.
P_MIN = 1e-3


def _rng(seed):
    return np.random.default_rng(seed)


def test_incomplete_gamma_closed_form():
    y = np.concatenate([np.geomspace(1e-8, 1.0, 200), np.linspace(1.0, 60.0, 400)])
    np.testing.assert_allclose(bg._p32(y), special.gammainc(1.5, y), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("c", [-5.0, -20.0, -50.0])
def test_argus_against_scipy(c):
    # physics.md §8: scipy.stats.argus(χ, scale=m0) is the RooArgusBG shape with c = -χ²/2
    ref = stats.argus(math.sqrt(-2.0 * c), scale=M0)
    m_min = 5.20
    lo = ref.cdf(m_min)

    def ref_cdf(m):
        return (ref.cdf(m) - lo) / (1.0 - lo)

    grid = np.linspace(m_min, M0, 101)
    np.testing.assert_allclose(bg.argus_cdf(grid, c=c, m0=M0, m_min=m_min), ref_cdf(grid),
                               atol=1e-12)
    sample = bg.sample_argus(200_000, c=c, m0=M0, m_min=m_min, rng=_rng(1))
    assert sample.min() >= m_min
    assert sample.max() <= M0
    assert stats.kstest(sample, ref_cdf).pvalue > P_MIN


def test_argus_without_exponential():
    # c = 0: density m·sqrt(1 - (m/m0)²); CDF from the endpoint is t^{3/2}, t = 1 - (m/m0)²
    m_min = 5.0
    t_max = 1.0 - (m_min / M0) ** 2

    def ref_cdf(m):
        return 1.0 - ((1.0 - (np.asarray(m) / M0) ** 2) / t_max) ** 1.5

    sample = bg.sample_argus(100_000, c=0.0, m0=M0, m_min=m_min, rng=_rng(2))
    assert stats.kstest(sample, ref_cdf).pvalue > P_MIN
    np.testing.assert_allclose(bg.argus_cdf([5.1, 5.2], c=0.0, m0=M0, m_min=m_min),
                               ref_cdf([5.1, 5.2]), atol=1e-13)


def test_argus_wrong_shape_is_detected():
    # the KS test used above has power: a sample with c = -20 fails against c = -30
    sample = bg.sample_argus(200_000, c=-20.0, m0=M0, m_min=5.2, rng=_rng(3))
    p = stats.kstest(sample, lambda m: bg.argus_cdf(m, c=-30.0, m0=M0, m_min=5.2)).pvalue
    assert p < 1e-6


@pytest.mark.parametrize(
    ("slope", "lo", "hi", "centre"),
    [(-2.0, -0.2, 0.2, 0.0), (0.0, -0.1, 0.3, 0.0), (4.0, 0.792, 0.992, 0.892)],
)
def test_linear_density(slope, lo, hi, centre):
    def density(x):
        return 1.0 + slope * (x - centre)

    norm = integrate.quad(density, lo, hi)[0]
    for x in np.linspace(lo, hi, 7):
        expected = integrate.quad(density, lo, x)[0] / norm
        assert bg.linear_cdf(x, slope=slope, lo=lo, hi=hi, centre=centre) == pytest.approx(
            expected, abs=1e-12)
    sample = bg.sample_linear(100_000, slope=slope, lo=lo, hi=hi, centre=centre, rng=_rng(4))
    cdf = lambda x: bg.linear_cdf(x, slope=slope, lo=lo, hi=hi, centre=centre)  # noqa: E731
    assert stats.kstest(sample, cdf).pvalue > P_MIN


@pytest.mark.parametrize("coefficients", [(), (0.5, 0.2), (0.0, -0.2), (-0.3, 0.1, 0.05)])
def test_legendre_density(coefficients):
    def density(x):
        return np.polynomial.legendre.legval(x, [1.0, *coefficients]) / 2.0

    for x in (-0.7, 0.0, 0.4, 1.0):
        expected = integrate.quad(density, -1.0, x)[0]
        assert bg.legendre_cdf(x, coefficients) == pytest.approx(expected, abs=1e-12)
    sample = bg.sample_legendre(100_000, coefficients, rng=_rng(5))
    assert stats.kstest(sample, lambda x: bg.legendre_cdf(x, coefficients)).pvalue > P_MIN


@pytest.mark.parametrize("coefficients", [(), (0.0, 0.05), (0.3, -0.2)])
def test_cosine_density(coefficients):
    def density(chi):
        return (1.0 + sum(a * math.cos((n + 1) * chi) for n, a in enumerate(coefficients))) / (
            2 * math.pi)

    for chi in (0.5, 2.0, 5.0):
        expected = integrate.quad(density, 0.0, chi)[0]
        assert bg.cosine_cdf(chi, coefficients) == pytest.approx(expected, abs=1e-12)
    sample = bg.sample_cosine(100_000, coefficients, rng=_rng(6))
    assert sample.min() >= 0.0
    assert sample.max() < 2 * math.pi
    assert stats.kstest(sample, lambda x: bg.cosine_cdf(x, coefficients)).pvalue > P_MIN


def test_generate_background_columns_and_shapes():
    cfg = BackgroundConfig()
    n = 200_000
    ev = bg.generate_background(n, config=cfg, beam=BELLE2, rng=_rng(7))
    for name in bg.BACKGROUND_COLUMNS:
        assert ev[name].shape == (n,)
    assert ev["flavour"].dtype == np.int8
    assert ev["is_signal"].dtype == np.int8
    assert not ev["is_signal"].any()
    assert set(np.unique(ev["flavour"])) == {-1, 1}
    # 50/50 flavours within 4 standard deviations
    assert abs(np.mean(ev["flavour"] == 1) - 0.5) < 4 * math.sqrt(0.25 / n)
    for name in ("q2", "costheta_l", "costheta_k", "chi", "mkpi"):
        assert np.isnan(ev[f"{name}_true"]).all()
    assert not ev["flavour_true"].any()
    # shapes as configured
    assert stats.kstest(ev["mbc"], lambda m: bg.argus_cdf(
        m, c=cfg.argus_c, m0=M0, m_min=cfg.mbc_min)).pvalue > P_MIN
    lo, hi = cfg.delta_e_range
    assert stats.kstest(ev["delta_e"], lambda x: bg.linear_cdf(
        x, slope=cfg.delta_e_slope, lo=lo, hi=hi)).pvalue > P_MIN
    assert stats.kstest(ev["costheta_k"], lambda x: bg.legendre_cdf(
        x, cfg.costheta_k_legendre)).pvalue > P_MIN
    # cos θK leans towards +1 (soft pion), physics.md §8
    assert np.mean(ev["costheta_k"]) > 0.1
    assert ev["mkpi"].min() >= cfg.mkpi_range[0]
    assert ev["mkpi"].max() <= cfg.mkpi_range[1]
    assert ev["q2"].min() >= 4 * 0.1056584**2
    assert ev["q2"].max() <= 19.2205


def test_generate_background_is_reproducible():
    a = bg.generate_background(1000, config=BackgroundConfig(), beam=BELLE2, rng=_rng(8))
    b = bg.generate_background(1000, config=BackgroundConfig(), beam=BELLE2, rng=_rng(8))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert bg.generate_background(0, config=BackgroundConfig(), beam=BELLE2,
                                  rng=_rng(8))["mbc"].shape == (0,)


def test_signal_region_fraction_matches_configuration():
    cfg, sel = BackgroundConfig(), SelectionConfig()
    n_sig, f = 20_000, 0.44
    n_total = bg.background_yield(n_sig, fraction=f, config=cfg, selection=sel, beam=BELLE2)
    ev = bg.generate_background(n_total, config=cfg, beam=BELLE2, rng=_rng(9))
    in_sr = (ev["mbc"] > sel.mbc_signal_min) & (np.abs(ev["delta_e"]) < sel.delta_e_max)
    n_bkg_sr = int(np.count_nonzero(in_sr))
    expected = f / (1 - f) * n_sig
    # Binomial count in the signal region: within 4 sigma of f/(1-f) n_sig
    assert abs(n_bkg_sr - expected) < 4 * math.sqrt(expected)
    observed = n_bkg_sr / (n_bkg_sr + n_sig)
    assert observed == pytest.approx(f, abs=0.01)


def test_region_fraction_matches_sample():
    cfg = BackgroundConfig()
    box = {"mbc": (5.22, 5.27), "delta_e": (-0.05, 0.1), "mkpi": (0.8, 0.9)}
    p = bg.region_fraction(cfg, beam=BELLE2, **box)
    ev = bg.generate_background(400_000, config=cfg, beam=BELLE2, rng=_rng(10))
    inside = np.ones(400_000, dtype=bool)
    for name, col in (("mbc", "mbc"), ("delta_e", "delta_e"), ("mkpi", "mkpi")):
        inside &= (ev[col] > box[name][0]) & (ev[col] < box[name][1])
    assert abs(inside.mean() - p) < 4 * math.sqrt(p * (1 - p) / 400_000)
    assert bg.region_fraction(cfg, beam=BELLE2) == 1.0


def test_zero_fraction_gives_no_background():
    assert bg.background_yield(1000, fraction=0.0, config=BackgroundConfig(),
                               selection=SelectionConfig(), beam=BELLE2) == 0


def test_errors():
    with pytest.raises(ConfigError, match="<= 0"):
        bg.sample_argus(10, c=1.0, m0=M0, m_min=5.2, rng=_rng(0))
    with pytest.raises(ConfigError, match="empty"):
        bg.argus_cdf(5.0, c=-20.0, m0=M0, m_min=5.3)
    with pytest.raises(ConfigError, match="negative"):
        bg.sample_linear(10, slope=10.0, lo=-0.2, hi=0.2, rng=_rng(0))
    with pytest.raises(ConfigError, match="negative density"):
        bg.sample_legendre(10, (1.5,), rng=_rng(0))
    with pytest.raises(ConfigError, match="negative density"):
        bg.sample_cosine(10, (1.1,), rng=_rng(0))
    with pytest.raises(ConfigError, match="\\[0, 1\\)"):
        bg.background_yield(10, fraction=1.0, config=BackgroundConfig(),
                            selection=SelectionConfig(), beam=BELLE2)
    with pytest.raises(DataError, match=">= 0"):
        bg.generate_background(-1, config=BackgroundConfig(), beam=BELLE2, rng=_rng(0))
    with pytest.raises(ConfigError, match="e_beam_cm"):
        bg.generate_background(1, config=BackgroundConfig(), beam=object(), rng=_rng(0))


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("background.argus_c=2.0", "argus_c"),
        ("background.fraction=1.0", "fraction"),
        ("background.delta_e_range=[0.1, -0.1]", "delta_e_range"),
        ("background.delta_e_slope=20.0", "delta_e_slope"),
        ("background.mkpi_slope=50.0", "mkpi_slope"),
        ("background.costheta_k_legendre=[1.2]", "costheta_k_legendre"),
        ("background.chi_cosines=[0.2, 1.1]", "chi_cosines"),
        ("background.mbc_min=5.22", "mbc_min"),
        ("background.delta_e_range=[-0.02, 0.2]", "ΔE window"),
        ("background.mkpi_range=[0.8, 0.99]", "K\\* window"),
    ],
)
def test_bad_background_config(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=[override])


def test_threaded_blocks_equal_one_serial_draw_per_variable():
    """Blocks in threads give the serial sampler's numbers: one rng.random(n) per variable."""
    import numba

    from hepc9.background import shapes
    from hepc9.background.model import _BLOCK
    from hepc9.physics.constants import SEED_MODEL, q2_limits

    cfg = BackgroundConfig()
    n = 2 * _BLOCK + 5
    m0 = BELLE2.e_beam_cm
    rng = np.random.default_rng(21)
    ref = {
        "mbc": shapes.sample_argus(n, c=cfg.argus_c, m0=m0, m_min=cfg.mbc_min, rng=rng),
        "delta_e": shapes.sample_linear(n, slope=cfg.delta_e_slope, lo=cfg.delta_e_range[0],
                                        hi=cfg.delta_e_range[1], rng=rng),
        "mkpi": shapes.sample_linear(n, slope=cfg.mkpi_slope, lo=cfg.mkpi_range[0],
                                     hi=cfg.mkpi_range[1], centre=0.5 * sum(cfg.mkpi_range),
                                     rng=rng),
    }
    q2_lo, q2_hi = q2_limits(SEED_MODEL)
    x = shapes.sample_legendre(n, cfg.q2_legendre, rng=rng)
    ref["q2"] = q2_lo + 0.5 * (x + 1.0) * (q2_hi - q2_lo)
    ref["costheta_l"] = shapes.sample_legendre(n, cfg.costheta_l_legendre, rng=rng)
    ref["costheta_k"] = shapes.sample_legendre(n, cfg.costheta_k_legendre, rng=rng)
    ref["chi"] = shapes.sample_cosine(n, cfg.chi_cosines, rng=rng)
    ref["flavour"] = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    previous = numba.get_num_threads()
    try:
        for threads in sorted({1, previous}):
            numba.set_num_threads(threads)
            out = bg.generate_background(n, config=cfg, beam=BELLE2,
                                         rng=np.random.default_rng(21))
            for name, values in ref.items():
                np.testing.assert_array_equal(out[name], values, err_msg=name)
    finally:
        numba.set_num_threads(previous)
    negative = BackgroundConfig(q2_legendre=(5.0,))
    with pytest.raises(ConfigError, match="negative density"):  # n = 0 still checks shapes
        bg.generate_background(0, config=negative, beam=BELLE2, rng=np.random.default_rng(0))

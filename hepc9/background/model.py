"""The background model: region fractions, yields and generated detector-level candidates.

The shapes and the yield rule are described in :mod:`hepc9.background`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from hepc9.background.mbc_correlation import correlate_with_mbc
from hepc9.background.shapes import (
    argus_cdf,
    linear_cdf,
    sample_argus,
    sample_cosine,
    sample_legendre,
    sample_linear,
)
from hepc9.config import BackgroundConfig, SelectionConfig
from hepc9.errors import ConfigError, DataError
from hepc9.physics.constants import SEED_MODEL, ModelConstants, q2_limits

__all__ = ["BACKGROUND_COLUMNS", "background_yield", "generate_background", "region_fraction"]


#: Columns of :func:`generate_background` output (plus a ``_true`` NaN copy of the kinematic ones).
BACKGROUND_COLUMNS = (
    "q2",
    "costheta_l",
    "costheta_k",
    "chi",
    "mkpi",
    "flavour",
    "mbc",
    "delta_e",
    "is_signal",
)
_KINEMATIC = ("q2", "costheta_l", "costheta_k", "chi", "mkpi")

#: Events per block of the threaded inversions (elementwise: the result does not depend on it).
_BLOCK = 1 << 17


class _Drawn:
    """Stands in for a Generator inside one block: hands out pre-drawn uniform rows in order."""

    def __init__(self, rows: np.ndarray) -> None:
        self._rows = iter(rows)

    def random(self, n: int) -> np.ndarray:
        row = next(self._rows)
        assert row.shape == (n,)
        return row


# --------------------------------------------------------------------------------------------
# yield and generation
# --------------------------------------------------------------------------------------------


def _endpoint(beam: Any) -> float:
    try:
        return float(beam.e_beam_cm)
    except AttributeError:
        raise ConfigError(
            f"beam {beam!r} has no e_beam_cm; pass a hepc9.kinematics.BeamSpec"
        ) from None


def region_fraction(
    config: BackgroundConfig,
    *,
    beam: Any,
    mbc: tuple[float, float] | None = None,
    delta_e: tuple[float, float] | None = None,
    mkpi: tuple[float, float] | None = None,
) -> float:
    """Return the probability content of a box in (Mbc, ΔE, m(Kπ)) under the background shapes.

    Parameters
    ----------
    config : BackgroundConfig
        Background shapes and generation region.
    beam : BeamSpec
        Beam; its ``e_beam_cm`` is the ARGUS endpoint.
    mbc, delta_e, mkpi : (float, float), optional
        Box edges in GeV; ``None`` means the whole generation range of that variable.

    Returns
    -------
    float
        Fraction of the generated background inside the box (the angular variables are
        integrated over their full ranges).
    """
    m0 = _endpoint(beam)
    frac = 1.0
    if mbc is not None:
        lo, hi = mbc
        cdf = argus_cdf(np.array([lo, hi]), c=config.argus_c, m0=m0, m_min=config.mbc_min)
        frac *= max(float(cdf[1] - cdf[0]), 0.0)
    if delta_e is not None:
        d_lo, d_hi = config.delta_e_range
        cdf = linear_cdf(np.array(delta_e), slope=config.delta_e_slope, lo=d_lo, hi=d_hi)
        frac *= max(float(cdf[1] - cdf[0]), 0.0)
    if mkpi is not None:
        k_lo, k_hi = config.mkpi_range
        cdf = linear_cdf(
            np.array(mkpi), slope=config.mkpi_slope, lo=k_lo, hi=k_hi, centre=0.5 * (k_lo + k_hi)
        )
        frac *= max(float(cdf[1] - cdf[0]), 0.0)
    return frac


def background_yield(
    n_signal_region: int,
    *,
    fraction: float,
    config: BackgroundConfig,
    selection: SelectionConfig,
    beam: Any,
) -> int:
    """Return how many background events to generate over the whole background region.

    Parameters
    ----------
    n_signal_region : int
        Signal events in the signal region (after the K* window).
    fraction : float
        Wanted background fraction f ∈ [0, 1) in the signal region.
    config : BackgroundConfig
        Background shapes and generation region.
    selection : SelectionConfig
        Signal region and K* window.
    beam : BeamSpec
        Beam (ARGUS endpoint).

    Returns
    -------
    int
        ``round(f/(1 − f) · n_signal_region / P(SR))`` where ``P(SR)`` is
        :func:`region_fraction` of the signal region and K* window.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"background fraction {fraction} must be in [0, 1)")
    if n_signal_region < 0:
        raise DataError(f"signal count {n_signal_region} must be >= 0")
    m0 = _endpoint(beam)
    p_sr = region_fraction(
        config,
        beam=beam,
        mbc=(selection.mbc_signal_min, m0),
        delta_e=(-selection.delta_e_max, selection.delta_e_max),
        mkpi=(selection.mkpi_centre - selection.mkpi_window,
              selection.mkpi_centre + selection.mkpi_window),
    )
    if p_sr <= 0.0:
        raise ConfigError(
            "the background shapes put no probability into the signal region; check "
            "[background] mbc_min, delta_e_range and mkpi_range against [selection]"
        )
    return round(fraction / (1.0 - fraction) * n_signal_region / p_sr)


def generate_background(
    n: int,
    *,
    config: BackgroundConfig,
    beam: Any,
    rng: np.random.Generator,
    constants: ModelConstants = SEED_MODEL,
) -> dict[str, np.ndarray]:
    """Generate combinatorial background candidates as native detector-level columns.

    Parameters
    ----------
    n : int
        Number of candidates over the whole background region (see :func:`background_yield`).
    config : BackgroundConfig
        Shapes and generation region.
    beam : BeamSpec
        Beam; the ARGUS endpoint is ``beam.e_beam_cm``.
    rng : numpy.random.Generator
        Source of randomness; the variables are drawn in the fixed order Mbc, ΔE, m(Kπ), q²,
        cos θℓ, cos θK, χ, flavour.
    constants : ModelConstants
        Masses fixing the q² range.

    Returns
    -------
    dict of str to numpy.ndarray
        :data:`BACKGROUND_COLUMNS` (float64; ``flavour`` and ``is_signal`` int8), each of shape
        ``(n,)``, plus ``q2_true costheta_l_true costheta_k_true chi_true mkpi_true`` (NaN) and
        ``flavour_true = 0`` (no true decay).
    """
    n = int(n)
    if n < 0:
        raise DataError(f"number of background events {n} must be >= 0")
    m0 = _endpoint(beam)
    if config.mbc_min >= m0:
        raise ConfigError(
            f"[background] mbc_min = {config.mbc_min} GeV is not below the beam's E*_beam = "
            f"{m0:.5f} GeV"
        )
    d_lo, d_hi = config.delta_e_range
    k_lo, k_hi = config.mkpi_range
    q2_lo, q2_hi = q2_limits(constants)
    # the eight uniforms per event in one call: the same numbers, in the same order, as one
    # rng.random(n) per variable; the inversions then run on blocks of events in threads
    u = rng.random((8, n))
    cols = ("mbc", "delta_e", "mkpi", "q2", "costheta_l", "costheta_k", "chi")
    out: dict[str, np.ndarray] = {name: np.empty(n) for name in cols}

    def block(start: int) -> None:
        part = slice(start, min(start + _BLOCK, n))
        src: Any = _Drawn(u[:7, part])  # the samplers call only rng.random(n)
        m = part.stop - part.start
        out["mbc"][part] = sample_argus(m, c=config.argus_c, m0=m0, m_min=config.mbc_min,
                                        rng=src)
        out["delta_e"][part] = sample_linear(m, slope=config.delta_e_slope, lo=d_lo, hi=d_hi,
                                             rng=src)
        out["mkpi"][part] = sample_linear(m, slope=config.mkpi_slope, lo=k_lo, hi=k_hi,
                                          centre=0.5 * (k_lo + k_hi), rng=src)
        x = sample_legendre(m, config.q2_legendre, rng=src)
        out["q2"][part] = q2_lo + 0.5 * (x + 1.0) * (q2_hi - q2_lo)
        out["costheta_l"][part] = sample_legendre(m, config.costheta_l_legendre, rng=src)
        out["costheta_k"][part] = sample_legendre(m, config.costheta_k_legendre, rng=src)
        out["chi"][part] = sample_cosine(m, config.chi_cosines, rng=src)

    starts = range(0, max(n, 1), _BLOCK)  # n = 0 still checks the shapes
    workers = min(max(1, numba.get_num_threads()), len(starts))
    if workers <= 1:
        for start in starts:
            block(start)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(block, starts))
    out["flavour"] = np.where(u[7] < 0.5, 1, -1).astype(np.int8)
    out["is_signal"] = np.zeros(n, dtype=np.int8)
    for name in _KINEMATIC:
        out[f"{name}_true"] = np.full(n, np.nan)
    out["flavour_true"] = np.zeros(n, dtype=np.int8)
    if config.mbc_shape_strength:  # Mbc-dependent shapes (off by default: draws unchanged)
        correlate_with_mbc(out, strength=config.mbc_shape_strength, config=config, m0=m0,
                           q2_range=(q2_lo, q2_hi), rng=rng)  # fmt: skip
    return out

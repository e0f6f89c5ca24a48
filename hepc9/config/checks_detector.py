"""Checks of the ``[detector]``, ``[background]`` and ``[selection]`` values.

Besides ranges of single values, the background must be generated wherever the selection looks
for it (Mbc sideband, ΔE and K* windows), and every background density must stay positive.
"""

from __future__ import annotations

import math

from hepc9.config.root import Config
from hepc9.errors import ConfigError

__all__ = ["check_detector_background_selection"]


def _series_minimum(coefficients: tuple[float, ...], kind: str, points: int = 2001) -> float:
    """Return the minimum on a dense grid of ``1 + Σ c_n P_n(x)`` or ``1 + Σ a_n cos nχ``."""
    lowest = math.inf
    for i in range(points):
        if kind == "legendre":
            x = -1.0 + 2.0 * i / (points - 1)
            p_prev, p_cur, total = 1.0, x, 1.0
            for n, c in enumerate(coefficients, start=1):
                if n > 1:
                    p_prev, p_cur = p_cur, ((2 * n - 1) * x * p_cur - (n - 1) * p_prev) / n
                total += c * p_cur
        else:
            chi = 2.0 * math.pi * i / (points - 1)
            total = 1.0 + sum(a * math.cos(n * chi) for n, a in enumerate(coefficients, start=1))
        lowest = min(lowest, total)
    return lowest


def check_detector_background_selection(cfg: Config, origin: str) -> None:
    """Check the ``[detector]``, ``[background]`` and ``[selection]`` values."""
    d, b, s = cfg.detector, cfg.background, cfg.selection
    if not 0.0 <= d.theta_min_deg < d.theta_max_deg <= 180.0:
        raise ConfigError(
            f"[detector] theta_min_deg = {d.theta_min_deg}, theta_max_deg = {d.theta_max_deg} in "
            f"{origin} must satisfy 0 <= theta_min_deg < theta_max_deg <= 180"
        )
    for key in ("pt_min", "p_min_muon", "p_min_kaon", "p_min_pion", "pt_resolution_a",
                "pt_resolution_b", "angle_resolution_c", "angle_resolution_d", "muon_id_p_half",
                "kaon_id_slope"):
        if getattr(d, key) < 0.0:
            raise ConfigError(f"[detector] {key} = {getattr(d, key)} in {origin} must be >= 0")
    for key in ("muon_id_plateau", "muon_id_endcap_factor", "kaon_id_plateau"):
        if not 0.0 <= getattr(d, key) <= 1.0:
            raise ConfigError(
                f"[detector] {key} = {getattr(d, key)} in {origin} must be an efficiency in [0, 1]"
            )
    if d.muon_id_p_width < 0.0:
        raise ConfigError(
            f"[detector] muon_id_p_width = {d.muon_id_p_width} in {origin} must be >= 0 "
            "(0 means a sharp step at muon_id_p_half)"
        )
    if d.beam_energy_spread is not None and d.beam_energy_spread < 0.0:
        raise ConfigError(
            f"[detector] beam_energy_spread = {d.beam_energy_spread} in {origin} must be >= 0 "
            "(or left out to use the beam's own spread)"
        )
    for key in ("chunk_size", "efficiency_bins"):
        if getattr(d, key) <= 0:
            raise ConfigError(f"[detector] {key} = {getattr(d, key)} in {origin} must be positive")

    if b.argus_c > 0.0:
        raise ConfigError(
            f"[background] argus_c = {b.argus_c} in {origin} must be <= 0 (typical fits give "
            "-10 ... -50, physics.md §8)"
        )
    lo, hi = b.delta_e_range
    if not lo < hi:
        raise ConfigError(
            f"[background] delta_e_range = {[lo, hi]} in {origin} must be (low, high)"
        )
    if min(1.0 + b.delta_e_slope * lo, 1.0 + b.delta_e_slope * hi) < 0.0:
        raise ConfigError(
            f"[background] delta_e_slope = {b.delta_e_slope} in {origin} makes the ΔE density "
            f"1 + slope·ΔE negative inside delta_e_range = {[lo, hi]}; reduce |slope|"
        )
    m_lo, m_hi = b.mkpi_range
    if not 0.0 < m_lo < m_hi:
        raise ConfigError(
            f"[background] mkpi_range = {[m_lo, m_hi]} in {origin} must be (low, high) with low > 0"
        )
    half = 0.5 * (m_hi - m_lo)
    if 1.0 - abs(b.mkpi_slope) * half < 0.0:
        raise ConfigError(
            f"[background] mkpi_slope = {b.mkpi_slope} in {origin} makes the m(Kπ) density "
            f"negative inside mkpi_range; |slope| must be <= {1.0 / half:.4g} GeV⁻¹"
        )
    for key, kind in (("q2_legendre", "legendre"), ("costheta_l_legendre", "legendre"),
                      ("costheta_k_legendre", "legendre"), ("chi_cosines", "cosine")):
        if _series_minimum(getattr(b, key), kind) < 0.0:
            raise ConfigError(
                f"[background] {key} = {list(getattr(b, key))} in {origin} gives a negative "
                "density somewhere in its range; reduce the coefficients"
            )

    if not -1.0 <= b.mbc_shape_strength <= 1.0:
        raise ConfigError(
            f"[background] mbc_shape_strength = {b.mbc_shape_strength} in {origin} must be in "
            "[-1, 1]"
        )

    sb_lo, sb_hi = s.mbc_sideband
    if not sb_lo < sb_hi:
        raise ConfigError(
            f"[selection] mbc_sideband = {[sb_lo, sb_hi]} in {origin} must be (low, high)"
        )
    if sb_hi > s.mbc_signal_min:
        raise ConfigError(
            f"[selection] mbc_sideband = {[sb_lo, sb_hi]} in {origin} overlaps the signal region "
            f"Mbc > {s.mbc_signal_min}; its upper edge must be <= mbc_signal_min"
        )
    for key in ("delta_e_max", "mkpi_window", "mkpi_centre"):
        if getattr(s, key) <= 0.0:
            raise ConfigError(f"[selection] {key} = {getattr(s, key)} in {origin} must be positive")
    # the background must be generated wherever the selection looks for it
    if b.mbc_min > sb_lo or b.mbc_min > s.mbc_signal_min:
        raise ConfigError(
            f"[background] mbc_min = {b.mbc_min} in {origin} must be <= the sideband's lower edge "
            f"{sb_lo} so that the sideband receives its full ARGUS share"
        )
    if lo > -s.delta_e_max or hi < s.delta_e_max:
        raise ConfigError(
            f"[background] delta_e_range = {[lo, hi]} in {origin} must cover the ΔE window "
            f"|ΔE| < {s.delta_e_max} of [selection]"
        )
    k_lo, k_hi = s.mkpi_centre - s.mkpi_window, s.mkpi_centre + s.mkpi_window
    if m_lo > k_lo + 1e-12 or m_hi < k_hi - 1e-12:
        raise ConfigError(
            f"[background] mkpi_range = {[m_lo, m_hi]} in {origin} must cover the K* window "
            f"[{k_lo:.4g}, {k_hi:.4g}] of [selection]"
        )

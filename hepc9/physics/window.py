"""The q² window rule: one place that turns a requested window into checked edges (physics.md §1.2).

Every q² window of the package (generation, datasets, fit, integrals, observables) goes through
:func:`resolve_q2_range`:

* ``None`` is the full kinematic range [4m_μ², (m_B − m_K*)²] (narrow K*, or the given m(Kπ));
* a pair (low, high) in GeV², where either edge may be ``None`` (that edge is the kinematic
  limit; this is how ``[generate]``/``[fit]`` ``q2_min``/``q2_max`` settings are filled);
* malformed, non-finite, empty or inverted windows raise;
* ``mode="raise"`` (fit, generation) rejects a window that leaves the kinematic range by more
  than :data:`EDGE_TOLERANCE`, and snaps edges within it onto the limits;
* ``mode="clip"`` (integrals, observables) clips the window to the kinematic range and raises
  only when nothing of it is left.

The error class defaults to :class:`~hepc9.errors.DataError`; configuration readers pass
:class:`~hepc9.errors.ConfigError` and name the setting in ``what``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from hepc9.errors import DataError, Hepc9Error
from hepc9.physics.constants import SEED_MODEL, ModelConstants, q2_limits

__all__ = ["EDGE_TOLERANCE", "resolve_q2_range"]

#: Absolute tolerance in GeV² by which a ``mode="raise"`` window may leave the kinematic range
#: (rounding of printed limits); such edges are snapped onto the limits.
EDGE_TOLERANCE = 1e-9


def _edge(value: object, default: float, what: str, error: type[Hepc9Error]) -> float:
    if value is None:
        return default
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise error(
            f"{what} must be a pair of numbers (q2_min, q2_max) in GeV², got edge {value!r}"
        ) from err


def resolve_q2_range(
    q2_range: Sequence[float | None] | None,
    constants: ModelConstants = SEED_MODEL,
    *,
    mode: Literal["clip", "raise"] = "clip",
    mkpi: float | None = None,
    what: str = "q2_range",
    error: type[Hepc9Error] = DataError,
) -> tuple[float, float]:
    """Return a checked q² window (low, high) in GeV².

    Parameters
    ----------
    q2_range : (float or None, float or None) or None
        Requested window in GeV²; ``None`` (or a ``None`` edge) means the kinematic limit.
    constants : ModelConstants, optional
        Masses fixing the kinematic range.
    mode : {"clip", "raise"}
        ``"clip"``: clip to the kinematic range (error only if nothing is left);
        ``"raise"``: error if the window leaves the range by more than :data:`EDGE_TOLERANCE`.
    mkpi : float, optional
        K π mass replacing m_K* in the upper limit.
    what : str
        Name of the window in messages (e.g. ``"[fit] q2_min/q2_max"``).
    error : type of Hepc9Error
        Exception class raised (:class:`DataError` by default).

    Returns
    -------
    (float, float)
        low < high, inside the kinematic range.

    Raises
    ------
    DataError (or ``error``)
        Malformed, non-finite, empty, inverted or (``mode="raise"``) out-of-range windows.
    """
    if mode not in ("clip", "raise"):
        raise DataError(f"mode = {mode!r} must be 'clip' or 'raise'")
    q2_min, q2_max = q2_limits(constants, mkpi)
    q2_min, q2_max = float(q2_min), float(q2_max)
    if q2_range is None:
        return q2_min, q2_max
    if isinstance(q2_range, str | bytes):
        raise error(f"{what} must be a pair of numbers (q2_min, q2_max) in GeV², got {q2_range!r}")
    try:
        lo_in, hi_in = q2_range
    except (TypeError, ValueError) as err:
        raise error(
            f"{what} must be a pair of numbers (q2_min, q2_max) in GeV², got {q2_range!r}"
        ) from err
    lo = _edge(lo_in, q2_min, what, error)
    hi = _edge(hi_in, q2_max, what, error)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise error(
            f"{what} ({lo:g}, {hi:g}) GeV² must be finite with low < high (q2_min < q2_max); "
            f"choose a window inside the kinematic range [{q2_min:.7g}, {q2_max:.7g}] GeV²"
        )
    if mode == "raise":
        if lo < q2_min - EDGE_TOLERANCE or hi > q2_max + EDGE_TOLERANCE:
            raise error(
                f"{what} ({lo:g}, {hi:g}) GeV² leaves the kinematic range (kinematic limits "
                f"[{q2_min:.7g}, {q2_max:.7g}] GeV²); choose a window inside it"
            )
        return max(lo, q2_min), min(hi, q2_max)
    lo_c, hi_c = max(lo, q2_min), min(hi, q2_max)
    if lo_c >= hi_c:
        raise error(
            f"{what} ({lo:g}, {hi:g}) GeV² lies outside the kinematic range "
            f"[{q2_min:.7g}, {q2_max:.7g}] GeV²"
        )
    return lo_c, hi_c

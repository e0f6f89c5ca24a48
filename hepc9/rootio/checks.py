"""The one validation of event columns, wherever events enter hepc9.

:func:`check_events` finds the rows no physical B0 → K*0 μ+μ− candidate can have: a
non-finite q², angle or m(Kπ), cos θℓ or cos θK outside [−1, 1], χ outside [0, 2π) rad,
q² outside the phase space [4 m_μ², (m_B − m_K − m_π)²].  The policy decides what happens:
``"fail"`` (``--strict``, ``on_nonfinite = "fail"``) raises a one-line
:class:`~hepc9.errors.DataError` naming the column, the count and the first entry; ``"drop"``
removes the rows with one counted :class:`~hepc9.errors.DroppedRowsWarning`.

Limits carry a relative tolerance of 1e-6, so that float32 rounding of legitimate values at
the edges (χ = 2π − ε stored as ``float32(2π)``, cos θ = ±1) passes.  The fit, ``predict``,
``images --from``, ``convert`` and ``simulate`` all use this function.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np

from hepc9.errors import DataError, DroppedRowsWarning
from hepc9.physics.constants import SEED_MODEL, ModelConstants

__all__ = ["ANGLE_LIMITS", "FINITE_COLUMNS", "EventCheck", "check_events", "phase_space_q2"]

_TOL = 1e-6
_TWO_PI = 2.0 * math.pi

#: Columns every event needs finite (truth columns may be NaN: background candidates).
FINITE_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi", "mkpi")

#: Closed limits of the angle columns (χ: [0, 2π) up to float32 rounding).
ANGLE_LIMITS: dict[str, tuple[float, float]] = {
    "costheta_l": (-1.0, 1.0),
    "costheta_k": (-1.0, 1.0),
    "chi": (0.0, _TWO_PI),
    "chi_true": (0.0, _TWO_PI),
    "costheta_l_true": (-1.0, 1.0),
    "costheta_k_true": (-1.0, 1.0),
}


def phase_space_q2(constants: ModelConstants = SEED_MODEL) -> tuple[float, float]:
    """Return the q² phase space ``[4 m_μ², (m_B − m_K − m_π)²]`` in GeV².

    The upper edge is the K π threshold, so that events of a broad K* line shape (and
    reconstructed ones) pass.
    """
    return 4.0 * constants.m_mu**2, (constants.m_B0 - constants.m_K - constants.m_pi) ** 2


class EventCheck:
    """Counts of the rows :func:`check_events` removed, by reason (for provenance)."""

    def __init__(self) -> None:
        self.rows_read = 0
        self.rows_dropped = 0
        self.reasons: dict[str, int] = {}

    def add(self, reason: str, n: int) -> None:
        """Count ``n`` rows failing ``reason``."""
        if n:
            self.reasons[reason] = self.reasons.get(reason, 0) + int(n)

    def summary(self) -> str:
        """``"3 non-finite q2, 2 costheta_l outside [-1, 1]"``."""
        return ", ".join(f"{n} {why}" for why, n in self.reasons.items())


def _reasons(events: Mapping[str, np.ndarray], q2_limits: tuple[float, float]
             ) -> list[tuple[str, str, np.ndarray]]:
    """(column, reason, bad-row mask) for every failing test."""
    out = []
    lo_q2, hi_q2 = q2_limits
    limits = {**ANGLE_LIMITS, "q2": (lo_q2, hi_q2), "q2_true": (lo_q2, hi_q2)}
    for name, col in events.items():
        v = np.asarray(col)
        if v.dtype.kind != "f" or (name not in FINITE_COLUMNS and name not in limits):
            continue
        finite = np.isfinite(v)
        if name in FINITE_COLUMNS and not finite.all():
            out.append((name, f"non-finite {name}", ~finite))
        if name in limits:
            lo, hi = limits[name]
            span = _TOL * max(abs(lo), abs(hi), 1.0)
            with np.errstate(invalid="ignore"):
                bad = finite & ((v < lo - span) | (v > hi + span))
            if bad.any():
                edge = "[0, 2π)" if name.startswith("chi") else f"[{lo:.6g}, {hi:.6g}]"
                unit = " GeV²" if name.startswith("q2") else ""
                out.append((name, f"{name} outside {edge}{unit}", bad))
    return out


def check_events(
    events: Mapping[str, np.ndarray],
    *,
    what: str,
    policy: str = "fail",
    counts: EventCheck | None = None,
    constants: ModelConstants = SEED_MODEL,
    warn: bool = True,
) -> dict[str, np.ndarray]:
    """Check event columns; return them (rows removed under ``policy="drop"``).

    Parameters
    ----------
    events : mapping of str to ndarray
        Columns of equal length (native names); :data:`FINITE_COLUMNS` must be finite,
        angle and q² columns (truth ones included, where finite) inside their limits.
    what : str
        Where the events come from, for messages (``"tree 'events' of f.root"``).
    policy : {"fail", "drop"}
        Raise on the first bad row, or drop bad rows with a counted warning.
    counts : EventCheck, optional
        Accumulates the counts (then no warning is issued here when ``warn`` is false:
        the caller warns once per file).
    constants : ModelConstants
        Masses for the q² phase space.
    warn : bool
        Issue the :class:`DroppedRowsWarning` for dropped rows here.

    Returns
    -------
    dict of str to ndarray
        The (remaining) columns.

    Raises
    ------
    DataError
        A bad row with ``policy="fail"``.
    """
    if policy not in ("fail", "drop"):
        raise DataError(f"policy = {policy!r} must be 'fail' or 'drop'")
    cols = {k: np.asarray(v) for k, v in events.items()}
    n = len(next(iter(cols.values()))) if cols else 0
    tally = counts if counts is not None else EventCheck()
    tally.rows_read += n
    found = _reasons(cols, phase_space_q2(constants))
    if not found:
        return cols
    if policy == "fail":
        # the test that fails first in row order
        name, why, mask = min(found, key=lambda f: int(np.argmax(f[2])))
        i = int(np.argmax(mask))
        raise DataError(
            f"{what}: {int(mask.sum())} of {n} events have {why} (first at row {i}: "
            f"{name} = {cols[name][i].item()!r}); fix the input, or read without --strict to "
            "drop such rows with a warning"
        )
    bad = np.zeros(n, dtype=bool)
    for _name, why, mask in found:
        tally.add(why, int(mask.sum()))
        bad |= mask
    n_bad = int(bad.sum())
    tally.rows_dropped += n_bad
    if warn:
        warnings.warn(f"dropped {n_bad} of {n} events of {what}: {tally.summary()}",
                      DroppedRowsWarning, stacklevel=2)
    return {k: v[~bad] for k, v in cols.items()}

"""Inputs of the unbinned fit: free-parameter names, the q² window, event checks, forms.

* :func:`check_free` validates the names of the free shifts;
* :func:`resolve_q2_range` is the fit's window rule (the physics rule of
  :mod:`hepc9.physics.window` in ``mode="raise"``);
* :func:`select_window` checks the fit columns and keeps (or rejects) events outside the window;
* :func:`event_coefficients` turns events into packed per-event quadratic forms (spline table of
  :mod:`hepc9.fit.precompute`, or the exact physics);
* :func:`model_normalisation` is the packed normalisation 𝕄 without acceptance.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from hepc9.errors import DataError, DroppedRowsWarning, ShapeError, check_names
from hepc9.fit.packed import pack_matrices
from hepc9.fit.precompute import coefficient_table, table_coefficients
from hepc9.physics import window as physics_window
from hepc9.physics.constants import (
    SEED_MODEL,
    SHIFT_NAMES,
    ZERO_SHIFTS,
    ModelConstants,
    WilsonShifts,
)
from hepc9.physics.quadratic import normalisation_matrix, quadratic_coefficients
from hepc9.rootio.checks import check_events

__all__ = [
    "ANGLE_COLUMNS",
    "check_free",
    "event_coefficients",
    "model_normalisation",
    "resolve_q2_range",
    "select_window",
]

#: Event columns the fit reads (native names, formats.md §1).
ANGLE_COLUMNS = ("q2", "costheta_l", "costheta_k", "chi")


def check_free(free: Sequence[str] | str) -> tuple[str, ...]:
    """Validate the names of free shifts.

    Parameters
    ----------
    free : sequence of str or str
        Names from ``SHIFT_NAMES`` (a comma-separated string is accepted).

    Returns
    -------
    tuple of str
        The names in the canonical order of ``SHIFT_NAMES``.
    """
    names = [s.strip() for s in free.split(",")] if isinstance(free, str) else list(free)
    given = check_names([n for n in names if n], SHIFT_NAMES, what="free parameters",
                        error=DataError)
    return tuple(n for n in SHIFT_NAMES if n in given)


def resolve_q2_range(
    q2_range: Sequence[float | None] | None, constants: ModelConstants = SEED_MODEL
) -> tuple[float, float]:
    """Return the fit window, checked against the kinematic limits (physics.md §1.2).

    The window rule of :func:`hepc9.physics.window.resolve_q2_range` in ``mode="raise"``: a
    window that leaves the kinematic range (by more than 1e-9 GeV²) is an error, not clipped.

    Parameters
    ----------
    q2_range : (float, float) or None
        Window in GeV²; ``None`` (or a ``None`` edge) means the kinematic limit (narrow K*).
    constants : ModelConstants

    Returns
    -------
    (float, float)

    Raises
    ------
    DataError
        Malformed, non-finite, inverted or out-of-range windows.
    """
    return physics_window.resolve_q2_range(q2_range, constants, mode="raise")


def select_window(
    events: Mapping[str, np.ndarray],
    q2_range: tuple[float, float],
    *,
    outside: Literal["raise", "drop"] = "raise",
    what: str = "events",
    extra_columns: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], int]:
    """Check the fit columns and keep the events inside the q² window.

    Parameters
    ----------
    events : mapping of str to ndarray
        Native event columns (needs ``q2 costheta_l costheta_k chi``).
    q2_range : (float, float)
        Window in GeV².
    outside : {"raise", "drop"}
        Events outside the window raise :class:`DataError`, or are dropped with one
        :class:`DroppedRowsWarning`.
    what : str
        Name of the sample for messages.
    extra_columns : sequence of str
        Further columns to carry along (and check for finiteness).

    Returns
    -------
    events : dict of str to ndarray (float64)
        The selected columns.
    n_dropped : int
    """
    if outside not in ("raise", "drop"):
        raise DataError(f"outside = {outside!r} must be 'raise' or 'drop'")
    cols = (*ANGLE_COLUMNS, *extra_columns)
    missing = [c for c in cols if c not in events]
    if missing:
        raise DataError(
            f"{what} lack the column(s) {', '.join(missing)}; the fit needs {', '.join(cols)}"
        )
    out = {c: np.asarray(events[c], dtype=np.float64).ravel() for c in cols}
    n = out["q2"].size
    if any(v.size != n for v in out.values()):
        raise ShapeError(f"{what}: columns {', '.join(cols)} have different lengths")
    if n == 0:
        raise DataError(f"{what} are empty: nothing to fit")
    # the one event validation: finite, cosines in [-1, 1], χ in [0, 2π), q² in phase space
    out = check_events(out, what=what, policy="fail")
    lo, hi = q2_range
    keep = (out["q2"] >= lo) & (out["q2"] <= hi)
    n_out = int(n - keep.sum())
    if n_out:
        if outside == "raise":
            raise DataError(
                f"{n_out} of {n} {what} have q² outside the fit window [{lo:.6g}, {hi:.6g}] GeV²; "
                "select them first, change --q2-range, or drop them (outside='drop')"
            )
        warnings.warn(
            f"dropped {n_out} of {n} {what} with q² outside [{lo:.6g}, {hi:.6g}] GeV²",
            DroppedRowsWarning,
            stacklevel=2,
        )
        out = {c: v[keep] for c, v in out.items()}
    return out, n_out


def event_coefficients(
    events: Mapping[str, np.ndarray],
    *,
    params: Sequence[str] = ("dc9",),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    use_mkpi: bool = False,
    q2_range: Sequence[float] | None = None,
    exact: bool = False,
) -> np.ndarray:
    """Return the packed quadratic form of the rate for every event.

    Parameters
    ----------
    events : mapping of str to ndarray
        ``q2 costheta_l costheta_k chi`` (and ``mkpi`` with ``use_mkpi``), shape (n,).
    params : sequence of str
        Free shifts θ (expansion around ``at``).
    at : WilsonShifts
        Expansion point (values of the fixed shifts; free ones are usually 0).
    constants : ModelConstants
    use_mkpi : bool
        Evaluate kinematics and form factors at the event's m(Kπ) instead of m_K* (always
        the exact path).
    q2_range : (float, float), optional
        Window of the events (default full range); sets the q² table of the fast path.
    exact : bool
        Evaluate the physics (:func:`hepc9.physics.quadratic.quadratic_coefficients`) at every
        event instead of the spline table of :mod:`hepc9.fit.precompute` (whose interpolation
        error is below 1e-6 of the local rate, tested).

    Returns
    -------
    ndarray, shape (n, K(K+1)/2), float64
        Upper triangles of M(x_e) with rate(x_e; at + θ) = θ̃ᵀ M θ̃ (GeV⁻¹ per unit of the 4D
        phase space, physics.rate units).
    """
    if exact or use_mkpi:
        mkpi = np.asarray(events["mkpi"], dtype=np.float64) if use_mkpi else None
        m = quadratic_coefficients(
            np.asarray(events["q2"], dtype=np.float64),
            np.asarray(events["costheta_l"], dtype=np.float64),
            np.asarray(events["costheta_k"], dtype=np.float64),
            np.asarray(events["chi"], dtype=np.float64),
            params=tuple(params),
            at=at,
            constants=constants,
            mkpi=mkpi,
        )
        return pack_matrices(m)
    window = resolve_q2_range(q2_range, constants)
    q2 = np.asarray(events["q2"], dtype=np.float64)
    if q2.size and (q2.min() < window[0] or q2.max() > window[1]):
        raise DataError(
            f"events with q² in [{q2.min():.6g}, {q2.max():.6g}] GeV² lie outside the window "
            f"[{window[0]:.6g}, {window[1]:.6g}] of the coefficient table; pass q2_range"
        )
    table = coefficient_table(tuple(params), at, constants, window)
    return table_coefficients(events, table)


def model_normalisation(
    *,
    params: Sequence[str] = ("dc9",),
    at: WilsonShifts = ZERO_SHIFTS,
    constants: ModelConstants = SEED_MODEL,
    q2_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Return the packed normalisation 𝕄 = ∫ M dx over the q² window (no acceptance).

    Parameters
    ----------
    params, at, constants
        As in :func:`event_coefficients`.
    q2_range : (float, float), optional
        Window in GeV²; ``None`` is the full range.

    Returns
    -------
    ndarray, shape (K(K+1)/2,), float64
    """
    return pack_matrices(
        normalisation_matrix(params=tuple(params), at=at, constants=constants, q2_range=q2_range)
    )

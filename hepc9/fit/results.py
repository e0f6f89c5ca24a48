"""Result objects of the unbinned fit: :class:`FitResult` and :class:`ScanResult`.

Frozen dataclasses with ``to_dict`` (JSON-compatible) and, for :class:`FitResult`,
``from_dict`` and a plain-text ``table``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hepc9.errors import DataError
from hepc9.physics.constants import SHIFT_NAMES, WilsonShifts

__all__ = ["FitResult", "ScanResult"]


def _plain(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


@dataclass(frozen=True)
class FitResult:
    """Result of one unbinned fit.

    Attributes
    ----------
    values, errors : dict of str to float
        Best-fit values and HESSE errors of the free parameters (shifts and ``f_bkg``).
    minos : dict of str to (float, float) or None
        MINOS (lower, upper) errors (lower ≤ 0 ≤ upper) when requested.
    minos_valid : dict of str to bool or None
    covariance, correlation : tuple of tuple of float
        HESSE covariance and correlation matrices, ordered as ``parameters``.
    valid : bool
        MIGRAD converged (valid minimum, accurate covariance) and, when run, MINOS is valid.
    nll : float
        −ln L at the minimum.
    n_events : int
        Events in the fit (after dropping).
    q2_range : (float, float)
        Fit window in GeV².
    free : tuple of str
        Free shifts.
    fixed : dict of str to float
        Values of all other shifts (and ``f_bkg`` when fixed).
    parameters : tuple of str
        All fit parameters in covariance order.
    edm : float
    nfcn : int
    n_dropped : int
    normalisation : str
        ``"model"`` (exact q² integral) or ``"acceptance"`` (simulation sample).
    message : str
        Empty for a good fit, otherwise what went wrong.
    scan : dict or None
        Likelihood profile, when requested.
    error_components : dict or None
        Statistical, template and efficiency parts of ``errors`` (then the total) for fits
        with a background template or an acceptance sample
        (:class:`~hepc9.fit.uncertainty.ErrorComponents`).
    """

    values: dict[str, float]
    errors: dict[str, float]
    minos: dict[str, tuple[float, float]] | None
    minos_valid: dict[str, bool] | None
    covariance: tuple[tuple[float, ...], ...]
    correlation: tuple[tuple[float, ...], ...]
    valid: bool
    nll: float
    n_events: int
    q2_range: tuple[float, float]
    free: tuple[str, ...]
    fixed: dict[str, float]
    parameters: tuple[str, ...] = ()
    edm: float = math.nan
    nfcn: int = 0
    n_dropped: int = 0
    normalisation: str = "model"
    message: str = ""
    scan: dict[str, Any] | None = None
    error_components: dict[str, Any] | None = None

    def interval(self, name: str) -> tuple[float, float]:
        """Return the MINOS interval (absolute lower, upper bound) of ``name``."""
        if self.minos is None or name not in self.minos:
            raise DataError(f"no MINOS interval for '{name}'; rerun the fit with minos=True")
        lo, hi = self.minos[name]
        return self.values[name] + lo, self.values[name] + hi

    def shifts(self) -> WilsonShifts:
        """Return the fitted point as :class:`WilsonShifts` (fixed shifts included)."""
        d = {k: v for k, v in self.fixed.items() if k in SHIFT_NAMES}
        d.update({k: v for k, v in self.values.items() if k in SHIFT_NAMES})
        return WilsonShifts(**d)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data (tuples become lists)."""
        return {
            "values": _plain(self.values),
            "errors": _plain(self.errors),
            "minos": None if self.minos is None else {k: list(v) for k, v in self.minos.items()},
            "minos_valid": self.minos_valid,
            "covariance": _plain(self.covariance),
            "correlation": _plain(self.correlation),
            "valid": bool(self.valid),
            "nll": float(self.nll),
            "n_events": int(self.n_events),
            "q2_range": list(self.q2_range),
            "free": list(self.free),
            "fixed": _plain(self.fixed),
            "parameters": list(self.parameters),
            "edm": float(self.edm),
            "nfcn": int(self.nfcn),
            "n_dropped": int(self.n_dropped),
            "normalisation": self.normalisation,
            "message": self.message,
            "scan": self.scan,
            **(
                {} if self.error_components is None else {"error_components": self.error_components}
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitResult:
        """Rebuild a result from :meth:`to_dict` output."""
        try:
            minos = data.get("minos")
            return cls(
                values={k: float(v) for k, v in data["values"].items()},
                errors={k: float(v) for k, v in data["errors"].items()},
                minos=None
                if minos is None
                else {k: (float(v[0]), float(v[1])) for k, v in minos.items()},
                minos_valid=None
                if data.get("minos_valid") is None
                else {k: bool(v) for k, v in data["minos_valid"].items()},
                covariance=tuple(tuple(float(x) for x in row) for row in data["covariance"]),
                correlation=tuple(tuple(float(x) for x in row) for row in data["correlation"]),
                valid=bool(data["valid"]),
                nll=float(data["nll"]),
                n_events=int(data["n_events"]),
                q2_range=(float(data["q2_range"][0]), float(data["q2_range"][1])),
                free=tuple(data["free"]),
                fixed={k: float(v) for k, v in data["fixed"].items()},
                parameters=tuple(data.get("parameters", data["free"])),
                edm=float(data.get("edm", math.nan)),
                nfcn=int(data.get("nfcn", 0)),
                n_dropped=int(data.get("n_dropped", 0)),
                normalisation=str(data.get("normalisation", "model")),
                message=str(data.get("message", "")),
                scan=data.get("scan"),
                error_components=data.get("error_components"),
            )
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise DataError(f"not a fit result: {err}") from err

    def table(self) -> str:
        """Return a plain-text result table."""
        lines = [
            f"unbinned 4D fit: {self.n_events} events, q² in [{self.q2_range[0]:.4g}, "
            f"{self.q2_range[1]:.4g}] GeV², normalisation {self.normalisation}",
            f"{'parameter':<10} {'value':>10} {'HESSE':>9} {'MINOS −':>9} {'MINOS +':>9}",
        ]
        for name in self.parameters:
            lo, hi = ("", "")
            if self.minos is not None and name in self.minos:
                lo, hi = (f"{self.minos[name][0]:+.4f}", f"{self.minos[name][1]:+.4f}")
            lines.append(
                f"{name:<10} {self.values[name]:>+10.4f} {self.errors[name]:>9.4f} {lo:>9} {hi:>9}"
            )
        comp = self.error_components
        if comp is not None:
            lines.append("error components (total = quadrature sum; HESSE column is the total):")
            for name in self.parameters:
                lines.append(
                    f"  {name:<8} stat {comp['statistical'][name]:.4f}  template "
                    f"{comp['template'][name]:.4f}  efficiency {comp['efficiency'][name]:.4f}"
                )
        if len(self.parameters) > 1:
            lines.append("correlations:")
            for name, row in zip(self.parameters, self.correlation, strict=True):
                lines.append(f"  {name:<8} " + " ".join(f"{x:+.3f}" for x in row))
        fixed = ", ".join(f"{k}={v:g}" for k, v in self.fixed.items() if v != 0.0)
        lines.append(f"fixed: {fixed or 'all other shifts 0'}")
        status = "valid" if self.valid else f"INVALID ({self.message})"
        lines.append(f"−ln L = {self.nll:.3f}, EDM = {self.edm:.2e}, calls = {self.nfcn}: {status}")
        if self.scan is not None:
            kind = "profile" if self.scan["profile"] else "scan"
            lines.append(f"likelihood {kind} of {self.scan['parameter']} (ΔNLL):")
            for v, d in zip(self.scan["values"], self.scan["delta_nll"], strict=True):
                lines.append(f"  {v:+10.4f}  {d:10.4f}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ScanResult:
    """A likelihood scan of one parameter.

    Attributes
    ----------
    parameter : str
    values : ndarray, shape (m,)
        Scanned values.
    delta_nll : ndarray, shape (m,)
        −ln L(value) − −ln L(best fit); profiled over the other parameters when ``profile``.
    profile : bool
    valid : ndarray of bool, shape (m,)
        Whether each profiled minimisation converged (all True for plain scans).
    """

    parameter: str
    values: np.ndarray
    delta_nll: np.ndarray
    profile: bool
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-compatible data."""
        return {
            "parameter": self.parameter,
            "values": self.values.tolist(),
            "delta_nll": self.delta_nll.tolist(),
            "profile": self.profile,
            "valid": self.valid.tolist(),
        }

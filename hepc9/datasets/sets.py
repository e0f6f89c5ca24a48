"""Event sets: raw events as ``(N, n, F)`` arrays for Deep Sets and event-level models.

Each event becomes a feature vector; every feature is standardised, ``(v − mean) / std``, with
statistics taken once from a reference sample (its own random stream, independent of the
labels) and stored in the dataset index, so that all labels and splits share them.

Features (:data:`FEATURES`):

``q2`` [GeV²], ``costheta_l``, ``costheta_k``, ``chi`` [rad], ``cos_chi`` and ``sin_chi``
(the periodic χ as a point on the circle, the default instead of ``chi``), ``mkpi`` [GeV] and
``flavour`` (±1, never standardised: its mean and std are recorded as 0 and 1), and the twelve
angular functions ``f_1s`` … ``f_9`` of physics.md §2.1 evaluated at the event's angles (the rate
is Σ_i J_i(q²) f_i(Ω), so these are the terms a per-event network would otherwise have to
learn; :func:`hepc9.physics.angular.angular_functions_numba`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepc9.errors import DataError, ShapeError, check_names
from hepc9.physics.angular import J_INDEX, J_NAMES, angular_functions_numba

__all__ = ["ANGULAR_FEATURES", "DEFAULT_FEATURES", "FEATURES", "SetSpec", "feature_matrix",
           "make_sets", "reference_set_spec"]

#: The angular functions as features, ordered as :data:`hepc9.physics.angular.J_NAMES`.
ANGULAR_FEATURES = tuple(f"f_{name}" for name in J_NAMES)
#: Known per-event features.
FEATURES = ("q2", "costheta_l", "costheta_k", "chi", "cos_chi", "sin_chi", "mkpi", "flavour",
            *ANGULAR_FEATURES)
#: Default features.
DEFAULT_FEATURES = ("q2", "costheta_l", "costheta_k", "cos_chi", "sin_chi")


def _check_features(features: Sequence[str]) -> tuple[str, ...]:
    return check_names(features, FEATURES, what="event-set features")


def feature_matrix(events: Mapping[str, Any], features: Sequence[str]) -> np.ndarray:
    """Return the raw (unstandardised) features of events.

    Parameters
    ----------
    events : mapping
        Native columns (``q2 costheta_l costheta_k chi``, ``mkpi``/``flavour`` when used), (n,).
    features : sequence of str
        Feature names from :data:`FEATURES`.

    Returns
    -------
    ndarray
        ``(n, F)`` float64.
    """
    feats = _check_features(features)
    angular = None
    if any(f in ANGULAR_FEATURES for f in feats):
        missing = [c for c in ("costheta_l", "costheta_k", "chi") if c not in events]
        if missing:
            raise DataError(f"the angular-function features need the columns {missing}, "
                            "which the events lack")
        angular = angular_functions_numba(events["costheta_l"], events["costheta_k"],
                                          events["chi"])
    cols = []
    for f in feats:
        if angular is not None and f in ANGULAR_FEATURES:
            cols.append(angular[J_INDEX[f[2:]]])
            continue
        src = "chi" if f in ("cos_chi", "sin_chi") else f
        if src not in events:
            raise DataError(f"set feature '{f}' needs the column '{src}', which the events lack")
        v = np.asarray(events[src], dtype=np.float64)
        if f == "cos_chi":
            v = np.cos(v)
        elif f == "sin_chi":
            v = np.sin(v)
        cols.append(v)
    n = len(cols[0])
    if any(c.shape != (n,) for c in cols):
        raise ShapeError("event columns must be 1-D arrays of one length")
    return np.stack(cols, axis=1) if cols else np.empty((n, 0))


@dataclass(frozen=True, slots=True, kw_only=True)
class SetSpec:
    """Features of event sets and their fixed standardisation.

    Parameters
    ----------
    features : tuple of str
        Feature names in column order.
    mean, std : tuple of float
        Reference statistics per feature (``flavour``: 0 and 1).
    source : str
        Where the statistics come from (for the record).
    """

    features: tuple[str, ...] = DEFAULT_FEATURES
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        feats = _check_features(self.features)
        object.__setattr__(self, "features", feats)
        mean = tuple(float(m) for m in self.mean) or (0.0,) * len(feats)
        std = tuple(float(s) for s in self.std) or (1.0,) * len(feats)
        if len(mean) != len(feats) or len(std) != len(feats):
            raise ShapeError(f"{len(feats)} features but {len(mean)} means and {len(std)} stds")
        if not all(np.isfinite(mean)) or not all(np.isfinite(s) and s > 0 for s in std):
            raise DataError("set standardisation needs finite means and positive stds")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """Return ``(raw − mean) / std`` for ``(..., F)`` raw features, float64."""
        return (np.asarray(raw, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.std)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data (inverse of :meth:`from_dict`)."""
        return {"features": list(self.features), "mean": list(self.mean),
                "std": list(self.std), "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SetSpec:
        """Rebuild from :meth:`to_dict` output."""
        return cls(features=tuple(data["features"]), mean=tuple(data["mean"]),
                   std=tuple(data["std"]), source=str(data.get("source", "")))


def reference_set_spec(
    events: Mapping[str, Any], features: Sequence[str] = DEFAULT_FEATURES, *, source: str = ""
) -> SetSpec:
    """Compute the standardisation of set features from a reference sample.

    Parameters
    ----------
    events : mapping
        Reference events (never the labelled training data of one label).
    features : sequence of str
        Feature names.
    source : str
        Description of the reference sample.

    Returns
    -------
    SetSpec
    """
    feats = _check_features(features)
    raw = feature_matrix(events, feats)
    if len(raw) < 2:
        raise DataError("the reference sample needs at least two events")
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    for i, f in enumerate(feats):
        if f == "flavour":
            mean[i], std[i] = 0.0, 1.0
        elif not std[i] > 0:
            raise DataError(f"set feature '{f}' has zero spread in the reference sample")
    return SetSpec(features=feats, mean=tuple(mean), std=tuple(std), source=source)


def make_sets(
    events: Mapping[str, Any], spec: SetSpec, *, n_sets: int, dtype: Any = np.float32
) -> np.ndarray:
    """Cut events into ``n_sets`` consecutive sets of equal size, standardised.

    Parameters
    ----------
    events : mapping
        Columns of ``n_sets · n`` events (each event in exactly one set).
    spec : SetSpec
        Features and standardisation.
    n_sets : int
        Number of sets.
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    ndarray
        ``(n_sets, n, F)``.
    """
    raw = feature_matrix(events, spec.features)
    if n_sets <= 0 or len(raw) % n_sets:
        raise ShapeError(f"{len(raw)} events do not split into {n_sets} equal sets")
    return spec.standardise(raw).astype(dtype).reshape(n_sets, len(raw) // n_sets, -1)

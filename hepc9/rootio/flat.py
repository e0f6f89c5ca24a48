"""Generic flat tables with lab four-vectors and a column mapping (formats.md §3c).

Any flat TTree holding the lab four-momenta of the kaon, the pion and the physical μ+ and μ−
can be read once the native names are mapped to branches::

    [ingest]
    layout = "flat"
    tree = "Events"
    energy_unit = "GeV"
    flavour = {column = "B_ID", kind = "pdg"}   # or {column = "K_Q", kind = "sign"}, {value = 1}
    [ingest.columns]
    k_e = "K_E"
    k_px = "K_PX"   # ... one entry for each of the 16 four-vector components

Required: the 16 components ``{k,pi,mup,mum}_{e,px,py,pz}`` and a flavour rule; all missing
ones are listed in one error.  Optional: the 16 ``*_true`` components (all or none; truth
angles are recomputed from them), ``weight``, ``mbc``, ``delta_e``, ``is_signal``, the
event-id columns ``experiment``, ``run``, ``event`` and a ``rank`` column (smaller is better)
for the candidate choice.  Mapping any of ``mbc delta_e is_signal`` or truth columns makes the
output detector level.  Flavour kinds: ``pdg`` (the value must be ±511; sign gives the
flavour), ``sign`` (sign of e.g. the kaon charge, never 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepc9.errors import ConfigError, DataError, did_you_mean
from hepc9.rootio._common import require_branches
from hepc9.rootio._foreign import (
    ENTRY,
    FOUR_VECTOR_NAMES,
    KINEMATIC_NAMES,
    PARTICLES,
    LayoutPlan,
    angles_with_truth,
    stack_p4,
)

__all__ = ["EVENT_COLUMNS", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "TRUTH_COLUMNS", "plan"]

#: Native names that must be mapped.
REQUIRED_COLUMNS = FOUR_VECTOR_NAMES
#: Truth four-vector names (all or none).
TRUTH_COLUMNS = tuple(f"{n}_true" for n in FOUR_VECTOR_NAMES)
#: Event-id names, most significant first.
EVENT_COLUMNS = ("experiment", "run", "event")
#: Every other accepted native name.
OPTIONAL_COLUMNS = (*TRUTH_COLUMNS, "weight", "mbc", "delta_e", "is_signal", *EVENT_COLUMNS, "rank")
_COMP = ("e", "px", "py", "pz")
_DET_COLUMNS = ("mbc", "delta_e", "is_signal")


def _check_mapping(columns: Mapping[str, str], flavour: Mapping[str, Any]) -> None:
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    for name in columns:
        if name not in known:
            hint = did_you_mean(name, known)
            raise ConfigError(f"[ingest.columns] has unknown native name '{name}'{hint}")
    missing = [n for n in REQUIRED_COLUMNS if n not in columns]
    if not flavour:
        missing.append("flavour")
    if missing:
        raise ConfigError(
            "flat table mapping lacks " + ", ".join(missing) + "; map them in [ingest.columns] "
            "(native name = \"branch\") and set [ingest] flavour = {column = ..., kind = \"pdg\"} "
            "or {value = 1} (see formats.md §3c)"
        )
    truth = [n for n in TRUTH_COLUMNS if n in columns]
    if truth and len(truth) != len(TRUTH_COLUMNS):
        lacking = [n for n in TRUTH_COLUMNS if n not in columns]
        raise ConfigError(
            "flat table mapping has some truth columns but lacks " + ", ".join(lacking) +
            "; map all 16 *_true four-vector components or none"
        )
    if any(n in columns for n in ("experiment", "run")) and "event" not in columns:
        raise ConfigError(
            "flat table mapping has experiment/run columns but no 'event'; map event too"
        )


def plan(
    tree: Any,
    *,
    path: str,
    tree_name: str,
    columns: Mapping[str, str],
    flavour: Mapping[str, Any],
    candidate: str,
) -> LayoutPlan:
    """Describe how to read a flat table.

    Parameters
    ----------
    tree : uproot.TTree
        The open tree.
    path : str
        File path (messages).
    tree_name : str
        Its name.
    columns : mapping of str to str
        Native name → branch name (``[ingest.columns]``).
    flavour : mapping
        Flavour rule (``[ingest] flavour``).
    candidate : str
        Candidate rule (``best first random all``).

    Returns
    -------
    LayoutPlan

    Raises
    ------
    ConfigError
        Incomplete or unknown mapping, ``best`` without a rank or ΔE column.
    MissingBranchError
        A mapped branch is not in the tree.
    """
    _check_mapping(columns, flavour)
    col = dict(columns)
    has_truth = TRUTH_COLUMNS[0] in col
    level = "det" if has_truth or any(n in col for n in _DET_COLUMNS) else "gen"
    flavour_branch = flavour.get("column")
    required = [col[n] for n in REQUIRED_COLUMNS]
    for n in ("mbc", "delta_e"):
        if n in col:
            required.append(col[n])
    if flavour_branch:
        required.append(flavour_branch)
    truth = [col[n] for n in TRUTH_COLUMNS] if has_truth else []
    group = [col[n] for n in EVENT_COLUMNS if n in col]
    extra = [col[n] for n in ("weight", "is_signal") if n in col]
    best_rank = None
    best_rule = ""
    if group and candidate == "best":
        if "rank" in col:
            extra.append(col["rank"])
            best_rule = f"smallest {col['rank']}"
            rank_branch = col["rank"]

            def best_rank(a: Mapping[str, np.ndarray]) -> np.ndarray:
                return a[rank_branch]

        elif "delta_e" in col:
            best_rule = f"smallest |{col['delta_e']}|"
            de_branch = col["delta_e"]

            def best_rank(a: Mapping[str, np.ndarray]) -> np.ndarray:
                return np.abs(a[de_branch])

        else:
            raise ConfigError(
                "candidate rule 'best' needs a quality column: map [ingest.columns] rank (or "
                "delta_e), or use candidate = \"first\", \"random\" or \"all\""
            )
    elif group and candidate in ("first", "random") and "rank" in col:
        extra.append(col["rank"])
    branches = list(dict.fromkeys([*required, *truth, *extra, *group]))
    require_branches(tree, branches, path)
    energy = [col[n] for n in REQUIRED_COLUMNS] + truth
    energy += [col[n] for n in ("mbc", "delta_e") if n in col]
    signal_branch = col.get("is_signal")

    def signal(a: Mapping[str, np.ndarray]) -> np.ndarray:
        if signal_branch is None:
            n = len(a[required[0]])
            return np.zeros(n, dtype=bool)
        return a[signal_branch] == 1

    def convert(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return _convert(a, col=col, flavour=flavour, level=level, has_truth=has_truth,
                        where=f"tree '{tree_name}' of {path}")

    return LayoutPlan(
        layout="flat",
        tree=tree_name,
        level=level,
        branches=tuple(branches),
        required=tuple(required),
        truth=tuple(truth),
        signal=signal if has_truth else None,
        energy_branches=tuple(dict.fromkeys(energy)),
        momentum=(col["k_px"], col["k_py"], col["k_pz"]),
        group_keys=tuple(group),
        first_rank=None,
        best_rank=best_rank,
        best_rule=best_rule,
        convert=convert,
        info={"columns": dict(sorted(col.items())), "flavour_rule": dict(flavour)},
    )


def _flavour(a: Mapping[str, np.ndarray], flavour: Mapping[str, Any], where: str) -> np.ndarray:
    n = len(a[ENTRY])
    if "value" in flavour:
        return np.full(n, int(flavour["value"]), dtype=np.int8)
    branch = flavour["column"]
    raw = np.asarray(a[branch], dtype=np.float64)
    if flavour["kind"] == "pdg":
        bad = np.abs(np.rint(raw)) != 511
        what = "is not a B0 PDG code (+-511)"
    else:
        bad = raw == 0
        what = "is 0, so its sign gives no flavour"
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"flavour column '{branch}' = {raw[i]:g} {what} at entry {int(a[ENTRY][i])} of "
            f"{where}; fix [ingest] flavour (kind \"pdg\" or \"sign\", or {{value = 1}})"
        )
    return np.sign(raw).astype(np.int8)


def _convert(
    a: dict[str, np.ndarray],
    *,
    col: Mapping[str, str],
    flavour: Mapping[str, Any],
    level: str,
    has_truth: bool,
    where: str,
) -> dict[str, np.ndarray]:
    flav = _flavour(a, flavour, where)
    p4 = {p: stack_p4(a, [col[f"{p}_{c}"] for c in _COMP]) for p in PARTICLES}
    out: dict[str, np.ndarray] = dict(angles_with_truth(p4, flav))
    out["flavour"] = flav
    for name in REQUIRED_COLUMNS:
        out[name] = np.asarray(a[col[name]], dtype=np.float64)
    for name in ("mbc", "delta_e", "weight"):
        if name in col:
            out[name] = np.asarray(a[col[name]], dtype=np.float64)
    if level == "det":
        if "is_signal" in col:
            sig = np.asarray(a[col["is_signal"]], dtype=np.float64)
            out["is_signal"] = (np.where(np.isfinite(sig), sig, 0.0) == 1.0).astype(np.int8)
        if has_truth:
            t4 = {p: stack_p4(a, [col[f"{p}_{c}_true"] for c in _COMP]) for p in PARTICLES}
            valid = np.ones(len(flav), dtype=bool)
            for arr in t4.values():
                valid &= np.isfinite(arr).all(axis=1)
            if "is_signal" in out:
                valid &= out["is_signal"] == 1
            tk = angles_with_truth(t4, flav, valid=valid)
            out["flavour_true"] = np.where(valid, flav, 0).astype(np.int8)
            for name in KINEMATIC_NAMES:
                out[f"{name}_true"] = tk[name]
            for name in FOUR_VECTOR_NAMES:
                out[f"{name}_true"] = np.where(valid, np.asarray(a[col[f"{name}_true"]],
                                                                 dtype=np.float64), np.nan)
    return out

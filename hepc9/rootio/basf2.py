"""Belle II basf2 ``variablesToNtuple`` ntuples (formats.md §3a).

Trees ``gen`` (MC decay tree) and ``det`` (reconstructed, truth-matched candidates).  The B
columns carry no prefix (``PDG Mbc deltaE isSignal tfRedChiSqB0 ...``); the daughters use the
prefixes ``K_p_``, ``pi_m_``, ``mu_p_``, ``mu_m_`` with ``E px py pz`` and the truth
``mcE mcPX mcPY mcPZ``.

The prefixes are *positional* aliases of the decay string: for a B̄0 candidate ``K_p_`` holds
the K−, ``pi_m_`` the π+ and ``mu_p_`` the μ−.  Charges are therefore never taken from the
prefixes: the flavour is the sign of the B ``PDG`` (511 → +1, −511 → −1) and must agree with
the kaon (K+ = 321); the physical μ+ is the muon with PDG −13.  Any disagreement is a
:class:`~hepc9.errors.DataError`.

q², m(Kπ) and the angles are recomputed from the four-vectors (truth copies from the ``mc``
four-vectors of truth-matched rows); stored derived angles are ignored.  One candidate per
(``__experiment__``, ``__run__``, ``__event__``) is kept: ``best`` (smallest
``tfRedChiSqB0``, else smallest |ΔE|), ``first`` (smallest ``__candidate__``, i.e.
``__candidate__ == 0`` when it survived the non-finite check), ``random`` or ``all``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numba
import numpy as np

from hepc9.errors import DataError
from hepc9.rootio._common import require_branches
from hepc9.rootio._foreign import (
    ENTRY,
    KINEMATIC_NAMES,
    LayoutPlan,
    angles_with_truth,
)

__all__ = ["EVENT_KEYS", "PREFIXES", "TREES", "looks_like_basf2", "plan"]

#: Tree names written by the seed steering files, in order of preference.
TREES = ("det", "gen")
#: Native particle → basf2 prefix (positional alias of the decay string).
PREFIXES = {"k": "K_p_", "pi": "pi_m_", "mu1": "mu_p_", "mu2": "mu_m_"}
#: Event-id bookkeeping columns of ``variablesToNtuple``.
EVENT_KEYS = ("__experiment__", "__run__", "__event__")

_RECO = ("E", "px", "py", "pz")
_TRUE = ("mcE", "mcPX", "mcPY", "mcPZ")
_COMP = ("e", "px", "py", "pz")

_PDG_B0 = 511
_PDG_KPLUS = 321
_PDG_PIPLUS = 211
_PDG_MUMINUS = 13


_DAUGHTER_PREFIXES = ("K_p_", "pi_m_", "mu_p_", "mu_m_")
_BOOKKEEPING = ("__experiment__", "__run__", "__event__", "__candidate__", "__ncandidates__")


def looks_like_basf2(tree_names: list[str], branch_names: Mapping[str, list[str]]) -> bool:
    """Return whether a file has a basf2 ``gen``/``det`` tree (daughter prefixes, bookkeeping).

    A tree named ``gen`` or ``det`` counts when its branches use three of the daughter
    prefixes ``K_p_ pi_m_ mu_p_ mu_m_``, or one of them and a basf2 bookkeeping branch
    (``__event__``, ``__candidate__`` ...).

    Parameters
    ----------
    tree_names : list of str
        Trees of the file.
    branch_names : mapping of str to list of str
        Branch names of each tree.

    Returns
    -------
    bool
    """
    for name in TREES:
        if name in tree_names:
            keys = set(branch_names.get(name, ()))
            # the naming, not a complete set: a file that lacks one required branch is still
            # recognised, and the reader then names the missing branch with close matches
            prefixes = sum(any(k.startswith(p) for k in keys) for p in _DAUGHTER_PREFIXES)
            bookkeeping = any(k in keys for k in _BOOKKEEPING)
            if prefixes >= 3 or (prefixes >= 1 and bookkeeping):
                return True
    return False


def _branches(prefix: str, comps: tuple[str, ...]) -> list[str]:
    return [f"{prefix}{c}" for c in comps]


def plan(tree: Any, *, path: str, tree_name: str, candidate: str,
         read_truth: bool = True) -> LayoutPlan:
    """Describe how to read one basf2 tree.

    Parameters
    ----------
    tree : uproot.TTree
        The open tree.
    path : str
        File path (messages).
    tree_name : str
        Its name; ``gen`` gives a generator-level output, any other a detector-level one.
    candidate : str
        Candidate rule (``best first random all``).
    read_truth : bool
        Read the MC truth (``isSignal`` and the ``mc*`` four-vectors) when the tree has it;
        ``False`` skips those 17 branches and the truth columns of the output.

    Returns
    -------
    LayoutPlan

    Raises
    ------
    MissingBranchError
        When a required branch is absent (with close matches).
    """
    keys = set(tree.keys())
    level = "gen" if tree_name == "gen" else "det"
    reco = [b for pre in PREFIXES.values() for b in _branches(pre, _RECO)]
    pdg = ["PDG", "K_p_PDG", "mu_p_PDG", "mu_m_PDG"]
    pion_pdg = ["pi_m_PDG"] if "pi_m_PDG" in keys else []
    required = [*reco, *pdg]
    truth: list[str] = []
    extra: list[str] = []
    has_truth = False
    if level == "det":
        required += ["Mbc", "deltaE"]
        mc = [b for pre in PREFIXES.values() for b in _branches(pre, _TRUE)]
        has_truth = read_truth and (any(b in keys for b in mc) or "isSignal" in keys)
        if has_truth:
            truth = mc
            extra.append("isSignal")
    group: list[str] = []
    first_rank: str | None = None
    best_rank = None
    best_rule = ""
    if candidate != "all":
        group = list(EVENT_KEYS)
        if candidate == "first":
            first_rank = "__candidate__"
            extra.append("__candidate__")
        elif candidate == "best":
            if "tfRedChiSqB0" in keys:
                extra.append("tfRedChiSqB0")
                best_rule = "smallest tfRedChiSqB0"

                def best_rank(a: Mapping[str, np.ndarray]) -> np.ndarray:
                    return a["tfRedChiSqB0"]

            elif "deltaE" in keys:
                if "deltaE" not in required:
                    extra.append("deltaE")
                best_rule = "smallest |deltaE|"

                def best_rank(a: Mapping[str, np.ndarray]) -> np.ndarray:
                    return np.abs(a["deltaE"])

            else:
                extra.append("__candidate__")
                best_rule = "no quality variable in the tree: smallest __candidate__"

                def best_rank(a: Mapping[str, np.ndarray]) -> np.ndarray:
                    return a["__candidate__"]

    branches = list(dict.fromkeys([*required, *truth, *pion_pdg, *extra, *group]))
    require_branches(tree, branches, path)
    energy = [*reco, *truth]
    if level == "det":
        energy += ["Mbc", "deltaE"]

    def signal(a: Mapping[str, np.ndarray]) -> np.ndarray:
        return a["isSignal"] == 1

    def convert(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return _convert(a, level=level, has_truth=has_truth, path=path, tree=tree_name)

    return LayoutPlan(
        layout="basf2",
        tree=tree_name,
        level=level,
        branches=tuple(branches),
        required=tuple(required),
        truth=tuple(truth),
        signal=signal if has_truth else None,
        energy_branches=tuple(energy),
        momentum=("K_p_px", "K_p_py", "K_p_pz"),
        group_keys=tuple(group),
        first_rank=first_rank,
        best_rank=best_rank,
        best_rule=best_rule,
        convert=convert,
        info={
            "flavour_rule": "sign of B PDG (511 -> +1); physical mu+ = muon with PDG -13",
            "truth": ("recomputed from mc four-vectors of isSignal rows" if has_truth
                      else "none" if read_truth else "not read (not requested)"),
        },
    )


@numba.njit(cache=True, nogil=True, parallel=True)
def _particles_kernel(cols, first_is_plus, out):  # pragma: no cover - compiled
    """Stack 16 component columns into (4, n, 4) four-vectors k, π, physical μ+, μ− in one pass.

    ``cols`` holds (E, px, py, pz) of K, π, ``mu_p_`` and ``mu_m_``; the muons swap where
    ``first_is_plus`` is false (plain copies: the values are unchanged).
    """
    n = first_is_plus.shape[0]
    for i in numba.prange(n):
        plus = first_is_plus[i]
        for j in range(4):
            out[0, i, j] = cols[j][i]
            out[1, i, j] = cols[4 + j][i]
            x1 = cols[8 + j][i]
            x2 = cols[12 + j][i]
            out[2, i, j] = x1 if plus else x2
            out[3, i, j] = x2 if plus else x1


def _fail_rows(
    bad: np.ndarray, a: Mapping[str, np.ndarray], columns: tuple[str, ...], what: str, where: str
) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        values = ", ".join(f"{c} = {a[c][i]:g}" for c in columns)
        raise DataError(
            f"{what} ({values}) at entry {int(a[ENTRY][i])} of {where}, {int(bad.sum())} rows "
            "in this chunk; the file does not follow the basf2 B0 -> K*0(-> K+ pi-) mu+ mu- layout"
        )


def _convert(
    a: dict[str, np.ndarray], *, level: str, has_truth: bool, path: str, tree: str
) -> dict[str, np.ndarray]:
    where = f"tree '{tree}' of {path}"
    pdg_b = np.rint(a["PDG"])
    _fail_rows(np.abs(pdg_b) != _PDG_B0, a, ("PDG",), "B PDG code is not +-511", where)
    sign = np.sign(pdg_b)
    flavour = sign.astype(np.int8)
    k_pdg = np.rint(a["K_p_PDG"])
    _fail_rows(k_pdg != _PDG_KPLUS * sign, a, ("PDG", "K_p_PDG"),
               "kaon PDG disagrees with the B flavour (sign of PDG)", where)
    if "pi_m_PDG" in a:
        _fail_rows(np.rint(a["pi_m_PDG"]) != -_PDG_PIPLUS * sign, a, ("PDG", "pi_m_PDG"),
                   "pion PDG disagrees with the B flavour", where)
    p1 = np.rint(a["mu_p_PDG"])
    p2 = np.rint(a["mu_m_PDG"])
    _fail_rows((np.abs(p1) != _PDG_MUMINUS) | (p1 != -p2), a, ("mu_p_PDG", "mu_m_PDG"),
               "muon PDG codes are not one mu+ (-13) and one mu- (13)", where)
    first_is_plus = p1 == -_PDG_MUMINUS

    def particle(comps: tuple[str, ...]) -> dict[str, np.ndarray]:
        names = [b for pre in ("k", "pi", "mu1", "mu2") for b in _branches(PREFIXES[pre], comps)]
        cols = tuple(np.ascontiguousarray(a[b], dtype=np.float64) for b in names)
        parts = np.empty((4, len(first_is_plus), 4))
        _particles_kernel(cols, first_is_plus, parts)
        return {"k": parts[0], "pi": parts[1], "mup": parts[2], "mum": parts[3]}

    p4 = particle(_RECO)
    out: dict[str, np.ndarray] = dict(angles_with_truth(p4, flavour))
    out["flavour"] = flavour
    for pname, arr in p4.items():
        for j, c in enumerate(_COMP):
            out[f"{pname}_{c}"] = arr[:, j]
    if level == "det":
        out["mbc"] = np.asarray(a["Mbc"], dtype=np.float64)
        out["delta_e"] = np.asarray(a["deltaE"], dtype=np.float64)
        if has_truth:
            sig = np.asarray(a["isSignal"], dtype=np.float64)
            is_signal = np.where(np.isfinite(sig), sig, 0.0) == 1.0
            out["is_signal"] = is_signal.astype(np.int8)
            out["flavour_true"] = np.where(is_signal, flavour, 0).astype(np.int8)
            t4 = particle(_TRUE)
            finite = is_signal.copy()
            for arr in t4.values():
                finite &= np.isfinite(arr).all(axis=1)
            tk = angles_with_truth(t4, flavour, valid=finite)
            for name in KINEMATIC_NAMES:
                out[f"{name}_true"] = tk[name]
            everywhere = bool(finite.all())
            for pname, arr in t4.items():
                for j, c in enumerate(_COMP):
                    col = arr[:, j]
                    out[f"{pname}_{c}_true"] = col if everywhere else np.where(finite, col, np.nan)
    return out

"""EvtGen decay files for the basf2 model ``BTOSLLNPR`` (formats.md §4, physics.md §3.4).

:func:`decfile_text` writes the complete decay file of the seed samples,
Υ(4S) → B0 B̄0 with one B forced to B0 → K*0(→ K+ π−) μ+ μ− (``CDecay`` for the anti-B0),
at a chosen point of real Wilson-coefficient shifts.  The model line always carries both
numbers (Re, Im) of every coefficient id 0..5 and the explicit resonance flag ``10 0``:

``BTOSLLNPR 0 0 δC7 0.0 1 δC9 0.0 2 δC10 0.0 3 C7′ 0.0 4 C9′ 0.0 5 C10′ 0.0 10 0;``

:func:`parse_btosllnpr` reads such a line back (checking the coordinate mode, the ids and
the number of arguments of each id); :func:`shifts_from_decfile` returns the shifts it encodes.

Careful: the older ``BTOSLLNP`` model of the public EvtGen numbers its arguments differently
(0 = C7′, 1 = C9′, ...); such lines are refused rather than misread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from hepc9.errors import DataError, did_you_mean

__all__ = [
    "COEFFICIENT_IDS",
    "RESONANCE_PARAMETER_IDS",
    "decfile_text",
    "parse_btosllnpr",
    "shifts_from_decfile",
]

#: Shift name → ``BTOSLLNPR`` id of the two-number coefficients (physics.md §3.4).
COEFFICIENT_IDS: dict[str, int] = {"dc7": 0, "dc9": 1, "dc10": 2, "c7p": 3, "c9p": 4, "c10p": 5}

#: One-number resonance parameters (ids 11..17) and their model defaults (formats.md §4).
RESONANCE_PARAMETER_IDS: dict[str, tuple[int, float]] = {
    "phi": (11, 0.0),
    "n1": (12, 0.0),
    "d1": (13, 1.0),
    "eta": (14, 0.0),
    "theta_jpsi": (15, 0.0),
    "theta_psi2s": (16, 0.0),
    "n_r": (17, 1.0),
}

_TWO_NUMBER_IDS = frozenset(range(8))  # 0..5 shifts, 6 C_S − C_S′, 7 C_P − C_P′
_ONE_NUMBER_IDS = frozenset({10, *(i for i, _ in RESONANCE_PARAMETER_IDS.values())})
_LABELS = {"dc7": "dC7", "dc9": "dC9", "dc10": "dC10", "c7p": "C7'", "c9p": "C9'", "c10p": "C10'"}


def _as_shift_dict(shifts: Any) -> dict[str, float]:
    if hasattr(shifts, "to_dict"):
        shifts = shifts.to_dict()
    if not isinstance(shifts, Mapping):
        raise DataError(
            f"shifts must be a WilsonShifts or a mapping of {', '.join(COEFFICIENT_IDS)}, "
            f"got {type(shifts).__name__}"
        )
    unknown = [k for k in shifts if k not in COEFFICIENT_IDS]
    if unknown:
        hint = did_you_mean(unknown[0], COEFFICIENT_IDS)
        raise DataError(f"unknown Wilson-coefficient shift '{unknown[0]}'{hint}")
    out = {}
    for name in COEFFICIENT_IDS:
        raw = shifts.get(name, 0.0)
        try:
            out[name] = float(raw)
        except (TypeError, ValueError) as err:
            raise DataError(f"shift {name} = {raw!r} is not a number") from err
    return out


def _number(x: float) -> str:
    text = repr(float(x))
    return "0.0" if text == "-0.0" else text


def _comment(shifts: Mapping[str, float]) -> str:
    nonzero = [f"{_LABELS[k]} = {_number(v)}" for k, v in shifts.items() if v != 0.0]
    if not nonzero:
        return "Standard Model point, all shifts zero"
    return ", ".join(nonzero) + ", other shifts zero"


def decfile_text(
    shifts: Any,
    *,
    resonances: bool = False,
    resonance_parameters: Mapping[str, float] | None = None,
    max_abs: float = 10.0,
) -> str:
    """Return the complete EvtGen decay file of the signal mode at one Wilson point.

    Parameters
    ----------
    shifts : WilsonShifts or mapping of str to float
        Real shifts ``dc7 dc9 dc10 c7p c9p c10p`` (missing names are 0).
    resonances : bool, optional
        Write ``10 1`` (tabulated cc̄ resonances in C9eff, physics.md §5.4) instead of ``10 0``.
    resonance_parameters : mapping of str to float, optional
        Values of ``phi n1 d1 eta theta_jpsi theta_psi2s n_r`` (ids 11..17); only with
        ``resonances=True``.  Names not given keep the model default and are not written.
    max_abs : float, optional
        Largest accepted |shift|; larger values are refused as a likely typo.

    Returns
    -------
    str
        Decay-file text ending with ``End`` and a newline.

    Raises
    ------
    DataError
        Non-finite or too large shifts, unknown names, resonance parameters without
        ``resonances=True``.
    """
    values = _as_shift_dict(shifts)
    if not (math.isfinite(max_abs) and max_abs > 0):
        raise DataError(f"max_abs = {max_abs!r} must be a positive finite number")
    for name, v in values.items():
        if not math.isfinite(v):
            raise DataError(f"shift {name} = {v!r} is not finite; give a finite real number")
        if abs(v) > max_abs:
            raise DataError(
                f"shift {name} = {v} exceeds the sanity limit |{max_abs}| (Wilson coefficients "
                "are O(1-5), C9 SM = 4.211); check the value"
            )
    args = ["0"]  # Cartesian coordinates: (Re, Im)
    for name, ident in COEFFICIENT_IDS.items():
        args += [str(ident), _number(values[name]), "0.0"]
    args += ["10", "1" if resonances else "0"]
    params = dict(resonance_parameters or {})
    if params and not resonances:
        raise DataError(
            "resonance_parameters are only used with resonances=True (flag id 10 = 1)"
        )
    for pname, pvalue in params.items():
        if pname not in RESONANCE_PARAMETER_IDS:
            hint = did_you_mean(pname, RESONANCE_PARAMETER_IDS)
            raise DataError(f"unknown resonance parameter '{pname}'{hint}")
        v = float(pvalue)
        if not math.isfinite(v):
            raise DataError(f"resonance parameter {pname} = {pvalue!r} is not finite")
        args += [str(RESONANCE_PARAMETER_IDS[pname][0]), _number(v)]
    model = "BTOSLLNPR " + " ".join(args) + ";"
    resonance_note = "with cc resonances" if resonances else "no cc resonances"
    lines = [
        f"# B0 -> K*0(-> K+ pi-) mu+ mu-, {_comment(values)}, {resonance_note}",
        "# written by hepc9 (BTOSLLNPR ids: 0 dC7 1 dC9 2 dC10 3 C7' 4 C9' 5 C10', (Re, Im))",
        "Alias MyB0 B0",
        "Alias MyAntiB0 anti-B0",
        "ChargeConj MyB0 MyAntiB0",
        "Alias MyK*0 K*0",
        "Alias MyAnti-K*0 anti-K*0",
        "ChargeConj MyK*0 MyAnti-K*0",
        "",
        "Decay Upsilon(4S)",
        "0.500  MyB0 anti-B0    VSS;",
        "0.500  B0 MyAntiB0    VSS;",
        "Enddecay",
        "",
        "Decay MyB0",
        f"1.000 MyK*0 mu+ mu- {model}",
        "Enddecay",
        "CDecay MyAntiB0",
        "",
        "Decay MyK*0",
        "1.000 K+ pi-   VSS;",
        "Enddecay",
        "CDecay MyAnti-K*0",
        "End",
    ]
    text = "\n".join(lines) + "\n"
    parse_btosllnpr(text)  # self-check of ids and argument counts
    return text


_MODEL_RE = re.compile(r"\bBTOSLLNPR\b([^;]*);")


def parse_btosllnpr(text: str) -> dict[str, Any]:
    """Parse the first ``BTOSLLNPR`` model line of a decay file.

    Parameters
    ----------
    text : str
        Decay-file text (or just the model line).

    Returns
    -------
    dict
        ``coord`` (0 Cartesian, 1 polar), ``coefficients`` (id → (x, y) for ids 0..7) and
        ``parameters`` (id → value for ids 10..17), exactly as written.

    Raises
    ------
    DataError
        No model line, an unknown coordinate mode or id, a repeated id, a wrong number of
        arguments, or a non-numeric argument.
    """
    lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
    stripped = "\n".join(lines)
    if re.search(r"\bBTOSLLNP\b", stripped):
        raise DataError(
            "decay file uses the model BTOSLLNP, whose ids mean C7', C9', C10', C_S, C_P; "
            "write a BTOSLLNPR line instead (hepc9 decfile)"
        )
    match = _MODEL_RE.search(stripped)
    if match is None:
        raise DataError("no 'BTOSLLNPR ... ;' model line found in the decay file")
    tokens = match.group(1).split()
    if not tokens:
        raise DataError("BTOSLLNPR line has no arguments; expected the coordinate mode 0 or 1")
    if tokens[0] not in ("0", "1"):
        raise DataError(
            f"BTOSLLNPR coordinate mode {tokens[0]!r} must be 0 (Re, Im) or 1 (modulus, phase)"
        )
    out: dict[str, Any] = {"coord": int(tokens[0]), "coefficients": {}, "parameters": {}}
    i = 1
    while i < len(tokens):
        try:
            ident = int(tokens[i])
        except ValueError:
            raise DataError(
                f"BTOSLLNPR argument {i}: expected an id, got {tokens[i]!r}"
            ) from None
        if ident in _TWO_NUMBER_IDS:
            need, target = 2, out["coefficients"]
        elif ident in _ONE_NUMBER_IDS:
            need, target = 1, out["parameters"]
        else:
            raise DataError(
                f"BTOSLLNPR id {ident} is unknown; valid ids are 0..7 (two numbers) and "
                "10..17 (one number)"
            )
        if ident in out["coefficients"] or ident in out["parameters"]:
            raise DataError(f"BTOSLLNPR id {ident} is given twice")
        raw = tokens[i + 1 : i + 1 + need]
        if len(raw) != need:
            raise DataError(f"BTOSLLNPR id {ident} needs {need} number(s), got {len(raw)}")
        try:
            nums = [float(x) for x in raw]
        except ValueError:
            raise DataError(f"BTOSLLNPR id {ident}: arguments {raw} are not numbers") from None
        if not all(math.isfinite(x) for x in nums):
            raise DataError(f"BTOSLLNPR id {ident}: arguments {raw} are not finite")
        if ident == 10 and nums[0] not in (0.0, 1.0):
            raise DataError(f"BTOSLLNPR resonance flag (id 10) must be 0 or 1, got {raw[0]}")
        target[ident] = tuple(nums) if need == 2 else nums[0]
        i += 1 + need
    return out


def shifts_from_decfile(text: str) -> dict[str, float]:
    """Return the real shifts ``dc7 ... c10p`` encoded by a ``BTOSLLNPR`` line.

    Parameters
    ----------
    text : str
        Decay-file text.

    Returns
    -------
    dict of str to float
        Missing ids are 0.

    Raises
    ------
    DataError
        When the line does not parse or encodes complex (non-real) coefficients.
    """
    parsed = parse_btosllnpr(text)
    out = {}
    for name, ident in COEFFICIENT_IDS.items():
        x, y = parsed["coefficients"].get(ident, (0.0, 0.0))
        if parsed["coord"] == 1:  # modulus and phase
            re_, im = x * math.cos(y), x * math.sin(y)
        else:
            re_, im = x, y
        if abs(im) > 1e-12 * max(1.0, abs(re_)):
            raise DataError(
                f"BTOSLLNPR id {ident} ({name}) is complex ({re_} + {im}i); only real shifts "
                "are supported"
            )
        out[name] = re_
    return out

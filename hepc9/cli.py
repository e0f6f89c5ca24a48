"""Command-line interface: ``python -m hepc9 <command> ...``.

A thin shell: each command parses its arguments, loads the configuration, calls one library
function and prints its result.  Errors the user can fix (:class:`hepc9.errors.Hepc9Error`)
are printed as one line and exit with status 1 (``--debug`` shows the traceback); usage
errors exit with status 2.

Each command is a pair ``_add_<name>(subparsers)`` / ``_cmd_<name>(args) -> int``; the pairs
are listed in :data:`_COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hepc9 import __version__
from hepc9.errors import Hepc9Error

__all__ = ["build_parser", "main"]

log = logging.getLogger("hepc9")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message}\n")


# --------------------------------------------------------------------------------------------
# shared argument helpers
# --------------------------------------------------------------------------------------------


def _finite_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def _q2_range(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"'{text}' must be LOW,HIGH (GeV²), e.g. 1.1,6.0")
    lo, hi = (_finite_float(p) for p in parts)
    if lo >= hi:
        raise argparse.ArgumentTypeError(f"q² range {text}: LOW must be below HIGH")
    return lo, hi


_SHIFT_NAMES = ("dc7", "dc9", "dc10", "c7p", "c9p", "c10p")


def _add_shift_options(p: argparse.ArgumentParser, *, defaults_none: bool = False) -> None:
    """Add ``--dc7 --dc9 --dc10 --c7p --c9p --c10p`` (real shifts of the Wilson coefficients)."""
    labels = {
        "dc7": "δC7",
        "dc9": "δC9",
        "dc10": "δC10",
        "c7p": "C7′",
        "c9p": "C9′",
        "c10p": "C10′",
    }
    g = p.add_argument_group("Wilson-coefficient shifts (real)")
    for name in _SHIFT_NAMES:
        g.add_argument(
            f"--{name}",
            type=_finite_float,
            default=None if defaults_none else 0.0,
            metavar="X",
            help=f"{labels[name]} (default: {'from config, else ' if defaults_none else ''}0)",
        )


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml", help="configuration file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration value (TOML syntax), repeatable",
    )


def _load_config(args: argparse.Namespace, extra: Sequence[str] = ()) -> Any:
    from hepc9.config import load_config

    return load_config(getattr(args, "config", None), [*getattr(args, "overrides", []), *extra])


def _print_json(obj: Any) -> None:
    import json

    print(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------


def _add_config(sub: Any) -> None:
    p = sub.add_parser("config", help="show the resolved configuration")
    p.add_argument("action", choices=["show"], help="what to do")
    p.add_argument("file", nargs="?", help="configuration file (default: the defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.set_defaults(func=_cmd_config)


def _cmd_config(args: argparse.Namespace) -> int:
    from hepc9.config import load_config

    cfg = load_config(args.file, args.overrides)
    _print_json(cfg.to_dict())
    return 0


# --------------------------------------------------------------------------------------------
# generate, info, observables
# --------------------------------------------------------------------------------------------


def _add_generate(sub: Any) -> None:
    p = sub.add_parser(
        "generate",
        help="sample the 4D decay rate into a native ROOT file",
        description="Sample d⁴Γ/(dq² dcosθℓ dcosθK dχ) of B0 → K*0(→K+π−)μ+μ− at one point of "
        "real Wilson-coefficient shifts and write a native ROOT ntuple (tree 'events').",
    )
    p.add_argument("--events", type=_positive_int, help="number of events (default: config)")
    p.add_argument("--seed", type=int, help="master seed (default: config)")
    p.add_argument("--output", "-o", required=True, metavar="FILE.root", help="output file")
    _add_shift_options(p, defaults_none=True)
    p.add_argument("--flavour", choices=["b0", "b0bar", "both"], help="B flavour(s)")
    p.add_argument("--q2-min", type=_finite_float, metavar="GEV2", help="lower q² edge")
    p.add_argument("--q2-max", type=_finite_float, metavar="GEV2", help="upper q² edge")
    p.add_argument("--line-shape", choices=["narrow", "relbw"], help="m(Kπ) line shape")
    p.add_argument("--four-vectors", action="store_true", default=None,
                   help="also write Belle II lab-frame four-vectors")
    p.add_argument("--threads", type=int, help="worker threads (0: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_config_options(p)
    p.set_defaults(func=_cmd_generate)


def _generate_overrides(args: argparse.Namespace) -> list[str]:
    sets = []
    if args.seed is not None:
        if args.seed < 0:
            raise _usage(f"--seed {args.seed} must be a non-negative integer")
        sets.append(f"seed={args.seed}")
    for name in ("events", "flavour", "q2_min", "q2_max", "line_shape", "threads", *_SHIFT_NAMES):
        value = getattr(args, name, None)
        if value is not None:
            sets.append(f"generate.{name}={value!r}" if isinstance(value, str)
                        else f"generate.{name}={value}")
    if args.four_vectors:
        sets.append("generate.four_vectors=true")
    return [s.replace("'", '"') for s in sets]


def _cmd_generate(args: argparse.Namespace) -> int:
    from hepc9.pipeline.generate import check_output_path, generate_file
    from hepc9.pipeline.progress import progress_bar

    cfg = _load_config(args, _generate_overrides(args))
    check_output_path(args.output, overwrite=args.overwrite)
    with progress_bar(cfg.generate.events, desc="generate", enabled=None if not args.quiet
                      else False) as update:
        summary = generate_file(cfg, args.output, overwrite=args.overwrite, progress=update)
    if not args.quiet:
        print(f"wrote {summary['events']} events to {summary['output']} "
              f"({summary['events_per_second'] / 1e6:.2f} M events/s)")
    return 0


def _add_info(sub: Any) -> None:
    p = sub.add_parser("info", help="metadata, entries and branch summary of a ROOT file")
    p.add_argument("file", metavar="FILE.root")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    from hepc9.rootio.native import file_summary

    summary = file_summary(args.file)
    if args.json:
        _print_json(summary)
        return 0
    meta = summary.get("meta", {})
    print(f"{args.file}: {summary.get('entries')} entries")
    for key in sorted(meta):
        print(f"  {key:>16s}: {meta[key]}")
    print(f"  {'branch':>16s}  {'dtype':>8s} {'min':>12s} {'max':>12s} {'mean':>12s}")
    for name, b in summary.get("branches", {}).items():
        stats = f"{b['min']:12.6g} {b['max']:12.6g} {b['mean']:12.6g}"
        print(f"  {name:>16s}  {b['dtype']:>8s} {stats}")
    return 0


def _bins(text: str) -> list[tuple[float, float]]:
    out = []
    for part in text.split(";"):
        if part.strip():
            out.append(_q2_range(part.strip()))
    if not out:
        raise argparse.ArgumentTypeError("no bins given; use e.g. '1.1,2.5;2.5,4;4,6'")
    return out


def _add_observables(sub: Any) -> None:
    p = sub.add_parser("observables", help="binned predictions of the model (F_L, A_FB, S_i, P5′)")
    _add_shift_options(p)
    p.add_argument("--bins", type=_bins, metavar="LO,HI;LO,HI...",
                   help="q² bins in GeV² (default: 1.1–2.5, 2.5–4, 4–6, 1.1–6, 15–19)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_config_options(p)
    p.set_defaults(func=_cmd_observables)


def _cmd_observables(args: argparse.Namespace) -> int:
    from hepc9.physics.constants import WilsonShifts, model_constants
    from hepc9.physics.observables import STANDARD_BINS, afb_zero_crossing, binned_observables

    cfg = _load_config(args)
    constants = model_constants(cfg.physics.constants)
    shifts = WilsonShifts(**{n: getattr(args, n) for n in _SHIFT_NAMES})
    rows = binned_observables(args.bins or STANDARD_BINS, shifts=shifts, constants=constants)
    try:
        zero = afb_zero_crossing(shifts=shifts, constants=constants)
    except Hepc9Error:
        zero = None
    if args.json:
        _print_json({"shifts": shifts.to_dict(), "bins": rows, "afb_zero_crossing": zero})
        return 0
    cols = ["dB_dq2", "FL", "AFB", "S3", "S4", "S5", "S7", "S8", "S9", "P5p"]
    print("shifts: " + ", ".join(f"{k}={v:g}" for k, v in shifts.to_dict().items()))
    print(f"{'q2 bin':>13s} " + " ".join(f"{c:>9s}" for c in cols))
    for r in rows:
        label = f"[{r['q2_min']:g}, {r['q2_max']:g}]"
        vals = " ".join(f"{r[c]:9.3e}" if c == "dB_dq2" else f"{r[c]:+9.4f}" for c in cols)
        print(f"{label:>13s} {vals}")
    if zero is not None:
        print(f"A_FB zero crossing: q0² = {zero:.3f} GeV²")
    return 0


def _usage(message: str) -> SystemExit:
    print(f"hepc9: error: {message}", file=sys.stderr)
    return SystemExit(2)


# --------------------------------------------------------------------------------------------
# registry and main
# --------------------------------------------------------------------------------------------

_COMMANDS: list[Callable[[Any], None]] = [
    _add_config,
    _add_generate,
    _add_info,
    _add_observables,
]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``hepc9`` argument parser with every subcommand."""
    parser = _Parser(
        prog="hepc9",
        description=(
            "Measure Wilson-coefficient shifts in B0 → K*0(→K+π−)μ+μ−: generate events, read "
            "ntuples, build quasi-images, train neural estimators, fit, evaluate and plot."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hepc9 {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="errors only, no progress")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    for action in sub.choices.values():
        # every subcommand parser shares the one-line error style
        action.__class__ = _Parser
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose == 1 else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("hepc9")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``None`` uses ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 success, 1 a :class:`~hepc9.errors.Hepc9Error`, 2 a usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help/--version
        return int(exc.code or 0)
    _setup_logging(args.verbose, args.quiet)
    import warnings

    warnings.simplefilter("default", category=UserWarning)
    try:
        return int(args.func(args))
    except SystemExit as exc:  # usage errors found after parsing
        return int(exc.code or 0)
    except Hepc9Error as err:
        if args.debug:
            raise
        print(f"hepc9 {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hepc9 {args.command}: interrupted", file=sys.stderr)
        return 130

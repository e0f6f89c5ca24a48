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

    def error(self, message: str) -> Any:  # noqa: D102
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
# registry and main
# --------------------------------------------------------------------------------------------

_COMMANDS: list[Callable[[Any], None]] = [
    _add_config,
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
    except Hepc9Error as err:
        if args.debug:
            raise
        print(f"hepc9 {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hepc9 {args.command}: interrupted", file=sys.stderr)
        return 130

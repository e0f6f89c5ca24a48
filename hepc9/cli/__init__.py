"""Command-line interface: ``python -m hepc9 <command> ...``.

A thin shell: each command parses its arguments, loads the configuration, calls one library
function and prints its result.  Errors the user can fix (:class:`hepc9.errors.Hepc9Error`)
are printed as one line and exit with status 1 (``--debug`` shows the traceback); usage
errors exit with status 2.

Each command is a pair ``add_<name>(subparsers)`` / ``_cmd_<name>(args) -> int`` in the module
of its group; the pairs are listed in :data:`_COMMANDS`.  Each group module's docstring says
which flags reach the library as arguments and which as configuration overrides.

====================  =========================================================================
``_types``            argument types (finite floats, counts, q² ranges, shift lists, scans)
``_options``          the parser class, shared options, config loading, JSON output
``generation``        ``generate``, ``info``, ``observables``, ``convert``, ``decfile``
``simulation``        ``simulate``, ``images``
``ml``                ``train``, ``predict``
``fitting``           ``fit``, ``crb``
``study``             ``run``, ``config``
====================  =========================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from hepc9 import __version__
from hepc9.cli._failures import error_line
from hepc9.cli._options import Parser
from hepc9.cli.fitting import add_crb, add_fit
from hepc9.cli.generation import add_convert, add_decfile, add_generate, add_info, add_observables
from hepc9.cli.ml import add_predict, add_train
from hepc9.cli.simulation import add_images, add_simulate
from hepc9.cli.study import add_config, add_run

__all__ = ["build_parser", "main"]

log = logging.getLogger("hepc9")

#: The commands, in the order ``hepc9 --help`` lists them.
_COMMANDS: list[Callable[[Any], None]] = [
    add_generate,
    add_info,
    add_observables,
    add_convert,
    add_decfile,
    add_simulate,
    add_images,
    add_train,
    add_predict,
    add_fit,
    add_crb,
    add_run,
    add_config,
]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``hepc9`` argument parser with every subcommand."""
    parser = Parser(
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
        action.__class__ = Parser
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


def _skip_numba_extension_entry_points() -> None:
    """Do not load third-party numba extensions (``vector``, ``awkward``) at the first JIT call.

    hepc9's kernels use none of them, and loading them (sympy included) costs about 1.5 s of
    every command that runs a numba kernel.  Only the command line does this; a program that
    imports hepc9 keeps numba's default.
    """
    try:
        from numba.core import entrypoints
    except ImportError:  # pragma: no cover - numba is a dependency
        return
    entrypoints._already_initialized = True


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
    _skip_numba_extension_entry_points()
    warnings.simplefilter("default", category=UserWarning)
    try:
        return int(args.func(args))
    except SystemExit as exc:  # usage errors found after parsing
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print(f"hepc9 {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``hepc9 info f.root | head -1``): stop writing, one line
        _silence_stdout()
        if args.debug:
            raise
        print(f"hepc9 {args.command}: output pipe closed by the reader; stopped", file=sys.stderr)
        return 1
    except Exception as err:  # every failure becomes one line; --debug shows the traceback
        if args.debug:
            raise
        print(f"hepc9 {args.command}: error: {error_line(err)}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the exit-time flush of a closed pipe stays silent."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)

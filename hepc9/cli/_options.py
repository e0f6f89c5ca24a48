"""Shared pieces of the commands: the parser class, common options, config loading, output.

Override channels: ``--config FILE`` and ``--set SECTION.KEY=VALUE`` always edit the
configuration; a command's own flags are passed to its library function as arguments, except
where that function reads the value only from the configuration (then the flag becomes a
typed override, see :func:`load_cli_config`; each command's docstring says which flags do).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from hepc9.artifacts import json_default
from hepc9.cli._types import finite_float
from hepc9.config import Config, load_config
from hepc9.config.load import Override
from hepc9.physics.constants import SHIFT_NAMES

__all__ = [
    "Parser",
    "add_config_options",
    "add_shift_options",
    "given_shifts",
    "load_cli_config",
    "print_json",
    "usage",
]

_SHIFT_LABELS = {
    "dc7": "δC7",
    "dc9": "δC9",
    "dc10": "δC10",
    "c7p": "C7′",
    "c9p": "C9′",
    "c10p": "C10′",
}


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> Any:
        """Print ``prog: error: message`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_shift_options(p: argparse.ArgumentParser, *, defaults_none: bool = False) -> None:
    """Add ``--dc7 --dc9 --dc10 --c7p --c9p --c10p`` (real shifts of the Wilson coefficients)."""
    g = p.add_argument_group("Wilson-coefficient shifts (real)")
    for name in SHIFT_NAMES:
        g.add_argument(
            f"--{name}",
            type=finite_float,
            default=None if defaults_none else 0.0,
            metavar="X",
            help=f"{_SHIFT_LABELS[name]} (default: "
            f"{'from config, else ' if defaults_none else ''}0)",
        )


def add_config_options(p: argparse.ArgumentParser) -> None:
    """Add ``--config FILE.toml`` and the repeatable ``--set SECTION.KEY=VALUE``."""
    p.add_argument("--config", metavar="FILE.toml", help="configuration file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration value (TOML syntax), repeatable",
    )


def load_cli_config(args: argparse.Namespace, values: Sequence[Override] = ()) -> Config:
    """Load ``--config`` with the ``--set`` overrides, then the typed ``values`` of flags.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``config`` and ``overrides`` may be absent).
    values : sequence of (str, object)
        ``("section.key", value)`` pairs of flags that the library reads from the
        configuration only; applied after ``--set`` (a flag wins) and validated alike.

    Returns
    -------
    Config
    """
    return load_config(getattr(args, "config", None),
                       [*getattr(args, "overrides", []), *values])


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON with sorted keys (NumPy values converted)."""
    print(json.dumps(obj, indent=2, sort_keys=True, default=json_default))


def usage(message: str) -> SystemExit:
    """Print a usage error found after parsing; return the ``SystemExit(2)`` to raise."""
    print(f"hepc9: error: {message}", file=sys.stderr)
    return SystemExit(2)


def given_shifts(args: argparse.Namespace) -> dict[str, float] | None:
    """Shifts given on the command line (others 0), or ``None`` when none was given."""
    given = {name: getattr(args, name) for name in SHIFT_NAMES if getattr(args, name) is not None}
    if not given:
        return None
    return {name: given.get(name, 0.0) for name in SHIFT_NAMES}

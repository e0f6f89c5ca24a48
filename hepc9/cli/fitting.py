"""Likelihood commands: ``fit`` and ``crb``.

Override channels, per command:

- ``fit``: flags are arguments of :func:`~hepc9.pipeline.fit.fit_file`, except
  ``--drop-outside``, a typed override of ``[fit] outside`` (the function has no argument for
  it).
- ``crb``: every flag is an argument of :func:`~hepc9.pipeline.fit.crb`.
"""

from __future__ import annotations

import argparse
from typing import Any

from hepc9.cli._options import (
    add_config_options,
    add_shift_options,
    load_cli_config,
    print_json,
)
from hepc9.cli._types import finite_float, fraction, free_list, positive_int, q2_range, scan_spec
from hepc9.config.load import Override
from hepc9.errors import DataError
from hepc9.physics.constants import SHIFT_NAMES
from hepc9.pipeline.fit import crb, fit_file

__all__ = ["add_crb", "add_fit"]


def _add_fit_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--free", type=free_list, metavar="LIST", help="free shifts, e.g. dc9,dc10 "
                   "(default: [fit] free, i.e. dc9)")
    p.add_argument("--q2-range", type=q2_range, metavar="LOW,HIGH",
                   help="fit window in GeV² (default: [fit] q2_min/q2_max, else the full range)")
    p.add_argument("--efficiency", metavar="SIM.root",
                   help="reconstructed simulation sample for the acceptance normalisation")
    p.add_argument("--sideband", metavar="SB.root",
                   help="Mbc-sideband sample for the background template")
    p.add_argument("--layout", default="auto", help="input layout (default: auto)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_fit(sub: Any) -> None:
    """Add the ``fit`` command to the subparsers ``sub``."""
    p = sub.add_parser(
        "fit",
        help="unbinned 4D maximum-likelihood fit of Wilson-coefficient shifts",
        description="Unbinned 4D maximum-likelihood fit (MIGRAD, HESSE, optional MINOS). "
        "The exit status is 1 when the fit is not valid (the result is still printed).",
    )
    p.add_argument("files", nargs="+", metavar="FILE.root", help="event file(s) or globs")
    _add_fit_inputs(p)
    p.add_argument("--background-fraction", type=fraction, metavar="F",
                   help="background fraction: start value (fixed with --fix-background-fraction)")
    p.add_argument("--background-fraction-error", type=finite_float, metavar="S",
                   help="σ of a Gaussian constraint on the background fraction")
    p.add_argument("--fix-background-fraction", action="store_true", default=None,
                   help="keep the background fraction fixed")
    p.add_argument("--minos", action="store_true", default=None, help="also run MINOS")
    p.add_argument("--scan", type=scan_spec, metavar="PARAM=LOW:HIGH:N",
                   help="likelihood profile of one free parameter on N points")
    p.add_argument("--drop-outside", action="store_true",
                   help="drop events outside the q² window (with a warning) instead of failing")
    p.add_argument("-o", "--output", metavar="RESULT.json", help="write the result as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_config_options(p)
    p.set_defaults(func=_cmd_fit)


def _cmd_fit(args: argparse.Namespace) -> int:
    given = [flag for flag, value in (("--background-fraction", args.background_fraction),
                                      ("--background-fraction-error",
                                       args.background_fraction_error),
                                      ("--fix-background-fraction",
                                       args.fix_background_fraction)) if value is not None]
    if given and args.sideband is None:
        raise DataError(f"{', '.join(given)} describe the background, which needs its "
                        "template: add --sideband SB.root")
    values: list[Override] = [("fit.outside", "drop")] if args.drop_outside else []
    cfg = load_cli_config(args, values)
    result = fit_file(
        args.files if len(args.files) > 1 else args.files[0],
        config=cfg,
        free=args.free,
        q2_range=args.q2_range,
        efficiency=args.efficiency,
        sideband=args.sideband,
        background_fraction=args.background_fraction,
        fraction_error=args.background_fraction_error,
        fix_fraction=args.fix_background_fraction,
        minos=args.minos,
        scan=args.scan,
        layout=args.layout,
        output=args.output,
        overwrite=args.overwrite,
    )
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.table())
    return 0 if result.valid else 1


def add_crb(sub: Any) -> None:
    """Add the ``crb`` command to the subparsers ``sub``."""
    p = sub.add_parser("crb", help="Cramér–Rao bound on the Wilson-coefficient shifts")
    add_shift_options(p)
    p.add_argument("--events", type=positive_int, default=24000, metavar="N",
                   help="number of events (default 24000)")
    _add_fit_inputs(p)
    p.add_argument("--background-fraction", type=fraction, default=0.0, metavar="F",
                   help="background fraction (needs --sideband)")
    p.add_argument("--fraction-free", action="store_true",
                   help="treat the background fraction as a free nuisance parameter")
    add_config_options(p)
    p.set_defaults(func=_cmd_crb)


def _cmd_crb(args: argparse.Namespace) -> int:
    if args.fraction_free and args.sideband is None:
        raise DataError("--fraction-free needs the background template: add --sideband SB.root")
    cfg = load_cli_config(args)
    result = crb(
        config=cfg,
        at={name: getattr(args, name) for name in SHIFT_NAMES},
        n_events=args.events,
        free=args.free,
        q2_range=args.q2_range,
        efficiency=args.efficiency,
        sideband=args.sideband,
        background_fraction=args.background_fraction,
        fraction_free=args.fraction_free,
        layout=args.layout,
    )
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.table())
    return 0

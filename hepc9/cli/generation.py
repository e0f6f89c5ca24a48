"""Generation and file commands: ``generate``, ``info``, ``observables``, ``convert``, ``decfile``.

Override channels, per command:

- ``generate``: every flag (``--events --seed --dc9 ... --flavour --q2-min --q2-max
  --line-shape --density --four-vectors --threads``) is a typed configuration override applied after
  ``--set`` (:func:`~hepc9.pipeline.generate.generate_file` reads them from the config only).
- ``info``: arguments only (no configuration).
- ``observables``: shifts and bins are arguments; the config gives ``[physics] constants``.
- ``convert``: flags are arguments of :func:`~hepc9.pipeline.convert.convert_files`, except
  ``--seed``, a typed override of ``seed`` (the function reads the seed from the config).
- ``decfile``: arguments only (no configuration).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hepc9.cli._options import (
    add_config_options,
    add_shift_options,
    given_shifts,
    load_cli_config,
    print_json,
    usage,
)
from hepc9.cli._types import bins, finite_float, non_negative_int, positive_int
from hepc9.config.load import Override
from hepc9.errors import DataError, Hepc9Error
from hepc9.generate.density import DENSITIES
from hepc9.physics.constants import SHIFT_NAMES, WilsonShifts, model_constants, q2_limits
from hepc9.physics.observables import STANDARD_BINS, afb_zero_crossing, binned_observables
from hepc9.pipeline.convert import convert_files
from hepc9.pipeline.decfile import write_decfile
from hepc9.pipeline.generate import check_output_path, generate_file
from hepc9.pipeline.progress import progress_bar
from hepc9.rootio.native import file_summary

__all__ = ["add_convert", "add_decfile", "add_generate", "add_info", "add_observables"]


def add_generate(sub: Any) -> None:
    """Add the ``generate`` command to the subparsers ``sub``."""
    p = sub.add_parser(
        "generate",
        help="sample the 4D decay rate into a native ROOT file",
        description="Sample d⁴Γ/(dq² dcosθℓ dcosθK dχ) of B0 → K*0(→K+π−)μ+μ− at one point of "
        "real Wilson-coefficient shifts and write a native ROOT ntuple (tree 'events').",
    )
    p.add_argument("--events", type=positive_int, help="number of events (default: config)")
    p.add_argument("--seed", type=non_negative_int, help="master seed (default: config)")
    p.add_argument("--output", "-o", required=True, metavar="FILE.root", help="output file")
    add_shift_options(p, defaults_none=True)
    p.add_argument("--flavour", choices=["b0", "b0bar", "both"], help="B flavour(s)")
    p.add_argument("--q2-min", type=finite_float, metavar="GEV2", help="lower q² edge")
    p.add_argument("--q2-max", type=finite_float, metavar="GEV2", help="upper q² edge")
    p.add_argument("--line-shape", choices=["narrow", "relbw"], help="m(Kπ) line shape")
    p.add_argument("--density", choices=list(DENSITIES),
                   help="generator density: the rate (default), or its q² spectrum with flat "
                        "angles ('flat_angles', or for half the events 'mixture'), for "
                        "efficiency samples (recorded in the metadata; hepc9 fit --efficiency "
                        "weights by it)")
    p.add_argument("--four-vectors", action="store_true", default=None,
                   help="also write Belle II lab-frame four-vectors")
    p.add_argument("--threads", type=non_negative_int, help="worker threads (0: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_config_options(p)
    p.set_defaults(func=_cmd_generate)


def _generate_values(args: argparse.Namespace) -> list[Override]:
    """Typed config overrides of the ``generate`` flags that were given."""
    values: list[Override] = []
    if args.seed is not None:
        values.append(("seed", args.seed))
    for name in ("events", "flavour", "q2_min", "q2_max", "line_shape", "density", "threads",
                 *SHIFT_NAMES):
        value = getattr(args, name, None)
        if value is not None:
            values.append((f"generate.{name}", value))
    if args.four_vectors:
        values.append(("generate.four_vectors", True))
    return values


def _cmd_generate(args: argparse.Namespace) -> int:
    if args.q2_min is not None and args.q2_max is not None and args.q2_min >= args.q2_max:
        raise usage(f"--q2-min {args.q2_min:g} must be below --q2-max {args.q2_max:g}")
    cfg = load_cli_config(args, _generate_values(args))
    check_output_path(args.output, overwrite=args.overwrite)
    with progress_bar(cfg.generate.events, desc="generate", enabled=None if not args.quiet
                      else False) as update:
        summary = generate_file(cfg, args.output, overwrite=args.overwrite, progress=update)
    if not args.quiet:
        print(f"wrote {summary['events']} events to {summary['output']} in "
              f"{summary['seconds']:.2f} s ({summary['events_per_second']:.3g} events/s)")
    return 0


def add_info(sub: Any) -> None:
    """Add the ``info`` command to the subparsers ``sub``."""
    p = sub.add_parser("info", help="metadata, entries and branch summary of a ROOT file")
    p.add_argument("file", metavar="FILE.root")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    summary = file_summary(args.file)
    if args.json:
        print_json(summary)
        return 0
    meta = summary.get("meta", {})
    print(f"{args.file}: {summary.get('entries')} entries")
    for key in sorted(meta):
        print(f"  {key:>16s}: {meta[key]}")
    print(f"  {'branch':>16s}  {'dtype':>8s} {'min':>12s} {'max':>12s} {'mean':>12s}")
    for name, b in summary.get("branches", {}).items():
        stats = " ".join(
            f"{'—':>12s}" if b.get(k) is None else f"{b[k]:12.6g}" for k in ("min", "max", "mean")
        )
        print(f"  {name:>16s}  {b['dtype']:>8s} {stats}")
    return 0


def add_observables(sub: Any) -> None:
    """Add the ``observables`` command to the subparsers ``sub``."""
    p = sub.add_parser("observables", help="binned predictions of the model (F_L, A_FB, S_i, P5′)")
    add_shift_options(p)
    p.add_argument("--bins", type=bins, metavar="LO,HI;LO,HI...",
                   help="q² bins in GeV² (default: 1.1–2.5, 2.5–4, 4–6, 1.1–6, 15–19)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_config_options(p)
    p.set_defaults(func=_cmd_observables)


def _cmd_observables(args: argparse.Namespace) -> int:
    cfg = load_cli_config(args)
    constants = model_constants(cfg.physics.constants)
    lo, hi = q2_limits(constants)
    for b_lo, b_hi in args.bins or ():
        if b_lo < lo * (1 - 1e-9) or b_hi > hi * (1 + 1e-9):
            raise DataError(f"--bins: the q² bin [{b_lo:g}, {b_hi:g}] GeV² leaves the "
                            f"kinematic range [{lo:.4g}, {hi:.4g}] GeV²; choose bins inside it")
    shifts = WilsonShifts(**{n: getattr(args, n) for n in SHIFT_NAMES})
    rows = binned_observables(args.bins or STANDARD_BINS, shifts=shifts, constants=constants)
    try:
        zero = afb_zero_crossing(shifts=shifts, constants=constants)
    except Hepc9Error:
        zero = None
    if args.json:
        print_json({"shifts": shifts.to_dict(), "bins": rows, "afb_zero_crossing": zero})
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


def add_convert(sub: Any) -> None:
    """Add the ``convert`` command to the subparsers ``sub``."""
    p = sub.add_parser(
        "convert",
        help="convert basf2, EvtGen ntp or flat ntuples into a native ROOT file",
        description="Read foreign ntuples (Belle II basf2 variablesToNtuple gen/det trees, "
        "standalone-EvtGen 'ntp' tuples, flat tables with a column mapping) or native files, "
        "recompute q², m(Kπ) and the angles from four-vectors, keep one candidate per event and "
        "write one native file (tree 'events'). Foreign files carry no labels: give the "
        "Wilson-coefficient point with --dc9 etc.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT.root",
                   help="input files or quoted glob patterns ('run_*.root')")
    p.add_argument("--output", "-o", required=True, metavar="FILE.root", help="native output")
    p.add_argument("--format", dest="layout", default="auto",
                   choices=["auto", "native", "basf2", "evtgen", "flat"],
                   help="input layout (default: auto-detect; flat needs --map)")
    p.add_argument("--tree", metavar="NAME",
                   help="tree to read (basf2: det or gen; default: det, ntp, the only tree)")
    p.add_argument("--map", dest="mapping", metavar="FILE.toml",
                   help="TOML file with an [ingest] table (column mapping, flavour, units)")
    p.add_argument("--candidate", choices=["best", "first", "random", "all"],
                   help="one candidate per event: best (smallest tfRedChiSqB0, else |ΔE|), "
                   "first (__candidate__ 0), random (seeded), all (default: config, best)")
    p.add_argument("--strict", action="store_true",
                   help="fail on NaN/inf values instead of dropping those rows")
    p.add_argument("--seed", type=int, help="master seed (random candidate rule)")
    add_shift_options(p, defaults_none=True)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_config_options(p)
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    values: list[Override] = []
    if args.seed is not None:
        if args.seed < 0:
            raise usage(f"--seed {args.seed} must be a non-negative integer")
        values.append(("seed", args.seed))
    cfg = load_cli_config(args, values)
    summary = convert_files(
        args.inputs,
        args.output,
        config=cfg,
        mapping=args.mapping,
        layout=args.layout,
        tree=args.tree,
        candidate=args.candidate,
        on_nonfinite="fail" if args.strict else None,
        shifts=given_shifts(args),
        overwrite=args.overwrite,
    )
    if not args.quiet:
        print(f"wrote {summary['events']} {summary['level']}-level events to {summary['output']} "
              f"({summary['layout']}, tree '{summary['tree']}': {summary['rows_read']} rows read, "
              f"{summary['rows_dropped']} dropped as non-finite or impossible)")
    return 0


def add_decfile(sub: Any) -> None:
    """Add the ``decfile`` command to the subparsers ``sub``."""
    p = sub.add_parser(
        "decfile",
        help="write the EvtGen BTOSLLNPR decay file of a Wilson-coefficient point",
        description="Write the complete EvtGen decay file (Υ(4S) → B0 B̄0, one B forced to "
        "K*0(→K+π−)μ+μ− with the basf2 model BTOSLLNPR, CDecay for the anti-B0) with both "
        "numbers of every coefficient id 0..5 and the explicit resonance flag.",
    )
    add_shift_options(p)
    p.add_argument("--resonances", action="store_true",
                   help="enable the cc̄ resonances in C9eff (flag id 10 = 1; default off)")
    p.add_argument("--output", "-o", metavar="FILE.dec", help="output file (default: stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_decfile)


def _cmd_decfile(args: argparse.Namespace) -> int:
    shifts = {name: getattr(args, name) for name in SHIFT_NAMES}
    text = write_decfile(shifts, args.output, resonances=args.resonances,
                         overwrite=args.overwrite)
    if args.output is None:
        sys.stdout.write(text)
    elif not args.quiet:
        print(f"wrote {args.output}")
    return 0

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
        if "e" in text.lower():  # 1e6 style counts; 1.5e0 or 1e999 are not integers
            number = float(text)
            if not number.is_integer():
                raise ValueError(text)
            value = int(number)
        else:
            value = int(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def _fraction(text: str) -> float:
    value = _finite_float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"background fraction {value} must be in [0, 1)")
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

    from hepc9.artifacts import json_default

    print(json.dumps(obj, indent=2, sort_keys=True, default=json_default))


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


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be a non-negative integer")
    return value


def _add_generate(sub: Any) -> None:
    p = sub.add_parser(
        "generate",
        help="sample the 4D decay rate into a native ROOT file",
        description="Sample d⁴Γ/(dq² dcosθℓ dcosθK dχ) of B0 → K*0(→K+π−)μ+μ− at one point of "
        "real Wilson-coefficient shifts and write a native ROOT ntuple (tree 'events').",
    )
    p.add_argument("--events", type=_positive_int, help="number of events (default: config)")
    p.add_argument("--seed", type=_non_negative_int, help="master seed (default: config)")
    p.add_argument("--output", "-o", required=True, metavar="FILE.root", help="output file")
    _add_shift_options(p, defaults_none=True)
    p.add_argument("--flavour", choices=["b0", "b0bar", "both"], help="B flavour(s)")
    p.add_argument("--q2-min", type=_finite_float, metavar="GEV2", help="lower q² edge")
    p.add_argument("--q2-max", type=_finite_float, metavar="GEV2", help="upper q² edge")
    p.add_argument("--line-shape", choices=["narrow", "relbw"], help="m(Kπ) line shape")
    p.add_argument("--four-vectors", action="store_true", default=None,
                   help="also write Belle II lab-frame four-vectors")
    p.add_argument("--threads", type=_non_negative_int, help="worker threads (0: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_config_options(p)
    p.set_defaults(func=_cmd_generate)


def _generate_overrides(args: argparse.Namespace) -> list[str]:
    sets = []
    if args.seed is not None:
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
        print(f"wrote {summary['events']} events to {summary['output']} in "
              f"{summary['seconds']:.2f} s ({summary['events_per_second']:.3g} events/s)")
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
        stats = " ".join(
            f"{'—':>12s}" if b.get(k) is None else f"{b[k]:12.6g}" for k in ("min", "max", "mean")
        )
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


def _given_shifts(args: argparse.Namespace) -> dict[str, float] | None:
    """Shifts given on the command line (others 0), or ``None`` when none was given."""
    given = {name: getattr(args, name) for name in _SHIFT_NAMES if getattr(args, name) is not None}
    if not given:
        return None
    return {name: given.get(name, 0.0) for name in _SHIFT_NAMES}


def _add_convert(sub: Any) -> None:
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
    _add_shift_options(p, defaults_none=True)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _add_config_options(p)
    p.set_defaults(func=_cmd_convert)


def _cmd_convert(args: argparse.Namespace) -> int:
    from hepc9.pipeline.convert import convert_files

    extra = []
    if args.seed is not None:
        if args.seed < 0:
            raise _usage(f"--seed {args.seed} must be a non-negative integer")
        extra.append(f"seed={args.seed}")
    cfg = _load_config(args, extra)
    summary = convert_files(
        args.inputs,
        args.output,
        config=cfg,
        mapping=args.mapping,
        layout=args.layout,
        tree=args.tree,
        candidate=args.candidate,
        on_nonfinite="fail" if args.strict else None,
        shifts=_given_shifts(args),
        overwrite=args.overwrite,
    )
    if not args.quiet:
        print(f"wrote {summary['events']} {summary['level']}-level events to {summary['output']} "
              f"({summary['layout']}, tree '{summary['tree']}': {summary['rows_read']} rows read, "
              f"{summary['rows_dropped']} dropped as non-finite)")
    return 0


def _add_decfile(sub: Any) -> None:
    p = sub.add_parser(
        "decfile",
        help="write the EvtGen BTOSLLNPR decay file of a Wilson-coefficient point",
        description="Write the complete EvtGen decay file (Υ(4S) → B0 B̄0, one B forced to "
        "K*0(→K+π−)μ+μ− with the basf2 model BTOSLLNPR, CDecay for the anti-B0) with both "
        "numbers of every coefficient id 0..5 and the explicit resonance flag.",
    )
    _add_shift_options(p)
    p.add_argument("--resonances", action="store_true",
                   help="enable the cc̄ resonances in C9eff (flag id 10 = 1; default off)")
    p.add_argument("--output", "-o", metavar="FILE.dec", help="output file (default: stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_decfile)


def _cmd_decfile(args: argparse.Namespace) -> int:
    from hepc9.pipeline.decfile import write_decfile

    shifts = {name: getattr(args, name) for name in _SHIFT_NAMES}
    text = write_decfile(shifts, args.output, resonances=args.resonances,
                         overwrite=args.overwrite)
    if args.output is None:
        sys.stdout.write(text)
    elif not args.quiet:
        print(f"wrote {args.output}")
    return 0


def _usage(message: str) -> SystemExit:
    print(f"hepc9: error: {message}", file=sys.stderr)
    return SystemExit(2)


# --------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------


def _add_simulate(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="detector response, selection and background: gen file → det files",
        description=(
            "Apply the Belle II-like detector response to a generator-level file, select the "
            "K* window, the signal region and the Mbc sideband, optionally mix in "
            "combinatorial background, and write the signal-region (and sideband) candidates "
            "plus a JSON report with cutflows and efficiency tables."
        ),
    )
    p.add_argument("input", help="native generator-level ROOT file")
    p.add_argument("--output", "-o", required=True, metavar="DET.root",
                   help="signal-region output file")
    p.add_argument("--sideband-output", metavar="SB.root", help="Mbc-sideband output file")
    p.add_argument("--report", metavar="FILE.json",
                   help="JSON report (default: the output with suffix .json)")
    bkg = p.add_mutually_exclusive_group()
    bkg.add_argument("--background", dest="background", action="store_true", default=None,
                     help="mix in combinatorial background (default: [background] enabled)")
    bkg.add_argument("--no-background", dest="background", action="store_false",
                     help="signal only")
    p.add_argument("--background-fraction", type=_fraction, metavar="F",
                   help="background fraction in the signal region (default: config, 0.44)")
    p.add_argument("--seed", type=_non_negative_int, metavar="S",
                   help="master seed (default: config)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_config_options(p)
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from hepc9.pipeline.progress import progress_bar
    from hepc9.pipeline.simulate import simulate_file
    from hepc9.rootio.native import read_meta

    cfg = _load_config(args)
    total = int(read_meta(args.input).get("n_events", 0))
    with progress_bar(total, desc="simulate", enabled=False if args.quiet else None) as update:
        result = simulate_file(
            cfg,
            args.input,
            args.output,
            sideband_output=args.sideband_output,
            report=args.report,
            background=args.background,
            background_fraction=args.background_fraction,
            seed=args.seed,
            overwrite=args.overwrite,
            progress=update,
        )
    _print_json(result)
    return 0


# --------------------------------------------------------------------------------------------
# train / predict
# --------------------------------------------------------------------------------------------


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a neural δC9 estimator on a stored dataset")
    _add_config_options(p)
    p.add_argument("--dataset", default=None, metavar="DIR",
                   help="dataset folder (index.json), or a folder with train/ and validation/")
    p.add_argument("--stream", action="store_true",
                   help="train on items drawn fresh from the sampler for every batch (built "
                        "like --dataset's, which then only validates)")
    p.add_argument("--model", choices=["resnet3d", "deepsets", "event"], default=None,
                   help="architecture (default: [model] name of the config)")
    p.add_argument("--output", required=True, metavar="DIR",
                   help="model folder; an interrupted run there is resumed")
    p.add_argument("--epochs", type=_positive_int, default=None, metavar="N",
                   help="maximum number of epochs (default: [train] epochs)")
    p.add_argument("--backend", choices=["auto", "tensorflow", "jax", "torch"], default=None,
                   help="Keras backend (default: [train] backend, then KERAS_BACKEND)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished model")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from hepc9.pipeline.train import train_from_folder

    if args.dataset is None and not args.stream:
        raise _usage("train needs --dataset DIR, or --stream")
    cfg = _load_config(args)
    result = train_from_folder(
        cfg, args.dataset, args.output, model_name=args.model, epochs=args.epochs,
        backend=args.backend, overwrite=args.overwrite, stream=args.stream,
        progress=False if args.quiet or args.json else None,
    )
    if args.json:
        _print_json(result)
    elif not args.quiet:
        val = result["validation"]
        print(f"trained {result['model']} for {result['epochs_run']} epochs "
              f"(best epoch {result['best_epoch'] + 1}, backend {result['backend']}); "
              f"validation: MAE {val.get('mae', float('nan')):.4f}, "
              f"RMSE {val.get('rmse', float('nan')):.4f}, corr {val.get('corr', float('nan')):.3f}"
              f"; saved to {result['output']}")
    return 0


def _add_predict(sub: Any) -> None:
    p = sub.add_parser("predict", help="measure δC9 in ntuples with a trained model")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by 'hepc9 train'")
    p.add_argument("files", nargs="+", metavar="FILE.root", help="native or foreign ntuples")
    p.add_argument("--events-per-set", type=_positive_int, default=None, metavar="M",
                   help="events per image/set (default: the trained size)")
    p.add_argument("--layout", choices=["auto", "native", "basf2", "evtgen", "flat"],
                   default="auto", help="input layout (default: detect)")
    p.add_argument("--tree", default=None, help="tree to read")
    p.add_argument("--backend", choices=["auto", "tensorflow", "jax", "torch"], default=None,
                   help="Keras backend")
    _add_config_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    from hepc9.pipeline.train import predict_files

    cfg = _load_config(args)
    result = predict_files(
        args.model_dir, args.files, events_per_set=args.events_per_set, layout=args.layout,
        tree=args.tree, ingest=cfg.ingest, backend=args.backend,
    )
    if args.json:
        _print_json(result)
        return 0
    n = result["n_sets"]
    print(f"{result['n_events']} events → {n} set(s) of {result['events_per_set']} "
          f"({result['model_name']} model)")
    if n > 1:
        print(f"δC9 = {result['mean']:+.4f} (mean of {n} sets); spread per set "
              f"{result['std']:.4f}, error of the mean {result['stderr']:.4f}")
    elif "posterior_std" in result:
        print(f"δC9 = {result['mean']:+.4f} ± {result['posterior_std'][0]:.4f} "
              f"[{result['lower'][0]:+.4f}, {result['upper'][0]:+.4f}] (posterior)")
    else:
        print(f"δC9 = {result['mean']:+.4f} (one set: no spread; use --events-per-set)")
    return 0


# --------------------------------------------------------------------------------------------
# fit and crb
# --------------------------------------------------------------------------------------------


def _free_list(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in _SHIFT_NAMES]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"'{text}' must be a comma-separated list of {', '.join(_SHIFT_NAMES)}"
        )
    return names


def _scan_spec(text: str) -> tuple[str, list[float]]:
    try:
        name, rng = text.split("=", 1)
        lo, hi, n = rng.split(":")
        lo_f, hi_f, n_i = _finite_float(lo), _finite_float(hi), int(n)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"'{text}' must look like PARAM=LOW:HIGH:N, e.g. dc9=-2:0.5:26"
        ) from None
    if n_i < 2 or lo_f >= hi_f:
        raise argparse.ArgumentTypeError(f"'{text}': need LOW < HIGH and N >= 2")
    step = (hi_f - lo_f) / (n_i - 1)
    return name.strip(), [lo_f + i * step for i in range(n_i)]


def _add_fit_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--free", type=_free_list, metavar="LIST", help="free shifts, e.g. dc9,dc10 "
                   "(default: [fit] free, i.e. dc9)")
    p.add_argument("--q2-range", type=_q2_range, metavar="LOW,HIGH",
                   help="fit window in GeV² (default: [fit] q2_min/q2_max, else the full range)")
    p.add_argument("--efficiency", metavar="SIM.root",
                   help="reconstructed simulation sample for the acceptance normalisation")
    p.add_argument("--sideband", metavar="SB.root",
                   help="Mbc-sideband sample for the background template")
    p.add_argument("--layout", default="auto", help="input layout (default: auto)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_fit(sub: Any) -> None:
    p = sub.add_parser(
        "fit",
        help="unbinned 4D maximum-likelihood fit of Wilson-coefficient shifts",
        description="Unbinned 4D maximum-likelihood fit (MIGRAD, HESSE, optional MINOS). "
        "The exit status is 1 when the fit is not valid (the result is still printed).",
    )
    p.add_argument("files", nargs="+", metavar="FILE.root", help="event file(s) or globs")
    _add_fit_inputs(p)
    p.add_argument("--background-fraction", type=_fraction, metavar="F",
                   help="background fraction: start value (fixed with --fix-background-fraction)")
    p.add_argument("--background-fraction-error", type=_finite_float, metavar="S",
                   help="σ of a Gaussian constraint on the background fraction")
    p.add_argument("--fix-background-fraction", action="store_true", default=None,
                   help="keep the background fraction fixed")
    p.add_argument("--minos", action="store_true", default=None, help="also run MINOS")
    p.add_argument("--scan", type=_scan_spec, metavar="PARAM=LOW:HIGH:N",
                   help="likelihood profile of one free parameter on N points")
    p.add_argument("--drop-outside", action="store_true",
                   help="drop events outside the q² window (with a warning) instead of failing")
    p.add_argument("-o", "--output", metavar="RESULT.json", help="write the result as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_config_options(p)
    p.set_defaults(func=_cmd_fit)


def _cmd_fit(args: argparse.Namespace) -> int:
    from hepc9.pipeline.fit import fit_file

    cfg = _load_config(args, ["fit.outside='drop'"] if args.drop_outside else [])
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
        _print_json(result.to_dict())
    else:
        print(result.table())
    return 0 if result.valid else 1


def _add_crb(sub: Any) -> None:
    p = sub.add_parser("crb", help="Cramér–Rao bound on the Wilson-coefficient shifts")
    _add_shift_options(p)
    p.add_argument("--events", type=_positive_int, default=24000, metavar="N",
                   help="number of events (default 24000)")
    _add_fit_inputs(p)
    p.add_argument("--background-fraction", type=_fraction, default=0.0, metavar="F",
                   help="background fraction (needs --sideband)")
    p.add_argument("--fraction-free", action="store_true",
                   help="treat the background fraction as a free nuisance parameter")
    _add_config_options(p)
    p.set_defaults(func=_cmd_crb)


def _cmd_crb(args: argparse.Namespace) -> int:
    from hepc9.pipeline.fit import crb

    cfg = _load_config(args)
    result = crb(
        config=cfg,
        at={name: getattr(args, name) for name in _SHIFT_NAMES},
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
        _print_json(result.to_dict())
    else:
        print(result.table())
    return 0


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------


def _add_images(sub: Any) -> None:
    p = sub.add_parser(
        "images",
        help="build quasi-image or event-set datasets, or voxelise an ntuple",
        description="Build the train/validation/test datasets of [datasets] (images or event "
        "sets) for the δC9 label grid into OUTPUT (resumable: rerunning completes a partial "
        "build), or with --from voxelise an existing ntuple into images of M events.",
    )
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--from", dest="source", nargs="+", metavar="FILE.root",
                   help="voxelise these ntuples (native or foreign; globs allowed)")
    p.add_argument("--events-per-image", type=_positive_int, metavar="M",
                   help="events per image (default: [datasets] events_per_image)")
    p.add_argument("--label", type=_finite_float, metavar="X",
                   help="δC9 of the --from sample (default: from native metadata)")
    p.add_argument("--like", metavar="DATASET",
                   help="with --from: reuse the image spec and normalisation of this dataset")
    p.add_argument("--overwrite", action="store_true", help="replace existing output")
    _add_config_options(p)
    p.set_defaults(func=_cmd_images)


def _cmd_images(args: argparse.Namespace) -> int:
    from hepc9.pipeline.images import build_images, images_from_file

    if args.source is None and (args.label is not None or args.like is not None):
        raise _usage("--label and --like only apply with --from FILE.root")
    extra = []
    if args.events_per_image is not None and args.source is None:
        extra.append(f"datasets.events_per_image={args.events_per_image}")
    cfg = _load_config(args, extra)
    if args.source is not None:
        summary = images_from_file(
            cfg, args.source, args.output, events_per_image=args.events_per_image,
            label=args.label, like=args.like, overwrite=args.overwrite,
        )
        if not args.quiet:
            print(f"wrote {summary['images']} images of δC9 = {summary['label']} to "
                  f"{summary['output']} ({summary['events_left_over']} events left over)")
        return 0
    summary = build_images(cfg, args.output, overwrite=args.overwrite,
                           show_progress=False if args.quiet else None)
    if not args.quiet:
        for split, s in summary["splits"].items():
            print(f"{split}: {s['items']} {summary['kind']} over {s['labels']} labels "
                  f"({s['written']} chunks written, {s['reused']} reused)")
        print(f"dataset in {summary['output']} ({summary['seconds']:.1f} s)")
    return 0


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------


def _add_run(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run the whole study from one configuration (resumable)",
        description="Generate → detector/background → datasets → train → fits → evaluate → "
        "plots → report.md and summary.json.  A rerun skips the stages that finished.",
    )
    p.add_argument("config", metavar="CONFIG.toml", help="configuration file")
    p.add_argument("--output", "-o", metavar="DIR",
                   help="run directory (default: runs/<name of the config>)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override one configuration value")
    p.add_argument("--stages", metavar="A,B", help="run only these stages (comma-separated)")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from hepc9.config import load_config
    from hepc9.pipeline.run import STAGE_ORDER, run_study

    cfg = load_config(args.config, args.overrides)
    stages = None
    if args.stages:
        stages = tuple(x.strip() for x in args.stages.split(",") if x.strip())
        unknown = [x for x in stages if x not in STAGE_ORDER]
        if unknown:
            raise _usage(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(STAGE_ORDER)}")
    run_dir = Path(args.output) if args.output else Path("runs") / cfg.name
    start = time.perf_counter()

    def report(stage: str, status: str) -> None:
        if not args.quiet and status != "done":
            word = "skipping (complete)" if status == "skip" else "running"
            print(f"[{time.perf_counter() - start:7.1f} s] {stage}: {word}", flush=True)

    summary = run_study(cfg, run_dir, show_progress=None if not args.quiet else False,
                        stages=stages, on_stage=report)
    if args.quiet:
        return 0
    print(f"\nrun directory: {run_dir} ({time.perf_counter() - start:.0f} s)")
    for level, table in summary.get("comparison", {}).items():
        print(f"\nlevel {level}: σ(δC9) over pseudo-experiments vs the Cramér–Rao bound")
        print(f"{'δC9':>6s} {'N':>6s} {'method':>9s} {'mean':>8s} {'σ':>7s} {'bias':>8s} "
              f"{'σ_CRB':>7s} {'σ/σ_CRB':>7s} {'√MSE/σ_CRB':>10s}")
        for r in table["rows"]:
            crb = f"{r['sigma_crb']:7.4f}" if r.get("sigma_crb") else f"{'–':>7s}"
            ratio = f"{r['sigma_over_crb']:7.2f}" if r.get("sigma_over_crb") else f"{'–':>7s}"
            rmse = f"{r['rmse_over_crb']:10.2f}" if r.get("rmse_over_crb") else f"{'–':>10s}"
            print(f"{r['truth']:+6.2f} {r['events_per_set']:6d} {r['method']:>9s} "
                  f"{r['mean']:+8.4f} {r['std']:7.4f} {r['bias']:+8.4f} {crb} {ratio} {rmse}")
    print(f"\nreport: {run_dir / 'report.md'}")
    return 0


# --------------------------------------------------------------------------------------------
# registry and main
# --------------------------------------------------------------------------------------------

_COMMANDS: list[Callable[[Any], None]] = [
    _add_generate,
    _add_info,
    _add_observables,
    _add_convert,
    _add_decfile,
    _add_simulate,
    _add_images,
    _add_train,
    _add_predict,
    _add_fit,
    _add_crb,
    _add_run,
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

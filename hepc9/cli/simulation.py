"""Detector-level and dataset commands: ``simulate`` and ``images``.

Override channels, per command:

- ``simulate``: every flag is an argument of :func:`~hepc9.pipeline.simulate.simulate_file`.
- ``images``: with ``--from``, every flag is an argument of
  :func:`~hepc9.pipeline.images.images_from_file`; without it, ``--events-per-image`` is a typed
  override of ``[datasets] events_per_image`` (:func:`~hepc9.pipeline.images.build_images`
  reads it from the config only).
"""

from __future__ import annotations

import argparse
from typing import Any

from hepc9.cli._options import add_config_options, load_cli_config, print_json, usage
from hepc9.cli._types import finite_float, fraction, non_negative_int, positive_int
from hepc9.config.load import Override
from hepc9.pipeline.images import build_images, images_from_file
from hepc9.pipeline.progress import progress_bar
from hepc9.pipeline.simulate import simulate_file
from hepc9.rootio.native import read_meta

__all__ = ["add_images", "add_simulate"]


def add_simulate(sub: Any) -> None:
    """Add the ``simulate`` command to the subparsers ``sub``."""
    p = sub.add_parser(
        "simulate",
        help="detector response, selection and background: gen file → det files",
        description=(
            "Apply the Belle II-like detector response to a generator-level file, select the "
            "K* window, the signal region and the Mbc sideband, optionally mix in "
            "combinatorial background, and write the signal-region (and sideband) candidates "
            "plus a JSON report with cutflows and efficiency tables.  The input's generator "
            "density (hepc9 generate --density) is kept in the metadata, so an efficiency "
            "sample drawn flat in the angles is weighted right by hepc9 fit --efficiency."
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
    p.add_argument("--background-fraction", type=fraction, metavar="F",
                   help="background fraction in the signal region (default: config, 0.44)")
    p.add_argument("--seed", type=non_negative_int, metavar="S",
                   help="master seed (default: config)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_config_options(p)
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    if args.background is False and args.background_fraction is not None:
        raise usage("--background-fraction has no effect with --no-background; drop one")
    cfg = load_cli_config(args)
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
    print_json(result)
    return 0


def add_images(sub: Any) -> None:
    """Add the ``images`` command to the subparsers ``sub``."""
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
    p.add_argument("--events-per-image", type=positive_int, metavar="M",
                   help="events per image (default: [datasets] events_per_image)")
    p.add_argument("--label", type=finite_float, metavar="X",
                   help="δC9 of the --from sample (default: from native metadata)")
    p.add_argument("--like", metavar="DATASET",
                   help="with --from: reuse the image spec and normalisation of this dataset")
    p.add_argument("--strict", action="store_true",
                   help="with --from: refuse impossible or non-finite events instead of "
                        "dropping them with a warning ([ingest] on_nonfinite = \"fail\")")
    p.add_argument("--overwrite", action="store_true", help="replace existing output")
    add_config_options(p)
    p.set_defaults(func=_cmd_images)


def _cmd_images(args: argparse.Namespace) -> int:
    if args.source is None and (args.label is not None or args.like is not None
                                or args.strict):
        raise usage("--label, --like and --strict only apply with --from FILE.root")
    values: list[Override] = []
    if args.strict:
        values.append(("ingest.on_nonfinite", "fail"))
    if args.events_per_image is not None and args.source is None:
        values.append(("datasets.events_per_image", args.events_per_image))
    cfg = load_cli_config(args, values)
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

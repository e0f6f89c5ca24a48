"""Study commands: ``run`` (the whole study from one configuration) and ``config show``.

Override channels: both read the configuration file and ``--set`` only; ``run``'s
``--output``, ``--stages`` and ``--quiet`` are arguments of :func:`~hepc9.pipeline.run.run_study`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hepc9.cli._options import print_json, usage
from hepc9.config import load_config
from hepc9.evaluate.tables import comparison_text
from hepc9.pipeline.run import STAGE_ORDER, run_study

__all__ = ["add_config", "add_run"]


def add_run(sub: Any) -> None:
    """Add the ``run`` command to the subparsers ``sub``."""
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
    cfg = load_config(args.config, args.overrides)
    stages = None
    if args.stages:
        stages = tuple(x.strip() for x in args.stages.split(",") if x.strip())
        unknown = [x for x in stages if x not in STAGE_ORDER]
        if unknown:
            raise usage(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(STAGE_ORDER)}")
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
        print(comparison_text(table["rows"]))
    print(f"\nreport: {run_dir / 'report.md'}")
    return 0


def add_config(sub: Any) -> None:
    """Add the ``config`` command to the subparsers ``sub``."""
    p = sub.add_parser("config", help="show the resolved configuration")
    p.add_argument("action", choices=["show"], help="what to do")
    p.add_argument("file", nargs="?", help="configuration file (default: the defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.set_defaults(func=_cmd_config)


def _cmd_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.file, args.overrides)
    print_json(cfg.to_dict())
    return 0

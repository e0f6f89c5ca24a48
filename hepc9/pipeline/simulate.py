"""Simulate stage: generator-level file → detector-level signal-region and sideband files.

One call reads a native generator-level file chunk by chunk and passes it through the one
event chain (:mod:`hepc9.simulation`, whose rules — float32 selection columns, K* window,
signal region and Mbc sideband, background after the track selection — it shares with the
training data and the pseudo-experiments): detector response
(:func:`hepc9.simulation.reconstruct`), selection, optional combinatorial background
(:func:`hepc9.simulation.background_block`), and writes

* the signal-region candidates to ``output`` (native, ``level = "det"``),
* the sideband candidates to ``sideband_output`` (optional),
* a JSON report with the cutflows, the counts and the efficiency versus true q² and each
  true angle (``report``, default ``output`` with the suffix ``.json``).

The input's generator density (metadata key ``density``, :mod:`hepc9.generate.density`) is
copied into the outputs' metadata, so an efficiency sample drawn with ``hepc9 generate
--density flat_angles`` is weighted right by ``hepc9 fit --efficiency``.

Background: candidates are drawn in blocks over the whole region of ``[background]`` (so that
the sideband receives its ARGUS share); those in the K* window and in the signal region or the
sideband must pass the detector's track selection
(:func:`hepc9.detector.accept_background`), and the blocks stop right after the
``round(f/(1 − f) · n_sig(SR))``-th accepted signal-region candidate, so the signal region holds
the background fraction f and the sideband what came with it.  When background is mixed in,
the files keep the columns both kinds have (the angles, m(Kπ), flavour, Mbc, ΔE,
``is_signal`` and the truth columns), without four-vectors, and the rows are shuffled with a
seeded permutation.

Random streams (:mod:`hepc9.seeding`, ``S`` = the optional ``stream`` keys): detector chunk
``i`` uses ``("detector", *S, i, 0)``, four-vectors added to an input without them
``("detector", *S, i, 1)``, background block ``j`` ``("background", *S, 0, j)``, its track
selection ``("background", *S, 2, j)`` and the shuffle ``("background", *S, 1)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hepc9.artifacts import atomic_path, write_json
from hepc9.background import background_yield
from hepc9.config import Config
from hepc9.detector import EfficiencyTable
from hepc9.errors import ConfigError, DataError, Hepc9Error, SchemaError
from hepc9.generate.density import check_density
from hepc9.kinematics import BELLE2
from hepc9.physics.constants import SHIFT_NAMES, model_constants
from hepc9.pipeline.generate import check_output_path
from hepc9.rootio.checks import check_events
from hepc9.rootio.native import iterate_events, make_meta, read_meta, write_events
from hepc9.seeding import rng as stream_rng
from hepc9.seeding import spawn_key
from hepc9.selection import Cutflow
from hepc9.simulation import (
    BackgroundBlock,
    background_block,
    concat,
    has_four_vectors,
    reconstruct,
    stop_after,
    take,
    top_up,
)

__all__ = ["default_report_path", "simulate_file"]

log = logging.getLogger(__name__)

def default_report_path(output: str | Path) -> Path:
    """Return the default report path: ``output`` with the suffix ``.json``."""
    return Path(output).with_suffix(".json")


def simulate_file(
    cfg: Config,
    input_path: str | Path,
    output: str | Path,
    *,
    sideband_output: str | Path | None = None,
    report: str | Path | None = None,
    background: bool | None = None,
    background_fraction: float | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    stream: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Run detector simulation, selection and optional background on one generator-level file.

    Parameters
    ----------
    cfg : Config
        Resolved configuration (``[detector]``, ``[background]``, ``[selection]``,
        ``[physics]`` and ``seed`` are used).
    input_path : str or Path
        Native generator-level file; lab four-vectors are added (seeded) when it has none.
    output : str or Path
        Signal-region output file.
    sideband_output : str or Path, optional
        Mbc-sideband output file.
    report : str or Path, optional
        JSON report (default :func:`default_report_path` of ``output``).
    background : bool, optional
        Add combinatorial background; default ``cfg.background.enabled``.
    background_fraction : float, optional
        Background fraction in the signal region; default ``cfg.background.fraction``.
    seed : int, optional
        Master seed; default ``cfg.seed``.
    overwrite : bool
        Replace existing outputs.
    progress : callable, optional
        Called with the number of input events processed after each chunk.
    stream : tuple of int
        Extra spawn-key entries after the stage number (e.g. a label index), so that several
        files of one run get independent detector and background streams.

    Returns
    -------
    dict
        The report: inputs and outputs, counts, cutflows, efficiency tables, timing.
    """
    start = time.perf_counter()
    seed = cfg.seed if seed is None else int(seed)
    if seed < 0:
        raise ConfigError(f"seed = {seed} must be a non-negative integer")
    with_background = cfg.background.enabled if background is None else bool(background)
    fraction = cfg.background.fraction if background_fraction is None else background_fraction
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"background fraction {fraction} must be in [0, 1)")
    report_path = Path(report) if report is not None else default_report_path(output)
    outputs = [Path(output), report_path]
    if sideband_output is not None:
        outputs.insert(1, Path(sideband_output))
    resolved = [p.resolve() for p in outputs]
    if len(set(resolved)) != len(resolved) or Path(input_path).resolve() in resolved:
        raise Hepc9Error(
            "input, output, sideband output and report must be different files, got "
            + ", ".join(str(p) for p in [Path(input_path), *outputs])
        )
    for path in outputs:
        check_output_path(path, overwrite=overwrite)

    meta_in = read_meta(input_path)
    if meta_in.get("level") != "gen":
        raise SchemaError(
            f"{input_path} is a '{meta_in.get('level')}'-level file; hepc9 simulate needs a "
            "generator-level file (hepc9 generate or hepc9 convert of a 'gen' tree)"
        )
    # the generator density travels with the events: the fit weights an efficiency sample by
    # 1/density (absent in older files: the rate)
    density = {} if "density" not in meta_in else {
        "density": check_density(meta_in["density"], what=f"{input_path}: metadata 'density'")}
    constants = model_constants(cfg.physics.constants)
    beam = BELLE2
    sel = cfg.selection

    efficiency = EfficiencyTable.empty(bins=cfg.detector.efficiency_bins, constants=constants)
    flows: list[Cutflow] = []
    sig_sr: list[dict[str, np.ndarray]] = []
    sig_sb: list[dict[str, np.ndarray]] = []
    added_four_vectors = False
    n_done = 0
    for i, chunk in enumerate(iterate_events(input_path, step_size=cfg.detector.chunk_size)):
        # impossible generator-level events (|cos| > 1, χ outside [0, 2π), q² outside the
        # phase space, NaN) are refused: the shared validation, strict
        check_events(chunk, what=str(input_path), policy="fail")
        if not has_four_vectors(chunk):
            if not added_four_vectors:
                log.info("%s has no four-vectors; adding them with a seeded rng", input_path)
            added_four_vectors = True
        det, reg, flow = reconstruct(
            chunk,
            detector=cfg.detector,
            selection=sel,
            rng=stream_rng(seed, "detector", *stream, i, 0),
            four_rng=stream_rng(seed, "detector", *stream, i, 1),
            constants=constants,
            beam=beam,
        )
        in_sr, in_sb = reg.signal, reg.sideband
        flows.append(flow)
        sig_sr.append(take(det, in_sr))
        sig_sb.append(take(det, in_sb))
        efficiency.fill(chunk, sig_sr[-1])
        n_done += len(chunk["q2"])
        if progress is not None:
            progress(n_done)
    if n_done == 0:
        raise DataError(f"{input_path} holds no events; nothing to simulate")
    signal_columns = list(sig_sr[0])
    signal_sr = concat(sig_sr, signal_columns)
    signal_sb = concat(sig_sb, signal_columns)
    signal_flow = Cutflow.total(flows)
    n_sig_sr = len(signal_sr["q2"])
    n_sig_sb = len(signal_sb["q2"])

    bkg_report: dict[str, Any] | None = None
    final_sr, final_sb = signal_sr, signal_sb
    if with_background:
        n_bkg_target = round(fraction / (1.0 - fraction) * n_sig_sr)
        # the background drawn before track selection: its expected whole-region count for
        # the target, to bound the number of blocks (the track selection keeps about half)
        n_expected = background_yield(
            n_sig_sr, fraction=fraction, config=cfg.background, selection=sel, beam=beam
        )
        block = cfg.detector.chunk_size
        max_blocks = 50 * (-(-n_expected // block)) + 50
        blocks: list[BackgroundBlock] = []

        def draw(j: int, n_try: int, have: int) -> int:
            m = n_try if n_bkg_target > 0 else 0  # one (empty) block when the target is 0
            blk = background_block(
                m,
                background=cfg.background,
                detector=cfg.detector,
                selection=sel,
                rng=stream_rng(seed, "background", *stream, 0, j),
                accept_rng=stream_rng(seed, "background", *stream, 2, j),
                constants=constants,
                beam=beam,
            )
            # stop the stream right after the target-th accepted signal-region candidate
            used = stop_after(np.cumsum(blk.regions.signal), have, n_bkg_target, m)
            blocks.append(blk.head(used))
            return int(np.count_nonzero(blocks[-1].regions.signal))

        top_up(
            draw, n_bkg_target, first_rate=1.0, min_rate=1.0, max_rounds=max_blocks,
            block=block, at_least_one=True,
            error="the background track selection and signal region keep {have} of the "
                  "{need} wanted background candidates after {rounds} blocks of "
                  f"{block}; check [detector], [background] and [selection]",
        )
        bkg_flows: list[Cutflow] = []
        bkg_sr: list[dict[str, np.ndarray]] = []
        bkg_sb: list[dict[str, np.ndarray]] = []
        for b in blocks:
            bkg = b.events
            if "weight" in signal_sr:
                bkg["weight"] = np.ones(b.size)
            flow = Cutflow()
            flow.add("generated", b.size)
            flow.add("K* window", int(np.count_nonzero(b.regions.window)))
            flow.add("SR or sideband", len(b.tested))
            flow.add("track selection", int(np.count_nonzero(b.regions.candidates)))
            flow.add("signal region", int(np.count_nonzero(b.regions.signal)))
            bkg_flows.append(flow)
            bkg_sr.append(take(bkg, b.regions.signal))
            bkg_sb.append(take(bkg, b.regions.sideband))
        n_bkg = sum(b.size for b in blocks)
        columns = [c for c in signal_columns if c in bkg_sr[0]]
        dropped = [c for c in signal_columns if c not in columns]
        mix = stream_rng(seed, "background", *stream, 1)
        merged = []
        for sig, parts in ((signal_sr, bkg_sr), (signal_sb, bkg_sb)):
            both = concat([{c: sig[c] for c in columns}, *parts], columns)
            order = mix.permutation(len(both["q2"]))
            merged.append({c: v[order] for c, v in both.items()})
        final_sr, final_sb = merged
        n_bkg_sr = sum(len(p["q2"]) for p in bkg_sr)
        n_bkg_sb = sum(len(p["q2"]) for p in bkg_sb)
        total_sr = n_sig_sr + n_bkg_sr
        bkg_report = {
            "fraction_target": fraction,
            "fraction_observed": n_bkg_sr / total_sr if total_sr else float("nan"),
            "generated": n_bkg,
            "target_signal_region": n_bkg_target,
            "cutflow": Cutflow.total(bkg_flows).to_dict(),
            "signal_region": n_bkg_sr,
            "sideband": n_bkg_sb,
            "dropped_columns": dropped,
        }
        if dropped:
            log.info("background has no %s; these columns are left out", ", ".join(dropped))

    common = {
        "source": {"path": str(input_path), "generator": meta_in.get("generator"),
                   "seed": meta_in.get("seed"), "n_events": n_done},
        "detector": _plain(cfg.detector),
        "selection": _plain(cfg.selection),
        "background": {**_plain(cfg.background), "enabled": with_background,
                       "fraction": fraction} if with_background else None,
        "four_vectors_added": added_four_vectors,
        "spawn_key": list(spawn_key("detector", *stream)),
        **density,
    }  # fmt: skip
    written: dict[str, str] = {}
    targets: tuple[tuple[str, dict[str, np.ndarray], Path | None], ...] = (
        ("signal", final_sr, Path(output)),
        ("sideband", final_sb, Path(sideband_output) if sideband_output is not None else None),
    )
    # all outputs or none: each is written to its temporary, and all are renamed into place
    # only when every one (the report included) is complete
    with contextlib.ExitStack() as stack:
        staged = {region: stack.enter_context(atomic_path(target, overwrite=overwrite,
                                                          keep_suffix=True))
                  for region, _events, target in targets if target is not None}
        staged_report = stack.enter_context(atomic_path(report_path, overwrite=overwrite))
        result = _write_outputs(targets, staged, staged_report, written=written, cfg=cfg,
                                meta_in=meta_in, common=common, seed=seed, start=start,
                                input_path=input_path, report_path=report_path,
                                summary={"events_in": n_done,
                                         "density": density.get("density"),
                                         "four_vectors_added": added_four_vectors,
                                         "signal": {"cutflow": signal_flow.to_dict(),
                                                    "signal_region": n_sig_sr,
                                                    "sideband": n_sig_sb},
                                         "background": bkg_report,
                                         "signal_region_events": len(final_sr["q2"]),
                                         "sideband_events": len(final_sb["q2"]),
                                         "efficiency": efficiency.to_dict()})
    log.info(
        "simulated %d events: %d signal-region and %d sideband candidates in %.2f s",
        n_done, result["signal_region_events"], result["sideband_events"], result["seconds"],
    )  # fmt: skip
    return result


def _write_outputs(
    targets: tuple[tuple[str, dict[str, np.ndarray], Path | None], ...],
    staged: dict[str, Path],
    staged_report: Path,
    *,
    written: dict[str, str],
    cfg: Config,
    meta_in: dict[str, Any],
    common: dict[str, Any],
    seed: int,
    start: float,
    input_path: Any,
    report_path: Path,
    summary: dict[str, Any],
) -> dict[str, Any]:
    """Write the region files and the report to their staged temporaries; return the report."""
    shifts = {name: float(meta_in.get(name, 0.0)) for name in SHIFT_NAMES}
    for region, events, target in targets:
        if target is None:
            continue
        n_rows = len(events["q2"])
        n_sig = int(np.count_nonzero(events["is_signal"]))
        meta = make_meta(
            level="det",
            shifts=shifts,
            seed=seed,
            n_events=n_rows,
            config_digest=cfg.digest(),
            generator=str(meta_in.get("generator", "unknown")),
            region=region,
            n_signal=n_sig,
            n_background=n_rows - n_sig,
            **common,
        )
        write_events(staged[region], events, meta, overwrite=True)
        written[region] = str(target)

    seconds = time.perf_counter() - start
    n_done = summary["events_in"]
    result: dict[str, Any] = {
        "input": str(input_path),
        "output": written.get("signal"),
        "sideband_output": written.get("sideband"),
        "report": str(report_path),
        **summary,
        "seed": seed,
        "seconds": seconds,
        "events_per_second": n_done / seconds if seconds > 0 else float("inf"),
    }
    write_json(staged_report, result, overwrite=True)
    return result


def _plain(section: Any) -> dict[str, Any]:
    return {
        f.name: (list(v) if isinstance((v := getattr(section, f.name)), tuple) else v)
        for f in dataclasses.fields(section)
    }

"""Benchmark of the event generator: accepted events per second, numba versus numpy.

Run as ``python benchmarks/bench_generate.py [--events N] [--pipeline-events N] [--write]``.
The numba kernels are compiled into a fresh temporary cache first, so the compile time printed
is a cold compile.  Besides the sampler (numba vs its numpy twin) it measures the CLI's path,
:func:`hepc9.pipeline.generate.generate_file` with ROOT writing, against two references of the
same run: the sampler alone on the same blocks, and sampling then writing each block in turn
(the path before chunks were streamed to the writer).  With ``--write`` the numbers go to
``benchmarks/results/generate.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

# a cold numba cache, so that the first call measures the compilation
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="hepc9-bench-numba-"))

import numpy as np
from machine import cpu_model, machine_line

from hepc9.config import load_config
from hepc9.generate import sampler
from hepc9.physics.constants import SEED_MODEL, WilsonShifts


def _best_rate(fn, n: int, repeat: int) -> tuple[float, float]:
    """Return (events per wall-clock second, events per CPU second of this process), best of."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return n / best_wall, n / best_cpu


def _pipeline(n: int, repeat: int, report) -> None:
    """generate_file (the CLI path, ROOT writing) vs the sampler alone and sequential writing."""
    from hepc9.pipeline.generate import CHUNKS_PER_BLOCK, generate_file
    from hepc9.rootio.native import make_meta, write_events
    from hepc9.seeding import seed_sequence
    from hepc9.simulation import SampleInputs

    cfg = load_config(None, [("generate.events", n), ("seed", 7)])
    sample = SampleInputs.from_config(cfg)
    block = cfg.generate.chunk_size * CHUNKS_PER_BLOCK
    sizes = [min(block, n - b * block) for b in range(-(-n // block))]

    def blocks():
        for b, m in enumerate(sizes):
            yield sample.sample(m, seed_sequence(cfg.seed, "generate", b))

    folder = Path(tempfile.mkdtemp(prefix="hepc9-bench-gen-"))
    meta = make_meta(level="gen", shifts={}, seed=7, n_events=n, config_digest="bench",
                     generator="bench")  # fmt: skip
    runs = {
        "generate_file (CLI path: streamed chunks, ZSTD(1) ROOT writing)": lambda: generate_file(
            cfg, folder / "a.root", overwrite=True
        ),
        "reference: sample each block, then write it (sequential)": lambda: write_events(
            folder / "b.root", blocks(), meta, overwrite=True
        ),
        "reference: sampler alone on the same blocks (no writing)": lambda: list(blocks()),
    }
    generate_file(load_config(None, [("generate.events", 1000)]), folder / "w.root", overwrite=True)
    best = dict.fromkeys(runs, (0.0, 0.0))
    for _ in range(repeat):  # interleaved, best of `repeat` each
        for name, fn in runs.items():
            rate = _best_rate(fn, n, 1)
            best[name] = max(best[name], rate)
    names = list(runs)
    for name in names:
        report(f"- {name}, {n} events, full q² range: {best[name][0] / 1e6:.2f} M events/s "
               f"wall, {best[name][1] / 1e6:.2f} M per CPU-second")  # fmt: skip
    r_seq = best[names[0]][0] / best[names[1]][0]
    r_alone = best[names[0]][0] / best[names[2]][0]
    report(f"- ratio generate_file / sequential (wall): {r_seq:.2f}×; "
           f"generate_file / sampler alone: {r_alone:.2f}")  # fmt: skip
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4_000_000, help="events per numba run")
    parser.add_argument("--numpy-events", type=int, default=200_000, help="events per numpy run")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--pipeline-events", type=int, default=8_000_000,
                        help="events of the generate_file (ROOT writing) runs")
    parser.add_argument("--write", action="store_true", help="write benchmarks/results/generate.md")
    args = parser.parse_args(argv)

    lines: list[str] = []

    def report(text: str) -> None:
        print(text)
        lines.append(text)

    shifts = WilsonShifts()
    t0 = time.perf_counter()
    table = sampler.Q2Table(shifts, constants=SEED_MODEL)
    t_table = time.perf_counter() - t0
    report(f"- Q2Table build, seed model, full q² range (first; compiles the bound kernel): "
           f"{t_table:.3f} s, {table.grid_size} nodes, "
           f"max rel. error {table.max_relative_error():.2e}, "
           f"TV bound {table.total_variation_bound():.2e}")  # fmt: skip
    t0 = time.perf_counter()
    other = sampler.Q2Table(WilsonShifts(dc9=-1.0), constants=SEED_MODEL)
    report(f"- Q2Table build, δC9 = −1 (warm, starts from the seed-model grid): "
           f"{time.perf_counter() - t0:.3f} s, {other.grid_size} nodes, "
           f"max rel. error {other.max_relative_error():.2e}")  # fmt: skip
    t0 = time.perf_counter()
    mtable = sampler.MassQ2Table(shifts, constants=SEED_MODEL)
    t_mt = time.perf_counter() - t0
    report(f"- MassQ2Table build (relbw): {t_mt:.3f} s, {mtable.masses.size} × {mtable.v.size} "
           f"nodes, TV bound {mtable.total_variation_bound():.2e}")  # fmt: skip

    t0 = time.perf_counter()
    sampler.sample_events(1000, seed=1, threads=1)
    t_compile = time.perf_counter() - t0
    report(f"- numba compile, narrow kernel (cold cache, first call of 1000 events): "
           f"{t_compile:.2f} s")  # fmt: skip
    t0 = time.perf_counter()
    sampler.sample_events(1000, seed=1, threads=1, line_shape="relbw")
    report(f"- numba compile, relbw kernel (cold cache, first call): "
           f"{time.perf_counter() - t0:.2f} s")  # fmt: skip

    n = args.events
    rates = {}
    for line_shape in ("narrow", "relbw"):
        for threads in (1, 2):
            rate = _best_rate(
                lambda t=threads, ls=line_shape: sampler.sample_events(
                    n, seed=2, threads=t, line_shape=ls
                ),
                n,
                args.repeat,
            )
            rates[(line_shape, threads)] = rate
            report(f"- numba {line_shape:6s} {threads} thread(s), full q² range: "
                   f"{rate[0] / 1e6:.2f} M events/s wall, {rate[1] / 1e6:.2f} M events per "
                   "CPU-second")  # fmt: skip
    nn = args.numpy_events
    rate_np = _best_rate(lambda: sampler.sample_events_numpy(nn, seed=3), nn, args.repeat)
    report(f"- numpy reference (exact physics), narrow: {rate_np[0] / 1e6:.3f} M events/s wall, "
           f"{rate_np[1] / 1e6:.3f} M events per CPU-second")  # fmt: skip
    report(f"- speed-up per CPU-second, numba / numpy: "
           f"{rates[('narrow', 1)][1] / rate_np[1]:.1f}×; wall, numba 2 threads / numpy: "
           f"{rates[('narrow', 2)][0] / rate_np[0]:.1f}×")  # fmt: skip

    report(f"- relbw thread scaling, 2 threads / 1 thread (wall): "
           f"{rates[('relbw', 2)][0] / rates[('relbw', 1)][0]:.2f}×")  # fmt: skip
    _pipeline(args.pipeline_events, args.repeat, report)

    if args.write:
        out = Path(__file__).parent / "results" / "generate.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        load = os.getloadavg()
        header = [
            "# hepc9.generate benchmark",
            "",
            f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            f"- CPU: {cpu_model()}, {os.cpu_count()} cores",
            f"- machine: {machine_line()}",
            f"- load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
            "(shared machine: several engineers were running tests, numbers are under load)",
            f"- python {sys.version.split()[0]}, numpy {np.__version__}",
            f"- command: python benchmarks/bench_generate.py --events {n} "
            f"--numpy-events {nn} --pipeline-events {args.pipeline_events} "
            f"--repeat {args.repeat} --write",
            "",
        ]
        out.write_text("\n".join(header + lines) + "\n")
        print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

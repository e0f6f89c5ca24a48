"""Benchmark of hepc9.rootio.native: write and read rates and file sizes per compression.

Run as ``python benchmarks/bench_rootio.py [--n N] [--dir DIR] [--out FILE]``.  Writes N
generator-level events (the six core columns) with ZSTD(1), LZ4(1) and uproot's default
ZLIB(1), reads them back (whole file and chunked), checks the values, prints events/s and
writes a Markdown table to ``benchmarks/results/rootio.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot
from machine import cpu_model

from hepc9.rootio import native


def make_events(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "q2": rng.uniform(0.0447, 19.22, n),
        "costheta_l": rng.uniform(-1.0, 1.0, n),
        "costheta_k": rng.uniform(-1.0, 1.0, n),
        "chi": rng.uniform(0.0, 2 * np.pi, n),
        "mkpi": np.full(n, 0.89555),
        "flavour": np.ones(n, dtype=np.int8),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="events per file")
    parser.add_argument("--repeat", type=int, default=2, help="timed rounds (best is kept)")
    parser.add_argument("--dir", default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument(
        "--codecs", default="zstd,lz4,zlib", help="comma-separated compressions to compare"
    )
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "rootio.md"), help="report"
    )
    args = parser.parse_args(argv)

    events = make_events(args.n)
    meta = native.make_meta(
        level="gen", shifts={"dc9": 0.0}, seed=3, n_events=args.n, config_digest="sha256:bench"
    )
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        # Warm-up: imports and first-call overheads.
        warm = Path(scratch) / "warm.root"
        native.write_events(warm, {k: v[:1000] for k, v in events.items()}, meta)
        native.read_events(warm)
        for codec in args.codecs.split(","):
            path = Path(scratch) / f"{codec}.root"
            t_write = t_read = t_iter = np.inf
            for _ in range(args.repeat):
                path.unlink(missing_ok=True)
                t0 = time.perf_counter()
                native.write_events(path, events, meta, compression=codec)
                t_write = min(t_write, time.perf_counter() - t0)
                t0 = time.perf_counter()
                got, _ = native.read_events(path)
                t_read = min(t_read, time.perf_counter() - t0)
                np.testing.assert_array_equal(got["q2"], events["q2"].astype(np.float32))
                del got
                t0 = time.perf_counter()
                total = sum(c["q2"].size for c in native.iterate_events(path))
                t_iter = min(t_iter, time.perf_counter() - t0)
                assert total == args.n
            size = path.stat().st_size
            with uproot.open(path) as f:
                name = str(f.file.compression)
            rows.append((name, args.n / t_write, args.n / t_read, args.n / t_iter, size))
            w, r, i = (args.n / t / 1e6 for t in (t_write, t_read, t_iter))
            print(
                f"{name:9s} write {w:7.2f} M/s  read {r:7.2f} M/s  iterate {i:7.2f} M/s  "
                f"size {size / args.n:5.2f} B/event"
            )
            path.unlink()

    command = "python benchmarks/bench_rootio.py " + " ".join(argv or sys.argv[1:])
    lines = [
        "# Benchmark: hepc9.rootio.native",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores",
        f"- versions: numpy {np.__version__}, uproot {uproot.__version__}, "
        f"python {platform.python_version()}",
        f"- command: `{command.strip()}`",
        f"- {args.n} events, six core columns (5 × float32 + int8 = 21 bytes/event raw); "
        "write = `write_events` (float64 → float32 conversion, chunked extend, atomic rename); "
        "read = `read_events` (whole file, upcast to float64); iterate = `iterate_events` "
        "(1M-entry chunks); best of the timed rounds",
        f"- load: {os.getloadavg()[0]:.1f} (1-min load average; shared machine, numbers "
        "measured under load)",
        "",
        "| compression | write M ev/s | read M ev/s | iterate M ev/s | bytes/event |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {name} | {w / 1e6:.2f} | {r / 1e6:.2f} | {i / 1e6:.2f} | {s / args.n:.2f} |"
            for name, w, r, i, s in rows
        ],
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

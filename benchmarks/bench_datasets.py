"""Benchmark of the voxeliser and of end-to-end image making.

Run as ``python benchmarks/bench_datasets.py [--threads N] [--output FILE.md]``.  Prints
events/s of the numba path and of the boost-histogram path (for 24k-event images and for
large images where the per-event work dominates), and images/s for sampling + voxelising
24k-event 50³ images.  The JIT is warmed before timing; the best of several repeats is kept.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numpy as np
from machine import machine_line
from numba import get_num_threads, set_num_threads

from hepc9.datasets.voxelize import TWO_PI, ImageSpec, voxelize_batch, voxelize_boost
from hepc9.generate.sampler import sample_events


def _events(rng, n):
    return {
        "costheta_l": rng.uniform(-1, 1, n),
        "costheta_k": rng.uniform(-1, 1, n),
        "chi": rng.uniform(0, TWO_PI, n),
        "q2": rng.uniform(0.05, 19.2, n),
    }


_CPU: list[float] = []
_WALL: list[float] = []


def _best(fn, repeats):
    """Best wall time of ``repeats`` calls; the CPU time of that call goes to ``_CPU``."""
    best, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, used
    _CPU.append(cpu)
    _WALL.append(best)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output", default=None, help="also write the table to this Markdown file")
    args = ap.parse_args()
    set_num_threads(min(args.threads, get_num_threads()))
    rng = np.random.default_rng(1)
    spec = ImageSpec()  # 50³, channels q2_mean + count
    m = 24_000
    rows = []

    ev = _events(rng, args.images * m)
    voxelize_batch({k: v[: 2 * m] for k, v in ev.items()}, spec, n_images=2)  # JIT warm-up
    for th in sorted({1, args.threads}):
        dt = _best(lambda th=th: voxelize_batch(ev, spec, n_images=args.images, threads=th),
                   args.repeats)
        rows.append((f"numba, 24k-event 50³ images, {th} thread(s)", args.images * m / dt,
                     args.images / dt))
    buf = np.empty((args.images, *spec.shape), np.float32)
    for th in sorted({1, args.threads}):
        dt = _best(lambda th=th: voxelize_batch(ev, spec, n_images=args.images, threads=th,
                                                out=buf), args.repeats)
        rows.append((f"numba, 24k-event 50³ images, out= buffer, {th} thread(s)",
                     args.images * m / dt, args.images / dt))
    big = _events(rng, 8_000_000)
    for th in sorted({1, args.threads}):
        dt = _best(lambda th=th: voxelize_batch(big, spec, n_images=8, threads=th), args.repeats)
        rows.append((f"numba, 1M-event 50³ images, {th} thread(s)", 8e6 / dt, 8 / dt))
    one = {k: v[:m] for k, v in ev.items()}
    n_bh = 16

    def bh_images():
        for b in range(n_bh):
            voxelize_boost({k: v[b * m:(b + 1) * m] for k, v in ev.items()}, spec)

    dt = _best(bh_images, args.repeats)
    rows.append(("boost-histogram Mean storage, 24k-event 50³ images", n_bh * m / dt, n_bh / dt))
    dt = _best(lambda: voxelize_boost({k: v[:1_000_000] for k, v in big.items()}, spec), 3)
    rows.append(("boost-histogram Mean storage, 1M-event 50³ image", 1e6 / dt, 1 / dt))
    sample = np.stack([one["costheta_l"], one["costheta_k"], one["chi"]], axis=1)
    edges = [spec.edges(i) for i in range(3)]
    dt = _best(lambda: np.histogramdd(sample, bins=edges, weights=one["q2"]), args.repeats)
    rows.append(("numpy histogramdd (sum only, baseline), 24k events", m / dt, 1 / dt))

    n_e2e = 32
    sample_events(m, seed=0, threads=args.threads)  # warm-up

    def end_to_end():
        evs = sample_events(n_e2e * m, seed=1, threads=args.threads)
        voxelize_batch(evs, spec, n_images=n_e2e, threads=args.threads)

    dt = _best(end_to_end, 3)
    rows.append((f"end to end: sample + voxelise 24k-event 50³ images, {args.threads} threads",
                 n_e2e * m / dt, n_e2e / dt))

    # events per CPU-second = (events / wall) · (wall / CPU time) of the best call
    ratios = [w / c if c > 0 else float("nan") for w, c in zip(_WALL, _CPU, strict=True)]
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    # same-run ratios to the reference (boost-histogram Mean storage, the bit-identical twin)
    rate = {name: ev_s for name, ev_s, _ in rows}
    bh24 = rate["boost-histogram Mean storage, 24k-event 50³ images"]
    bh1m = rate["boost-histogram Mean storage, 1M-event 50³ image"]
    ratio_lines = [
        f"- ratio numba / boost-histogram, 24k-event images, {th} thread(s): "
        f"{rate[f'numba, 24k-event 50³ images, {th} thread(s)'] / bh24:.2f}×; 1M-event images: "
        f"{rate[f'numba, 1M-event 50³ images, {th} thread(s)'] / bh1m:.2f}×; 24k-event "
        f"images into a reused out= buffer: "
        f"{rate[f'numba, 24k-event 50³ images, out= buffer, {th} thread(s)'] / bh24:.2f}×"
        for th in sorted({1, args.threads})
    ]
    lines = [
        f"- machine: {machine_line()}",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu}; cores visible: {os.cpu_count()}; numba threads: {args.threads}",
        f"- python {platform.python_version()}; command: `python benchmarks/bench_datasets.py "
        f"--threads {args.threads} --images {args.images} --repeats {args.repeats}`",
        "",
        "| what | events/s (wall) | images/s (wall) | events per CPU-second |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {name} | {ev_s / 1e6:.1f} M | {img_s:.1f} | {ev_s * wall_over_cpu / 1e6:.1f} M |"
        for (name, ev_s, img_s), wall_over_cpu in zip(rows, ratios, strict=True)
    ]
    lines += ["", *ratio_lines]
    text = "\n".join(lines)
    print(text)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as f:
            f.write(text + "\n\n")


if __name__ == "__main__":
    main()

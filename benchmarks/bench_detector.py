"""Benchmark of the detector simulation and the background generator.

Run as ``python benchmarks/bench_detector.py [--events N] [--repeat R] [--output FILE]``.
Warms the JIT, then reports events/s of

* ``simulate_detector`` with the numba kernels (the fast path) and with the numpy twins,
* ``generate_background`` (vectorised numpy, exact inverse CDFs),

and writes a Markdown table (default ``benchmarks/results/detector.md``, replaced).
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import numba
import numpy as np
from machine import cpu_model, machine_line
from scipy.spatial.transform import Rotation

from hepc9 import kinematics
from hepc9.background import generate_background, shapes
from hepc9.config import BackgroundConfig, DetectorConfig
from hepc9.detector import simulate_detector
from hepc9.physics.constants import SEED_MODEL as C


def make_events(n: int, seed: int) -> dict[str, np.ndarray]:
    """Uniform q² and angles, isotropic B-frame orientation, Belle II lab frame."""
    rng = np.random.default_rng(seed)
    ev = {
        "q2": rng.uniform(0.1, 19.0, n),
        "costheta_l": rng.uniform(-1.0, 1.0, n),
        "costheta_k": rng.uniform(-1.0, 1.0, n),
        "chi": rng.uniform(0.0, 2.0 * np.pi, n),
        "mkpi": np.full(n, C.m_kstar),
        "flavour": np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8),
    }
    p4 = kinematics.four_vectors_from_angles(
        ev["q2"], ev["costheta_l"], ev["costheta_k"], ev["chi"], ev["mkpi"], ev["flavour"],
        m_b=C.m_B0, m_k=C.m_K, m_pi=C.m_pi, m_mu=C.m_mu,
    )
    rot = Rotation.random(n, random_state=rng)
    p4 = {k: np.concatenate([v[:, :1], rot.apply(v[:, 1:])], axis=1) for k, v in p4.items()}
    lab = kinematics.to_lab(p4, rng=rng, m_b=C.m_B0)
    for name, arr in lab.items():
        for i, comp in enumerate(("e", "px", "py", "pz")):
            ev[f"{name}_{comp}"] = np.ascontiguousarray(arr[:, i])
    return ev


def best_rate(fn, n: int, repeat: int) -> tuple[float, float]:
    """Return (events per wall-clock second, events per CPU second summed over threads)."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return n / min(wall), n / min(cpu)



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "detector.md"))
    parser.add_argument("--note", default="", help="free text added to the results file")
    args = parser.parse_args()
    n = args.events
    cfg = DetectorConfig()
    events = make_events(n, 1)
    warm = make_events(1000, 2)
    for engine in ("numba", "numpy"):
        simulate_detector(warm, config=cfg, rng=np.random.default_rng(0), engine=engine)
    out, _ = simulate_detector(events, config=cfg, rng=np.random.default_rng(0))
    kept = len(out["q2"]) / n

    rows = []
    for engine in ("numba", "numpy"):
        rate = best_rate(
            lambda e=engine: simulate_detector(events, config=cfg, rng=np.random.default_rng(3),
                                               engine=e),
            n, args.repeat,
        )
        rows.append((f"simulate_detector, engine={engine}", rate))
    bcfg = BackgroundConfig()
    generate_background(1000, config=bcfg, beam=kinematics.BELLE2, rng=np.random.default_rng(0))

    def background() -> dict:
        return generate_background(n, config=bcfg, beam=kinematics.BELLE2,
                                   rng=np.random.default_rng(4))

    rows.append(("generate_background", best_rate(background, n, args.repeat)))
    threads = numba.get_num_threads()
    for label, fn in (("simulate_detector, engine=numba", lambda: simulate_detector(
            events, config=cfg, rng=np.random.default_rng(3))), ("generate_background",
                                                                 background)):
        numba.set_num_threads(1)  # same code on one thread: the scaling reference
        try:
            rows.append((f"{label}, 1 thread", best_rate(fn, n, args.repeat)))
        finally:
            numba.set_num_threads(threads)
    # reference: the same sampler with numpy.interp in the inverse CDFs (bit-identical)
    fast_interp = shapes.interp
    shapes.interp = np.interp
    try:
        rows.append(("generate_background, numpy.interp reference",
                     best_rate(background, n, args.repeat)))
    finally:
        shapes.interp = fast_interp
    rate_of = dict(rows)
    det = rate_of["simulate_detector, engine=numba"][0]
    det_ref = rate_of["simulate_detector, engine=numpy"][0]
    bkg = rate_of["generate_background"][0]
    bkg_ref = rate_of["generate_background, numpy.interp reference"][0]
    det1 = rate_of["simulate_detector, engine=numba, 1 thread"][0]
    bkg1 = rate_of["generate_background, 1 thread"][0]
    ratios = [
        f"- ratio simulate_detector numba / numpy twin (wall): {det / det_ref:.2f}×",
        f"- ratio generate_background / numpy.interp reference (wall): {bkg / bkg_ref:.2f}×",
        f"- ratio {threads} threads / 1 thread (wall): simulate_detector {det / det1:.2f}×, "
        f"generate_background {bkg / bkg1:.2f}×",
    ]

    lines = [f"{name:<40s} {rate / 1e6:8.2f} M events/s (wall), {cpu / 1e6:6.2f} M events per "
             "CPU-second" for name, (rate, cpu) in rows]
    print(f"events {n}, detector efficiency {kept:.3f}, numba threads {numba.get_num_threads()}")
    print("\n".join(lines))
    print("\n".join(ratios))

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    text = [
        "# Detector simulation and background benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores visible, numba threads "
        f"{numba.get_num_threads()}",
        f"- load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- command: `python benchmarks/bench_detector.py --events {n} --repeat {args.repeat}`",
        f"- events: {n} (uniform q² and angles, isotropic decays, Belle II boost); default "
        f"[detector] keeps {kept:.3f} of them; best of {args.repeat}",
        "",
        "| path | M events/s (wall clock) | M events per CPU-second |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {rate / 1e6:.2f} | {cpu / 1e6:.2f} |" for name, (rate, cpu) in rows),
        "",
        *ratios,
        "",
        f"- machine: {machine_line()}",
        "",
    ]
    if args.note:
        text += [args.note, ""]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(text) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training throughput of the neural δC9 estimators, in images per second.

Run as ``python benchmarks/bench_train.py [--mode cpu|paper|real] [--backend B] [--out FILE]``.

* ``cpu`` (default): the quickstart model (slim ResNet-10, width 1/4, 25³ × 2 channels,
  batch 32) and the paper model (ResNet-34, 50³ × 1, a few batches), each warmed up with one
  step first; also the input pipeline alone (float16 memory-mapped dataset → float32 batches),
  which must outpace training.
* ``paper``: only the paper configuration (ResNet-34, 50³, batch 128, SGD + MAE), for the GPU.
* ``real``: a short real training run of the paper model: events from the sampler at a few
  δC9 values, 50³ images of the mean normalised q², trained for a few epochs; prints the
  validation δC9 resolution.
* ``precision``: a set model (``--model deepsets|event``) trained on sampler events (sets of
  ``--events-per-image`` events); bias and spread at δC9 = 0 and −0.82 against the
  Cramér–Rao bound σ_CRB of :func:`hepc9.fit.fisher.cramer_rao` for the same event count.

Results are appended to ``benchmarks/results/train.md`` with the date, device, backend and
command.  Timings on a shared machine are noisy: the numbers are for orientation only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model


def gpu_name() -> str:
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False)
        return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "none"
    except (OSError, subprocess.SubprocessError):
        return "none"


def train_rate(model_cfg, shape, batch, steps, *, mixed=False):
    """Images/s of SGD + MAE train steps on random images (after one warm-up step)."""
    import keras

    from hepc9.models import build_model

    if mixed:
        keras.config.set_dtype_policy("mixed_float16")
    model = build_model("resnet3d", shape, model_cfg)
    keras.config.set_dtype_policy("float32")
    opt = keras.optimizers.SGD(learning_rate=0.01)
    if mixed:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    model.compile(optimizer=opt, loss="mae")
    rng = np.random.default_rng(0)
    x = rng.random((batch, *shape), dtype=np.float32)
    y = rng.normal(size=(batch, 1)).astype(np.float32)
    t0 = time.perf_counter()
    model.train_on_batch(x, y)  # compile / autotune
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    np.asarray(loss)
    dt_ = time.perf_counter() - t0
    return batch * steps / dt_, warm, model.count_params()


def pipeline_rate(shape, n_items, batch):
    """Images/s of the input pipeline alone: float16 store on disk → shuffled float32 batches."""
    from hepc9.datasets.store import open_dataset, write_dataset
    from hepc9.seeding import seed_sequence
    from hepc9.train import ArraySource, make_array_batches

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        x = rng.random((n_items, *shape), dtype=np.float32).astype(np.float16)
        y = rng.choice(np.linspace(-2, 1.1, 22), n_items).astype(np.float32)
        write_dataset(Path(tmp) / "ds", x, y, kind="images", dtype="float16")
        ds = open_dataset(Path(tmp) / "ds")
        info = {"labels": {"kind": "standardized", "mean": 0.0, "std": 1.0}}
        batches = make_array_batches(ArraySource(ds.x, ds.y, ds.index), np.arange(n_items),
                                     info, batch_size=batch, shuffle=seed_sequence(1, "train"))
        t0 = time.perf_counter()
        for i in range(len(batches)):
            batches[i]
        return n_items / (time.perf_counter() - t0)


def real_run(args):
    """A short real training of the paper model on sampler events; returns a report dict."""
    from hepc9.config import load_config
    from hepc9.datasets.voxelize import ImageSpec, voxelize_batch
    from hepc9.generate.sampler import sample_events
    from hepc9.seeding import seed_sequence
    from hepc9.train import load_predictor, predict, train_model

    grid = np.round(np.linspace(-2.0, 1.1, args.points), 2)
    spec = ImageSpec(bins=(args.bins,) * 3, channels=("q2_mean",))
    per_image = args.events_per_image
    xs, ys = [], []
    t0 = time.perf_counter()
    for k, dc9 in enumerate(grid):
        ev = sample_events(per_image * args.images_per_point, seed=seed_sequence(7, "generate", k),
                           shifts={"dc9": float(dc9)})
        xs.append(voxelize_batch(ev, spec, n_images=args.images_per_point))
        ys.append(np.full(args.images_per_point, dc9, np.float32))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    t_data = time.perf_counter() - t0
    overrides = [f"train.batch_size={args.batch}", f"model.depth={args.depth}",
                 f"model.width={args.width}"]
    if args.optimizer:
        overrides.append(f"train.optimizer='{args.optimizer}'")
    if args.lr:
        overrides.append(f"train.learning_rate={args.lr}")
    cfg = load_config(None, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train_model((x, y), model_name="resnet3d", cfg=cfg, output=Path(tmp) / "m",
                             epochs=args.epochs, verbose=2)
        t_train = time.perf_counter() - t0
        model, info = load_predictor(Path(tmp) / "m")
        # fresh test images at two points
        rows = []
        for k, dc9 in enumerate((-0.82, 0.0)):
            ev = sample_events(per_image * args.test_images,
                               seed=seed_sequence(7, "images_test", k), shifts={"dc9": dc9})
            pred = predict(model, info, voxelize_batch(ev, spec, n_images=args.test_images))["dc9"]
            rows.append((dc9, float(np.mean(pred)), float(np.std(pred, ddof=1))))
    return {"points": len(grid), "images": len(y), "data_s": t_data, "train_s": t_train,
            "epochs": result.epochs_run, "images_per_s": len(y) * 0.8 * result.epochs_run / t_train,
            "validation": result.validation, "test": rows}


def precision_run(args):
    """Train a set model on sampler events and compare its spread with the Cramér–Rao bound."""
    from hepc9.config import load_config
    from hepc9.datasets.sets import make_sets, reference_set_spec
    from hepc9.fit.fisher import cramer_rao
    from hepc9.generate.sampler import sample_events
    from hepc9.seeding import seed_sequence
    from hepc9.train import load_predictor, predict, train_model

    n = args.events_per_image
    grid = np.round(np.linspace(-2.0, 1.0, args.points), 2)
    spec = reference_set_spec(sample_events(200_000, seed=seed_sequence(1, "images_reference")))
    xs, ys = [], []
    for k, dc9 in enumerate(grid):
        ev = sample_events(n * args.images_per_point, seed=seed_sequence(1, "sets_train", k),
                           shifts={"dc9": float(dc9)})
        xs.append(make_sets(ev, spec, n_sets=args.images_per_point))
        ys.append(np.full(args.images_per_point, dc9, np.float32))
    overrides = ["train.optimizer='adam'", f"train.learning_rate={args.lr or 1e-3}",
                 f"train.batch_size={args.batch or 64}", "train.early_stopping_patience=8",
                 "train.reduce_lr_patience=3"]
    cfg = load_config(None, overrides)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train_model((np.concatenate(xs), np.concatenate(ys)), model_name=args.model,
                             cfg=cfg, output=Path(tmp) / "m", epochs=args.epochs, verbose=2)
        t_train = time.perf_counter() - t0
        model, info = load_predictor(Path(tmp) / "m")
        for k, dc9 in enumerate((0.0, -0.82)):
            ev = sample_events(n * args.test_images, seed=seed_sequence(1, "sets_test", k),
                               shifts={"dc9": dc9})
            pred = predict(model, info, make_sets(ev, spec, n_sets=args.test_images))["dc9"]
            crb = cramer_rao(n, at={"dc9": dc9}).sigma["dc9"]
            sigma = float(np.std(pred, ddof=1))
            rows.append(f"| {args.model} | {dc9:+.2f} | {n} | {np.mean(pred) - dc9:+.3f} "
                        f"| {sigma:.3f} | {crb:.3f} | {sigma / crb:.2f} |")
    head = (f"{args.model}: {args.points} δC9 points in [−2, 1], {args.images_per_point} "
            f"training sets each, {result.epochs_run} epochs in {t_train:.0f} s; "
            f"{args.test_images} fresh test sets per point\n\n"
            "| model | δC9 | events/set | bias | σ | σ_CRB | σ/σ_CRB |\n"
            "| --- | --- | --- | --- | --- | --- | --- |")
    return head, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["cpu", "paper", "real", "precision"], default="cpu")
    parser.add_argument("--model", choices=["deepsets", "event"], default="deepsets",
                        help="precision: set model")
    parser.add_argument("--backend", default=None, help="Keras backend (default: auto)")
    parser.add_argument("--batch", type=int, default=None, help="batch size")
    parser.add_argument("--steps", type=int, default=None, help="timed steps")
    parser.add_argument("--mixed", action="store_true", help="mixed float16 (GPU)")
    parser.add_argument("--epochs", type=int, default=3, help="real: epochs")
    parser.add_argument("--points", type=int, default=22, help="real: δC9 grid points")
    parser.add_argument("--images-per-point", type=int, default=40, help="real: training images")
    parser.add_argument("--events-per-image", type=int, default=24_000, help="real")
    parser.add_argument("--test-images", type=int, default=50, help="real: test images per point")
    parser.add_argument("--bins", type=int, default=50, help="real: voxels per axis")
    parser.add_argument("--depth", type=int, default=34, help="real: ResNet depth")
    parser.add_argument("--width", type=float, default=1.0, help="real: width multiplier")
    parser.add_argument("--optimizer", default=None, help="real: sgd or adam")
    parser.add_argument("--lr", type=float, default=None, help="real: learning rate")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "train.md"))
    args = parser.parse_args(argv)

    from hepc9.config import ModelConfig
    from hepc9.models import _backend

    backend = _backend.select(args.backend)
    import keras

    lines = []
    if args.mode in ("cpu", "paper"):
        if args.mode == "cpu":
            quick = ModelConfig(depth=10, width=0.25, dense_units=64)
            rate, warm, n_par = train_rate(quick, (25, 25, 25, 2), args.batch or 32,
                                           args.steps or 10, mixed=args.mixed)
            lines.append(f"| quickstart ResNet-10 ×0.25, 25³×2 | {args.batch or 32} | {n_par:,} "
                         f"| {rate:.1f} | {warm:.1f} |")
            print(lines[-1], flush=True)
            prate = pipeline_rate((25, 25, 25, 2), 2048, 32)
            lines.append(f"| input pipeline only (float16 store → float32), 25³×2 | 32 | – "
                         f"| {prate:.0f} | – |")
            print(lines[-1], flush=True)
        batch = args.batch or (128 if args.mode == "paper" else 8)
        steps = args.steps or (20 if args.mode == "paper" else 3)
        rate, warm, n_par = train_rate(ModelConfig(), (50, 50, 50, 1), batch, steps,
                                       mixed=args.mixed)
        lines.append(f"| paper ResNet-34, 50³×1{' (mixed fp16)' if args.mixed else ''} | {batch} "
                     f"| {n_par:,} | {rate:.1f} | {warm:.1f} |")
        print(lines[-1], flush=True)
        if args.mode in ("cpu", "paper"):
            prate = pipeline_rate((50, 50, 50, 1), 512, batch)
            lines.append(f"| input pipeline only (float16 store → float32), 50³×1 | {batch} | – "
                         f"| {prate:.0f} | – |")
            print(lines[-1], flush=True)
        header = ("| model | batch | parameters | train images/s | first step (s) |\n"
                  "| --- | --- | --- | --- | --- |")
    elif args.mode == "precision":
        header, lines = precision_run(args)
        print(header + "\n" + "\n".join(lines), flush=True)
    else:
        rep = real_run(args)
        header = f"short real training run: ResNet-{args.depth} ×{args.width}, batch {args.batch}"
        lines.append(f"- {rep['points']} δC9 points, {rep['images']} images "
                     f"({args.events_per_image} events each, {args.bins}³), "
                     f"data {rep['data_s']:.0f} s")
        lines.append(f"- {rep['epochs']} epochs in {rep['train_s']:.0f} s "
                     f"({rep['images_per_s']:.1f} training images/s incl. validation)")
        lines.append(f"- validation: {rep['validation']}")
        for dc9, mean, std in rep["test"]:
            lines.append(f"- test δC9 = {dc9:+.2f}: mean prediction {mean:+.3f}, σ {std:.3f} "
                         f"({args.test_images} images)")
        print("\n".join(lines), flush=True)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    text = (f"\n## {stamp} — mode {args.mode}\n\n"
            f"- CPU: {cpu_model()}, {os.cpu_count()} cores; GPU: {gpu_name()}\n"
            f"- Keras {keras.__version__}, backend {backend}\n"
            f"- command: `{cmd}`\n"
            "- measured on a shared machine under load by other jobs: orientation only\n\n"
            f"{header}\n" + "\n".join(lines) + "\n")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        out.write_text("# Training throughput (benchmarks/bench_train.py)\n")
    with out.open("a") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

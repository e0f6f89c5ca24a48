"""Neural-estimator commands: ``train`` and ``predict``.

Override channels: every flag is an argument of :func:`~hepc9.pipeline.train.train_from_folder`
or :func:`~hepc9.pipeline.train.predict_files`; ``--config``/``--set`` only edit the config.
The ``--model`` choices are the names of the estimator registry
(:func:`hepc9.models.model_names`).
"""

from __future__ import annotations

import argparse
from typing import Any

from hepc9.cli._options import add_config_options, load_cli_config, print_json, usage
from hepc9.cli._types import positive_int
from hepc9.config.names import BACKENDS
from hepc9.models import get_spec, model_names
from hepc9.pipeline.train import predict_files, train_from_folder

__all__ = ["add_predict", "add_train"]


def add_train(sub: Any) -> None:
    """Add the ``train`` command to the subparsers ``sub``."""
    p = sub.add_parser("train", help="train a neural δC9 estimator on a stored dataset")
    add_config_options(p)
    p.add_argument("--dataset", default=None, metavar="DIR",
                   help="dataset folder (index.json), or a folder with train/ and validation/")
    p.add_argument("--stream", action="store_true",
                   help="train on items drawn fresh from the sampler for every batch (built "
                        "like --dataset's, which then only validates)")
    p.add_argument("--model", choices=list(model_names()), default=None,
                   help="architecture (default: [model] name of the config)")
    p.add_argument("--output", required=True, metavar="DIR",
                   help="model folder; an interrupted run there is resumed")
    p.add_argument("--epochs", type=positive_int, default=None, metavar="N",
                   help="maximum number of epochs (default: [train] epochs)")
    p.add_argument("--backend", choices=list(BACKENDS), default=None,
                   help="Keras backend (default: [train] backend, then KERAS_BACKEND)")
    p.add_argument("--init-from", default=None, metavar="MODEL_DIR",
                   help="start from the weights of this saved model of the same architecture "
                        "(fine-tuning, e.g. a set network trained on smaller sets)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished model")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_train)


_METRIC_NAMES = {"mae": "MAE", "rmse": "RMSE"}


def _cmd_train(args: argparse.Namespace) -> int:
    cfg = load_cli_config(args)
    if (args.dataset is None and not args.stream
            and get_spec(args.model or cfg.model.name).needs_dataset):
        raise usage("train needs --dataset DIR, or --stream")
    result = train_from_folder(
        cfg, args.dataset, args.output, model_name=args.model, epochs=args.epochs,
        backend=args.backend, overwrite=args.overwrite, stream=args.stream,
        progress=False if args.quiet or args.json else None, init_from=args.init_from,
    )
    if args.json:
        print_json(result)
    elif not args.quiet:
        # the metrics the estimator reports (regression: MAE, RMSE, corr; event_exact:
        # crossentropy and its excess over the targets' entropy)
        shown = ", ".join(f"{_METRIC_NAMES.get(k, k)} {v:.4g}"
                          for k, v in result["validation"].items()
                          if k != "n" and isinstance(v, float))
        print(f"trained {result['model']} for {result['epochs_run']} epochs "
              f"(best epoch {result['best_epoch'] + 1}, backend {result['backend']}); "
              f"validation: {shown or 'none'}; saved to {result['output']}")
    return 0


def add_predict(sub: Any) -> None:
    """Add the ``predict`` command to the subparsers ``sub``."""
    p = sub.add_parser("predict", help="measure δC9 in ntuples with a trained model")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by 'hepc9 train'")
    p.add_argument("files", nargs="+", metavar="FILE.root", help="native or foreign ntuples")
    p.add_argument("--events-per-set", type=positive_int, default=None, metavar="M",
                   help="events per image/set (default: the trained size)")
    p.add_argument("--layout", choices=["auto", "native", "basf2", "evtgen", "flat"],
                   default="auto", help="input layout (default: detect)")
    p.add_argument("--tree", default=None, help="tree to read")
    p.add_argument("--strict", action="store_true",
                   help="refuse impossible or non-finite events instead of dropping them "
                        "with a warning ([ingest] on_nonfinite = \"fail\")")
    p.add_argument("--backend", choices=list(BACKENDS), default=None,
                   help="Keras backend")
    add_config_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    cfg = load_cli_config(args, [("ingest.on_nonfinite", "fail")] if args.strict else [])
    result = predict_files(
        args.model_dir, args.files, events_per_set=args.events_per_set, layout=args.layout,
        tree=args.tree, ingest=cfg.ingest, backend=args.backend,
    )
    if args.json:
        print_json(result)
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

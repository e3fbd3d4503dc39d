"""``cnnstudio train FILE --dataset SPEC``: train a model file on the CPU and save its weights."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cnnstudio.commands._engine_cli import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    dataset_path,
    fail,
    load_data_for,
    load_network,
    read_weights,
    refuse_clobbering,
    seed,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a dataset and save the weights",
                       description="Train a model file on the CPU. Exit status: 0 trained, "
                       "1 the model or the run failed, 2 a file cannot be read or the call is "
                       "wrong.")
    p.add_argument("file", metavar="FILE", help="model file (.json)")
    p.add_argument("--dataset", required=True, metavar="SPEC",
                   help="dataset SPEC, e.g. digits, shapes, mnist:PATH (see 'cnnstudio datasets')")
    p.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "nesterov", "adam"),
                   default="adam", help="update rule (default adam)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 0.001 for adam, 0.01 otherwise)")
    p.add_argument("--momentum", type=float, default=0.9,
                   help="momentum for momentum/nesterov (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="L2 penalty on conv and dense weights (default 0)")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed for initial weights, split, shuffling and dropout (default 0)")
    p.add_argument("--val-split", type=float, default=0.1,
                   help="fraction of the training images held out for validation (default 0.1)")
    p.add_argument("--weights-in", metavar="W.npz",
                   help="start from these weights (layers that do not fit are skipped and "
                   "reported)")
    p.add_argument("--weights-out", metavar="W.npz",
                   help="save the trained weights (with the input normalisation) here")
    p.add_argument("--freeze", metavar="ID,...", default="",
                   help="comma-separated layer ids whose weights are not trained")
    p.add_argument("--log-json", metavar="PATH",
                   help="append one JSON object per epoch (epoch, loss, accuracy, val_loss, "
                   "val_accuracy, images_per_s, alerts); a run stopped by an alert appends "
                   "a last row with stopped: true")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _train(args)
    except CommandError as exc:
        return fail(exc)


def _train(args: argparse.Namespace) -> int:
    from cnnstudio.engine.errors import TrainingError, WeightsError
    from cnnstudio.engine.introspect import evaluate
    from cnnstudio.engine.optimizers import OptimizerConfig, default_lr
    from cnnstudio.engine.trainer import TrainConfig, Trainer
    from cnnstudio.engine.weights import normalizer_from_meta

    refuse_clobbering({"--weights-out": args.weights_out, "--log-json": args.log_json},
                      [args.file, args.weights_in, dataset_path(args.dataset)])
    refuse_clobbering({"--log-json": args.log_json}, [args.weights_out])
    net = load_network(args.file, args.seed, train_batch=max(1, args.batch_size))
    data = load_data_for(net, args.dataset, args.seed)
    normalizer = None
    if args.weights_in:
        state = read_weights(args.weights_in, net.expected_shapes())
        report = net.load_where_fits(state)
        try:
            normalizer = normalizer_from_meta(state, args.weights_in)
        except WeightsError as exc:
            raise CommandError(str(exc)) from None
        if report.skipped:
            print(report.text(), file=sys.stderr)
    lr = args.lr if args.lr is not None else default_lr(args.optimizer)
    freeze = frozenset(s.strip() for s in args.freeze.split(",") if s.strip())
    try:
        config = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, val_split=args.val_split,
            seed=args.seed, freeze=freeze,
            optimizer=OptimizerConfig(args.optimizer, lr=lr, momentum=args.momentum,
                                      weight_decay=args.weight_decay))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        trainer = Trainer(net, data, config, normalizer=normalizer)
    except TrainingError as exc:
        raise CommandError(f"{args.file}: {exc}", EXIT_FAILED) from None
    print(data.summary())
    code = _loop(trainer, args)
    if code != EXIT_OK:
        return code
    if len(data.x_test):
        ev = evaluate(net, data.x_test, data.y_test, normalizer=trainer.normalizer)
        print(f"test: loss {ev.loss:.4f}, accuracy {ev.accuracy:.2%} ({len(data.x_test)} images)")
    if args.weights_out:
        from cnnstudio.engine.weights import save_weights

        try:
            save_weights(args.weights_out, net.state_dict(), trainer.normalizer,
                         data.class_names)
        except WeightsError as exc:
            raise CommandError(str(exc)) from None
        print(f"saved weights to {args.weights_out}")
    return EXIT_OK


def _loop(trainer: Any, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cnnstudio.engine.progress import BatchProgress, EpochProgress, Failed, Stopped

    bar = None
    alerts: list[dict] = []  # raised since the last --log-json row
    for record in trainer.run():
        for alert in getattr(record, "alerts", ()):
            if bar is not None:
                bar.clear()
            print(f"alert: {alert.line()}", file=sys.stderr, flush=True)
            alerts.append(alert.to_json())
        if isinstance(record, BatchProgress):
            if bar is None:
                bar = tqdm(total=record.batches_per_epoch, unit="batch", leave=False,
                           desc=f"epoch {record.epoch}/{record.epochs}", file=sys.stderr,
                           disable=args.no_progress, dynamic_ncols=True)
            bar.update(1)
            bar.set_postfix(loss=f"{record.loss:.3f}", acc=f"{record.accuracy:.2f}",
                            refresh=False)
            stop = next((a for a in record.alerts if a.stops), None)
            if stop is not None:
                bar.close()
                print(f"error: stopped in epoch {record.epoch}, batch {record.batch} by the "
                      f"{stop.kind} alert above", file=sys.stderr)
                if args.log_json:
                    _append_json(args.log_json, {"epoch": record.epoch, "stopped": True,
                                                 "alerts": alerts})
                return EXIT_FAILED
        elif isinstance(record, EpochProgress):
            if bar is not None:
                bar.close()
                bar = None
            print(_epoch_line(record), flush=True)
            if args.log_json:
                _append_json(args.log_json, {**record.to_json(), "alerts": alerts})
            alerts = []
        elif isinstance(record, Failed):
            if bar is not None:
                bar.close()
            print(f"error: {record.message}", file=sys.stderr)
            return EXIT_FAILED
        elif isinstance(record, Stopped):
            return EXIT_FAILED
    return EXIT_OK


def _epoch_line(e: Any) -> str:
    val = ("" if e.val_loss is None
           else f", val loss {e.val_loss:.4f}, val accuracy {e.val_accuracy:.2%}")
    return (f"epoch {e.epoch}/{e.epochs}: loss {e.loss:.4f}, accuracy {e.accuracy:.2%}{val}, "
            f"{e.images_per_s:.0f} images/s")


def _append_json(path: str, record: dict) -> None:
    from cnnstudio.core.atomic import atomic_append_text
    from cnnstudio.core.files import FileRefused

    try:
        atomic_append_text(path, json.dumps(record) + "\n")
    except (OSError, FileRefused) as exc:
        reason = str(exc) if isinstance(exc, FileRefused) else exc.strerror or exc
        raise CommandError(f"{path}: cannot append the JSON log ({reason})") from None

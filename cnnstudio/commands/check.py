"""``cnnstudio check FILE --dataset SPEC``: the sanity checks to run before a long training."""

from __future__ import annotations

import argparse
import json
import sys

from cnnstudio.commands._engine_cli import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    fail,
    load_data_for,
    load_network,
    read_weights,
    seed,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="sanity checks before training (initial loss, gradients, overfit one "
        "batch, learning-rate range test)",
        description="Quick experiments that catch most broken setups before a long run: the "
        "initial loss is close to ln K, every trainable layer gets a gradient, the model can "
        "memorise one small batch, and a learning-rate range test suggests a rate. Exit status: "
        "0 every check passed, 1 one failed (or the model or data are unusable), 2 a file "
        "cannot be read or the call is wrong.")
    p.add_argument("file", metavar="FILE", help="model file (.json)")
    p.add_argument("--dataset", required=True, metavar="SPEC",
                   help="dataset SPEC, e.g. digits, shapes, mnist:PATH (see 'cnnstudio datasets')")
    p.add_argument("--optimizer", choices=("sgd", "momentum", "nesterov", "adam"),
                   default="adam", help="update rule the checks train with (default adam)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate for the overfit check (default 0.001 for adam, 0.01 "
                   "otherwise)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    p.add_argument("--seed", type=seed, default=0, help="seed for weights and data (default 0)")
    p.add_argument("--weights-in", metavar="W.npz",
                   help="start from these weights (their layers count as trained)")
    p.add_argument("--json", action="store_true",
                   help='print {"checks": [{"name", "passed", "detail"}...], "suggested_lr": x}')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _check(args)
    except CommandError as exc:
        return fail(exc)


def _check(args: argparse.Namespace) -> int:
    from cnnstudio.engine.errors import EngineError, WeightsError
    from cnnstudio.engine.optimizers import OptimizerConfig, default_lr
    from cnnstudio.engine.sanity import SanityReport, run_checks
    from cnnstudio.engine.weights import normalizer_from_meta

    net = load_network(args.file, args.seed, train_batch=max(1, args.batch_size))
    data = load_data_for(net, args.dataset, args.seed)
    weights, pretrained, normalizer = None, frozenset(), None
    if args.weights_in:
        weights = read_weights(args.weights_in, net.expected_shapes())
        pretrained = frozenset(net.load_where_fits(weights).loaded)
        try:
            normalizer = normalizer_from_meta(weights, args.weights_in)
        except WeightsError as exc:
            raise CommandError(str(exc)) from None
    try:
        optimizer = OptimizerConfig(args.optimizer, lr=args.lr if args.lr is not None
                                    else default_lr(args.optimizer))
        if args.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {args.batch_size}")
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        events = run_checks(net.graph, data, optimizer, weights=weights, pretrained=pretrained,
                            batch_size=args.batch_size, seed=args.seed, normalizer=normalizer)
    except EngineError as exc:
        raise CommandError(f"{args.file}: {exc}", EXIT_FAILED) from None
    report = SanityReport.collect(events)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        for c in report.checks:
            print(f"{'pass' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
        if report.sweep is not None and report.sweep.suggested is not None:
            print(f"suggested learning rate: {report.sweep.suggested:.2g}")
    if not report.passed:
        failed = ", ".join(c.name for c in report.checks if not c.passed)
        print(f"error: failed: {failed}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK

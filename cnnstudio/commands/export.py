"""``cnnstudio export FILE --to FORMAT -o OUT``: carry a design out of the app.

Formats: ``pytorch`` (a runnable .py), ``onnx``, ``svg``/``png`` (the diagram), ``markdown`` (the
summary table) and ``json`` (the model file itself). An invalid model is refused with the
validator's errors, one per line (exit 1); an unreadable model or weights file, or a missing
optional package, exits 2 with a one-line message, as ``cnnstudio summary`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstudio.commands._engine_cli import seed

if TYPE_CHECKING:
    import numpy as np

    from cnnstudio.core.graph import Graph
    from cnnstudio.engine.trainer import TrainConfig
    from cnnstudio.export.model_input import ModelInput

EXIT_OK, EXIT_INVALID, EXIT_FAILED = 0, 1, 2

#: Default output suffix per format.
SUFFIXES = {"pytorch": ".py", "onnx": ".onnx", "svg": ".svg", "png": ".png",
            "markdown": ".md", "json": ".json"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write the model as PyTorch code, ONNX, a diagram or a summary",
        description="Export a model file. Exit status: 0 written, 1 the model has errors "
        "(listed one per line), 2 a file cannot be read or written or a package is missing.")
    p.add_argument("file", metavar="FILE", help="model file (.json)")
    p.add_argument("--to", required=True, choices=tuple(SUFFIXES), dest="format",
                   help="pytorch: a runnable .py (nn.Module, build_model, a training main); "
                   "onnx: opset 17 (needs pip install cnnstudio[onnx]); svg/png: the diagram; "
                   "markdown: the summary table; json: the model file")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="output file (default: FILE with the format's suffix)")
    p.add_argument("--weights", metavar="W.npz",
                   help="trained weights (cnnstudio .npz); pytorch: loaded by build_model() "
                   "by default; onnx: stored in the graph (default: freshly initialised)")
    p.add_argument("--without-normalization", action="store_true",
                   help="pytorch/onnx: leave the training normalisation out of the model, so it "
                   "takes inputs already standardised ((x - mean) / std per channel); by "
                   "default it takes images in [0, 1], as cnnstudio predict does")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings (e.g. fractional tiling) as errors")
    p.add_argument("--scale", type=_positive, default=2.0,
                   help="png: pixels per diagram unit (default 2)")
    p.add_argument("--seed", type=seed, default=0,
                   help="onnx without --weights: seed of the initial weights")
    train = p.add_argument_group("training defaults written into a pytorch export")
    train.add_argument("--optimizer", choices=("sgd", "momentum", "nesterov", "adam"))
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument("--momentum", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--epochs", type=int)
    p.set_defaults(func=run)


def _positive(text: str) -> float:
    """argparse type of ``--scale``: a finite number above 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    from cnnstudio.core import modelfile
    from cnnstudio.export.registry import ExportError, refuse_invalid

    try:
        graph = modelfile.load(args.file)
    except modelfile.ModelFileError as exc:
        return _fail(str(exc))
    out = Path(args.output) if args.output else Path(args.file).with_suffix(
        SUFFIXES[args.format])
    if args.output is None and out.resolve() == Path(args.file).resolve():
        return _fail(f"{out}: would overwrite the model file; give -o OUT")
    from cnnstudio.core.files import FileRefused, check_not_an_input

    try:
        check_not_an_input({"-o": out}, [args.file, args.weights])
    except FileRefused as exc:
        return _fail(str(exc))
    try:
        refuse_invalid(graph, args.strict)
        _export(graph, args, out)
    except ExportError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        invalid = any(line.startswith("error [") for line in exc.lines)
        return EXIT_INVALID if invalid else EXIT_FAILED
    except (OSError, ValueError) as exc:
        return _fail(f"{out}: {exc}")
    print(f"wrote {out}")
    return EXIT_OK


def _export(graph: Graph, args: argparse.Namespace, out: Path) -> None:
    """Dispatch on the format; raises ExportError (reasons) or OSError/ValueError."""
    from cnnstudio.export.registry import ExportError, atomic_write_bytes

    fmt = args.format
    if fmt == "pytorch":
        from cnnstudio.export.pytorch import export_pytorch

        inputs = None
        if args.weights:  # refuse weights that do not fit, now rather than later
            inputs = _model_input(_load_state(graph, args)[1], args)
        export_pytorch(graph, out, config=_train_config(args), weights_file=args.weights,
                       strict=args.strict, inputs=inputs)
    elif fmt == "onnx":
        from cnnstudio.export.onnx_export import export_onnx, refuse_oversized, require_onnx

        require_onnx()
        refuse_oversized(graph)
        state, meta = _load_state(graph, args)
        export_onnx(graph, out, state, strict=args.strict, inputs=_model_input(meta, args))
    elif fmt in ("svg", "png"):
        from cnnstudio.export.diagram import to_svg

        svg = to_svg(graph)
        if fmt == "svg":
            atomic_write_bytes(out, svg.encode("utf-8"))
        else:
            try:
                from cnnstudio.gui.diagram_png import svg_to_png
            except ImportError as exc:
                raise ExportError([f"error: PNG export needs Qt (PySide6): {exc}"]) from None
            atomic_write_bytes(out, svg_to_png(svg, args.scale))
    elif fmt == "markdown":
        from cnnstudio.core.atomic import atomic_write_text
        from cnnstudio.core.validator import validate
        from cnnstudio.export.summary import format_markdown

        atomic_write_text(out, format_markdown(graph, validate(graph, args.strict)))
    else:
        from cnnstudio.core.modelfile import save

        save(graph, out)


def _load_state(graph: Graph, args: argparse.Namespace
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(state, meta)``: the weights to export, the file's (checked against the model) or a
    fresh init, and the file's meta arrays (normalisation, class names; empty without one)."""
    import numpy as np  # noqa: F811 (the TYPE_CHECKING import is for annotations only)

    from cnnstudio.engine.errors import NetworkError, WeightsError
    from cnnstudio.engine.network import Network
    from cnnstudio.engine.weights import load_weights, split_meta
    from cnnstudio.export.registry import ExportError

    meta: dict[str, np.ndarray] = {}
    try:
        net = Network(graph, np.random.default_rng(args.seed))
        if args.weights:
            arrays = load_weights(args.weights, net.expected_shapes())
            net.load_state_dict(arrays, strict=True)
            meta = split_meta(arrays)[1]
    except WeightsError as exc:
        raise ExportError([f"error: {exc}"]) from None
    except NetworkError as exc:
        raise ExportError([f"error: {args.weights or args.file}: {exc}"]) from None
    return net.state_dict(), meta


def _model_input(meta: dict[str, np.ndarray], args: argparse.Namespace) -> ModelInput:
    from cnnstudio.export.model_input import model_input

    return model_input(meta, inside=not args.without_normalization,
                       source=args.weights or "weights file")


def _train_config(args: argparse.Namespace) -> TrainConfig:
    from dataclasses import replace

    from cnnstudio.engine.optimizers import OptimizerConfig
    from cnnstudio.engine.trainer import TrainConfig

    opt = {k: v for k, v in (("name", args.optimizer), ("lr", args.lr),
                             ("momentum", args.momentum), ("weight_decay", args.weight_decay))
           if v is not None}
    run = {k: v for k, v in (("batch_size", args.batch_size), ("epochs", args.epochs))
           if v is not None}
    try:
        return replace(TrainConfig(optimizer=OptimizerConfig(**opt)), **run)
    except ValueError as exc:
        from cnnstudio.export.registry import ExportError

        raise ExportError([f"error: {exc}"]) from None

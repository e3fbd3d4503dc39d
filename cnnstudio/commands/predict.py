"""``cnnstudio predict FILE --weights W.npz INPUT...``: classify images with trained weights."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cnnstudio.commands._engine_cli import (
    EXIT_OK,
    CommandError,
    fail,
    load_network,
    read_weights,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify images (or a .npy batch) with trained weights",
                       description="Run a trained model on image files or .npy batches and print "
                       "the most likely classes. Images are converted to the Input's channels "
                       "and size, and normalised as in training (the normalisation is stored "
                       "in the weights file).")
    p.add_argument("file", metavar="FILE", help="model file (.json)")
    p.add_argument("--weights", required=True, metavar="W.npz", help="trained weights")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files (PNG/JPEG/...) or .npy arrays [N,C,H,W] or [C,H,W] in [0, 1]")
    p.add_argument("--top", type=int, default=3, help="how many classes to print (default 3)")
    p.add_argument("--output", metavar="logits.npy", help="also save the raw outputs [N, classes]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _predict(args)
    except CommandError as exc:
        return fail(exc)


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    from cnnstudio.engine.errors import NetworkError, WeightsError
    from cnnstudio.engine.introspect import predict_logits
    from cnnstudio.engine.network import softmax
    from cnnstudio.engine.weights import class_names_from_meta, normalizer_from_meta

    net = load_network(args.file, seed=0)
    state = read_weights(args.weights)
    try:
        net.load_state_dict(state, strict=True)
        normalizer = normalizer_from_meta(state, args.weights)
    except (NetworkError, WeightsError) as exc:
        raise CommandError(f"{args.weights}: {exc}") from None
    names, batch = _read_inputs(args.inputs, net.input_shape)
    if normalizer is not None and normalizer.channels != batch.shape[1]:
        raise CommandError(f"{args.weights}: its normalisation is for {normalizer.channels} "
                           f"channels, the model takes {batch.shape[1]}")
    logits = predict_logits(net, batch, normalizer)
    probs = softmax(logits.astype(np.float64))
    classes = class_names_from_meta(state)
    k = max(1, min(args.top, probs.shape[1]))
    for name, p in zip(names, probs, strict=True):
        best = np.argsort(-p, kind="stable")[:k]
        text = ", ".join(f"{_label(classes, int(i))} {p[i]:.1%}" for i in best)
        print(f"{name}: {text}")
    if args.output:
        try:
            np.save(args.output, logits)
        except OSError as exc:
            raise CommandError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    return EXIT_OK


def _label(classes: tuple[str, ...] | None, i: int) -> str:
    return classes[i] if classes is not None and i < len(classes) else f"class {i}"


def _read_inputs(paths: list[str], shape: tuple[int, ...]) -> tuple[list[str], Any]:
    """Every INPUT as ``[C, H, W]`` float32 images with a display name each."""
    import numpy as np

    from cnnstudio.engine.datasets import DatasetError, load_image

    c, h, w = shape
    names: list[str] = []
    images: list[Any] = []
    for path in paths:
        if path.lower().endswith(".npy"):
            arr = _read_npy(path)
            if arr.ndim == 3:
                arr = arr[None]
            if arr.ndim != 4 or tuple(arr.shape[1:]) != (c, h, w):
                raise CommandError(f"{path}: array of shape {list(arr.shape)} does not fit the "
                                   f"model's Input {c}x{h}x{w} (expected [N,{c},{h},{w}])")
            names += [f"{path}[{i}]" for i in range(len(arr))]
            images += list(arr.astype(np.float32))
            continue
        try:
            img = load_image(Path(path), channels=c if c in (1, 3) else None, size=(h, w))
        except (DatasetError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise CommandError(str(exc) if isinstance(exc, DatasetError)
                               else f"{path}: cannot open ({exc.strerror})") from None
        if img.shape[0] != c:
            raise CommandError(f"{path}: image has {img.shape[0]} channels, the model takes {c}")
        names.append(path)
        images.append(img)
    return names, np.stack(images)


def _read_npy(path: str) -> Any:
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise CommandError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number):
        raise CommandError(f"{path}: not a numeric .npy array")
    return arr

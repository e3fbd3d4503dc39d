"""``cnnstudio predict FILE --weights W.npz INPUT...``: classify images with trained weights."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cnnstudio.commands._engine_cli import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    fail,
    load_network,
    printable,
    read_weights,
    refuse_clobbering,
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

    refuse_clobbering({"--output": args.output}, [args.file, args.weights, *args.inputs])
    net = load_network(args.file, seed=0)
    state = read_weights(args.weights, net.expected_shapes())
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
    with np.errstate(all="ignore"):
        probs = softmax(logits.astype(np.float64))
    broken = [n for n, p in zip(names, probs, strict=True) if not np.isfinite(p).all()]
    if broken:
        raise CommandError(f"{broken[0]}: the model's outputs are not finite numbers (NaN or "
                           "infinity): the input or the weights hold values far too large",
                           EXIT_FAILED)
    classes = class_names_from_meta(state)
    k = max(1, min(args.top, probs.shape[1]))
    for name, p in zip(names, probs, strict=True):
        best = np.argsort(-p, kind="stable")[:k]
        text = ", ".join(f"{printable(_label(classes, int(i)))} {p[i]:.1%}" for i in best)
        print(f"{printable(name)}: {text}")
    if args.output:
        from cnnstudio.core.atomic import atomic_open

        try:
            with atomic_open(args.output) as fh:
                np.save(fh, logits)
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
            if len(arr) == 0:
                raise CommandError(f"{path}: the array holds no images (shape "
                                   f"{list(arr.shape)})")
            if not np.isfinite(arr).all():
                raise CommandError(f"{path}: the array holds NaN or infinite values")
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
    from cnnstudio.engine.npzfile import read_npy

    arr = read_npy(path, CommandError, "NumPy array (.npy)")
    if arr.dtype.kind not in "biuf":
        what = "complex numbers" if arr.dtype.kind == "c" else f"values of type {arr.dtype}"
        raise CommandError(f"{path}: holds {what}; images are real numbers (bool, integer or "
                           "float arrays)")
    return arr

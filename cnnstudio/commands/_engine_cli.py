"""What the engine commands (train, predict) share: loading a model into a network, one-line
errors and exit codes, so each command file only holds its own flow."""

from __future__ import annotations

import sys
from typing import Any

#: Exit codes, as in the model-format spec: 1 the model/run failed, 2 unreadable input or bad call.
EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


class CommandError(Exception):
    """A one-line message for stderr and the exit code to return."""

    def __init__(self, message: str, code: int = EXIT_UNREADABLE) -> None:
        super().__init__(message)
        self.code = code


def fail(exc: CommandError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return exc.code


def load_network(path: str, seed: int, train_batch: int | None = None) -> Any:
    """Model file -> Network; CommandError (2 unreadable, 1 invalid model). With
    ``train_batch``, a model whose training would not fit in memory is refused before any of
    it is built."""
    import numpy as np

    from cnnstudio.core import modelfile
    from cnnstudio.core.validator import validate
    from cnnstudio.engine.errors import NetworkError
    from cnnstudio.engine.memory import training_refusal
    from cnnstudio.engine.network import Network

    try:
        graph = modelfile.load(path)
    except modelfile.ModelFileError as exc:
        raise CommandError(str(exc)) from None
    if train_batch is not None:
        result = validate(graph)
        refusal = training_refusal(result, train_batch) if result.valid else None
        if refusal:
            raise CommandError(f"{path}: {refusal}", EXIT_FAILED)
    try:
        return Network(graph, np.random.default_rng(seed))
    except NetworkError as exc:
        raise CommandError(f"{path}: {exc}", EXIT_FAILED) from None


def read_weights(path: str, expected: dict | None = None) -> dict:
    """A weights file; ``expected`` (``Network.expected_shapes()``) skips arrays that cannot
    fit the model without reading them."""
    from cnnstudio.engine.errors import WeightsError
    from cnnstudio.engine.weights import load_weights

    try:
        return load_weights(path, expected)
    except WeightsError as exc:
        raise CommandError(str(exc)) from None


def load_data_for(net: Any, spec: str, seed: int) -> Any:
    """Dataset SPEC at the network's Input size (generated data) or as stored; CommandError 2."""
    import numpy as np

    from cnnstudio.engine.datasets import DatasetError, load_dataset

    c, h, w = net.input_shape
    try:
        return load_dataset(spec, image_size=(h, w), channels=c if c in (1, 3) else None,
                            rng=np.random.default_rng(seed))
    except DatasetError as exc:
        raise CommandError(str(exc)) from None


def seed(text: str) -> int:
    """argparse type of ``--seed``: a whole number NumPy accepts as a seed (0 or more)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; a seed is 0 or more")
    return value


def refuse_clobbering(outputs: dict, inputs: list) -> None:
    """CommandError when an output option names one of the command's input files."""
    from cnnstudio.core.files import FileRefused, check_not_an_input

    try:
        check_not_an_input(outputs, inputs)
    except FileRefused as exc:
        raise CommandError(str(exc)) from None


def dataset_path(spec: str) -> str | None:
    """The file or folder a dataset spec reads (``npz:PATH``), or None for built-in data."""
    kind, sep, arg = spec.partition(":")
    return arg.strip() or None if sep and kind.strip().lower() != "shapes" else None


def printable(text: str) -> str:
    """``text`` safe to print on one terminal line: control characters (ANSI escapes, line
    breaks) from a file's class names are shown escaped instead of acting on the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)

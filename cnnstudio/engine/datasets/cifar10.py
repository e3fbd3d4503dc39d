"""CIFAR-10 from its *binary* distribution (``cifar-10-binary.tar.gz``, extracted).

Each ``data_batch_N.bin``/``test_batch.bin`` is a run of 3,073-byte records: one label byte,
then 1,024 red, 1,024 green and 1,024 blue bytes of a 32x32 image, row by row, which is already
the channels-first layout the engine uses. The Python version of CIFAR-10 is a set of pickles;
cnnstudio never unpickles, so it is recognised and refused with a message saying what to get.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cnnstudio.core.files import FileRefused, read_limited, regular_size
from cnnstudio.engine.datasets.arrays import labels_to_int64, pixels_to_unit
from cnnstudio.engine.datasets.base import Dataset, DatasetError
from cnnstudio.engine.memory import memory_refusal

__all__ = ["CIFAR10_CLASSES", "RECORD_BYTES", "read_cifar_batch", "load_cifar10"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_SIDE = 32
RECORD_BYTES = 1 + 3 * _SIDE * _SIDE
_META_LIMIT = 64 * 1024  # ten short class names; anything bigger is not batches.meta.txt
_TRAIN_BATCH = re.compile(r"data_batch_(\d+)\.bin")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one binary batch: uint8 images ``[N, 3, 32, 32]`` and int64 labels ``[N]``."""
    try:
        size = regular_size(path, "CIFAR-10 batch")
        refusal = memory_refusal(5 * size, f"{path}: this batch", "as bytes and float32 images")
        if refusal:
            raise DatasetError(refusal)
        data = read_limited(path, size, "CIFAR-10 batch")
    except FileRefused as exc:
        raise DatasetError(str(exc)) from None
    if not data or len(data) % RECORD_BYTES:
        raise DatasetError(
            f"{path}: truncated or not a CIFAR-10 binary batch ({len(data)} bytes is not a "
            f"whole number of {RECORD_BYTES}-byte records)"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = labels_to_int64(records[:, 0], str(path), num_classes=len(CIFAR10_CLASSES))
    return records[:, 1:].reshape(-1, 3, _SIDE, _SIDE), labels


def load_cifar10(path: Path) -> Dataset:
    """Load from the folder holding the ``.bin`` batches, or the one holding
    ``cifar-10-batches-bin``; class names come from ``batches.meta.txt`` when present."""
    folder = _find_batches(path)
    numbered = [(_TRAIN_BATCH.fullmatch(p.name), p) for p in folder.iterdir()]
    train_files = [p for _, p in sorted((int(m.group(1)), p) for m, p in numbered if m)]
    x_train, y_train = _concat([read_cifar_batch(p) for p in train_files])
    test_file = folder / "test_batch.bin"
    if test_file.is_file():
        x_test, y_test = read_cifar_batch(test_file)
    else:
        x_test = np.zeros((0, 3, _SIDE, _SIDE), dtype=np.uint8)
        y_test = np.zeros(0, dtype=np.int64)
    return Dataset(
        x_train=pixels_to_unit(x_train, str(folder)),
        y_train=y_train,
        x_test=pixels_to_unit(x_test, str(test_file)),
        y_test=y_test,
        class_names=_class_names(folder),
        name="cifar10",
        source=str(folder),
    )


def _find_batches(path: Path) -> Path:
    if not path.exists():
        raise DatasetError(f"{path}: no such folder")
    if not path.is_dir():
        raise DatasetError(f"{path}: expected the folder holding data_batch_*.bin")
    for folder in (path, path / "cifar-10-batches-bin"):
        if folder.is_dir() and any(_TRAIN_BATCH.fullmatch(p.name) for p in folder.iterdir()):
            return folder
    for folder in (path, path / "cifar-10-batches-py"):
        if (folder / "data_batch_1").is_file():
            raise DatasetError(
                f"{folder}: this is the Python (pickled) version of CIFAR-10, which cnnstudio "
                "never unpickles; download the binary version (cifar-10-binary.tar.gz) instead"
            )
    raise DatasetError(
        f"{path}: no CIFAR-10 binary batches found (expected data_batch_1.bin ... and "
        "test_batch.bin, or a cifar-10-batches-bin folder)"
    )


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def _class_names(folder: Path) -> tuple[str, ...]:
    meta = folder / "batches.meta.txt"
    if not meta.is_file():
        return CIFAR10_CLASSES
    try:
        raw = read_limited(meta, _META_LIMIT, "class-name list")
    except FileRefused as exc:
        raise DatasetError(str(exc)) from None
    lines = raw.decode("utf-8", errors="replace").splitlines()
    names = tuple(line.strip() for line in lines if line.strip())
    if len(names) != len(CIFAR10_CLASSES):
        raise DatasetError(
            f"{meta}: expected {len(CIFAR10_CLASSES)} class names, found {len(names)}"
        )
    return names

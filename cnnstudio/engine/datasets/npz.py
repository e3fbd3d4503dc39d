"""Datasets saved as NumPy ``.npz`` archives: the simplest way to bring one's own data.

Keys: ``x_train``, ``y_train`` (required), ``x_test``, ``y_test`` (optional, together) and
``class_names`` (optional strings). This is also the layout of Keras's ``mnist.npz``, so the
MNIST loader reuses it. Archives are read with ``allow_pickle=False``: a data file must never
be able to run code, so object arrays are refused with a message saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cnnstudio.engine import npzfile
from cnnstudio.engine.datasets.arrays import labels_to_int64, pixels_to_unit, to_nchw
from cnnstudio.engine.datasets.base import Dataset, DatasetError

__all__ = ["read_npz", "load_npz"]


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` archive, turning each failure into a DatasetError.

    Headers are checked first (:mod:`cnnstudio.engine.npzfile`), and the memory the images
    will take as float32 is asked of the budget before a byte of them is read."""
    return npzfile.read_npz(path, DatasetError, "dataset", cost=_dataset_bytes)


def _dataset_bytes(members: Mapping[str, npzfile.Member]) -> int:
    """The arrays as read, plus images (``x_*``) once converted to float32."""
    return sum(m.nbytes + (4 * m.size if m.key.startswith("x_") else 0)
               for m in members.values())


def load_npz(
    path: Path, *, name: str | None = None, class_names: tuple[str, ...] | None = None
) -> Dataset:
    """Load an ``.npz`` dataset. ``class_names`` (e.g. MNIST's) apply when the file has none."""
    arrays = read_npz(path)
    missing = [key for key in ("x_train", "y_train") if key not in arrays]
    if missing:
        raise DatasetError(
            f"{path}: missing key {missing[0]!r} (found: {', '.join(sorted(arrays)) or 'nothing'})"
        )
    if ("x_test" in arrays) != ("y_test" in arrays):
        have, lack = ("x_test", "y_test") if "x_test" in arrays else ("y_test", "x_test")
        raise DatasetError(f"{path}: has {have!r} but no {lack!r}")
    x_train, y_train = _split(arrays, "train", path)
    if "x_test" in arrays:
        x_test, y_test = _split(arrays, "test", path)
    else:
        x_test = np.zeros((0,) + x_train.shape[1:], dtype=np.float32)
        y_test = np.zeros(0, dtype=np.int64)
    names = _class_names(arrays, path) or class_names
    if names is None:
        top = max((int(y.max()) for y in (y_train, y_test) if y.size), default=0) + 1
        names = tuple(str(i) for i in range(top))
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=names,
        name=name or path.stem,
        source=str(path),
    )


def _split(arrays: dict[str, np.ndarray], part: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    x = to_nchw(arrays[f"x_{part}"], f"{path} (x_{part})")
    y = labels_to_int64(arrays[f"y_{part}"], f"{path} (y_{part})")
    if len(x) != len(y):
        raise DatasetError(f"{path}: x_{part} has {len(x)} images but y_{part} has {len(y)} labels")
    return pixels_to_unit(x, f"{path} (x_{part})"), y


def _class_names(arrays: dict[str, np.ndarray], path: Path) -> tuple[str, ...] | None:
    if "class_names" not in arrays:
        return None
    names = arrays["class_names"]
    if names.ndim != 1 or names.dtype.kind not in "US" or names.size == 0:
        raise DatasetError(f"{path}: class_names must be a non-empty 1-D array of strings")
    if names.dtype.kind == "S":
        return tuple(n.decode("utf-8", "replace") for n in names.tolist())
    return tuple(str(n) for n in names.tolist())

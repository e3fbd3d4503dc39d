"""Datasets saved as NumPy ``.npz`` archives: the simplest way to bring one's own data.

Keys: ``x_train``, ``y_train`` (required), ``x_test``, ``y_test`` (optional, together) and
``class_names`` (optional strings). This is also the layout of Keras's ``mnist.npz``, so the
MNIST loader reuses it. Archives are read with ``allow_pickle=False``: a data file must never
be able to run code, so object arrays are refused with a message saying why.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from cnnstudio.engine.datasets.arrays import labels_to_int64, pixels_to_unit, to_nchw
from cnnstudio.engine.datasets.base import Dataset, DatasetError

__all__ = ["read_npz", "load_npz"]

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` archive, turning each failure into a DatasetError."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if magic not in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
        raise DatasetError(f"{path}: not an .npz archive (NumPy savez file)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DatasetError(
                f"{path}: holds Python object arrays, which cnnstudio never unpickles; "
                "save plain numeric (and string) arrays"
            ) from None
        raise DatasetError(f"{path}: damaged .npz archive ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetError(f"{path}: damaged .npz archive ({exc})") from None


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
        top = max(int(y.max()) for y in (y_train, y_test) if y.size) + 1
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

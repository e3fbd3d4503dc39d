"""MNIST and Fashion-MNIST, from the original IDX files or from Keras's ``mnist.npz``.

IDX is the format the files are distributed in: a 4-byte magic (two zero bytes, a type code,
the number of dimensions), one big-endian uint32 per dimension, then the data. The header is
checked against the file's length, so a truncated download is reported as such instead of
surfacing later as a reshape error or, worse, silently misaligned images and labels.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from cnnstudio.core.files import FileRefused, open_regular, regular_size
from cnnstudio.engine.datasets.arrays import labels_to_int64, pixels_to_unit
from cnnstudio.engine.datasets.base import Dataset, DatasetError
from cnnstudio.engine.datasets.npz import load_npz
from cnnstudio.engine.memory import memory_refusal
from cnnstudio.engine.npzfile import inflation_refusal

__all__ = ["MNIST_CLASSES", "FASHION_CLASSES", "read_idx", "load_mnist"]

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_UBYTE = 0x08
_TYPE_NAMES = {
    0x08: "uint8",
    0x09: "int8",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (raw or ``.gz``) of unsigned bytes, checking header against length.

    The header is read first and what it declares is checked against the file's size (raw) and
    the memory budget (the images will also exist as float32), so a 1.6 MB gzip stream that
    claims a 40000x40000 image is refused before anything is inflated; a stream is then read
    only up to what its header declares, plus one byte to notice trailing data.
    """
    try:
        size = regular_size(path, "IDX file")
        with open_regular(path, "IDX file") as raw:
            handle: IO[bytes] = (gzip.GzipFile(fileobj=raw, mode="rb")
                                 if path.suffix.lower() == ".gz" else raw)
            return _read_idx_stream(handle, path, size, compressed=handle is not raw)
    except FileRefused as exc:
        raise DatasetError(str(exc)) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: damaged gzip file ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_idx_stream(handle: IO[bytes], path: Path, size: int, compressed: bool
                     ) -> np.ndarray:
    """``size`` is the file's length (the compressed length for a gzip stream)."""
    magic = handle.read(4)
    if len(magic) < 4:
        raise DatasetError(f"{path}: too short to be an IDX file ({len(magic)} bytes)")
    zero, dtype, ndim = int.from_bytes(magic[:2], "big"), magic[2], magic[3]
    if zero != 0 or dtype not in _TYPE_NAMES or ndim == 0:
        raise DatasetError(
            f"{path}: not an IDX file (magic bytes {magic.hex()}, expected 0000 08 0n)"
        )
    if dtype != _UBYTE:
        raise DatasetError(
            f"{path}: IDX data of type {_TYPE_NAMES[dtype]} is not supported (only uint8 images "
            "and labels, as in MNIST)"
        )
    header = 4 + 4 * ndim
    raw_dims = handle.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(f"{path}: truncated IDX header ({4 + len(raw_dims)} bytes)")
    dims = [int.from_bytes(raw_dims[4 * i : 4 * i + 4], "big") for i in range(ndim)]
    count = math.prod(dims)
    expected = header + count
    if compressed:
        bomb = inflation_refusal(size, expected)
        if bomb:
            raise DatasetError(f"{path}: its header says {dims}: {bomb}")
    elif size != expected:
        problem = "truncated" if size < expected else "has trailing bytes"
        raise DatasetError(
            f"{path}: {problem}: header says {dims} ({expected} bytes) but the file has "
            f"{size} bytes"
        )
    refusal = memory_refusal(5 * count, f"{path}: its header says {dims}, which",
                             "as bytes and float32 images")
    if refusal:
        raise DatasetError(refusal)
    data = handle.read(count + 1)
    if len(data) != count:
        problem = "truncated" if len(data) < count else "has trailing bytes"
        got = f"{header + len(data)} bytes" if len(data) < count else "more"
        raise DatasetError(
            f"{path}: {problem}: header says {dims} ({expected} bytes) but the data holds {got}"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def load_mnist(path: Path, *, fashion: bool | None = None) -> Dataset:
    """Load MNIST-format data from a folder of IDX files (or its ``raw/``) or a Keras ``.npz``.

    ``fashion`` picks Fashion-MNIST's class names; ``None`` guesses from the path (the files of
    both sets are named identically, so the folder name is the only hint).
    """
    if fashion is None:
        fashion = "fashion" in str(path).lower()
    names = FASHION_CLASSES if fashion else MNIST_CLASSES
    name = "fashion-mnist" if fashion else "mnist"
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return load_npz(path, name=name, class_names=names)
        raise DatasetError(f"{path}: expected a folder of IDX files or a Keras mnist.npz")
    if not path.is_dir():
        raise DatasetError(f"{path}: no such file or folder")
    folder = _find_idx_folder(path)
    if folder is None:
        npz = sorted(path.glob("*.npz"))
        if len(npz) == 1:
            return load_npz(npz[0], name=name, class_names=names)
        raise DatasetError(
            f"{path}: no MNIST files found (expected train-images-idx3-ubyte[.gz] and "
            "train-labels-idx1-ubyte[.gz], or a Keras mnist.npz)"
        )
    x_train, y_train = _read_pair(folder, "train", required=True)
    x_test, y_test = _read_pair(folder, "t10k", required=False)
    if x_test is None:
        x_test = np.zeros((0,) + x_train.shape[1:], dtype=np.float32)
        y_test = np.zeros(0, dtype=np.int64)
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=names,
        name=name,
        source=str(folder),
    )


def _idx_file(folder: Path, prefix: str, kind: str) -> Path | None:
    """Find e.g. ``train-images-idx3-ubyte`` under the spellings in circulation, raw or gzip'd."""
    rank = "idx3" if kind == "images" else "idx1"
    for stem in (f"{prefix}-{kind}-{rank}-ubyte", f"{prefix}-{kind}.{rank}-ubyte"):
        for suffix in ("", ".gz"):
            candidate = folder / (stem + suffix)
            if candidate.is_file():
                return candidate
    return None


def _find_idx_folder(path: Path) -> Path | None:
    for folder in (path, path / "raw"):
        if _idx_file(folder, "train", "images") or _idx_file(folder, "train", "labels"):
            return folder
    return None


def _read_pair(
    folder: Path, prefix: str, *, required: bool
) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    images_path = _idx_file(folder, prefix, "images")
    labels_path = _idx_file(folder, prefix, "labels")
    if images_path is None and labels_path is None and not required:
        return None, None
    if images_path is None or labels_path is None:
        what = "images" if images_path is None else "labels"
        rank = "idx3" if what == "images" else "idx1"
        raise DatasetError(f"{folder}: {prefix}-{what}-{rank}-ubyte[.gz] is missing")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise DatasetError(f"{images_path}: expected 3 dimensions [N, H, W], got {images.ndim}")
    if labels.ndim != 1:
        raise DatasetError(f"{labels_path}: expected 1 dimension [N], got {labels.ndim}")
    if len(images) != len(labels):
        raise DatasetError(
            f"{labels_path}: {len(labels)} labels but {images_path.name} has {len(images)} images"
        )
    y = labels_to_int64(labels, str(labels_path), num_classes=10)
    return pixels_to_unit(images, str(images_path))[:, None], y

"""The shipped 8x8 handwritten digits: real data that trains in seconds, with no download.

1,797 images from the UCI "Optical Recognition of Handwritten Digits" set (CC BY 4.0), stored in
``resources/datasets/digits.npz`` as ``x`` uint8 [1797, 8, 8] with values 0..16 and ``y`` uint8
(see DIGITS_SOURCE.md there). The set has no official split, so a fixed seed makes one: every
user, run and machine then reports accuracy on the same test images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnstudio.engine.datasets.arrays import labels_to_int64
from cnnstudio.engine.datasets.base import Dataset, DatasetError
from cnnstudio.engine.datasets.npz import read_npz
from cnnstudio.resources import resource_path

__all__ = ["DIGITS_LEVELS", "load_digits"]

#: Each pixel counts the "on" pixels of a 4x4 block, so it runs from 0 to 16.
DIGITS_LEVELS = 16
_TEST_FRACTION = 0.2
_SPLIT_SEED = 20240601  # fixed on purpose: the test set must not change between runs


def load_digits(path: Path | None = None) -> Dataset:
    """Load the digits with a fixed 80/20 train/test split; pixels scaled from 0..16 to 0..1."""
    if path is None:
        try:
            path = resource_path("datasets", "digits.npz")
        except FileNotFoundError as exc:
            raise DatasetError(str(exc)) from None
    arrays = read_npz(path)
    if "x" not in arrays or "y" not in arrays:
        raise DatasetError(f"{path}: expected arrays 'x' and 'y' (found {', '.join(arrays)})")
    x, y = arrays["x"], labels_to_int64(arrays["y"], str(path), num_classes=10)
    if x.ndim != 3 or len(x) != len(y):
        raise DatasetError(
            f"{path}: expected x [N, 8, 8] and N labels, got {list(x.shape)} and {len(y)}"
        )
    if x.size and (x.min() < 0 or x.max() > DIGITS_LEVELS):
        raise DatasetError(f"{path}: pixel values must be 0..{DIGITS_LEVELS}")
    images = (x.astype(np.float32) / DIGITS_LEVELS)[:, None]
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(images))
    n_test = int(round(_TEST_FRACTION * len(images)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return Dataset(
        x_train=images[train],
        y_train=y[train],
        x_test=images[test],
        y_test=y[test],
        class_names=tuple(str(d) for d in range(10)),
        name="digits",
        source=str(path),
    )

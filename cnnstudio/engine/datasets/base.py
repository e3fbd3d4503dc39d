"""The one in-memory form every dataset source produces, and the error every loader raises.

All sources (generated shapes, shipped digits, MNIST files, CIFAR-10 files, image folders, npz)
end up as the same ``Dataset`` so the trainer, the evaluator and the GUI never care where the
pixels came from. The dataset checks itself on construction, so a loader bug or a bad file can
never reach training as silently misshaped arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "DatasetCancelled", "DatasetError", "split_validation"]


class DatasetError(Exception):
    """A dataset cannot be read or is inconsistent.

    The message is a single line naming the file (or spec) and the problem, because it is shown
    as-is in the CLI and in a GUI dialog to a user who needs to fix that file.
    """


class DatasetCancelled(DatasetError):
    """Making a dataset was stopped by its caller (the window closing, another model or
    dataset chosen meanwhile): nothing is wrong with the data, so nothing is shown."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and integer labels, split into train and test, ready for the engine.

    ``x_*`` are float32 ``[N, C, H, W]`` with pixels in [0, 1] (before normalisation); ``y_*`` are
    int64 ``[N]`` class indices into ``class_names``. ``x_test``/``y_test`` may hold zero images
    (shape ``[0, C, H, W]``/``[0]``) when a source has no test split. ``source`` is the file path
    the data came from, or ``"built-in"``, so messages can point at it.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    name: str
    source: str
    #: How the test split was made, when the user should know (a held-out share of a folder).
    split: str = ""
    #: The share of each class held out as the test split (a folder without test/), else None.
    held_out: float | None = None
    #: Where each image came from (a folder's file paths, relative to it), training images then
    #: test images, so a user can find a misclassified picture; empty when the source has none.
    file_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = self.source

        def fail(problem: str) -> None:
            raise DatasetError(f"{where}: {problem}")

        if not self.class_names:
            fail("the dataset has no classes")
        for part in ("train", "test"):
            x = getattr(self, f"x_{part}")
            y = getattr(self, f"y_{part}")
            if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype != np.float32:
                fail(f"x_{part} must be a float32 [N, C, H, W] array, got {_describe(x)}")
            if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype != np.int64:
                fail(f"y_{part} must be an int64 [N] array, got {_describe(y)}")
            if len(x) != len(y):
                fail(f"{len(x)} {part} images but {len(y)} {part} labels")
            if y.size and (y.min() < 0 or y.max() >= len(self.class_names)):
                fail(
                    f"{part} labels must be in 0..{len(self.class_names) - 1} "
                    f"({len(self.class_names)} classes), found {y.min()}..{y.max()}"
                )
        if len(self.x_train) == 0:
            fail("the training split holds no images")
        if self.x_test.shape[1:] != self.x_train.shape[1:]:
            fail(
                f"test images are {list(self.x_test.shape[1:])} but training images are "
                f"{list(self.x_train.shape[1:])}"
            )
        if self.file_names and len(self.file_names) != len(self.x_train) + len(self.x_test):
            fail(f"{len(self.file_names)} file names for "
                 f"{len(self.x_train) + len(self.x_test)} images")
        if min(self.x_train.shape[1:]) < 1:
            fail(f"images of shape {list(self.x_train.shape[1:])} hold no pixels")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``: what the model's Input layer must accept."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    def names_of(self, part: str) -> tuple[str, ...]:
        """The file names of the ``"train"`` or ``"test"`` images, in order (empty if unknown)."""
        if not self.file_names:
            return ()
        n = len(self.x_train)
        return self.file_names[:n] if part == "train" else self.file_names[n:]

    @property
    def num_classes(self) -> int:
        """How many outputs the model's last layer needs."""
        return len(self.class_names)

    def summary(self) -> str:
        """One line for the CLI and status bars: name, sizes, shape and class count."""
        c, h, w = self.image_shape
        return (
            f"{self.name}: {len(self.x_train)} train / {len(self.x_test)} test images, "
            f"{c}x{h}x{w}, {self.num_classes} classes ({self.source})"
            + (f"; {self.split}" if self.split else "")
        )


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out a random ``fraction`` of ``(x, y)`` for validation: ``(x_tr, y_tr, x_val, y_val)``.

    The trainer monitors over-fitting on data it never trains on, without touching the test
    split. The choice depends only on ``rng``, so the same seed gives the same split. At least
    one training sample is always kept; ``fraction=0`` gives an empty validation set.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    n = len(x)
    n_val = min(int(round(fraction * n)), max(n - 1, 0))
    order = rng.permutation(n)
    val_idx = np.sort(order[:n_val])
    train_idx = np.sort(order[n_val:])
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"{a.dtype} array of shape {list(a.shape)}"
    return type(a).__name__

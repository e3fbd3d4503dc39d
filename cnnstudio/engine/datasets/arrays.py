"""Turning raw arrays from any file into the Dataset's conventions, in one place.

Every loader meets the same questions (what do these pixel values mean, are these labels
usable, is this channels-last, does the model want another size or channel count); answering
them once keeps the sources consistent: whatever the file, pixels end up float32 in [0, 1].
"""

from __future__ import annotations

import numpy as np

from cnnstudio.engine.datasets.base import DatasetError
from cnnstudio.engine.memory import memory_refusal

__all__ = [
    "LUMA",
    "MAX_CLASSES",
    "change_channels",
    "check_images_fit",
    "images_bytes",
    "images_refusal",
    "labels_to_int64",
    "pixels_to_unit",
    "resize_images",
    "to_nchw",
]

#: Most classes a dataset may have: a label of 2**62 would otherwise ask for a class list of
#: that length. ImageNet-21k has 21,841.
MAX_CLASSES = 100_000

#: ITU-R 601 luma weights: how Pillow (and most tools) turn RGB into grey.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def images_bytes(count: int, shape: tuple[int, int, int]) -> int:
    """Bytes of ``count`` float32 images of ``shape`` (C, H, W)."""
    c, h, w = shape
    return 4 * count * c * h * w


def images_refusal(count: int, shape: tuple[int, int, int], where: str, doing: str
                   ) -> str | None:
    """The one-line refusal of making ``count`` float32 images of ``shape`` (C, H, W) when
    they would not fit the memory budget, else None; ``doing`` says what would make them."""
    c, h, w = shape
    return memory_refusal(images_bytes(count, shape), f"{where}: {doing} {c}x{h}x{w}",
                          f"for {count:,} images")


def check_images_fit(count: int, shape: tuple[int, int, int], where: str, doing: str) -> None:
    """Refuse (DatasetError) before making images that would not fit (see images_refusal)."""
    refusal = images_refusal(count, shape, where, doing)
    if refusal:
        raise DatasetError(refusal)


def pixels_to_unit(x: np.ndarray, where: str) -> np.ndarray:
    """Scale raw pixel values to float32 in [0, 1].

    Integer images are taken as 8-bit (0..255) when they fit, else 16-bit (0..65535); float
    images are taken as already scaled, since there is no way to know another convention.
    """
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    if np.issubdtype(x.dtype, np.integer):
        if x.size == 0:
            return x.astype(np.float32)
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 65535:
            raise DatasetError(
                f"{where}: integer pixel values must be in 0..255 (or 0..65535), found {lo}..{hi}"
            )
        scale = 255.0 if hi <= 255 and x.dtype != np.uint16 else 65535.0
        return (x.astype(np.float32) / np.float32(scale)).astype(np.float32)
    if np.issubdtype(x.dtype, np.floating):
        out = x.astype(np.float32)
        if out.size and not np.isfinite(out).all():
            raise DatasetError(f"{where}: pixel values contain NaN or infinity")
        return out
    raise DatasetError(f"{where}: pixel array has unsupported type {x.dtype}")


def labels_to_int64(y: np.ndarray, where: str, num_classes: int | None = None) -> np.ndarray:
    """Check labels are whole, non-negative class indices and return them as int64 ``[N]``.

    ``[N, 1]`` columns are accepted because several tools save labels that way.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{where}: labels must be a 1-D array, got shape {list(y.shape)}")
    if np.issubdtype(y.dtype, np.floating):
        if y.size and not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise DatasetError(f"{where}: labels must be whole numbers (class indices)")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{where}: labels have unsupported type {y.dtype}")
    if y.size and y.min() < 0:
        raise DatasetError(f"{where}: labels must not be negative, found {y.min()}")
    if y.size and y.max() >= MAX_CLASSES:
        raise DatasetError(f"{where}: label {y.max()} is too large: labels are class indices "
                           f"and cnnstudio handles at most {MAX_CLASSES:,} classes")
    out = y.astype(np.int64)
    if num_classes is not None and out.size and out.max() >= num_classes:
        raise DatasetError(
            f"{where}: label {out.max()} is out of range for {num_classes} classes "
            f"(expected 0..{num_classes - 1})"
        )
    return out


def to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """Accept ``[N, H, W]`` (grey), ``[N, C, H, W]`` or ``[N, H, W, C]`` and return NCHW.

    Channels-last is recognised when the last axis has 1 or 3 entries and axis 1 does not,
    which is how Keras and most image libraries store batches.
    """
    if x.ndim == 3:
        return x[:, None, :, :]
    if x.ndim == 4:
        if x.shape[3] in (1, 3) and x.shape[1] not in (1, 3):
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x
    raise DatasetError(
        f"{where}: images must be [N, H, W], [N, C, H, W] or [N, H, W, C], "
        f"got shape {list(x.shape)}"
    )


def change_channels(x: np.ndarray, channels: int, where: str) -> np.ndarray:
    """Convert ``[N, C, H, W]`` between grey (1) and RGB (3) so a model built for one works.

    Grey to RGB repeats the channel; RGB to grey uses the luma weights.
    """
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return np.repeat(x, 3, axis=1)
    if c == 3 and channels == 1:
        return np.einsum("nchw,c->nhw", x, LUMA, dtype=np.float32)[:, None].astype(np.float32)
    raise DatasetError(f"{where}: cannot convert {c}-channel images to {channels} channels")


def resize_images(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a batch ``[N, C, H, W]`` to ``size = (H', W')`` with NumPy alone.

    Pixel centres are aligned the way Pillow and PyTorch (align_corners=False) do, so an image
    resized here looks like one resized by those tools. Shrinking by a large factor averages
    only neighbouring pixels (no anti-aliasing), which is fine for the small sizes used here.
    """
    out_h, out_w = size
    if out_h < 1 or out_w < 1:
        raise ValueError(f"image size must be positive, got {size}")
    n, c, h, w = x.shape
    if (h, w) == (out_h, out_w):
        return x
    y0, y1, wy = _axis_weights(h, out_h)
    x0, x1, wx = _axis_weights(w, out_w)
    rows = x[:, :, y0, :] * (1 - wy)[:, None] + x[:, :, y1, :] * wy[:, None]
    out = rows[:, :, :, x0] * (1 - wx) + rows[:, :, :, x1] * wx
    return out.astype(np.float32)


def _axis_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(np.float32)

"""ZeroPadding2D: a border of zeros around every map of [C, B, H, W]; its backward crops.

The padding is given as in the model format: one int for all four sides, ``[h, w]`` (top and
bottom ``h``, left and right ``w``), or ``[top, bottom, left, right]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnstudio.core.shapes import pad_sides

Sides = tuple[int, int, int, int]


def _sides(padding: int | Sequence[int]) -> Sides:
    """The four sides, by the model format's one reading (``core.shapes.pad_sides``), refusing
    negative or non-integer sizes and other lengths with a message naming the param."""
    values = list(padding) if isinstance(padding, (list, tuple, np.ndarray)) else [padding]
    if len(values) not in (1, 2, 4) or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in values
    ):
        raise ValueError("ZeroPadding2D padding must be an int, [h, w] or [top, bottom, left, "
                         f"right] of non-negative integers, got {padding!r}")
    return pad_sides(padding)  # type: ignore[arg-type]


def zero_pad2d_forward(
    x: np.ndarray, padding: int | Sequence[int]
) -> tuple[np.ndarray, tuple[Sides, tuple[int, int, int, int]]]:
    """x [C, B, H, W] -> out [C, B, H + top + bottom, W + left + right] (a new array, zeros
    around a copy of x). The cache is ``(sides, x.shape)``."""
    if x.ndim != 4:
        raise ValueError(f"ZeroPadding2D expects images [C, B, H, W], got shape {x.shape}")
    top, bottom, left, right = sides = _sides(padding)
    c, b, h, w = x.shape
    out = np.zeros((c, b, h + top + bottom, w + left + right), dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
    return out, (sides, x.shape)


def zero_pad2d_backward(
    dout: np.ndarray, cache: tuple[Sides, tuple[int, int, int, int]]
) -> np.ndarray:
    """dout [C, B, H + top + bottom, W + left + right] -> dx [C, B, H, W]: the interior (the
    border held constants), as a new C-contiguous array."""
    (top, _, left, _), (_, _, h, w) = cache
    return np.ascontiguousarray(dout[:, :, top : top + h, left : left + w])

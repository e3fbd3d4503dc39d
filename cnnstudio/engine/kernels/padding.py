"""ZeroPadding2D: a border of zeros around every map of [C, B, H, W]; its backward crops.

The padding is given as in the model format: one int for all four sides, ``[h, w]`` (top and
bottom ``h``, left and right ``w``), or ``[top, bottom, left, right]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Sides = tuple[int, int, int, int]


def padding_sides(padding: int | Sequence[int]) -> Sides:
    """``1`` -> (1, 1, 1, 1); ``[1, 2]`` -> (1, 1, 2, 2); ``[t, b, l, r]`` unchanged (as ints).

    Refuses negative sizes and any other length: cropping is not padding.
    """
    values = list(padding) if isinstance(padding, (list, tuple, np.ndarray)) else [padding]
    if len(values) == 1:
        sides = (values[0],) * 4
    elif len(values) == 2:
        sides = (values[0], values[0], values[1], values[1])
    elif len(values) == 4:
        sides = tuple(values)
    else:
        raise ValueError(f"padding must be an int, [h, w] or [top, bottom, left, right], "
                         f"got {padding!r}")
    if any(not isinstance(v, (int, np.integer)) or v < 0 for v in sides):
        raise ValueError(f"padding sizes must be non-negative integers, got {padding!r}")
    top, bottom, left, right = (int(v) for v in sides)
    return top, bottom, left, right


def zero_pad2d_forward(
    x: np.ndarray, padding: int | Sequence[int]
) -> tuple[np.ndarray, tuple[Sides, tuple[int, int, int, int]]]:
    """x [C, B, H, W] -> out [C, B, H + top + bottom, W + left + right] (a new array, zeros
    around a copy of x). The cache is ``(sides, x.shape)``."""
    if x.ndim != 4:
        raise ValueError(f"ZeroPadding2D expects images [C, B, H, W], got shape {x.shape}")
    top, bottom, left, right = sides = padding_sides(padding)
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

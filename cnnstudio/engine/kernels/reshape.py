"""Flatten: [C, B, H, W] -> [C*H*W, B], each sample's features in C, then H, then W order.

That order is the model format's (and PyTorch's ``flatten(1)``), so Dense weights trained here
load unchanged into an exported PyTorch model. In the channel-major layout it costs one copy.
"""

from __future__ import annotations

import numpy as np


def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """x [C, B, H, W] -> out [C*H*W, B] (row ``(c*H + y)*W + x``); the cache is ``x.shape``.

    ``out`` is a view of ``x`` when no copy is needed (B == 1, or H == W == 1), else a new array.
    """
    if x.ndim != 4:
        raise ValueError(f"Flatten expects images [C, B, H, W], got shape {x.shape}")
    c, b, h, w = x.shape
    out = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(c * h * w, b)
    return out, x.shape


def flatten_backward(dout: np.ndarray, cache: tuple[int, int, int, int]) -> np.ndarray:
    """dout [C*H*W, B] -> dx [C, B, H, W] (C-contiguous)."""
    c, b, h, w = cache
    return np.ascontiguousarray(dout.reshape(c, h, w, b).transpose(0, 3, 1, 2))

"""Slow, obviously correct loop versions of convolution and pooling, kept to test the fast ones.

They loop over every output pixel and read each window straight from the definition (input
coordinate ``o*s + i - pad_before``, skipping coordinates outside the image), sharing no index
code with the fast kernels, so a bug in the shared bookkeeping cannot hide in both.
"""

from __future__ import annotations

import itertools

import numpy as np

from cnnstudio.engine.kernels._windows import Windows


def _window_pixels(y: int, x: int, windows: Windows) -> list[tuple[int, int, int, int]]:
    """(kernel row, kernel col, input row, input col) of the real pixels under output (y, x)."""
    wh, ww = windows
    pixels = []
    for i, j in itertools.product(range(wh.f), range(ww.f)):
        r = y * wh.s + i - wh.pad_before
        c = x * ww.s + j - ww.pad_before
        if 0 <= r < wh.n and 0 <= c < ww.n:
            pixels.append((i, j, r, c))
    return pixels


def conv2d_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, windows: Windows
) -> np.ndarray:
    """x [C, B, H, W], w [K, C, Fh, Fw], b [K] or None -> [K, B, H', W'] (zero padding)."""
    wh, ww = windows
    k = w.shape[0]
    batch = x.shape[1]
    out = np.zeros((k, batch, wh.out, ww.out), dtype=x.dtype)
    for y, xo in itertools.product(range(wh.out), range(ww.out)):
        for i, j, r, c in _window_pixels(y, xo, windows):
            # out[k, b] += sum over channels ch of w[k, ch, i, j] * x[ch, b, r, c]
            out[:, :, y, xo] += w[:, :, i, j] @ x[:, :, r, c]
    if b is not None:
        out += b[:, None, None, None]
    return out


def pool2d_naive(x: np.ndarray, windows: Windows, mode: str) -> np.ndarray:
    """x [C, B, H, W] -> [C, B, H', W'] with ``mode`` "max" or "avg" over the real pixels only."""
    wh, ww = windows
    out = np.zeros((x.shape[0], x.shape[1], wh.out, ww.out), dtype=x.dtype)
    for y, xo in itertools.product(range(wh.out), range(ww.out)):
        values = np.stack([x[:, :, r, c] for _, _, r, c in _window_pixels(y, xo, windows)])
        out[:, :, y, xo] = values.max(axis=0) if mode == "max" else values.mean(axis=0)
    return out

"""Slow, obviously correct loop versions of convolution and pooling, kept to test the fast ones.

They loop over every output pixel and read each window straight from the definition (input
coordinate ``o*s + i - pad_before``, skipping coordinates outside the image), sharing no index
code with the fast kernels, so a bug in the shared bookkeeping cannot hide in both.
"""

from __future__ import annotations

import itertools

import numpy as np

from cnnstudio.engine.kernels._windows import Windows


def _window_pixels(
    y: int, x: int, windows: Windows, dilation: tuple[int, int] = (1, 1)
) -> list[tuple[int, int, int, int]]:
    """(kernel row, kernel col, input row, input col) of the real pixels under output (y, x);
    a dilated kernel's taps are ``dilation`` pixels apart within its window."""
    wh, ww = windows
    dh, dw = dilation
    pixels = []
    for i, j in itertools.product(range((wh.f - 1) // dh + 1), range((ww.f - 1) // dw + 1)):
        r = y * wh.s + i * dh - wh.pad_before
        c = x * ww.s + j * dw - ww.pad_before
        if 0 <= r < wh.n and 0 <= c < ww.n:
            pixels.append((i, j, r, c))
    return pixels


def conv2d_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, windows: Windows,
    dilation: tuple[int, int] = (1, 1), groups: int = 1,
) -> np.ndarray:
    """x [C, B, H, W], w [K, C/groups, Fh, Fw], b [K] or None -> [K, B, H', W'] (zero padding;
    windows resolved for the dilated extent; filter group g sees input channel group g)."""
    wh, ww = windows
    k, cg = w.shape[0], w.shape[1]
    kg = k // groups
    batch = x.shape[1]
    out = np.zeros((k, batch, wh.out, ww.out), dtype=x.dtype)
    for y, xo in itertools.product(range(wh.out), range(ww.out)):
        for i, j, r, c in _window_pixels(y, xo, windows, dilation):
            for g in range(groups):
                # out[k, b] += sum over the group's channels ch of w[k, ch, i, j] * x[ch, b, r, c]
                filters, channels = slice(g * kg, (g + 1) * kg), slice(g * cg, (g + 1) * cg)
                out[filters, :, y, xo] += w[filters, :, i, j] @ x[channels, :, r, c]
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

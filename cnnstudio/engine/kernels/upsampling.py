"""UpSampling2D by integer factors: nearest-neighbour or bilinear, as PyTorch's ``interpolate``.

Nearest repeats each pixel ``sh x sw`` times (torch's ``mode="nearest"``: output pixel ``o`` reads
input ``floor(o / s)``), and its backward sums each block. Bilinear follows
``align_corners=False`` (PyTorch and Keras): output pixel ``o`` samples the input at
``max((o + 0.5) / s - 0.5, 0)``, between the two nearest pixels (the last one repeated at the
border). It is separable, so it is written as two small interpolation matrices, one per axis:
``out = A_h @ x @ A_w.T`` per map, and the backward is the exact adjoint ``A_h.T @ dout @ A_w``.
Dense matrices cost ``H`` (or ``W``) multiply-adds per output value instead of 2, which BLAS
more than makes up for at the map sizes of small CNNs, and the adjoint is right by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from cnnstudio.engine.kernels._windows import checked_pair

MODES = ("nearest", "bilinear")


def bilinear_matrix(n: int, s: int) -> np.ndarray:
    """[n*s, n] float64 weights of one axis of bilinear upsampling, align_corners=False."""
    o = np.arange(n * s)
    src = np.maximum((o + 0.5) / s - 0.5, 0.0)
    i0 = np.floor(src).astype(int)
    frac = src - i0
    i1 = np.minimum(i0 + 1, n - 1)
    a = np.zeros((n * s, n))
    np.add.at(a, (o, i0), 1 - frac)
    np.add.at(a, (o, i1), frac)
    return a


class UpsampleCache(NamedTuple):
    """mode; scale (sh, sw); x_shape (C, B, H, W); for bilinear the two matrices [H*sh, H] and
    [W*sw, W] in the input's dtype (None for nearest)."""

    mode: str
    scale: tuple[int, int]
    x_shape: tuple[int, int, int, int]
    a_h: np.ndarray | None
    a_w: np.ndarray | None


def upsample2d_forward(
    x: np.ndarray, scale: int | Sequence[int] = 2, mode: str = "nearest"
) -> tuple[np.ndarray, UpsampleCache]:
    """x [C, B, H, W] -> out [C, B, H*sh, W*sw] (a new array) and the cache."""
    if x.ndim != 4:
        raise ValueError(f"UpSampling2D expects images [C, B, H, W], got shape {x.shape}")
    if mode not in MODES:
        raise ValueError(f"UpSampling2D mode must be one of {MODES}, got {mode!r}")
    sh, sw = checked_pair(scale, "scale", 1)
    c, b, h, w = x.shape
    if mode == "nearest":
        out = np.empty((c, b, h, sh, w, sw), dtype=x.dtype)
        out[...] = x[:, :, :, None, :, None]
        return out.reshape(c, b, h * sh, w * sw), UpsampleCache(mode, (sh, sw), x.shape, None,
                                                                 None)
    a_h = bilinear_matrix(h, sh).astype(x.dtype)
    a_w = bilinear_matrix(w, sw).astype(x.dtype)
    rows = np.matmul(x.reshape(c * b * h, w), a_w.T)  # [C*B*H, W']
    out = np.matmul(a_h, rows.reshape(c * b, h, w * sw))  # [C*B, H', W']
    return out.reshape(c, b, h * sh, w * sw), UpsampleCache(mode, (sh, sw), x.shape, a_h, a_w)


def upsample2d_backward(dout: np.ndarray, cache: UpsampleCache) -> np.ndarray:
    """dout [C, B, H*sh, W*sw] -> dx [C, B, H, W]: the adjoint (each input pixel receives the
    gradients of the outputs it fed, weighted as it was)."""
    mode, (sh, sw), (c, b, h, w), a_h, a_w = cache
    if mode == "nearest":
        return dout.reshape(c, b, h, sh, w, sw).sum(axis=(3, 5))
    cols = np.matmul(a_h.T, dout.reshape(c * b, h * sh, w * sw))  # [C*B, H, W']
    dx = np.matmul(cols.reshape(c * b * h, w * sw), a_w)  # [C*B*H, W]
    return dx.reshape(c, b, h, w)

"""2-D convolution (cross-correlation, like PyTorch) on channel-major [C, B, H, W] activations.

Channel-major is what makes the convolution a single matrix product with no transposes:
``W[K, C*Fh*Fw] @ cols[C*Fh*Fw, B*H'*W']`` lands directly in the [K, B, H', W'] output layout the
next layer expects. The im2col matrix is the one unavoidable copy (a strided view of the padded
input, reshaped); the backward pass scatters it back with one strided add per kernel offset.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cnnstudio.engine.kernels._windows import (
    Windows,
    check_windows,
    conv_view,
    offset_ranges,
    pad,
)


class ConvCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass.

    cols: im2col matrix [C*Fh*Fw, B*H'*W'] (the product of the forward pass's input).
    w: weights [K, C, Fh, Fw], already in the input's dtype.
    x_shape: input shape (C, B, H, W).
    windows: the (height, width) AxisWindow pair used.
    has_bias: whether a bias was added (decides whether ``db`` is returned).
    """

    cols: np.ndarray
    w: np.ndarray
    x_shape: tuple[int, int, int, int]
    windows: Windows
    has_bias: bool


def im2col(x: np.ndarray, windows: Windows) -> np.ndarray:
    """[C, B, H, W] -> [C*Fh*Fw, B*H'*W']: every receptive field as a column.

    Row index is ``(c*Fh + i)*Fw + j`` (PyTorch's flattened weight order); column index is
    ``(b*H' + y)*W' + x`` (the output's own layout), so the matmul needs no transposes.
    """
    view = conv_view(pad(x, windows, 0.0), windows)
    c, fh, fw, b, ho, wo = view.shape
    return view.reshape(c * fh * fw, b * ho * wo)


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], windows: Windows) -> np.ndarray:
    """Adjoint of :func:`im2col`: [C*Fh*Fw, B*H'*W'] -> [C, B, H, W], summing overlaps.

    One strided add per kernel offset (Fh*Fw of them), written straight into the unpadded
    result; contributions that fell on padding are simply never added.
    """
    wh, ww = windows
    c, b, h, w = x_shape
    cols6 = cols.reshape(c, wh.f, ww.f, b, wh.out, ww.out)
    dx = np.zeros(x_shape, dtype=cols.dtype)
    rows = offset_ranges(wh)
    columns = offset_ranges(ww)
    for i, (oy, iy) in enumerate(rows):
        for j, (ox, ix) in enumerate(columns):
            dx[:, :, iy, ix] += cols6[:, i, j, :, oy, ox]
    return dx


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, windows: Windows
) -> tuple[np.ndarray, ConvCache]:
    """Convolve a batch.

    x: [C, B, H, W]; w: [K, C, Fh, Fw] (PyTorch layout); b: [K] or None (``use_bias`` false).
    windows: ``cnnstudio.core.shapes.window_2d((H, W), (Fh, Fw), stride, padding)`` -- it
    carries stride, the resolved (possibly asymmetric, "same") padding and the output size.
    Returns out [K, B, H', W'] (C-contiguous, dtype of ``x``; safe to apply ReLU to in place)
    and the cache for :func:`conv2d_backward`.
    """
    k, c, fh, fw = w.shape
    check_windows(x.shape, windows, (fh, fw))
    if x.shape[0] != c:
        raise ValueError(f"conv weights expect {c} input channels, got {x.shape[0]}")
    wh, ww = windows
    w = w.astype(x.dtype, copy=False)
    cols = im2col(x, windows)
    out = np.matmul(w.reshape(k, c * fh * fw), cols)
    if b is not None:
        out += b.astype(x.dtype, copy=False)[:, None]
    out = out.reshape(k, x.shape[1], wh.out, ww.out)
    return out, ConvCache(cols, w, x.shape, windows, b is not None)


def conv2d_backward(
    dout: np.ndarray, cache: ConvCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of :func:`conv2d_forward`.

    dout: [K, B, H', W']. Returns (dx [C, B, H, W] or None when ``need_dx`` is false -- the
    first layer's input needs no gradient and skipping it saves a matmul and the col2im --,
    dw [K, C, Fh, Fw], db [K] or None when the forward had no bias).
    """
    cols, w, x_shape, windows, has_bias = cache
    k = w.shape[0]
    d2 = dout.reshape(k, -1)
    dw = np.matmul(d2, cols.T).reshape(w.shape)
    db = d2.sum(axis=1) if has_bias else None
    dx = None
    if need_dx:
        dx = col2im(np.matmul(w.reshape(k, -1).T, d2), x_shape, windows)
    return dx, dw, db

"""Fully connected layer on feature-major [N, B] activations: ``out = W @ x + b``.

With features first the forward pass is one matmul against PyTorch's [units, N] weight layout,
no transposes, and the output is already in the layout the next layer reads.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DenseCache(NamedTuple):
    """x: input [N, B]. w: weights [units, N] in x's dtype. has_bias: whether b was added."""

    x: np.ndarray
    w: np.ndarray
    has_bias: bool


def dense_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> tuple[np.ndarray, DenseCache]:
    """x [N, B], w [units, N], b [units] or None -> out [units, B] (x's dtype) and the cache."""
    if x.ndim != 2:
        raise ValueError(f"Dense expects flat inputs [N, B], got shape {x.shape}")
    if x.shape[0] != w.shape[1]:
        raise ValueError(f"Dense weights expect {w.shape[1]} input features, got {x.shape[0]}")
    w = w.astype(x.dtype, copy=False)
    return dense_inference(x, w, b), DenseCache(x, w, b is not None)


def dense_inference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """The output of :func:`dense_forward` alone, without its checks or cache: what an
    inference pass prepared for known shapes calls."""
    out = np.matmul(w.astype(x.dtype, copy=False), x)
    if b is not None:
        out += b.astype(x.dtype, copy=False)[:, None]
    return out


def dense_backward(
    dout: np.ndarray, cache: DenseCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """dout [units, B] -> (dx [N, B] or None if not ``need_dx``, dw [units, N], db [units] or None
    when the forward had no bias)."""
    x, w, has_bias = cache
    dw = np.matmul(dout, x.T)
    db = dout.sum(axis=1) if has_bias else None
    dx = np.matmul(w.T, dout) if need_dx else None
    return dx, dw, db

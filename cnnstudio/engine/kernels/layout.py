"""Conversions between the public batch-first layout and the kernels' channel-major layout.

The network's public API speaks PyTorch's [B, C, H, W] and [B, N]; the kernels work on
[C, B, H, W] and [N, B] so that convolutions and dense layers are single matmuls without
transposes. Converting once at the network's input and output keeps that cost to two copies per
batch instead of two per layer.
"""

from __future__ import annotations

import numpy as np


def to_internal(x_bchw: np.ndarray) -> np.ndarray:
    """[B, C, H, W] -> C-contiguous [C, B, H, W]."""
    if x_bchw.ndim != 4:
        raise ValueError(f"expected [B, C, H, W], got shape {x_bchw.shape}")
    return np.ascontiguousarray(x_bchw.transpose(1, 0, 2, 3))


def to_public(x_cbhw: np.ndarray) -> np.ndarray:
    """[C, B, H, W] -> C-contiguous [B, C, H, W] (the inverse of :func:`to_internal`)."""
    if x_cbhw.ndim != 4:
        raise ValueError(f"expected [C, B, H, W], got shape {x_cbhw.shape}")
    return np.ascontiguousarray(x_cbhw.transpose(1, 0, 2, 3))


def flat_to_internal(x_bn: np.ndarray) -> np.ndarray:
    """[B, N] -> C-contiguous [N, B]."""
    if x_bn.ndim != 2:
        raise ValueError(f"expected [B, N], got shape {x_bn.shape}")
    return np.ascontiguousarray(x_bn.T)


def flat_to_public(x_nb: np.ndarray) -> np.ndarray:
    """[N, B] -> C-contiguous [B, N] (the inverse of :func:`flat_to_internal`)."""
    if x_nb.ndim != 2:
        raise ValueError(f"expected [N, B], got shape {x_nb.shape}")
    return np.ascontiguousarray(x_nb.T)


def batch_to_internal(x: np.ndarray) -> np.ndarray:
    """Public batch (either rank) -> internal layout: images and flat vectors alike."""
    return to_internal(x) if x.ndim == 4 else flat_to_internal(x)


def batch_to_public(x: np.ndarray) -> np.ndarray:
    """Internal batch (either rank) -> public layout: images and flat vectors alike."""
    return to_public(x) if x.ndim == 4 else flat_to_public(x)

"""Inverted dropout: units (Dropout) or whole feature maps (SpatialDropout2D) zeroed in training.

Kept values are scaled by ``1 / (1 - rate)`` during training so that evaluation is the identity
and needs no rescaling (PyTorch's and Keras's convention). The mask is drawn from the
``numpy.random.Generator`` passed in, so a seeded run is reproducible and nothing global is
touched.
"""

from __future__ import annotations

import numpy as np


def _mask(
    shape: tuple[int, ...], rate: float, rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """Scaled keep-mask: ``1 / (1 - rate)`` with probability ``1 - rate``, else 0."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    keep = rng.random(shape, dtype=np.float32 if dtype == np.float32 else np.float64) >= rate
    return keep * np.asarray(1.0 / (1.0 - rate), dtype=dtype)


def dropout_forward(
    x: np.ndarray, rate: float, rng: np.random.Generator, training: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Zero each unit of x (any shape) with probability ``rate``, scale the rest.

    Returns out (``x`` itself in eval mode or with rate 0) and the cache: the scaled mask, the
    same shape as ``x`` (``out == x * mask``), or None where dropout is the identity.
    """
    if not training or rate == 0.0:
        return x, None
    mask = _mask(x.shape, rate, rng, x.dtype)
    return x * mask, mask


def spatial_dropout2d_forward(
    x: np.ndarray, rate: float, rng: np.random.Generator, training: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Zero whole feature maps of x [C, B, H, W] (per channel and sample) with probability
    ``rate``, scale the rest.

    Neighbouring pixels of a map are strongly correlated, so dropping single pixels barely
    regularises a conv layer; dropping the map does. The cache is the scaled mask [C, B, 1, 1]
    (``out == x * mask``), or None where dropout is the identity.
    """
    if x.ndim != 4:
        raise ValueError(f"SpatialDropout2D expects images [C, B, H, W], got shape {x.shape}")
    if not training or rate == 0.0:
        return x, None
    mask = _mask((x.shape[0], x.shape[1], 1, 1), rate, rng, x.dtype)
    return x * mask, mask


def dropout_backward(dout: np.ndarray, cache: np.ndarray | None) -> np.ndarray:
    """dx = dout * mask (``dout`` itself where the forward was the identity). Serves both
    :func:`dropout_forward` and :func:`spatial_dropout2d_forward`."""
    return dout if cache is None else dout * cache

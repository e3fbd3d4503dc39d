"""Batch normalisation: per channel on [C, B, H, W], per feature on [N, B].

In the channel-major layout both cases are the same 2-D problem: ``x.reshape(C, -1)`` is a free
view with one row per channel, so statistics are row reductions over contiguous memory.

Conventions (chosen to match PyTorch, so a training step here and in an exported PyTorch model
agree):

- Training normalises with the batch mean and the *biased* batch variance (divide by M, the
  number of values per channel).
- The moving statistics follow the model format: ``moving = momentum * moving + (1 - momentum) *
  batch`` (PyTorch's ``momentum`` is ``1 - ours``), and the variance folded into
  ``moving_var`` is the *unbiased* batch variance (divide by M - 1), as PyTorch does for
  ``running_var``. With M == 1 the biased variance (0) is used.
- Evaluation normalises with the moving statistics and leaves them unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_vecdot = getattr(np, "vecdot", None)


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row dot products of two [C, M] arrays without an [C, M] temporary."""
    if _vecdot is not None:
        return _vecdot(a, b, axis=1)
    return np.einsum("ij,ij->i", a, b)


class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_backward` needs.

    xhat: the normalised input [C, M] in training; in evaluation the centred input is not kept,
        only ``x2`` (the input as [C, M]) and ``mean`` (the moving mean), and ``xhat`` is None.
    invstd: [C] ``1 / sqrt(var + eps)`` of the statistics used.
    gamma: [C] in the input's dtype. x_shape: the input's shape. training: which path ran.
    """

    xhat: np.ndarray | None
    x2: np.ndarray | None
    mean: np.ndarray | None
    invstd: np.ndarray
    gamma: np.ndarray
    x_shape: tuple[int, ...]
    training: bool


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    moving_mean: np.ndarray,
    moving_var: np.ndarray,
    momentum: float,
    eps: float,
    training: bool,
) -> tuple[np.ndarray, BatchNormCache, np.ndarray, np.ndarray]:
    """Normalise x ([C, B, H, W] or [N, B]) per channel, then scale by gamma and shift by beta.

    gamma, beta, moving_mean, moving_var: [C]. Returns ``(out, cache, new_moving_mean,
    new_moving_var)``: out has x's shape and dtype; the moving statistics are new arrays in
    training (the inputs are not modified) and the very same arrays in evaluation.
    """
    if x.ndim not in (2, 4):
        raise ValueError(f"BatchNorm expects [C, B, H, W] or [N, B], got shape {x.shape}")
    c = x.shape[0]
    if gamma.shape != (c,):
        raise ValueError(f"BatchNorm parameters are for {gamma.shape[0]} channels, input has {c}")
    dt = x.dtype
    x2 = x.reshape(c, -1)
    m = x2.shape[1]
    g = gamma.astype(dt, copy=False)
    bt = beta.astype(dt, copy=False)
    if training:
        mean = x2.mean(axis=1, dtype=dt)
        xhat = x2 - mean[:, None]
        var = _row_dot(xhat, xhat) / dt.type(m)
        invstd = 1 / np.sqrt(var + dt.type(eps))
        xhat *= invstd[:, None]
        out = xhat * g[:, None]
        out += bt[:, None]
        unbiased = var * dt.type(m / (m - 1)) if m > 1 else var
        new_mean = momentum * moving_mean + (1 - momentum) * mean.astype(moving_mean.dtype)
        new_var = momentum * moving_var + (1 - momentum) * unbiased.astype(moving_var.dtype)
        cache = BatchNormCache(xhat, None, None, invstd, g, x.shape, True)
        return out.reshape(x.shape), cache, new_mean, new_var
    mean = moving_mean.astype(dt, copy=False)
    invstd = 1 / np.sqrt(moving_var.astype(dt, copy=False) + dt.type(eps))
    scale = g * invstd
    out = x2 * scale[:, None]
    out += (bt - mean * scale)[:, None]
    cache = BatchNormCache(None, x2, mean, invstd, g, x.shape, False)
    return out.reshape(x.shape), cache, moving_mean, moving_var


def batchnorm_backward(
    dout: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout (x's shape) -> (dx, dgamma [C], dbeta [C]).

    In training the batch statistics depend on x, which gives the familiar three-term gradient
    ``dx = gamma * invstd * (dout - mean(dout) - xhat * mean(dout * xhat))``; in evaluation the
    statistics are constants and ``dx = gamma * invstd * dout``.
    """
    xhat, x2, mean, invstd, gamma, x_shape, training = cache
    c = x_shape[0]
    d2 = dout.reshape(c, -1)
    dt = d2.dtype
    if xhat is None:
        xhat = (x2 - mean[:, None]) * invstd[:, None]
    dbeta = d2.sum(axis=1)
    dgamma = _row_dot(d2, xhat)
    scale = (gamma * invstd)[:, None]
    if not training:
        return (d2 * scale).reshape(x_shape), dgamma, dbeta
    m = dt.type(d2.shape[1])
    dx = xhat * (dgamma / m)[:, None]
    dx += (dbeta / m)[:, None]
    np.subtract(d2, dx, out=dx)
    dx *= scale
    return dx.reshape(x_shape), dgamma, dbeta

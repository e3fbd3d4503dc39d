"""Batch normalisation (per channel on [C, B, H, W], per feature on [N, B]) and group
normalisation (per sample, over groups of channels, on [C, B, H, W]).

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

GroupNorm has no moving statistics: it normalises each sample on its own, in training and in
evaluation alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from cnnstudio.engine.kernels._parallel import parallel_chunks

#: For a batch cut into parts (:mod:`cnnstudio.engine.data_parallel`): hands this part's
#: per-channel sums to the other parts and returns every part's, in part order, so that each
#: part normalises with the statistics of the whole batch.
Gather = Callable[[tuple[np.ndarray, ...]], list[tuple[np.ndarray, ...]]]

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
    gather: Gather | None = None,
) -> tuple[np.ndarray, BatchNormCache, np.ndarray, np.ndarray]:
    """Normalise x ([C, B, H, W] or [N, B]) per channel, then scale by gamma and shift by beta.

    gamma, beta, moving_mean, moving_var: [C]. Returns ``(out, cache, new_moving_mean,
    new_moving_var)``: out has x's shape and dtype; the moving statistics are new arrays in
    training (the inputs are not modified) and the very same arrays in evaluation. With
    ``gather`` (training only), x is one part of a batch and the statistics are the whole
    batch's (:func:`_whole_batch_statistics`).
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
        out = np.empty((c, m), dtype=dt)
        xhat = np.empty((c, m), dtype=dt)
        mean = np.empty(c, dtype=dt)
        var = np.empty(c, dtype=dt)
        invstd = np.empty(c, dtype=dt)
        if gather is not None:
            mean[...], var[...], m = _whole_batch_statistics(x2, xhat, gather)

        def normalise(r: slice) -> None:
            if gather is None:
                np.mean(x2[r], axis=1, dtype=dt, out=mean[r])
            np.subtract(x2[r], mean[r, None], out=xhat[r])
            if gather is None:
                var[r] = _row_dot(xhat[r], xhat[r]) / dt.type(m)
            invstd[r] = 1 / np.sqrt(var[r] + dt.type(eps))
            xhat[r] *= invstd[r, None]
            np.multiply(xhat[r], g[r, None], out=out[r])
            out[r] += bt[r, None]

        parallel_chunks(normalise, c, x2.size)
        unbiased = var * dt.type(m / (m - 1)) if m > 1 else var
        new_mean = momentum * moving_mean + (1 - momentum) * mean.astype(moving_mean.dtype)
        new_var = momentum * moving_var + (1 - momentum) * unbiased.astype(moving_var.dtype)
        cache = BatchNormCache(xhat, None, None, invstd, g, x.shape, True)
        return out.reshape(x.shape), cache, new_mean, new_var
    mean, invstd, scale, shift = _moving_affine(g, bt, moving_mean, moving_var, eps)
    out = _scale_and_shift(x2, scale, shift)
    cache = BatchNormCache(None, x2, mean, invstd, g, x.shape, False)
    return out.reshape(x.shape), cache, moving_mean, moving_var


def _whole_batch_statistics(x2: np.ndarray, scratch: np.ndarray, gather: Gather
                            ) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mean, biased variance, values per channel)`` of the whole batch, from this part's
    rows ``x2`` [C, M] and the other parts' (through ``gather``): each part's mean and sum of
    squared deviations, merged as Chan et al. (1979) do, which keeps the precision of the
    two-pass formula. ``scratch`` [C, M] is overwritten."""
    dt = x2.dtype
    part_mean = np.mean(x2, axis=1, dtype=dt)
    np.subtract(x2, part_mean[:, None], out=scratch)
    parts = gather((np.array(x2.shape[1]), part_mean, _row_dot(scratch, scratch)))
    total = sum(int(count) for count, _, _ in parts)
    mean = sum(int(count) * part for count, part, _ in parts) / dt.type(total)
    squares = sum(sq + int(count) * (part - mean) ** 2 for count, part, sq in parts)
    return mean, squares / dt.type(total), total


def _moving_affine(gamma: np.ndarray, beta: np.ndarray, moving_mean: np.ndarray,
                   moving_var: np.ndarray, eps: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, invstd, scale, shift) of evaluation, in gamma's dtype: the moving statistics
    make BatchNorm the per-channel affine map ``x * scale + shift``."""
    dt = gamma.dtype
    mean = moving_mean.astype(dt, copy=False)
    invstd = 1 / np.sqrt(moving_var.astype(dt, copy=False) + dt.type(eps))
    scale = gamma * invstd
    return mean, invstd, scale, beta - mean * scale


def _scale_and_shift(x2: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``x2 * scale + shift`` per row of a [C, M] array, the rows over the cores."""
    out = np.empty_like(x2)

    def rows(r: slice) -> None:
        np.multiply(x2[r], scale[r, None], out=out[r])
        out[r] += shift[r, None]

    parallel_chunks(rows, x2.shape[0], x2.size)
    return out


def batchnorm_inference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                        moving_mean: np.ndarray, moving_var: np.ndarray, eps: float
                        ) -> np.ndarray:
    """The output of ``batchnorm_forward(..., training=False)`` alone, without its checks and
    without the cache a backward pass would need: what an inference pass calls."""
    _, _, scale, shift = _moving_affine(gamma.astype(x.dtype, copy=False),
                                        beta.astype(x.dtype, copy=False), moving_mean,
                                        moving_var, eps)
    return _scale_and_shift(x.reshape(x.shape[0], -1), scale, shift).reshape(x.shape)


def batchnorm_backward(
    dout: np.ndarray, cache: BatchNormCache, gather: Gather | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout (x's shape) -> (dx, dgamma [C], dbeta [C]).

    In training the batch statistics depend on x, which gives the familiar three-term gradient
    ``dx = gamma * invstd * (dout - mean(dout) - xhat * mean(dout * xhat))``; in evaluation the
    statistics are constants and ``dx = gamma * invstd * dout``. With ``gather`` (a part of a
    batch, trained with the whole batch's statistics) the means are the whole batch's, and
    dgamma and dbeta are this part's share (the parts' shares add up to the batch's).
    """
    xhat, x2, mean, invstd, gamma, x_shape, training = cache
    c = x_shape[0]
    d2 = dout.reshape(c, -1)
    dt = d2.dtype
    m = d2.shape[1]
    scale = gamma * invstd
    dx = np.empty((c, m), dtype=dt)
    dgamma = np.empty(c, dtype=dt)
    dbeta = np.empty(c, dtype=dt)

    def sums(r: slice) -> None:
        np.sum(d2[r], axis=1, out=dbeta[r])
        if xhat is None:  # evaluation: the normalised input was not kept; dx holds it briefly
            np.subtract(x2[r], mean[r, None], out=dx[r])
            dx[r] *= invstd[r, None]
            dgamma[r] = _row_dot(d2[r], dx[r])
        else:
            dgamma[r] = _row_dot(d2[r], xhat[r])

    def input_gradient(r: slice, dgamma: np.ndarray, dbeta: np.ndarray, m: int) -> None:
        if not training:
            np.multiply(d2[r], scale[r, None], out=dx[r])
            return
        # dx = gamma * invstd * (dout - mean(dout) - xhat * mean(dout * xhat))
        np.multiply(xhat[r], (dgamma[r] / dt.type(m))[:, None], out=dx[r])
        dx[r] += (dbeta[r] / dt.type(m))[:, None]
        np.subtract(d2[r], dx[r], out=dx[r])
        dx[r] *= scale[r, None]

    if gather is None or not training:
        def gradient(r: slice) -> None:
            sums(r)
            input_gradient(r, dgamma, dbeta, m)

        parallel_chunks(gradient, c, d2.size)
    else:
        whole = slice(0, c)
        sums(whole)
        parts = gather((np.array(m), dgamma, dbeta))
        input_gradient(whole, sum(g for _, g, _ in parts), sum(b for _, _, b in parts),
                       sum(int(count) for count, _, _ in parts))
    return dx.reshape(x_shape), dgamma, dbeta



class GroupNormCache(NamedTuple):
    """What :func:`groupnorm_backward` needs.

    xhat: the normalised input as [G, C/G, B, H*W]; invstd: [G, 1, B, 1] ``1 / sqrt(var + eps)``
    of each (group, sample); gamma: [G, C/G, 1, 1] in the input's dtype; x_shape: (C, B, H, W).
    """

    xhat: np.ndarray
    invstd: np.ndarray
    gamma: np.ndarray
    x_shape: tuple[int, int, int, int]


def groupnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, groups: int, eps: float
) -> tuple[np.ndarray, GroupNormCache]:
    """Normalise each sample's channel groups, then scale and shift per channel.

    x: [C, B, H, W], C divisible by ``groups``; gamma, beta: [C]. Each sample's channels are
    split into ``groups`` runs of C/groups; each run is normalised over its channels and all
    their pixels with its own mean and *biased* variance (as torch.nn.GroupNorm), never over
    the batch, so training and evaluation compute the same thing. groups=1 is a layer norm
    over C, H, W; groups=C an instance norm. Returns out (x's shape and dtype) and the cache.
    """
    if x.ndim != 4:
        raise ValueError(f"GroupNorm expects images [C, B, H, W], got shape {x.shape}")
    c, b, h, w = x.shape
    if groups < 1 or c % groups:
        raise ValueError(f"GroupNorm groups {groups} must divide the channels ({c})")
    if gamma.shape != (c,) or beta.shape != (c,):
        raise ValueError(f"GroupNorm parameters are for {gamma.shape[0]} channels, input has {c}")
    dt = x.dtype
    x4 = x.reshape(groups, c // groups, b, h * w)
    g4 = gamma.astype(dt, copy=False).reshape(groups, -1, 1, 1)
    b4 = beta.astype(dt, copy=False).reshape(groups, -1, 1, 1)
    xhat = np.empty_like(x4)
    invstd = np.empty((groups, 1, b, 1), dtype=dt)
    out = np.empty_like(x4)

    def normalise(s: slice) -> None:
        np.subtract(x4[s], x4[s].mean(axis=(1, 3), keepdims=True, dtype=dt), out=xhat[s])
        var = np.square(xhat[s]).mean(axis=(1, 3), keepdims=True, dtype=dt)
        np.divide(1, np.sqrt(var + dt.type(eps)), out=invstd[s])
        xhat[s] *= invstd[s]
        np.multiply(xhat[s], g4[s], out=out[s])
        out[s] += b4[s]

    parallel_chunks(normalise, groups, x.size)
    return out.reshape(x.shape), GroupNormCache(xhat, invstd, g4, x.shape)


def groupnorm_backward(
    dout: np.ndarray, cache: GroupNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout [C, B, H, W] -> (dx [C, B, H, W], dgamma [C], dbeta [C]).

    Within each (group, sample) the statistics depend on every value, which gives the layer-norm
    gradient ``dx = invstd * (g - mean(g) - xhat * mean(g * xhat))`` with ``g = gamma * dout``
    and the means over the group's channels and pixels.
    """
    xhat, invstd, g4, x_shape = cache
    d4 = dout.reshape(xhat.shape)
    dt = d4.dtype
    groups = xhat.shape[0]
    dx = np.empty_like(d4)
    dgamma = np.empty(g4.shape[:2], dtype=dt)
    dbeta = np.empty(g4.shape[:2], dtype=dt)

    def gradient(s: slice) -> None:
        np.sum(d4[s], axis=(2, 3), out=dbeta[s])
        np.sum(d4[s] * xhat[s], axis=(2, 3), out=dgamma[s])
        np.multiply(d4[s], g4[s], out=dx[s])  # g = gamma * dout
        g_mean = dx[s].mean(axis=(1, 3), keepdims=True, dtype=dt)
        gx_mean = (dx[s] * xhat[s]).mean(axis=(1, 3), keepdims=True, dtype=dt)
        dx[s] -= g_mean
        dx[s] -= xhat[s] * gx_mean
        dx[s] *= invstd[s]

    parallel_chunks(gradient, groups, d4.size)
    return dx.reshape(x_shape), dgamma.reshape(-1), dbeta.reshape(-1)

"""Element-wise activations and Softmax, each a forward/backward pair.

Caches hold whatever makes the backward pass a single cheap expression: ReLU, Sigmoid, Tanh and
Softmax keep their output (their derivatives are functions of it), LeakyReLU keeps its input.
Every kernel works on any shape and keeps the input's dtype. ReLU, on every conv block's hot
path, splits large arrays over the cores along the first axis.
"""

from __future__ import annotations

import numpy as np

from cnnstudio.engine.kernels._parallel import parallel_chunks


def relu_forward(x: np.ndarray, inplace: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``max(x, 0)``; the cache is the output.

    ``inplace=True`` overwrites ``x`` (saves an allocation after a conv or dense layer whose
    output nobody else reads, e.g. the fresh output of :func:`conv2d_forward`).
    """
    out = x if inplace else np.empty_like(x)
    if x.ndim == 0:
        return np.maximum(x, 0, out=out), out
    parallel_chunks(lambda s: np.maximum(x[s], 0, out=out[s]), len(x), x.size)
    return out, out


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout where the output was positive, else 0 (0 at exactly 0, as in PyTorch).

    Multiplying by the boolean mask rather than ``np.where`` matters: on the unpredictable
    masks of real activations ``np.where`` is branchy and an order of magnitude slower.
    """
    if dout.ndim == 0:
        return dout * (cache > 0)
    dx = np.empty_like(dout)
    parallel_chunks(lambda s: np.multiply(dout[s], cache[s] > 0, out=dx[s]), len(dout), dout.size)
    return dx


def leaky_relu_forward(x: np.ndarray, alpha: float) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    """``x`` where positive, else ``alpha * x``; the cache is ``(x, alpha)``.

    Computed branch-free and exactly as ``max(x, alpha*x)`` (``min`` when alpha > 1).
    """
    scaled = x * x.dtype.type(alpha)
    out = np.maximum(x, scaled, out=scaled) if alpha <= 1 else np.minimum(x, scaled, out=scaled)
    return out, (x, alpha)


def leaky_relu_backward(dout: np.ndarray, cache: tuple[np.ndarray, float]) -> np.ndarray:
    """dx = dout where the input was positive, else ``alpha * dout`` (exact, branch-free: each
    element is one product plus an exact zero)."""
    x, alpha = cache
    positive = x > 0
    negative = dout * dout.dtype.type(alpha)
    negative *= ~positive
    dx = dout * positive
    dx += negative
    return dx


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``1 / (1 + exp(-x))``; the cache is the output.

    This form keeps full relative precision in both tails; for x below about -88 (float32)
    ``exp`` overflows to inf and the result is the correct limit 0, so that overflow is silenced
    rather than reported.
    """
    with np.errstate(over="ignore"):
        e = np.exp(-x)
    e += 1
    return np.reciprocal(e, out=e), e


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout * s * (1 - s), with ``s`` the cached output."""
    return dout * cache * (1 - cache)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``tanh(x)``; the cache is the output."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout * (1 - t**2), with ``t`` the cached output."""
    return dout * (1 - cache * cache)


def softmax_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over the features of x [N, B] (axis 0), shifted by the max so ``exp`` cannot
    overflow; the cache is the output [N, B]."""
    if x.ndim != 2:
        raise ValueError(f"Softmax expects flat inputs [N, B], got shape {x.shape}")
    e = np.exp(x - x.max(axis=0, keepdims=True))
    e /= e.sum(axis=0, keepdims=True)
    return e, e


def softmax_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = y * (dout - sum(dout * y over features)), with ``y`` the cached output.

    When Softmax is the last layer and the loss is cross-entropy, skip this and use
    :func:`cnnstudio.engine.kernels.loss.softmax_cross_entropy` on the Softmax's input instead:
    it is exact where this chain would lose precision on confident predictions.
    """
    y = cache
    return y * (dout - np.sum(dout * y, axis=0, keepdims=True))

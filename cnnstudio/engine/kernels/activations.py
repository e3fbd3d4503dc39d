"""Element-wise activations and Softmax, each a forward/backward pair.

Caches hold whatever makes the backward pass a single cheap expression: ReLU, Sigmoid, Tanh and
Softmax keep their output (their derivatives are functions of it); LeakyReLU, ELU, ReLU6,
Hardsigmoid and Hardswish keep their input, SiLU and exact GELU also their sigmoid or normal
CDF. Every kernel works on any shape and keeps the input's dtype. ReLU, on every conv block's
hot path, splits large arrays over the cores along the first axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cnnstudio.engine.kernels import _parallel
from cnnstudio.engine.kernels._erf import normal_cdf
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


def prepare_relu(size: int, inplace: bool) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`relu_forward`'s output for arrays of ``size`` elements, planned once: for an
    array too small to share over the cores, the one ``np.maximum`` call alone."""
    if size >= _parallel.MIN_PARALLEL_ELEMENTS:
        return lambda x: relu_forward(x, inplace)[0]
    if inplace:
        return lambda x: np.maximum(x, 0, out=x)
    return lambda x: np.maximum(x, 0)


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


# The activations of modern small CNNs, with PyTorch's definitions (including the value of each
# derivative at its kinks, so a gradient here equals torch's bit for bit in spirit, not only
# almost everywhere). Their caches keep the input.


def elu_forward(x: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    """``x`` where positive, else ``alpha * (exp(x) - 1)`` (via ``expm1``: exact near 0);
    the cache is ``(x, alpha)``.

    Computed branch-free and exactly as ``max(x, 0) + alpha * expm1(min(x, 0))`` (one of the
    two terms is always an exact 0; the min also keeps exp from overflowing)."""
    out = np.expm1(np.minimum(x, 0))
    out *= x.dtype.type(alpha)
    out += np.maximum(x, 0)
    return out, (x, alpha)


def elu_backward(dout: np.ndarray, cache: tuple[np.ndarray, float]) -> np.ndarray:
    """dx = dout where x > 0, else ``dout * alpha * exp(x)`` (so ``alpha * dout`` at 0)."""
    x, alpha = cache
    slope = np.exp(np.minimum(x, 0))
    slope *= x.dtype.type(alpha)
    slope *= x <= 0
    slope += x > 0
    return dout * slope


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_GELU_CUBIC = 0.044715


def gelu_forward(
    x: np.ndarray, approximate: str = "none"
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]]:
    """GELU ``x * Phi(x)``, Phi the standard normal CDF (``approximate="none"``, exact: see
    :mod:`._erf`), or ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))`` (``"tanh"``), as
    ``torch.nn.GELU(approximate=...)``. The cache is ``(x, Phi(x))`` for the exact form (the CDF
    is the expensive part, so the backward pass reuses it) and ``(x, None)`` for the tanh one."""
    if approximate == "none":
        cdf = normal_cdf(x)
        return x * cdf, (x, cdf)
    if approximate == "tanh":
        t = np.tanh(_gelu_tanh_argument(x))
        t += 1
        t *= x
        t *= x.dtype.type(0.5)
        return t, (x, None)
    raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")


def _gelu_tanh_argument(x: np.ndarray) -> np.ndarray:
    """``sqrt(2/pi) * (x + 0.044715 x**3)``."""
    inner = x * x
    inner *= x.dtype.type(_GELU_CUBIC)
    inner += 1
    inner *= x
    inner *= x.dtype.type(_SQRT_2_OVER_PI)
    return inner


def gelu_backward(dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
    """dx = dout * (Phi(x) + x phi(x)) (exact), or the derivative of the tanh form."""
    x, cdf = cache
    dt = x.dtype.type
    if cdf is not None:
        slope = np.exp(x * x * dt(-0.5))
        slope *= dt(_INV_SQRT_2PI)
        slope *= x
        slope += cdf
        return dout * slope
    t = np.tanh(_gelu_tanh_argument(x))
    # d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    inner = x * x
    inner *= dt(3 * _GELU_CUBIC)
    inner += 1
    inner *= dt(_SQRT_2_OVER_PI)
    inner *= x
    inner *= 1 - t * t
    inner += 1 + t
    inner *= dt(0.5)
    return dout * inner


def silu_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """SiLU (swish) ``x * sigmoid(x)``; the cache is ``(x, sigmoid(x))``."""
    s, _ = sigmoid_forward(x)
    return x * s, (x, s)


def silu_backward(dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """dx = dout * s * (1 + x (1 - s)), s = sigmoid(x)."""
    x, s = cache
    slope = 1 - s
    slope *= x
    slope += 1
    slope *= s
    return dout * slope


def relu6_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``min(max(x, 0), 6)``; the cache is the input."""
    return np.clip(x, 0, 6), x


def relu6_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout where 0 < x < 6, else 0 (0 at both kinks, as torch's hardtanh)."""
    x = cache
    return dout * ((x > 0) & (x < 6))


def hardsigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``relu6(x + 3) / 6``; the cache is the input."""
    out = x + x.dtype.type(3)
    np.clip(out, 0, 6, out=out)
    out /= x.dtype.type(6)
    return out, x


def hardsigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = dout / 6 where -3 < x < 3, else 0 (0 at both kinks, as torch)."""
    x = cache
    return dout * ((x > -3) & (x < 3)) / dout.dtype.type(6)


def hardswish_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x * relu6(x + 3) / 6``; the cache is the input."""
    out, _ = hardsigmoid_forward(x)
    out *= x
    return out, x


def hardswish_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dx = 0 for x <= -3, ``dout * (x / 3 + 1/2)`` for -3 < x < 3, ``dout`` from 3 up (torch's
    choice at the kinks: the outer slope, 0 at -3 and 1 at 3)."""
    x = cache
    dt = x.dtype.type
    slope = x / dt(3)
    slope += dt(0.5)
    slope *= (x > -3) & (x < 3)
    slope += x >= 3  # branch-free: np.where and masked copies are slow on unpredictable masks
    return dout * slope

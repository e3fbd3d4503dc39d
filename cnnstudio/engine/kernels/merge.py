"""Merges of several branches: element-wise Add and Multiply, and channel Concatenate.

In the channel-major layout, channels (or features) are the leading axis, so concatenating is
stacking contiguous blocks and its backward hands each branch a contiguous view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


def add_forward(xs: Sequence[np.ndarray]) -> tuple[np.ndarray, int]:
    """Sum of 2+ same-shaped inputs (any layout); the cache is the number of inputs."""
    if len(xs) < 2:
        raise ValueError(f"Add needs at least 2 inputs, got {len(xs)}")
    shapes = {x.shape for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"Add inputs must have one shape, got {sorted(shapes)}")
    out = xs[0] + xs[1]
    for x in xs[2:]:
        out += x
    return out, len(xs)


def add_backward(dout: np.ndarray, cache: int) -> list[np.ndarray]:
    """Every input receives ``dout``: the first gets ``dout`` itself, the others copies, so a
    caller that accumulates gradients in place can never write through one branch into another."""
    return [dout] + [dout.copy() for _ in range(cache - 1)]


def concat_forward(xs: Sequence[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """Concatenate 2+ inputs along channels (axis 0 of [C, B, H, W] or features of [N, B]).

    Returns out [sum C_i, ...] and the cache: the list of input channel counts.
    """
    if len(xs) < 2:
        raise ValueError(f"Concatenate needs at least 2 inputs, got {len(xs)}")
    rest = {x.shape[1:] for x in xs}
    if len(rest) != 1:
        raise ValueError(
            "Concatenate inputs must agree in all but the channel axis, "
            f"got {[x.shape for x in xs]}"
        )
    return np.concatenate(xs, axis=0), [x.shape[0] for x in xs]


def concat_backward(dout: np.ndarray, cache: list[int]) -> list[np.ndarray]:
    """dout [sum C_i, ...] -> one gradient per input (contiguous views of ``dout``, no copies)."""
    return np.split(dout, np.cumsum(cache)[:-1], axis=0)


class MultiplyCache(NamedTuple):
    """The two inputs of :func:`multiply_forward`, in their order, and which of them (0 or 1)
    is a per-channel scale ([C, B]) broadcast over the other's H and W, or None."""

    a: np.ndarray
    b: np.ndarray
    scale_index: int | None


def multiply_forward(xs: Sequence[np.ndarray]) -> tuple[np.ndarray, MultiplyCache]:
    """Product of two inputs: element-wise for one shape (any layout), or an image [C, B, H, W]
    times a per-channel scale [C, B] in either order (a squeeze-and-excitation block's last
    step: each channel of each sample rescaled by one number). Returns the product in the
    image's shape and the cache (which keeps references to both inputs)."""
    if len(xs) != 2:
        raise ValueError(f"Multiply needs exactly 2 inputs, got {len(xs)}")
    a, b = xs
    if a.shape == b.shape:
        return a * b, MultiplyCache(a, b, None)
    for scale_index, (image, scale) in enumerate(((a, b), (b, a))):
        if image.ndim == 4 and scale.shape == image.shape[:2]:
            index = 1 - scale_index  # position of the scale among the inputs
            return image * scale[:, :, None, None], MultiplyCache(a, b, index)
    raise ValueError(
        "Multiply inputs must have one shape, or be an image [C, B, H, W] and a per-channel "
        f"scale [C, B]; got {a.shape} and {b.shape}"
    )


def multiply_backward(dout: np.ndarray, cache: MultiplyCache) -> list[np.ndarray]:
    """dout (the product's shape) -> [da, db] in the inputs' order and shapes: each input's
    gradient is ``dout`` times the other input; the per-channel scale's is summed over H, W."""
    a, b, scale_index = cache
    if scale_index is None:
        return [dout * b, dout * a]
    scale, image = (a, b) if scale_index == 0 else (b, a)
    d_image = dout * scale[:, :, None, None]
    c, n = scale.shape
    d_scale = np.einsum("ij,ij->i", dout.reshape(c * n, -1), image.reshape(c * n, -1))
    d_scale = d_scale.reshape(c, n)
    return [d_scale, d_image] if scale_index == 0 else [d_image, d_scale]

"""Merges of several branches: element-wise Add and channel Concatenate.

In the channel-major layout, channels (or features) are the leading axis, so concatenating is
stacking contiguous blocks and its backward hands each branch a contiguous view.
"""

from __future__ import annotations

from collections.abc import Sequence

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

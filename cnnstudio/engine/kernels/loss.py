"""Softmax cross-entropy, the classification loss, computed from logits.

Logits are feature-major [N, B] like every flat activation in the engine (N classes); labels are
[B] integer class indices. The loss is the mean over the batch of ``logsumexp(z) - z[label]``,
evaluated with the max subtracted first, so it is finite for any finite logits, and its gradient
is the well-conditioned ``(softmax(z) - onehot) / B``.

Fused path: when the network's last layer is Softmax, pass the *input* of that Softmax (the
pre-softmax logits) here and send ``dlogits`` straight to the layer before it, skipping the
Softmax's own backward. The result is the same loss, without taking the log of probabilities
that may have rounded to 0.
"""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """logits [N, B], labels [B] ints in [0, N) -> (mean loss, dlogits [N, B] in logits' dtype)."""
    if logits.ndim != 2:
        raise ValueError(f"logits must be [classes, batch], got shape {logits.shape}")
    n, b = logits.shape
    labels = np.asarray(labels)
    if labels.shape != (b,):
        raise ValueError(f"expected {b} labels for a batch of {b}, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if b and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(
            f"labels must be in [0, {n}), got values from {labels.min()} to {labels.max()}"
        )
    cols = np.arange(b)
    shifted = logits - logits.max(axis=0, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=0)
    loss = float(np.mean(np.log(total) - shifted[labels, cols]))
    dlogits = exp
    dlogits /= total
    dlogits[labels, cols] -= 1
    dlogits /= dlogits.dtype.type(b)
    return loss, dlogits

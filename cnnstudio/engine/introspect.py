"""What the GUI shows about a trained network: predictions, evaluation, confusion matrix.

Evaluation keeps every sample's prediction and confidence, so a GUI can open the images behind
one cell of the confusion matrix, most confidently wrong first -- the fastest way to see what a
network confuses and why. Inputs pass through the same normaliser as in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.kernels import loss as loss_kernel
from cnnstudio.engine.kernels.layout import flat_to_public
from cnnstudio.engine.network import Network, softmax

__all__ = ["Evaluation", "confusion_matrix", "evaluate", "predict_logits", "predict_proba",
           "softmax_cross_entropy"]

#: Images per forward pass in evaluation: large enough for BLAS, small enough for memory.
EVAL_BATCH = 256


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray
                          ) -> tuple[float, np.ndarray, int]:
    """The loss kernel plus the accuracy count the trainer reports: logits [K, B] (internal
    layout), labels [B] -> ``(mean loss, dlogits [K, B], correct predictions)``."""
    correct = int(np.count_nonzero(logits.argmax(axis=0) == labels))
    loss, dlogits = loss_kernel.softmax_cross_entropy(logits, labels)
    return loss, dlogits, correct


def predict_logits(network: Network, x: np.ndarray, normalizer: Normalizer | None = None,
                   batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Raw outputs before any final Softmax, ``[N, classes]``, in inference mode."""
    parts = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if normalizer is not None:
            xb = normalizer.apply(xb)
        parts.append(flat_to_public(network.forward_logits(xb, training=False)))
    if not parts:
        return np.zeros((0, *network.output_shape), dtype=network.dtype)
    return np.concatenate(parts)


def predict_proba(network: Network, x: np.ndarray, normalizer: Normalizer | None = None,
                  batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Class probabilities ``[N, classes]`` for images ``[N, C, H, W]``."""
    return softmax(predict_logits(network, x, normalizer, batch_size))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """``[n, n]`` counts: row = true class, column = predicted class."""
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return m


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Per-sample results of one evaluation pass, and the summaries built from them."""

    loss: float
    accuracy: float
    labels: np.ndarray  # [N] true classes
    predictions: np.ndarray  # [N] argmax classes
    confidences: np.ndarray  # [N] probability of the predicted class
    probabilities: np.ndarray  # [N, classes]

    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.labels, self.predictions, self.probabilities.shape[1])

    def cell(self, true_class: int, predicted_class: int) -> np.ndarray:
        """Sample indices with this true and predicted class, most confident first."""
        idx = np.flatnonzero((self.labels == true_class) & (self.predictions == predicted_class))
        return idx[np.argsort(-self.confidences[idx], kind="stable")]


def evaluate(network: Network, x: np.ndarray, y: np.ndarray,
             normalizer: Normalizer | None = None, batch_size: int = EVAL_BATCH) -> Evaluation:
    """Loss, accuracy and per-sample predictions on ``(x, y)`` in inference mode."""
    logits = predict_logits(network, x, normalizer, batch_size).astype(np.float64)
    y = np.asarray(y, dtype=np.int64)
    if len(y):
        loss, _, correct = softmax_cross_entropy(logits.T, y)
    else:
        loss, correct = float("nan"), 0
    probs = softmax(logits)
    pred = probs.argmax(axis=1) if len(y) else np.zeros(0, dtype=np.int64)
    conf = probs[np.arange(len(y)), pred] if len(y) else np.zeros(0)
    return Evaluation(loss, correct / max(len(y), 1), y, pred, conf, probs)

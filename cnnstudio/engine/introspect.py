"""What the GUI shows about a trained network: predictions, evaluation, confusion matrix, and
where the network looks.

Evaluation keeps every sample's prediction and confidence, so a GUI can open the images behind
one cell of the confusion matrix, most confidently wrong first -- the fastest way to see what a
network confuses and why. Inputs pass through the same normaliser as in training.

"Where it looks" differentiates the network as it predicts (inference mode): a saliency map is
the gradient of a class score with respect to the input pixels (Simonyan et al. 2014); Grad-CAM
weights the maps of the last convolution by the average gradient of the class score with
respect to each of them (Selvaraju et al. 2017); a unit's effective receptive field is the
gradient of that one unit with respect to the input (Luo et al. 2016).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnstudio.core.catalogue import ROLE_SPATIAL_FILTER
from cnnstudio.core.receptive import Box, Field
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.errors import NetworkError
from cnnstudio.engine.kernels import loss as loss_kernel
from cnnstudio.engine.kernels._parallel import WORKERS, map_on_cores
from cnnstudio.engine.kernels.layout import flat_to_public
from cnnstudio.engine.network import InferenceGradients, Network, softmax

__all__ = ["Evaluation", "Explanation", "TopUnit", "class_score_gradients", "confusion_matrix",
           "crop_field", "top_activations",
           "effective_field", "evaluate", "explain_prediction", "grad_cam", "grad_cam_layer",
           "predict_logits", "predict_proba", "resample_to_input", "saliency",
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
    """Raw outputs before any final Softmax, ``[N, classes]``, in inference mode.

    Several batches are shared out over the cores, each batch on one core (its operations not
    split again): like a training step in parts (:mod:`cnnstudio.engine.data_parallel`), this
    saves the hand-overs of split operations, 20-30% of an evaluation pass on the templates. The
    batches are the same as one after the other, and so are the results, to the bit."""
    starts = range(0, len(x), batch_size)
    if not starts:
        return np.zeros((0, *network.output_shape), dtype=network.dtype)

    def run(start: int) -> np.ndarray:
        xb = x[start:start + batch_size]
        if normalizer is not None:
            xb = normalizer.apply(xb)
        return flat_to_public(network.forward_logits(xb, training=False))

    return np.concatenate(map_on_cores(run, list(starts)))


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


# --- where the network looks ------------------------------------------------------------------

def class_score_gradients(network: Network, x: np.ndarray, class_index: int,
                          at: tuple[str, ...] = ()) -> InferenceGradients:
    """Gradients of the score of ``class_index`` (the logit, before any final Softmax, as
    Grad-CAM uses it) for each image of ``x`` [B, C, H, W] (already normalised)."""
    (classes,) = network.result.layers[network.logits_id].output_shape  # type: ignore[misc]
    if not 0 <= class_index < classes:
        raise NetworkError(f"class {class_index} does not exist: the network has {classes}")
    dout = np.zeros((len(x), classes), dtype=network.dtype)
    dout[:, class_index] = 1.0
    return network.inference_gradients(x, network.logits_id, dout, at)


def saliency(input_gradient: np.ndarray) -> np.ndarray:
    """``[C, H, W]`` input gradient -> ``[H, W]``: the largest absolute value over channels
    (how much a small change of that pixel moves the score, whatever its colour)."""
    return np.abs(np.asarray(input_gradient)).max(axis=0)


def grad_cam(activation: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """Grad-CAM of one image: maps ``[C, h, w]`` and the class score's gradient with respect to
    them -> ``[h, w]`` = ReLU(sum_k alpha_k A_k), alpha_k the mean gradient over map k."""
    alpha = np.asarray(gradient).mean(axis=(1, 2))
    return np.maximum(np.tensordot(alpha, np.asarray(activation), axes=1), 0.0)


def grad_cam_layer(network: Network) -> str | None:
    """The last convolution (a spatial filter with a [C, H, W] output) on the way to the
    output: its maps are the finest that still carry class-specific meaning."""
    for lid in reversed(network.order):
        shape = network.result.layers[lid].output_shape
        spatial = network.graph.layer(lid).spec.role == ROLE_SPATIAL_FILTER
        if spatial and shape is not None and len(shape) == 3:
            return lid
    return None


def resample_to_input(values: np.ndarray, field: Field, hw: tuple[int, int]) -> np.ndarray:
    """A layer's ``[h, w]`` map drawn over the ``hw`` input: each input pixel takes the value
    interpolated (bilinearly) between the units whose receptive fields are centred nearest it,
    so the map lines up with what those units see rather than being stretched edge to edge."""
    v = np.asarray(values, dtype=np.float64)
    coords = []
    for axis in range(2):
        centre0 = field.origin[axis] + (field.size[axis] - 1) / 2.0
        pos = (np.arange(hw[axis]) - centre0) / field.jump[axis]
        coords.append(np.clip(pos, 0.0, v.shape[axis] - 1))
    rows, cols = coords
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    r1 = np.minimum(r0 + 1, v.shape[0] - 1)
    c1 = np.minimum(c0 + 1, v.shape[1] - 1)
    fr = (rows - r0)[:, None]
    fc = (cols - c0)[None, :]
    top = v[r0][:, c0] * (1 - fc) + v[r0][:, c1] * fc
    bottom = v[r1][:, c0] * (1 - fc) + v[r1][:, c1] * fc
    return top * (1 - fr) + bottom * fr


@dataclass(frozen=True, eq=False)
class Explanation:
    """Why the network gave its answer for one image, for one class."""

    class_index: int
    probabilities: np.ndarray  # [classes]
    saliency: np.ndarray  # [H, W]
    cam_layer: str | None
    cam: np.ndarray | None  # [h, w] at the layer's resolution
    cam_on_input: np.ndarray | None  # [H, W]

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())


def explain_prediction(network: Network, x: np.ndarray, class_index: int | None = None,
                       cam_layer: str | None = None) -> Explanation:
    """Saliency and Grad-CAM of one normalised image ``[C, H, W]`` for ``class_index`` (the
    predicted class when None); Grad-CAM on ``cam_layer`` or the last convolution."""
    batch = np.asarray(x)[None]
    logits = network.forward_logits(batch, training=False)
    probs = softmax(flat_to_public(logits).astype(np.float64))[0]
    cls = int(probs.argmax()) if class_index is None else int(class_index)
    layer = cam_layer or grad_cam_layer(network)
    grads = class_score_gradients(network, batch, cls, at=(layer,) if layer else ())
    cam = cam_in = None
    if layer is not None:
        cam = grad_cam(grads.outputs[layer][0], grads.grads[layer][0])
        field = network.result.layers[layer].field
        if field is not None:
            cam_in = resample_to_input(cam, field, batch.shape[2:])
    return Explanation(cls, probs, saliency(grads.input[0]), layer, cam, cam_in)


def effective_field(network: Network, x: np.ndarray, layer_id: str, channel: int, row: int,
                    col: int) -> np.ndarray:
    """``[H, W]``: how strongly each input pixel moves unit (channel, row, col) of a layer for
    this normalised image ``[C, H, W]`` (absolute gradient, summed over input channels)."""
    shape = network.result.layers[layer_id].output_shape
    if shape is None or len(shape) != 3:
        raise NetworkError(f"layer {layer_id!r} has no feature maps")
    c, h, w = shape
    if not (0 <= channel < c and 0 <= row < h and 0 <= col < w):
        raise NetworkError(f"unit ({channel}, {row}, {col}) is outside {layer_id}'s {c}x{h}x{w}")
    dout = np.zeros((1, c, h, w), dtype=network.dtype)
    dout[0, channel, row, col] = 1.0
    grads = network.inference_gradients(np.asarray(x)[None], layer_id, dout)
    return np.abs(grads.input[0]).sum(axis=0)


# --- what a channel looks for -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TopUnit:
    """One of a channel's strongest responses: its value, the image and the unit's position."""

    value: float
    image: int
    row: int
    col: int


def top_activations(network: Network, images: np.ndarray, layer_id: str, channel: int,
                    k: int = 9, normalizer: Normalizer | None = None,
                    batch_size: int = EVAL_BATCH, stop: Callable[[], bool] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[TopUnit]:
    """The ``k`` largest values of ``channel`` of a layer's maps over every position of every
    image ``[N, C, H, W]`` (inference mode), largest first (ties: earlier image, row, column).

    ``stop()`` is asked between batches, which run a batch per core at a time (returns what
    was found so far when it says so); ``progress(done, total)`` is told after each batch."""
    shape = network.result.layers[layer_id].output_shape
    if shape is None or len(shape) != 3:
        raise NetworkError(f"layer {layer_id!r} has no feature maps")
    if not 0 <= channel < shape[0]:
        raise NetworkError(f"{layer_id} has channels 0..{shape[0] - 1}, not {channel}")
    _, h, w = shape
    best_v = np.zeros(0)
    best_i = np.zeros(0, dtype=np.int64)  # flat index: image * h * w + row * w + col
    total = len(images)

    def candidates(start: int) -> tuple[np.ndarray, np.ndarray]:
        xb = images[start:start + batch_size]
        if normalizer is not None:
            xb = normalizer.apply(xb)
        maps = network.activations(xb, [layer_id])[layer_id][:, channel]
        batch_v = maps.reshape(-1).astype(np.float64)
        kept = _top_candidates(batch_v, k)
        return batch_v[kept], start * h * w + kept

    starts = list(range(0, total, batch_size))
    for first in range(0, len(starts), WORKERS):  # a batch per core at a time
        if stop is not None and stop():
            break
        group = starts[first:first + WORKERS]
        for start, (batch_v, batch_i) in zip(group, map_on_cores(candidates, group), strict=True):
            values = np.concatenate([best_v, batch_v])
            index = np.concatenate([best_i, batch_i])
            order = np.lexsort((index, -values))[:k]  # by value, then by position
            best_v, best_i = values[order], index[order]
            if progress is not None:
                progress(min(start + batch_size, total), total)
    image, rest = np.divmod(best_i, h * w)
    row, col = np.divmod(rest, w)
    return [TopUnit(float(v), int(i), int(r), int(c))
            for v, i, r, c in zip(best_v, image, row, col, strict=True)]


def _top_candidates(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of ``values`` that can be among its ``k`` largest: those at least the k-th
    largest (every tie of it included, so the order by position still decides), found by a
    partition instead of sorting every value -- a batch of first-layer maps holds hundreds of
    thousands of them, and sorting them all took most of a Top patches scan. All positions
    when some value is not finite (a partition and a sort would place NaN differently)."""
    if values.size <= k or not np.isfinite(values).all():
        return np.arange(values.size)
    kth = np.partition(values, values.size - k)[values.size - k]
    return np.flatnonzero(values >= kth)


def crop_field(image: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of ``image`` [C, H, W] under ``box``, ``[C, box height, box width]``; the
    part of the box in padding is 0, as zero padding feeds the network."""
    c, h, w = image.shape
    out = np.zeros((c, box.height, box.width), dtype=image.dtype)
    inside = box.clipped(h, w)
    if inside is not None:
        out[:, inside.top - box.top:inside.bottom - box.top + 1,
            inside.left - box.left:inside.right - box.left + 1] = \
            image[:, inside.top:inside.bottom + 1, inside.left:inside.right + 1]
    return out

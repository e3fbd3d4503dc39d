"""Per-layer health, measured while training: is each layer alive, saturated, learning?

Every ``TrainConfig.health_every`` batches the trainer runs that batch as a *measured step*:
the same forward, backward and update as any other step, but every layer's output is kept (for
that one batch) and summarised on its first ``health_sample`` images, the gradient of every
trainable array is measured, and the weights are compared before and after the update. No extra
forward pass is made, so the cost is a few reductions over arrays that exist anyway.

The figures (all plain floats, in frozen records the GUI and the CLI read alike):

- activation mean and standard deviation of each layer's output;
- ``dead``: for rectifiers, the fraction of units (channels of a feature map, neurons of a
  vector) whose output is not positive for any image of the sample: such a unit passes no
  gradient, so it cannot recover;
- ``saturated``: for squashing activations, the fraction of outputs where the derivative is under
  1% of its peak (see :mod:`cnnstudio.core.layer_kinds`);
- per trainable array: the gradient norm ``||g||`` and the update-to-weight ratio
  ``||w_after - w_before|| / ||w_before||`` (about 1e-3 is healthy; None when the weights are
  all zero, as a bias is at the start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnstudio.core.layer_kinds import SATURATING, is_rectifier
from cnnstudio.engine.introspect import softmax_cross_entropy
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import Optimizer

__all__ = ["ArrayHealth", "HealthSnapshot", "LayerHealth", "first_nonfinite",
           "layer_health", "measured_step"]


@dataclass(frozen=True, slots=True)
class ArrayHealth:
    """One trainable array (``weight``, ``bias``, ``gamma``...) at one measured step."""

    name: str
    size: int
    grad_norm: float
    update_ratio: float | None

    @property
    def grad_rms(self) -> float:
        """Gradient norm per element: comparable between arrays of different sizes."""
        return self.grad_norm / math.sqrt(max(self.size, 1))


@dataclass(frozen=True, slots=True)
class LayerHealth:
    """One layer's figures; ``dead``/``saturated`` are None for layers they do not apply to."""

    layer: str
    type: str
    mean: float
    std: float
    dead: float | None = None
    saturated: float | None = None
    units: int = 0
    arrays: tuple[ArrayHealth, ...] = ()

    @property
    def weight(self) -> ArrayHealth | None:
        """The layer's main (largest) trainable array, the one alerts judge it by."""
        return max(self.arrays, key=lambda a: a.size) if self.arrays else None


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Every layer's health at one measured step, in forward order. ``nonfinite`` names the
    first layer (forward order for outputs, backward order for gradients) holding NaN or Inf."""

    epoch: int
    batch: int
    sample: int
    layers: tuple[LayerHealth, ...]
    nonfinite: str | None = None

    def layer(self, layer_id: str) -> LayerHealth | None:
        return next((h for h in self.layers if h.layer == layer_id), None)

    def trained(self) -> list[LayerHealth]:
        """Layers with trainable arrays measured, input side first."""
        return [h for h in self.layers if h.arrays]


def _norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(a.ravel()))


def layer_health(layer_id: str, type_name: str, out: np.ndarray, sample: int
                 ) -> tuple[LayerHealth, bool]:
    """Figures of one layer's output (internal layout: ``[C, B, ...]`` or ``[N, B]``, units on
    the first axis, images on the second), over its first ``sample`` images; and whether the
    output is free of NaN and Inf.

    Two sums in float64 give mean and variance without a temporary the size of the output; a
    NaN or Inf anywhere makes them non-finite, so no separate scan is needed."""
    a = out[:, :sample]
    units, n = a.shape[0], a.size
    if n == 0:
        return LayerHealth(layer_id, type_name, 0.0, 0.0, units=units), True
    s1 = float(a.sum(dtype=np.float64))
    flat = a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)
    s2 = _sum_of_squares(flat)
    finite = math.isfinite(s1) and math.isfinite(s2)
    mean = s1 / n
    std = math.sqrt(max(s2 / n - mean * mean, 0.0)) if finite else math.nan
    dead = saturated = None
    if is_rectifier(type_name):
        fired = (a > 0).reshape(units, -1).any(axis=1)
        dead = float(1.0 - fired.mean())
    elif type_name in SATURATING:
        lo, hi = SATURATING[type_name]
        saturated = float(np.count_nonzero((a < lo) | (a > hi)) / n)
    return LayerHealth(layer_id, type_name, mean, std, dead, saturated, units), finite


def _sum_of_squares(flat: np.ndarray) -> float:
    """Sum of squares of a vector, accumulated in float64 in cache-sized pieces."""
    total = 0.0
    step = 1 << 16
    for i in range(0, flat.size, step):
        part = flat[i:i + step].astype(np.float64)
        total += float(np.dot(part, part))
    return total


def measured_step(network: Network, optimizer: Optimizer, xb: np.ndarray, yb: np.ndarray,
                  sample: int, epoch: int = 0, batch: int = 0
                  ) -> tuple[float, int, HealthSnapshot]:
    """One training step (exactly :func:`~cnnstudio.engine.trainer.train_step`'s update) that
    also measures every layer: ``(mean loss, correct count, snapshot)``.

    A non-finite loss returns before touching the weights, as a plain step does."""
    figures: dict[str, LayerHealth] = {}
    bad: list[str] = []

    def observe(lid: str, out: np.ndarray) -> None:
        health, finite = layer_health(lid, network.graph.layer(lid).type, out, sample)
        figures[lid] = health
        if not finite:
            bad.append(lid)

    taken = min(sample, len(xb))
    with np.errstate(over="ignore", invalid="ignore"):
        logits = network.forward_logits_observed(xb, True, observe)
        loss, dlogits, correct = softmax_cross_entropy(logits, yb)
        if not math.isfinite(loss):
            return loss, correct, HealthSnapshot(epoch, batch, taken, tuple(figures.values()),
                                                 bad[0] if bad else None)
        network.backward_internal(dlogits, network.logits_id)
        params = list(network.trainable_params())
        before = [p.copy() for _, _, p, _ in params]
        optimizer.step(params)
        arrays: dict[str, list[ArrayHealth]] = {}
        grad_bad = None
        for (lid, name, p, g), w0 in zip(reversed(params), reversed(before), strict=True):
            gn = _norm(g)
            if not math.isfinite(gn) and grad_bad is None:
                grad_bad = lid  # backward order: the first layer the bad gradient reached
            w_norm = _norm(w0)
            w0 -= p
            ratio = _norm(w0) / w_norm if w_norm > 0 else None
            arrays.setdefault(lid, []).insert(0, ArrayHealth(name, p.size, gn, ratio))
    layers = tuple(_with_arrays(h, tuple(arrays.get(h.layer, ()))) for h in figures.values())
    return loss, correct, HealthSnapshot(epoch, batch, taken, layers,
                                         bad[0] if bad else grad_bad)


def _with_arrays(h: LayerHealth, arrays: tuple[ArrayHealth, ...]) -> LayerHealth:
    return LayerHealth(h.layer, h.type, h.mean, h.std, h.dead, h.saturated, h.units, arrays)


def first_nonfinite(network: Network, xb: np.ndarray) -> tuple[str, str] | None:
    """Where a failed run's numbers first went bad: ``(layer id, what)`` for the first layer in
    forward order whose weights or output hold NaN or Inf on batch ``xb``, or None."""
    for lid in network.order:
        for name, p in network.layers[lid].params.items():
            if not np.isfinite(p).all():
                return lid, f"its {name} holds NaN or Inf (an earlier update overflowed)"
    bad: list[str] = []

    def observe(lid: str, out: np.ndarray) -> None:
        if not bad and not np.isfinite(out).all():
            bad.append(lid)

    with np.errstate(all="ignore"):
        network.forward_logits_observed(xb, False, observe)
    return (bad[0], "its output holds NaN or Inf") if bad else None

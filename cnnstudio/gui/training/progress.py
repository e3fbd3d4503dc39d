"""What a training run reports to the window: small frozen records of plain numbers.

The worker thread produces these and the GUI thread reads them, so they hold only scalars and
copies (never arrays the engine keeps mutating). They are the window's own vocabulary, made from
the engine's progress records in one place (:mod:`.run`), so every view reads the same fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cnnstudio.engine.alerts import Alert
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.health import HealthSnapshot
from cnnstudio.engine.introspect import Evaluation

__all__ = ["BatchPoint", "EpochPoint", "RunOutcome", "format_duration", "progress_text"]


@dataclass(frozen=True)
class BatchPoint:
    """One optimisation step. ``epoch`` and ``batch`` count from 1. ``health`` on measured
    steps; ``alerts`` raised by this step (the engine's frozen records, plain numbers only)."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    accuracy: float | None
    images_per_s: float
    seconds_left: float | None
    health: HealthSnapshot | None = field(default=None, compare=False)
    alerts: tuple[Alert, ...] = ()

    @property
    def position(self) -> float:
        """Where this batch sits on the curves' epoch axis: epoch 1 runs from 0 to 1."""
        return (self.epoch - 1) + self.batch / max(self.batches, 1)

    @property
    def fraction_done(self) -> float:
        return min(1.0, self.position / max(self.epochs, 1))


@dataclass(frozen=True)
class EpochPoint:
    """The end of an epoch: its mean training metrics and the validation metrics, if any.

    ``weights`` is a private copy of the network's state at that moment, so feature maps and
    filters can be drawn in the GUI thread while the worker trains on.
    """

    epoch: int
    epochs: int
    loss: float
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    images_per_s: float
    weights: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    normalizer: Normalizer | None = field(default=None, repr=False, compare=False)
    alerts: tuple[Alert, ...] = ()


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: ``stopped`` by the user or finished, with copies of the final weights,
    the normaliser they were trained with, and an evaluation on held-out images (computed in
    the worker, so a large test set never freezes the window)."""

    epochs_done: int
    stopped: bool
    weights: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    normalizer: Normalizer | None = field(default=None, repr=False, compare=False)
    evaluation: Evaluation | None = field(default=None, repr=False, compare=False)
    evaluated_on: str = ""


def format_duration(seconds: float | None) -> str:
    """``"1:05:09"``, ``"4:07"``, ``"12 s"``; ``"?"`` while unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_text(point: BatchPoint) -> str:
    """The progress line: epoch i/n, batch j/m, images/s and time left."""
    return (
        f"epoch {point.epoch}/{point.epochs} \u00b7 batch {point.batch}/{point.batches} \u00b7 "
        f"{point.images_per_s:,.0f} images/s \u00b7 {format_duration(point.seconds_left)} left"
    )

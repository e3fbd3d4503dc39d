"""The small, frozen records the training loop yields, one kind per event.

They hold plain scalars only, so a GUI worker can pass them across threads as they are and a
CLI can print them, without either touching arrays the training loop keeps mutating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnstudio.engine.alerts import Alert
    from cnnstudio.engine.health import HealthSnapshot

__all__ = ["BatchProgress", "EpochProgress", "Failed", "Finished", "Progress", "Stopped"]


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """After each training batch. ``epoch`` and ``batch`` count from 1; loss and accuracy are
    this batch's; ``images_per_s`` is the epoch's average so far; ``seconds_left`` estimates the
    rest of the whole run from it. ``health`` is set on measured steps (every
    ``TrainConfig.health_every`` batches); ``alerts`` are those this batch raised."""

    epoch: int
    epochs: int
    batch: int
    batches_per_epoch: int
    loss: float
    accuracy: float
    images_per_s: float
    seconds_left: float
    health: HealthSnapshot | None = None
    alerts: tuple[Alert, ...] = ()


@dataclass(frozen=True, slots=True)
class EpochProgress:
    """After each epoch: training loss/accuracy averaged over the epoch's images, validation
    figures (None without a validation split), the epoch's throughput, and the alerts its end
    raised (overfitting, not learning)."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    images_per_s: float
    seconds: float
    alerts: tuple[Alert, ...] = ()

    def to_json(self) -> dict[str, float | int | None]:
        """The ``--log-json`` record (the keys the CLI documents; it adds ``alerts``)."""
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "val_loss": self.val_loss,
            "val_accuracy": self.val_accuracy,
            "images_per_s": self.images_per_s,
        }


@dataclass(frozen=True, slots=True)
class Finished:
    """Every epoch ran."""

    epochs: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Stopped:
    """The user stopped the run in ``epoch`` (from 1) after ``batch`` completed batches."""

    epoch: int
    batch: int


@dataclass(frozen=True, slots=True)
class Failed:
    """Training cannot go on (e.g. the loss became NaN); ``message`` says why and what to do;
    ``layer`` is the first layer whose numbers went bad, where known."""

    message: str
    epoch: int
    batch: int
    layer: str | None = None


Progress = BatchProgress | EpochProgress | Finished | Stopped | Failed

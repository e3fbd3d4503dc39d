"""One training run as the window sees it: the engine's progress turned into GUI records.

This generator is what the worker thread iterates. It builds the engine's Trainer there (the
normalisation of a large dataset and the memory check then never block the window), maps each
engine record to the window's own :mod:`.progress` records, copies the weights at every epoch
end so views can draw them while training goes on, and evaluates the result on held-out images
when the run ends. A NaN loss or any refusal becomes an exception the worker reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from cnnstudio.engine.control import TrainingControl
from cnnstudio.engine.datasets.base import Dataset
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.errors import TrainingError
from cnnstudio.engine.introspect import evaluate
from cnnstudio.engine.network import Network
from cnnstudio.engine.progress import BatchProgress, EpochProgress, Failed, Finished, Stopped
from cnnstudio.engine.trainer import TrainConfig, Trainer
from cnnstudio.gui.training.progress import BatchPoint, EpochPoint, RunOutcome

__all__ = ["evaluation_split", "run_events"]


def run_events(
    network: Network,
    dataset: Dataset,
    config: TrainConfig,
    control: TrainingControl,
    normalizer: Normalizer | None = None,
    evaluate_at_end: Callable[[], bool] = lambda: True,
) -> Iterator[BatchPoint | EpochPoint | RunOutcome]:
    """Train ``network`` (owned by this generator's thread from now on) and report.

    Ends with one RunOutcome, or raises the engine's TrainingError when the run cannot start or
    fails (its message says what to try). ``evaluate_at_end`` is asked when the run ends: a
    window that is closing says no, so it does not wait for an evaluation nobody will see.
    An alert that makes going on pointless (diverging) pauses the run here, in the training
    thread, before another batch can run; the window then shows it and offers its fix.
    """
    trainer = Trainer(network, dataset, config, control, normalizer)
    done = 0
    for p in trainer.run():
        if isinstance(p, BatchProgress):
            if any(a.stops for a in p.alerts):
                control.pause()
            yield BatchPoint(p.epoch, p.epochs, p.batch, p.batches_per_epoch, float(p.loss),
                             float(p.accuracy), float(p.images_per_s), float(p.seconds_left),
                             p.health, p.alerts)
        elif isinstance(p, EpochProgress):
            done = p.epoch
            yield EpochPoint(p.epoch, p.epochs, float(p.loss), float(p.accuracy), p.val_loss,
                             p.val_accuracy, float(p.images_per_s),
                             weights=network.state_dict(), normalizer=trainer.normalizer,
                             alerts=p.alerts)
        elif isinstance(p, Failed):
            raise TrainingError(p.message)
        elif isinstance(p, Finished | Stopped):
            ev, where = None, ""
            if evaluate_at_end():
                x, y, where = evaluation_split(dataset)
                ev = evaluate(network, x, y, trainer.normalizer)
            yield RunOutcome(done, isinstance(p, Stopped), weights=network.state_dict(),
                             normalizer=trainer.normalizer, evaluation=ev, evaluated_on=where)


def evaluation_split(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, str]:
    """The images a finished run is judged on: the test split, or the training images (said so)
    when the dataset has no test split."""
    if len(dataset.x_test):
        return dataset.x_test, dataset.y_test, "test"
    return dataset.x_train, dataset.y_train, "training"

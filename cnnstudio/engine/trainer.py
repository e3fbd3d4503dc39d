"""The training loop: a generator of progress records, driven from any thread.

``fit(network, data, config, control)`` checks everything that can be checked before the first
batch (input shape, class count, memory), then yields a :class:`~.progress.BatchProgress` after
every batch and an :class:`~.progress.EpochProgress` after every epoch, and ends with
``Finished``, ``Stopped`` or ``Failed``. It runs and is tested without Qt; a GUI worker iterates
it on a thread and calls the :class:`~.control.TrainingControl` from the GUI thread.

Exact repeatability: one seed decides the validation split, the shuffling and the dropout masks
through separate generators spawned from it (the network's initial weights come from the
generator the caller built the network with). A checkpoint stores the weights, the optimizer
state, the position (epoch, batch), the shuffling generator's state at the start of the epoch
and the dropout generator's current state, so a run restored from it continues bit for bit.

Frozen layers (``trainable: false`` or ``TrainConfig.freeze``) are not updated, and a frozen
BatchNorm runs in inference mode (moving statistics, which stay unchanged), as in Keras: a
frozen block of a pretrained network then behaves exactly as it did when it was trained.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from cnnstudio.engine.alerts import AlertMonitor
from cnnstudio.engine.control import TrainingControl
from cnnstudio.engine.data_parallel import forward_backward, helpers_ready, part_processes
from cnnstudio.engine.datasets.base import Dataset, split_validation
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.errors import TrainingError
from cnnstudio.engine.health import HealthSnapshot, first_nonfinite, measured_step
from cnnstudio.engine.introspect import evaluate
from cnnstudio.engine.memory import check_memory
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import Optimizer, OptimizerConfig, make_optimizer
from cnnstudio.engine.progress import (
    BatchProgress,
    EpochProgress,
    Failed,
    Finished,
    Progress,
    Stopped,
)
from cnnstudio.engine.weights import atomic_save_npz, read_npz

__all__ = ["TrainConfig", "Trainer", "check_compatible", "fit", "train_step"]

_OPT, _NET = "optimizer/", "network/"


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How to train. ``memory_limit`` in bytes (None: half the available memory).
    ``health_every``: measure every layer's health on every n-th batch (the first included; 0:
    never), over the first ``health_sample`` images of that batch."""

    epochs: int = 10
    batch_size: int = 32
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    val_split: float = 0.1
    seed: int = 0
    freeze: frozenset[str] = frozenset()
    normalize: bool = True
    memory_limit: int | None = None
    health_every: int = 16
    health_sample: int = 16

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if not 0 <= self.val_split < 1:
            raise ValueError(f"validation split must be in [0, 1), got {self.val_split}")
        if self.health_every < 0 or self.health_sample < 1:
            raise ValueError("health_every must be >= 0 and health_sample >= 1")


def check_compatible(network: Network, data: Dataset) -> None:
    """Refuse data the model cannot take, with the fix in the message."""
    want = network.input_shape
    if tuple(want) != data.image_shape:
        fmt = "x".join
        raise TrainingError(
            f"the model's Input takes {fmt(map(str, want))} images but {data.name} has "
            f"{fmt(map(str, data.image_shape))}: set the Input to channels={data.image_shape[0]}"
            f", height={data.image_shape[1]}, width={data.image_shape[2]}"
        )
    out = network.output_shape
    if len(out) != 1:
        raise TrainingError(
            f"the model's output is {'x'.join(map(str, out))} feature maps, but a classifier "
            "must end with one value per class: add Flatten (or GlobalAvgPool2D) and Dense"
        )
    n = data.num_classes
    if out[0] != n:
        last = network.graph.layer(network.logits_id)
        units = "units" in last.params  # the user sets its output count
        what = f"the last {last.type} has {out[0]} units" if units else (
            f"the model outputs {out[0]} values")
        fix = ": set units to " + str(n) if units else ""
        raise TrainingError(f"{what} but the dataset has {n} classes{fix}")


def train_step(network: Network, optimizer: Optimizer, xb: np.ndarray,
               yb: np.ndarray) -> tuple[float, int]:
    """Forward, fused softmax cross-entropy, backward (in parts over the cores where that pays,
    see :mod:`cnnstudio.engine.data_parallel`) and one optimizer update on one batch:
    ``(mean loss, correct count)``. A non-finite loss returns before touching the weights."""
    loss, correct = forward_backward(network, xb, yb)
    if not math.isfinite(loss):
        return loss, correct
    optimizer.step(network.trainable_params())
    return loss, correct


class Trainer:
    """One training run's state (data split, optimizer, position); iterate :meth:`run`."""

    def __init__(self, network: Network, data: Dataset, config: TrainConfig,
                 control: TrainingControl | None = None,
                 normalizer: Normalizer | None = None) -> None:
        check_compatible(network, data)
        unknown = sorted(set(config.freeze) - set(network.layers))
        if unknown:
            raise TrainingError(f"cannot freeze {', '.join(unknown)}: no such layer in the model")
        self.network = network
        self.config = config
        self.control = control or TrainingControl()
        self.memory_needed = check_memory(network, config.batch_size, config.memory_limit)
        split_seed, shuffle_seed, noise_seed = np.random.SeedSequence(config.seed).spawn(3)
        x_tr, y_tr, x_val, y_val = split_validation(
            data.x_train, data.y_train, config.val_split, np.random.default_rng(split_seed))
        if normalizer is None:
            normalizer = (Normalizer.fit(x_tr) if config.normalize
                          else Normalizer.identity(data.image_shape[0]))
        self.normalizer = normalizer
        self.x_train, self.y_train = normalizer.apply(x_tr), y_tr
        self.x_val, self.y_val = normalizer.apply(x_val), y_val
        self.shuffle_rng = np.random.default_rng(shuffle_seed)
        network.rng = np.random.default_rng(noise_seed)
        network.set_frozen(config.freeze)
        self.optimizer = make_optimizer(config.optimizer)
        self.epoch = 0  # completed epochs
        self.batch = 0  # completed batches of the current epoch
        self._perm: np.ndarray | None = None
        self._epoch_start_state: dict | None = None
        self._sums = np.zeros(3)  # loss * n, correct, n over the epoch so far
        self.monitor = AlertMonitor(config.optimizer, data.num_classes)
        self._steps = 0  # steps taken by this trainer (decides the measured ones)

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.x_train) / self.config.batch_size)

    def train_step(self, xb: np.ndarray, yb: np.ndarray
                   ) -> tuple[float, int, HealthSnapshot | None]:
        """One step; every ``health_every``-th also measures the layers' health."""
        every = self.config.health_every
        measure = every > 0 and self._steps % every == 0
        self._steps += 1
        if measure:
            return measured_step(self.network, self.optimizer, xb, yb,
                                 self.config.health_sample, self.epoch + 1, self.batch + 1)
        return (*train_step(self.network, self.optimizer, xb, yb), None)

    def run(self) -> Iterator[Progress]:
        """Train until the configured epochs are done, stopped, or failed. The run's steps
        may run parts in helper processes (:func:`~cnnstudio.engine.data_parallel.
        part_processes`), started before the first epoch's clock starts (so its images/s do
        not count their start-up) and ended with the run."""
        with part_processes(self.network):
            helpers_ready(self.network, min(self.config.batch_size, len(self.x_train)))
            yield from self._run()

    def _run(self) -> Iterator[Progress]:
        cfg = self.config
        control = self.control
        bpe = self.batches_per_epoch
        n = len(self.x_train)
        run_start = time.perf_counter()
        while self.epoch < cfg.epochs:
            if self._perm is None:
                self._epoch_start_state = self.shuffle_rng.bit_generator.state
                self._perm = self.shuffle_rng.permutation(n)
            epoch_start = time.perf_counter()
            seen_now = 0
            while self.batch < bpe:
                if not control.wait_while_paused() or control.stopped:
                    yield Stopped(self.epoch + 1, self.batch)
                    return
                idx = self._perm[self.batch * cfg.batch_size:(self.batch + 1) * cfg.batch_size]
                xb = self.x_train[idx]
                loss, correct, health = self.train_step(xb, self.y_train[idx])
                if not math.isfinite(loss):
                    yield self._failed(loss, xb)
                    return
                self.batch += 1
                self._sums += (loss * len(idx), correct, len(idx))
                seen_now += len(idx)
                elapsed = time.perf_counter() - epoch_start
                rate = seen_now / elapsed if elapsed > 0 else 0.0
                left = (n * (cfg.epochs - self.epoch) - self._sums[2]) / rate if rate else 0.0
                alerts = self.monitor.batch(self.epoch + 1, self.batch, loss,
                                            time.perf_counter() - run_start, health)
                yield BatchProgress(self.epoch + 1, cfg.epochs, self.batch, bpe, loss,
                                    correct / len(idx), rate, left, health, alerts)
            seconds = time.perf_counter() - epoch_start
            val_loss = val_acc = None
            if len(self.x_val):
                ev = evaluate(self.network, self.x_val, self.y_val)
                val_loss, val_acc = ev.loss, ev.accuracy
            s_loss, s_correct, s_n = self._sums
            self.epoch += 1
            self.batch = 0
            self._perm = None
            self._sums = np.zeros(3)
            loss, acc = float(s_loss / s_n), float(s_correct / s_n)
            alerts = self.monitor.epoch(self.epoch, loss, acc, val_loss,
                                        time.perf_counter() - run_start)
            yield EpochProgress(self.epoch, cfg.epochs, loss, acc, val_loss, val_acc,
                                seen_now / seconds if seconds > 0 else 0.0, seconds, alerts)
        yield Finished(cfg.epochs, time.perf_counter() - run_start)

    def _failed(self, loss: float, xb: np.ndarray) -> Failed:
        """The record of a run whose loss stopped being a number, naming the first layer where
        the numbers went bad."""
        lr = self.config.optimizer.lr
        where = first_nonfinite(self.network, xb)
        place = f"; the first NaN/Inf is in {where[0]}: {where[1]}" if where else ""
        return Failed(
            f"the loss became {loss} in epoch {self.epoch + 1}, batch {self.batch + 1}: the "
            f"weights diverged{place}; lower the learning rate (now {lr:g}), e.g. to "
            f"{lr / 10:g}", self.epoch + 1, self.batch + 1, where[0] if where else None)

    # --- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Save everything needed to continue exactly: weights, optimizer state, position,
        generator states, epoch sums and the normaliser (``.npz``, no pickles; atomic)."""
        arrays: dict[str, np.ndarray] = {
            _NET + k: v for k, v in self.network.state_dict().items()}
        arrays.update({_OPT + k: v for k, v in self.optimizer.state_dict().items()})
        shuffle_state = (self._epoch_start_state if self._perm is not None
                         else self.shuffle_rng.bit_generator.state)
        arrays["position"] = np.array([self.epoch, self.batch], dtype=np.int64)
        arrays["sums"] = self._sums.copy()
        arrays["shuffle_rng"] = np.array(json.dumps(shuffle_state))
        arrays["noise_rng"] = np.array(json.dumps(self.network.rng.bit_generator.state))
        arrays["norm_mean"] = self.normalizer.mean
        arrays["norm_std"] = self.normalizer.std
        atomic_save_npz(path, arrays)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore :meth:`save_checkpoint` output into this trainer (same model, data and
        config). Raises WeightsError for an unreadable file, NetworkError for a mismatch."""
        data = read_npz(path, what="checkpoint")
        try:
            net = {k[len(_NET):]: v for k, v in data.items() if k.startswith(_NET)}
            self.network.load_state_dict(net, strict=True)
            self.optimizer.load_state_dict(
                {k[len(_OPT):]: v for k, v in data.items() if k.startswith(_OPT)})
            self.epoch, self.batch = (int(v) for v in data["position"])
            self._sums = np.array(data["sums"], dtype=np.float64)
            self.shuffle_rng.bit_generator.state = json.loads(str(data["shuffle_rng"]))
            self.network.rng.bit_generator.state = json.loads(str(data["noise_rng"]))
        except (KeyError, ValueError, TypeError) as exc:
            from cnnstudio.engine.errors import WeightsError

            raise WeightsError(f"{path}: not a usable training checkpoint ({exc})") from None
        self._perm = None


def fit(network: Network, data: Dataset, config: TrainConfig,
        control: TrainingControl | None = None,
        normalizer: Normalizer | None = None) -> Iterator[Progress]:
    """Check the run can start (raising TrainingError now, not at the first ``next``) and
    return the generator of its progress records."""
    return Trainer(network, data, config, control, normalizer).run()

"""Alerts: what the health figures and the loss say is going wrong, in plain words.

An :class:`AlertMonitor` watches one run (every batch's loss, the measured steps' health
snapshots, every epoch's figures) and raises each kind of alert once per run and layer. An
alert names the layer where there is one, what was seen with its numbers, why it matters and what
to try; ``suggested_lr`` carries a learning rate to restart with when that is the fix.
``stops`` marks the alerts after which going on is pointless (diverging): the CLI stops the run,
the window pauses it. The thresholds are the usual rules of thumb (Karpathy's update ratio of
about 1e-3, the loss of a uniform guess ln K); they are named constants below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnstudio.engine.health import HealthSnapshot
from cnnstudio.engine.optimizers import OptimizerConfig, default_lr

__all__ = ["Alert", "AlertMonitor", "DIVERGING", "NOT_LEARNING", "DEAD_UNITS", "VANISHING",
           "EXPLODING", "OVERFITTING", "SATURATED", "LR_TOO_LOW", "ALERT_KINDS"]

DIVERGING, NOT_LEARNING, LR_TOO_LOW = "diverging", "not learning", "learning rate too low"
DEAD_UNITS, SATURATED = "dead units", "saturated"
VANISHING, EXPLODING, OVERFITTING = "vanishing gradients", "exploding gradients", "overfitting"
ALERT_KINDS = (DIVERGING, NOT_LEARNING, LR_TOO_LOW, DEAD_UNITS, SATURATED, VANISHING, EXPLODING,
               OVERFITTING)

#: An update this many times the weights' own size in one step is divergence (healthy: 1e-3).
DIVERGING_RATIO = 1.0
#: The smoothed loss this many times its starting value is divergence.
DIVERGING_LOSS_FACTOR = 2.0
#: Batches of loss the starting value is averaged over, and the smoothing of the loss after it.
START_BATCHES, LOSS_SMOOTHING = 3, 0.9
#: An epoch whose mean loss is within this share of the starting loss made no progress.
NO_PROGRESS = 0.03
#: "At chance": the epoch's loss within this fraction of ln K and its accuracy below this many
#: times 1/K. A first epoch that already doubled chance accuracy (24% on 8 classes) is learning.
CHANCE_LOSS_TOLERANCE = 0.05
CHANCE_ACCURACY_FACTOR = 1.5
#: Training steps before a loss that hardly fell means "not learning": fewer say little (seen in
#: the window: a 144-image folder's first epoch, 5 steps, moved the loss 2% on a run that went
#: on to 78%), unless no weight moves at all (every layer frozen).
MIN_STEPS_TO_JUDGE = 30
#: Every weight array's update below this ratio for a whole epoch: the rate is too low.
LOW_RATIO = 1e-5
#: More than this share of a layer's units dead (or outputs saturated) is an alert.
DEAD_SHARE, SATURATED_SHARE = 0.5, 0.5
#: Gradient size per element, first weight layer over last, beyond these factors.
VANISHING_FACTOR, EXPLODING_FACTOR = 1e-3, 1e3
#: Consecutive measured steps a layer condition must hold (one bad sample is not a trend).
PERSIST = 2
#: Epochs of rising validation loss (with falling training loss) that make overfitting.
OVERFIT_EPOCHS = 3


@dataclass(frozen=True, slots=True)
class Alert:
    """One finding. ``epoch``/``batch`` count from 1 (batch 0: at an epoch's end); ``seconds``
    since the run started."""

    kind: str
    message: str
    epoch: int
    batch: int
    seconds: float
    layer: str | None = None
    stops: bool = False
    suggested_lr: float | None = None

    @property
    def fix_label(self) -> str:
        """The button text of the alert's fix, or "" when it has none."""
        if self.suggested_lr is None:
            return ""
        verb = "Lower" if self.kind == DIVERGING else "Set"
        return f"{verb} the learning rate to {self.suggested_lr:g} and restart"

    def line(self) -> str:
        """One line for a terminal: ``diverging (epoch 1, batch 1): ...``."""
        where = f"epoch {self.epoch}" + (f", batch {self.batch}" if self.batch else " end")
        return f"{self.kind} ({where}): {self.message}"

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "layer": self.layer, "epoch": self.epoch,
                "batch": self.batch, "message": self.message, "stops": self.stops,
                "suggested_lr": self.suggested_lr}


def lower_lr(config: OptimizerConfig) -> float:
    """The rate a diverging run should restart with: the optimizer's usual default when the
    rate is far above it, else a tenth of the rate."""
    usual = default_lr(config.name)
    return usual if config.lr > 10 * usual else config.lr / 10


class AlertMonitor:
    """Turns one run's records into alerts (each kind at most once per layer)."""

    def __init__(self, optimizer: OptimizerConfig, num_classes: int) -> None:
        self.optimizer = optimizer
        self.chance = math.log(max(num_classes, 2))
        self.num_classes = num_classes
        self._raised: set[tuple[str, str | None]] = set()
        self._losses: list[float] = []
        self._start: float | None = None
        self._smooth: float | None = None
        self._streak: dict[tuple[str, str], int] = {}
        self._epoch_ratios: list[float] = []
        self._steps = 0  # training steps seen
        self._measured = False  # a health snapshot was seen
        self._moved = False  # ... and some weight moved
        self._epochs: list[tuple[int, float, float | None]] = []  # epoch, loss, val loss

    # -- feeding ---------------------------------------------------------------------------
    def batch(self, epoch: int, batch: int, loss: float, seconds: float,
              health: HealthSnapshot | None = None) -> tuple[Alert, ...]:
        """Alerts after one training batch (``health`` on measured steps)."""
        found: list[Alert] = []
        at = (epoch, batch, seconds)
        self._steps += 1
        self._watch_loss(loss, at, found)
        if health is not None:
            self._watch_health(health, at, found)
        return tuple(found)

    def epoch(self, epoch: int, loss: float, accuracy: float, val_loss: float | None,
              seconds: float) -> tuple[Alert, ...]:
        """Alerts at the end of an epoch (its mean training figures and validation loss)."""
        found: list[Alert] = []
        at = (epoch, 0, seconds)
        lr = self.optimizer.lr
        start = self._start if self._start is not None else (
            sum(self._losses) / len(self._losses) if self._losses else None)
        near_chance = abs(loss - self.chance) < CHANCE_LOSS_TOLERANCE * self.chance
        stuck = start is not None and loss > (1 - NO_PROGRESS) * start
        judged = self._steps >= MIN_STEPS_TO_JUDGE or (self._measured and not self._moved)
        if (judged and (near_chance or stuck)
                and accuracy < CHANCE_ACCURACY_FACTOR / max(self.num_classes, 2)):
            seen = (f"a uniform guess over {self.num_classes} classes scores ln "
                    f"{self.num_classes} = {self.chance:.3f}" if near_chance else
                    f"it started at {start:.3f} and has hardly fallen")
            self._raise(found, NOT_LEARNING, None, at,
                        f"after epoch {epoch} the training loss is {loss:.3f} and accuracy "
                        f"{accuracy:.1%}: {seen}. The network is not learning anything yet "
                        f"(frozen layers, a broken model or a bad learning rate). Try: run "
                        f"the sanity checks (Model menu) to see whether the model or the "
                        f"learning rate ({lr:g}) is at fault.")
        # Tiny but non-zero: the rate is too low (all zero: nothing reaches the weights at
        # all, which is "not learning" with a different cause, e.g. dead units).
        if self._epoch_ratios and 0 < max(self._epoch_ratios) < LOW_RATIO:
            target = max(default_lr(self.optimizer.name), lr * 10)
            self._raise(found, LR_TOO_LOW, None, at,
                        f"in epoch {epoch} no layer's weights moved by more than "
                        f"{max(self._epoch_ratios):.1e} of their size per step (healthy: about "
                        f"1e-3): with learning rate {lr:g} training would take forever. Try: "
                        f"raise the learning rate to {target:g}.", suggested_lr=target)
        self._epoch_ratios = []
        self._epochs.append((epoch, loss, val_loss))
        self._watch_overfitting(at, found)
        return tuple(found)

    # -- the rules -------------------------------------------------------------------------
    def _raise(self, found: list[Alert], kind: str, layer: str | None,
               at: tuple[int, int, float], message: str, stops: bool = False,
               suggested_lr: float | None = None) -> None:
        if (kind, layer) in self._raised:
            return
        self._raised.add((kind, layer))
        epoch, batch, seconds = at
        where = f"{layer}: " if layer else ""
        found.append(Alert(kind, where + message, epoch, batch, seconds, layer, stops,
                           suggested_lr))

    def _diverging(self, found: list[Alert], layer: str | None, at: tuple[int, int, float],
                   seen: str) -> None:
        lr, name = self.optimizer.lr, self.optimizer.name
        target = lower_lr(self.optimizer)
        self._raise(found, DIVERGING, layer, at,
                    f"{seen}. Each step overshoots the minimum and the weights run away, so "
                    f"the run only gets worse: the learning rate {lr:g} is too high for "
                    f"{name}. Try: lower the learning rate to {target:g} and restart.",
                    stops=True, suggested_lr=target)

    def _watch_loss(self, loss: float, at: tuple[int, int, float], found: list[Alert]) -> None:
        if not math.isfinite(loss):
            return
        if self._start is None:
            self._losses.append(loss)
            if len(self._losses) == START_BATCHES:
                self._start = sum(self._losses) / len(self._losses)
                self._smooth = self._start
            return
        assert self._smooth is not None
        self._smooth = LOSS_SMOOTHING * self._smooth + (1 - LOSS_SMOOTHING) * loss
        if self._smooth > DIVERGING_LOSS_FACTOR * max(self._start, self.chance):
            self._diverging(found, None, at,
                            f"the smoothed loss rose from {self._start:.3g} to "
                            f"{self._smooth:.3g}")

    def _streak_of(self, key: tuple[str, str], condition: bool) -> int:
        self._streak[key] = self._streak.get(key, 0) + 1 if condition else 0
        return self._streak[key]

    def _watch_health(self, h: HealthSnapshot, at: tuple[int, int, float],
                      found: list[Alert]) -> None:
        trained = h.trained()
        ratios = [(lh.layer, lh.weight.update_ratio) for lh in trained
                  if lh.weight is not None and lh.weight.update_ratio is not None]
        self._epoch_ratios += [r for _, r in ratios if math.isfinite(r)]
        self._measured = True
        self._moved = self._moved or any(r > 0 for _, r in ratios)
        if ratios:
            worst, ratio = max(ratios, key=lambda t: t[1] if math.isfinite(t[1]) else math.inf)
            if not math.isfinite(ratio) or ratio > DIVERGING_RATIO:
                self._diverging(found, worst, at,
                                f"one update changed its weights by {ratio:.3g} times their "
                                f"own size (healthy: about 1e-3)")
        for lh in h.layers:
            if lh.dead is not None:
                n = self._streak_of((DEAD_UNITS, lh.layer), lh.dead > DEAD_SHARE)
                if n >= PERSIST:
                    dead = round(lh.dead * lh.units)
                    self._raise(found, DEAD_UNITS, lh.layer, at,
                                f"{dead} of its {lh.units} units ({lh.dead:.0%}) output zero "
                                f"for every one of {h.sample} sample images. A unit that never "
                                "fires passes no gradient back, so it cannot recover and its "
                                "weights are wasted. Try: a lower learning rate, LeakyReLU "
                                "instead of ReLU, BatchNorm before it, or check the bias of "
                                "the layer feeding it.")
            if lh.saturated is not None:
                n = self._streak_of((SATURATED, lh.layer), lh.saturated > SATURATED_SHARE)
                if n >= PERSIST:
                    self._raise(found, SATURATED, lh.layer, at,
                                f"{lh.saturated:.0%} of its outputs sit on the flat ends of "
                                f"{lh.type}, where its slope is under 1% of its peak: almost "
                                "no gradient gets through them. Try: BatchNorm before it, "
                                "smaller initial weights or inputs, or ReLU instead.")
        self._watch_gradient_flow(trained, at, found)

    def _watch_gradient_flow(self, trained: list, at: tuple[int, int, float],
                             found: list[Alert]) -> None:
        weights = [(lh.layer, lh.weight) for lh in trained if lh.weight is not None]
        if len(weights) < 3:
            return
        (first, fw), (last, lw) = weights[0], weights[-1]
        if not (fw.grad_rms > 0 and lw.grad_rms > 0
                and math.isfinite(fw.grad_rms) and math.isfinite(lw.grad_rms)):
            return
        factor = fw.grad_rms / lw.grad_rms
        span = (f"the gradient per weight is {fw.grad_rms:.2g} at {first} (first layer) and "
                f"{lw.grad_rms:.2g} at {last} (last)")
        if self._streak_of((VANISHING, ""), factor < VANISHING_FACTOR) >= PERSIST:
            self._raise(found, VANISHING, first, at,
                        f"{span}, {1 / factor:.0e} times smaller on the way back. The first "
                        "layers hardly learn. Try: ReLU instead of Sigmoid/Tanh, BatchNorm "
                        "after each conv, fewer layers or a residual (Add) connection.")
        if self._streak_of((EXPLODING, ""), factor > EXPLODING_FACTOR) >= PERSIST:
            self._raise(found, EXPLODING, first, at,
                        f"{span}, {factor:.0e} times larger on the way back. The first layers "
                        "take huge steps and can diverge. Try: BatchNorm after each conv, a "
                        "lower learning rate, or smaller initial weights.")

    def _watch_overfitting(self, at: tuple[int, int, float], found: list[Alert]) -> None:
        rows = [r for r in self._epochs if r[2] is not None and math.isfinite(r[2])]
        if len(rows) <= OVERFIT_EPOCHS:
            return
        best = min(rows, key=lambda r: r[2])  # type: ignore[arg-type, return-value]
        after = [r for r in rows if r[0] > best[0]]
        if len(after) < OVERFIT_EPOCHS:
            return
        last = after[-OVERFIT_EPOCHS:]
        rising = all(b[2] > a[2] for a, b in zip(last, last[1:], strict=False))  # type: ignore[operator]
        falling = after[-1][1] < best[1]
        if not (rising and falling):
            return
        b, e = best[0], after[-1][0]
        self._raise(found, OVERFITTING, None, at,
                    f"since epoch {b + 1} the validation loss rose from {best[2]:.3f} (epoch "
                    f"{b}) to {after[-1][2]:.3f} (epoch {e}) while the training loss fell from "
                    f"{best[1]:.3f} to {after[-1][1]:.3f}: the network is memorising its "
                    f"training images instead of learning what generalises. The weights of "
                    f"epoch {b} were the best. Try: train for {b} epochs, add Dropout or "
                    f"weight decay, or use more data.")

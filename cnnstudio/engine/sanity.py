"""Sanity checks before a long run: four quick experiments that catch most broken setups.

1. **Initial loss**: with random weights a classifier should be unsure, so its loss should be
   near ln K for K classes; between half and three times ln K passes (the usual He/Glorot
   initialisation starts somewhat above ln K; a loss far above says the last layer starts far
   too confident: a wrong initialisation or input scale).
2. **Gradients reach every layer**: one batch forward and backward; every trainable layer must
   get a non-zero gradient (catches disconnected, dead-by-construction and accidentally frozen
   layers: a frozen layer that holds random initial weights will never learn anything).
3. **Overfit one batch**: a sound model and learning rate memorise a handful of images within a
   bounded number of steps; if they cannot, something is broken.
4. **Learning-rate range test** (Smith, "Cyclical Learning Rates", 2017; fastai's ``lr_find``):
   the rate grows exponentially over a few hundred steps, from the initial weights (trained
   layers that are frozen keep theirs), while the loss is recorded; the suggestion is a tenth of
   the rate where the smoothed loss was lowest (at most ten times the optimizer's usual rate).

Every check works on its own fresh copy of the network (built from the graph with the given
weights), so running, failing or stopping one never changes the caller's model or weights. The
generator yields :class:`CheckProgress` as it goes, each :class:`CheckResult`, and the
:class:`LRSweep`; it checks the control token between steps and simply ends when stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np

from cnnstudio.core.graph import Graph
from cnnstudio.engine.control import TrainingControl
from cnnstudio.engine.datasets.base import Dataset
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.introspect import evaluate, softmax_cross_entropy
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import (
    OptimizerConfig,
    default_lr,
    make_optimizer,
    usual_lr_range,
)
from cnnstudio.engine.trainer import check_compatible, train_step

__all__ = ["CHECK_NAMES", "CheckProgress", "CheckResult", "LRSweep", "SanityReport",
           "run_checks"]

INITIAL_LOSS, GRADIENTS, OVERFIT, LR_RANGE = (
    "initial loss", "gradients reach every layer", "overfit one batch",
    "learning-rate range test")
CHECK_NAMES = (INITIAL_LOSS, GRADIENTS, OVERFIT, LR_RANGE)

#: Images the initial loss is measured on.
LOSS_IMAGES = 256
#: The batch the model must memorise, the steps it may take and the accuracy that counts.
OVERFIT_IMAGES, OVERFIT_STEPS, OVERFIT_ACCURACY, OVERFIT_EVERY = 8, 300, 0.95, 10
#: The range test: steps, rates swept, loss smoothing, and the blow-up that ends it early.
LR_STEPS, LR_MIN, LR_MAX, LR_SMOOTHING, LR_BLOWUP = 200, 1e-7, 10.0, 0.98, 4.0
#: Steps at the start of the sweep that cannot be its minimum.
LR_SETTLE = 20
#: The smoothed loss must fall below this share of its start somewhere in the sweep.
LR_FELL = 0.98
#: The suggestion never exceeds this many times the optimizer's usual rate: the smoothed
#: minimum lags behind the real one, and a rate past the usual range is rarely what works.
LR_CAP = 10.0


@dataclass(frozen=True, slots=True)
class CheckProgress:
    check: str
    step: int
    steps: int


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One verdict; ``detail`` gives the numbers it rests on, in words."""

    name: str
    passed: bool
    detail: str
    layers: tuple[str, ...] = ()  # layers the failure is about

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class LRSweep:
    """Loss against learning rate (smoothed), and the suggested rate (None: no clear minimum)."""

    rates: tuple[float, ...]
    losses: tuple[float, ...]
    suggested: float | None
    best: float | None


@dataclass(frozen=True)
class SanityReport:
    """Everything one :func:`run_checks` produced (what ``cnnstudio check --json`` prints)."""

    checks: tuple[CheckResult, ...]
    sweep: LRSweep | None

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, object]:
        return {"checks": [c.to_json() for c in self.checks],
                "suggested_lr": self.sweep.suggested if self.sweep else None}

    @classmethod
    def collect(cls, events: Iterator[object]) -> SanityReport:
        checks, sweep = [], None
        for e in events:
            if isinstance(e, CheckResult):
                checks.append(e)
            elif isinstance(e, LRSweep):
                sweep = e
        return cls(tuple(checks), sweep)


class _Setup:
    """What every check starts from: the graph, weights, data (normalised) and settings."""

    def __init__(self, graph: Graph, data: Dataset, optimizer: OptimizerConfig,
                 weights: Mapping[str, np.ndarray] | None, freeze: frozenset[str],
                 batch_size: int, seed: int, normalizer: Normalizer | None) -> None:
        self.graph = graph.copy()
        self.weights = dict(weights) if weights else None
        self.freeze = freeze
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.seed = seed
        net = self.network()  # refuses a model that cannot be built or data that do not fit
        check_compatible(net, data)
        self.num_classes = data.num_classes
        self.normalizer = normalizer or Normalizer.fit(data.x_train)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(data.x_train))
        self.x = self.normalizer.apply(data.x_train[order])
        self.y = data.y_train[order]

    def network(self, fresh: bool = False) -> Network:
        """A new network: the graph's initial weights, then the given ones where they fit
        (``fresh``: only those of frozen layers, which training does not change anyway)."""
        net = Network(self.graph, np.random.default_rng(self.seed))
        net.set_frozen(self.freeze)
        if self.weights:
            state = self.weights
            if fresh:
                state = {k: v for k, v in state.items() if k.split("/", 1)[0] in net.frozen}
            net.load_where_fits(state)
        return net


def run_checks(graph: Graph, data: Dataset, optimizer: OptimizerConfig,
               control: TrainingControl | None = None,
               weights: Mapping[str, np.ndarray] | None = None,
               pretrained: frozenset[str] = frozenset(), freeze: frozenset[str] = frozenset(),
               batch_size: int = 32, seed: int = 0, normalizer: Normalizer | None = None,
               checks: tuple[str, ...] = CHECK_NAMES) -> Iterator[object]:
    """Run ``checks`` in order. Raises NetworkError/TrainingError at once (before the first
    ``next``) when the model cannot be built or the data do not fit it, with the message
    training gives. ``pretrained``: layers whose weights were trained or loaded (freezing them
    is transfer learning, not a mistake)."""
    setup = _Setup(graph, data, optimizer, weights, freeze, batch_size, seed, normalizer)
    return _run(setup, control or TrainingControl(), pretrained, checks)


def _run(setup: _Setup, control: TrainingControl, pretrained: frozenset[str],
         checks: tuple[str, ...]) -> Iterator[object]:
    for name in checks:
        if control.stopped:
            return
        if name == INITIAL_LOSS:
            yield _initial_loss(setup, bool(pretrained))
        elif name == GRADIENTS:
            yield _gradients(setup, pretrained)
        elif name == OVERFIT:
            result = yield from _overfit(setup, control)
            if result is not None:
                yield result
        elif name == LR_RANGE:
            sweep = yield from _lr_range(setup, control)
            if sweep is None:
                return
            yield sweep
            yield _sweep_verdict(sweep)
        else:
            raise ValueError(f"unknown check {name!r}")


def _initial_loss(setup: _Setup, trained: bool) -> CheckResult:
    net = setup.network()
    n = min(LOSS_IMAGES, len(setup.x))
    loss = evaluate(net, setup.x[:n], setup.y[:n]).loss
    k = setup.num_classes
    chance = math.log(k)
    lo, hi = 0.5 * chance, 3 * chance
    which = "current" if trained else "initial"
    numbers = (f"loss {loss:.3f} on {n} images with the {which} weights; a uniform guess "
               f"over {k} classes scores ln {k} = {chance:.3f}")
    if trained and math.isfinite(loss) and loss < hi:
        return CheckResult(INITIAL_LOSS, True, f"{numbers} (the weights are already trained)")
    if math.isfinite(loss) and lo <= loss <= hi:
        return CheckResult(INITIAL_LOSS, True, f"{numbers}: close enough")
    why = ("far above: the last layer starts far too confident (initial weights or inputs too "
           "large)" if not math.isfinite(loss) or loss > hi else
           "far below, which random weights cannot do: check the labels")
    return CheckResult(INITIAL_LOSS, False, f"{numbers}, {why}")


def _gradients(setup: _Setup, pretrained: frozenset[str]) -> CheckResult:
    net = setup.network()
    n = min(setup.batch_size, len(setup.x))
    with np.errstate(over="ignore", invalid="ignore"):
        logits = net.forward_logits(setup.x[:n], training=True)
        _, dlogits, _ = softmax_cross_entropy(logits, setup.y[:n])
        net.backward_internal(dlogits, net.logits_id)
    frozen, zero, bad, fine = [], [], [], []
    for lid in net.order:
        impl = net.layers[lid]
        if not impl.params:
            continue
        if lid in net.frozen:
            if lid not in pretrained:
                frozen.append(lid)
            continue
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in impl.grads.values()))
        if not math.isfinite(norm):
            bad.append(lid)
        elif norm == 0.0:
            zero.append(lid)
        else:
            fine.append(f"{lid} {norm:.2g}")
    result = net.result
    unused = [lid for lid in net.graph.ids
              if (rep := result.layers.get(lid)) is not None and rep.params_total
              and lid not in net.layers]
    problems = []
    for ids, text in (
            (frozen, "frozen but still holding random initial weights, so never learning: "
             "unfreeze, or load trained weights first"),
            (zero, "getting a zero gradient (nothing after them passes a signal back: dead "
             "units or a broken connection)"),
            (bad, "getting a NaN/Inf gradient"),
            (unused, "not on the path to the output, so getting no gradient at all")):
        if ids:
            problems.append((ids, f"{', '.join(ids)}: {text}"))
    if not fine and not problems:
        return CheckResult(GRADIENTS, False, "the model has no trainable layer")
    if problems:
        return CheckResult(GRADIENTS, False, "; ".join(p for _, p in problems),
                           tuple(lid for ids, _ in problems for lid in ids))
    return CheckResult(GRADIENTS, True, f"gradient norms on one batch of {n}: "
                       + ", ".join(fine))


def _overfit(setup: _Setup, control: TrainingControl) -> Iterator[object]:
    net = setup.network()
    opt = make_optimizer(setup.optimizer)
    n = min(OVERFIT_IMAGES, len(setup.x))
    xb, yb = setup.x[:n], setup.y[:n]
    start = evaluate(net, xb, yb)
    ev = start
    for step in range(1, OVERFIT_STEPS + 1):
        if control.stopped:
            return None
        loss, _ = train_step(net, opt, xb, yb)
        if not math.isfinite(loss):
            return CheckResult(OVERFIT, False, f"the loss became {loss} after {step} step(s) "
                               f"on {n} images: the learning rate {setup.optimizer.lr:g} is far "
                               "too high")
        if step % OVERFIT_EVERY == 0 or step == OVERFIT_STEPS:
            yield CheckProgress(OVERFIT, step, OVERFIT_STEPS)
            ev = evaluate(net, xb, yb)
            if ev.accuracy >= OVERFIT_ACCURACY:
                return CheckResult(OVERFIT, True, f"{_count(ev, n)} of {n} images right after "
                                   f"{step} steps (loss {start.loss:.3f} -> {ev.loss:.3f})")
    return CheckResult(OVERFIT, False,
                       f"after {OVERFIT_STEPS} steps only {_count(ev, n)} of {n} images are "
                       f"right ({ev.accuracy:.0%}; loss {start.loss:.3f} -> {ev.loss:.3f}): the "
                       f"model cannot even memorise one small batch, so frozen or dead layers "
                       f"or the learning rate ({setup.optimizer.lr:g}) are at fault")


def _count(ev: object, n: int) -> int:
    return round(ev.accuracy * n)  # type: ignore[attr-defined]


def _lr_range(setup: _Setup, control: TrainingControl) -> Iterator[object]:
    net = setup.network(fresh=True)  # the rate for a run from the start: trained weights
    # sit at a low loss where the sweep only sees noise
    opt = make_optimizer(setup.optimizer)
    bs = min(setup.batch_size, len(setup.x))
    batches = max(1, len(setup.x) // bs)
    rates: list[float] = []
    losses: list[float] = []
    avg, best = 0.0, math.inf
    for step in range(LR_STEPS):
        if control.stopped:
            return None
        lr = LR_MIN * (LR_MAX / LR_MIN) ** (step / (LR_STEPS - 1))
        opt.config = replace(setup.optimizer, lr=lr)
        i = step % batches
        loss, _ = train_step(net, opt, setup.x[i * bs:(i + 1) * bs], setup.y[i * bs:(i + 1) * bs])
        if not math.isfinite(loss):
            break
        avg = LR_SMOOTHING * avg + (1 - LR_SMOOTHING) * loss
        smooth = avg / (1 - LR_SMOOTHING ** (step + 1))
        rates.append(lr)
        losses.append(smooth)
        best = min(best, smooth)
        if step % 10 == 0:
            yield CheckProgress(LR_RANGE, step, LR_STEPS)
        if step > 10 and smooth > LR_BLOWUP * best:
            break
    if not losses:
        return LRSweep((), (), None, None)
    # The first steps (tiny rates, smoothing still settling) hold no information about the rate.
    i_best = LR_SETTLE + int(np.argmin(losses[LR_SETTLE:])) if len(losses) > LR_SETTLE else 0
    at_best = rates[i_best]
    name = setup.optimizer.name
    suggested = min(at_best / 10, LR_CAP * default_lr(name))
    # A minimum that is only noise (nothing trains, or the loss never really moves) sits at a
    # rate far below anything the optimizer is used with.
    clear = (losses[i_best] < LR_FELL * losses[0] and suggested >= usual_lr_range(name)[0]
             and any(True for _ in net.trainable_params()))
    return LRSweep(tuple(rates), tuple(losses), suggested if clear else None, at_best)


def _sweep_verdict(sweep: LRSweep) -> CheckResult:
    if sweep.suggested is None:
        start = f" from {sweep.losses[0]:.3f}" if sweep.losses else ""
        return CheckResult(LR_RANGE, False, f"the loss never fell clearly{start} at any rate "
                           f"between {LR_MIN:g} and {LR_MAX:g}: the model cannot learn as it is")
    return CheckResult(LR_RANGE, True,
                       f"lowest smoothed loss {min(sweep.losses):.3f} at rate {sweep.best:.2g}; "
                       f"suggested learning rate {sweep.suggested:.2g}")

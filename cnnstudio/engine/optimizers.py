"""Optimizers: SGD, SGD with (Nesterov) momentum, and Adam, with PyTorch's update rules.

State is keyed by ``(layer id, param name)``, never by list position, so freezing a layer,
loading a checkpoint or rebuilding a network cannot shift one layer's momentum onto another's
weights. Updates are applied in place to the layer's own arrays, which the network keeps
referencing.

Weight decay is classic L2 (added to the gradient, as ``torch.optim.SGD``/``Adam`` do) and is
applied to arrays named ``weight`` only (conv and dense kernels): decaying biases and BatchNorm's
gamma/beta only hurts, which is why Keras attaches regularisers to kernels.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Optimizer",
    "OptimizerConfig",
    "ParamRef",
    "default_lr",
    "lr_warning",
    "make_optimizer",
    "usual_lr_range",
]

#: The optimizer names the CLI and the GUI offer.
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")

#: The learning rate each optimizer usually starts from (what the CLI and the window default to).
_DEFAULT_LR = {"adam": 1e-3, "sgd": 1e-2, "momentum": 1e-2, "nesterov": 1e-2}
#: Rates outside these bounds are almost always a slip: Adam's steps are about ``lr`` per weight
#: whatever the gradient, so above 0.1 it overshoots at once; plain SGD scales with the gradient
#: and tolerates more.
_USUAL_LR = {"adam": (1e-6, 0.1), "sgd": (1e-5, 1.0), "momentum": (1e-5, 1.0),
             "nesterov": (1e-5, 1.0)}


def default_lr(name: str) -> float:
    """The usual starting learning rate of optimizer ``name``."""
    return _DEFAULT_LR[name]


def usual_lr_range(name: str) -> tuple[float, float]:
    """The learning rates optimizer ``name`` is normally used with (outside: a warning)."""
    return _USUAL_LR[name]


def lr_warning(name: str, lr: float) -> str | None:
    """A plain warning when ``lr`` is far outside what optimizer ``name`` normally uses."""
    lo, hi = usual_lr_range(name)
    usual = f"{name} usually trains with about {default_lr(name):g}"
    if lr > hi:
        return (f"A learning rate of {lr:g} is far above the usual range for {name} (at most "
                f"{hi:g}): training will most likely diverge; {usual}.")
    if lr < lo:
        return (f"A learning rate of {lr:g} is far below the usual range for {name} (at least "
                f"{lo:g}): the weights will hardly move; {usual}.")
    return None


#: ``(layer id, param name, param array, gradient array)``.
ParamRef = tuple[str, str, np.ndarray, np.ndarray]
_DECAYED = frozenset({"weight"})


@dataclass(frozen=True, slots=True)
class OptimizerConfig:
    """Everything that decides an optimizer's updates."""

    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r} (choose {', '.join(OPTIMIZERS)})")
        for name in ("lr", "momentum", "weight_decay", "beta1", "beta2", "eps"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not math.isfinite(float(value))):
                raise ValueError(f"{name.replace('_', ' ')} must be a finite number, got "
                                 f"{value!r}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"weight decay must be >= 0, got {self.weight_decay}")


class Optimizer:
    """Base: walks the params, applies weight decay, delegates the update rule."""

    def __init__(self, config: OptimizerConfig) -> None:
        self.config = config
        self.state: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self.steps = 0

    def step(self, params: Iterable[ParamRef]) -> None:
        """One update of every ``(layer id, name, param, grad)`` given (trainable ones only)."""
        self.steps += 1
        wd = self.config.weight_decay
        for layer_id, name, param, grad in params:
            if wd and name in _DECAYED:
                grad = grad + wd * param
            self._update((layer_id, name), param, grad)

    def _update(self, key: tuple[str, str], param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def _slot(self, key: tuple[str, str], slot: str, like: np.ndarray) -> np.ndarray:
        slots = self.state.setdefault(key, {})
        if slot not in slots:
            slots[slot] = np.zeros_like(like)
        return slots[slot]

    # --- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat arrays for an ``.npz`` checkpoint: ``"<layer id>/<name>/<slot>"`` and ``"steps"``.

        Layer ids may contain '/', so the key is split from the right when loading.
        """
        out: dict[str, np.ndarray] = {"steps": np.array(self.steps, dtype=np.int64)}
        for (layer_id, name), slots in self.state.items():
            for slot, arr in slots.items():
                out[f"{layer_id}/{name}/{slot}"] = arr.copy()
        return out

    def load_state_dict(self, data: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict` output (replacing any current state)."""
        self.state = {}
        self.steps = int(data.get("steps", 0))
        for key, arr in data.items():
            if key == "steps":
                continue
            layer_id, name, slot = key.rsplit("/", 2)
            self.state.setdefault((layer_id, name), {})[slot] = np.array(arr)


class SGD(Optimizer):
    """``p -= lr * g``; with momentum ``v = mu*v + g``, ``p -= lr*v`` (Nesterov:
    ``p -= lr*(g + mu*v)``), exactly as ``torch.optim.SGD`` (dampening 0)."""

    def __init__(self, config: OptimizerConfig, momentum: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(config)
        self.mu = momentum
        self.nesterov = nesterov

    def _update(self, key: tuple[str, str], param: np.ndarray, grad: np.ndarray) -> None:
        lr = self.config.lr
        if not self.mu:
            param -= lr * grad
            return
        v = self._slot(key, "velocity", param)
        v *= self.mu
        v += grad
        if self.nesterov:
            param -= lr * (grad + self.mu * v)
        else:
            param -= lr * v


class Adam(Optimizer):
    """Adam with bias correction, as ``torch.optim.Adam``:
    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g^2``,
    ``p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``."""

    def _update(self, key: tuple[str, str], param: np.ndarray, grad: np.ndarray) -> None:
        c = self.config
        t = self.steps
        m = self._slot(key, "m", param)
        v = self._slot(key, "v", param)
        m *= c.beta1
        m += (1 - c.beta1) * grad
        v *= c.beta2
        v += (1 - c.beta2) * grad * grad
        m_hat = m / (1 - c.beta1**t)
        denom = np.sqrt(v / (1 - c.beta2**t))
        denom += c.eps
        param -= (c.lr * m_hat / denom).astype(param.dtype, copy=False)


def make_optimizer(config: OptimizerConfig) -> Optimizer:
    """The optimizer ``config.name`` names."""
    if config.name == "adam":
        return Adam(config)
    if config.name == "sgd":
        return SGD(config)
    return SGD(config, momentum=config.momentum, nesterov=config.name == "nesterov")

"""The hyperparameter form: what the next run will use, as one plain settings record.

Each field's range comes from what the engine accepts, so the form cannot produce a config the
engine refuses; momentum only matters for the momentum optimizers and is greyed out otherwise,
which also teaches which knob belongs to which optimizer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from cnnstudio.engine.optimizers import OptimizerConfig, lr_warning
from cnnstudio.engine.trainer import TrainConfig

__all__ = ["OPTIMIZER_TITLES", "HyperparamsForm", "RunSettings"]

OPTIMIZER_TITLES = {
    "adam": "Adam",
    "sgd": "SGD",
    "momentum": "SGD + momentum",
    "nesterov": "SGD + Nesterov momentum",
}
_USES_MOMENTUM = frozenset({"momentum", "nesterov"})


@dataclass(frozen=True)
class RunSettings:
    """The numbers a user chooses for a run (defaults train the built-in templates well)."""

    epochs: int = 5
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    val_split: float = 0.1
    seed: int = 0

    def to_config(self) -> TrainConfig:
        """The engine's config; raises ValueError (readable) for values it refuses."""
        opt = OptimizerConfig(name=self.optimizer, lr=self.lr, momentum=self.momentum,
                              weight_decay=self.weight_decay)
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer=opt,
                           val_split=self.val_split, seed=self.seed)


class HyperparamsForm(QWidget):
    """Spin boxes and a combo for every RunSettings field; ``changed`` after any edit."""

    changed = Signal()

    def __init__(self, settings: RunSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.epochs = _int_box(1, 10_000, "How many passes over the training images")
        self.batch_size = _int_box(1, 65_536, "Images per optimisation step; smaller uses less "
                                   "memory, larger is faster per image")
        self.optimizer = _ComboBox()
        self.optimizer.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.optimizer.setMinimumWidth(FIELD_MIN_WIDTH)
        for key, title in OPTIMIZER_TITLES.items():
            self.optimizer.addItem(title, key)
        self.optimizer.setToolTip("How the gradient turns into a weight update")
        self.lr = _float_box(1e-7, 1e6, 6, "Step size of each update; lower it if the loss "
                             "explodes or becomes NaN")
        self.lr.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        #: Says at once when the rate is far outside what the optimizer normally uses.
        self.lr_warning = QLabel()
        self.lr_warning.setWordWrap(True)
        self.lr_warning.setStyleSheet("color: #b8620b;")
        self.lr_warning.setVisible(False)
        self.momentum = _float_box(0.0, 0.999, 3, "Fraction of the previous update carried over "
                                   "(SGD with momentum only)")
        self.momentum.setSingleStep(0.05)
        self.weight_decay = _float_box(0.0, 1.0, 6, "L2 penalty on weights (not biases); "
                                       "fights over-fitting")
        self.weight_decay.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.val_split = _float_box(0.0, 0.9, 2, "Share of the training images held out to "
                                    "measure over-fitting")
        self.val_split.setSingleStep(0.05)
        self.seed = _int_box(0, 2**31 - 1, "Same seed, same initial weights, shuffling and "
                             "dropout: a run can be repeated exactly")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.lr)
        form.addRow(self.lr_warning)
        form.addRow("Momentum", self.momentum)
        form.addRow("Weight decay", self.weight_decay)
        form.addRow("Validation split", self.val_split)
        form.addRow("Seed", self.seed)
        for box in (self.epochs, self.batch_size, self.seed):
            box.valueChanged.connect(self.changed)
        for box in (self.lr, self.momentum, self.weight_decay, self.val_split):
            box.valueChanged.connect(self.changed)
        self.lr.valueChanged.connect(self._check_lr)
        self.optimizer.currentIndexChanged.connect(self._optimizer_changed)
        self.set_settings(settings or RunSettings())

    def settings(self) -> RunSettings:
        return RunSettings(
            epochs=self.epochs.value(), batch_size=self.batch_size.value(),
            optimizer=self.optimizer.currentData(), lr=self.lr.value(),
            momentum=self.momentum.value(), weight_decay=self.weight_decay.value(),
            val_split=self.val_split.value(), seed=self.seed.value(),
        )

    def set_settings(self, settings: RunSettings) -> None:
        s = replace(settings)
        for f in fields(s):
            value = getattr(s, f.name)
            if f.name == "optimizer":
                self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(value)))
            else:
                getattr(self, f.name).setValue(value)
        self._optimizer_changed()

    def _optimizer_changed(self) -> None:
        self.momentum.setEnabled(self.optimizer.currentData() in _USES_MOMENTUM)
        self._check_lr()
        self.changed.emit()

    def _check_lr(self) -> None:
        text = lr_warning(self.optimizer.currentData(), self.lr.value())
        self.lr_warning.setText(text or "")
        self.lr_warning.setVisible(text is not None)
        self.lr.setStyleSheet("" if text is None else "color: #b8620b;")


#: Narrowest a field may get: a spin box otherwise claims room for its largest value (ten
#: digits for the seed), which made the Training dock wider than its usual width.
FIELD_MIN_WIDTH = 90


class _WheelWhenFocused:
    """The dock scrolls under the mouse wheel; a field changes only once clicked into. Without
    this, scrolling the Training dock silently changed whichever number passed under the
    pointer (a batch size of 32 became 25). An ignored wheel event goes on to the scroll area."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()


class _SpinBox(_WheelWhenFocused, QSpinBox):
    pass


class _DoubleSpinBox(_WheelWhenFocused, QDoubleSpinBox):
    pass


class _ComboBox(_WheelWhenFocused, QComboBox):
    pass


def _int_box(lo: int, hi: int, tip: str) -> QSpinBox:
    box = _SpinBox()
    box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    box.setMinimumWidth(FIELD_MIN_WIDTH)
    box.setRange(lo, hi)
    box.setGroupSeparatorShown(True)
    box.setToolTip(tip)
    return box


def _float_box(lo: float, hi: float, decimals: int, tip: str) -> QDoubleSpinBox:
    box = _DoubleSpinBox()
    box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    box.setMinimumWidth(FIELD_MIN_WIDTH)
    box.setDecimals(decimals)
    box.setRange(lo, hi)
    box.setToolTip(tip)
    return box

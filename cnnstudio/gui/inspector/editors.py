"""Param editors, generated from the catalogue's ParamSpec through a registry: kind -> factory.

Each editor reads its range and choices from the spec, refuses an invalid entry itself (red, with
ParamSpec.check's reason under the field) and emits one ``committed(value)`` signal with the
canonical value, so the inspector only ever forwards good values to the Document. Adding a param
kind means registering one factory here; the inspector does not change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core import catalogue as cat
from cnnstudio.core.appearance import ERROR_COLOR
from cnnstudio.core.catalogue import ParamError, ParamSpec

#: Spin boxes hold C ints; every catalogue maximum is far below this.
_INT_LIMIT = 2**31 - 1


def format_value(value: Any) -> str:
    """How a canonical param value is typed: 3, "3,5", "same", 0.5, "" for None."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_PAIR_SPLIT = re.compile(r"\s*[,x×\s]\s*")
_NUMBERS = re.compile(r"^[-+\d\s,x×.]+$")


def parse_int_or_pair(text: str, spec: ParamSpec) -> Any:
    """"3" -> 3, "3,5" / "3x5" -> [3, 5], "" -> None (if optional); checked against the spec."""
    text = text.strip()
    if not text:
        if spec.optional:
            return None
        raise ParamError(f"{spec.name} must be set: a whole number or h,w")
    parts = _PAIR_SPLIT.split(text)
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ParamError(
            f"{spec.name} must be a whole number or h,w (like 3 or 3,5), got {text!r}"
        ) from None
    if len(numbers) > 2:
        raise ParamError(f"{spec.name} takes one number or two (h,w), got {len(numbers)}")
    return spec.check(numbers[0] if len(numbers) == 1 else numbers)


class ParamEditor(QWidget):
    """Base: a field plus an error line; subclasses build the field and parse its value."""

    committed = Signal(object)

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setObjectName(f"param_{spec.name}")
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error.hide()
        self._row = QHBoxLayout()
        self._row.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self._row)
        layout.addWidget(self.error)
        tip = f"{spec.help}"
        if spec.kind in (cat.INT, cat.FLOAT, cat.SIZE2):
            tip += f"\nallowed: {spec.range_text()}"
        elif spec.choices:
            tip += f"\nchoices: {', '.join(spec.choices)}"
        self.setToolTip(tip)

    # subclass API
    @property
    def field(self) -> QWidget:
        raise NotImplementedError

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    # public API
    def set_value(self, value: Any) -> None:
        """Show the model's value (no signal, error cleared) unless the user is mid-entry."""
        if self.is_editing():
            return
        with QSignalBlocker(self.field):
            self._show(value)
        self.clear_error()

    def is_editing(self) -> bool:
        """True while the field has focus and holds text not yet committed."""
        line = self.field if isinstance(self.field, QLineEdit) else getattr(
            self.field, "lineEdit", lambda: None)()
        return bool(line is not None and line.hasFocus() and line.isModified())

    def commit_pending(self) -> None:
        """Apply what was typed but not committed yet (Enter and focus-out commit by
        themselves; this is for the form being replaced while the field still has focus)."""
        if self.is_editing():
            self._apply_typed()

    def _apply_typed(self) -> None:
        parse = getattr(self, "parse", None)
        if callable(parse):
            self._commit(parse)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.field.setStyleSheet(f"border: 1px solid {ERROR_COLOR};")

    def clear_error(self) -> None:
        if self.error.isVisible() or self.error.text():
            self.error.clear()
            self.error.hide()
            self.field.setStyleSheet("")

    @property
    def has_error(self) -> bool:
        return bool(self.error.text())

    def _commit(self, parse: Callable[[], Any]) -> None:
        """Parse and check the entry: emit the canonical value, or refuse it with the reason."""
        try:
            value = parse()
        except ParamError as exc:
            self.show_error(str(exc))
            return
        line = self.field if isinstance(self.field, QLineEdit) else None
        if line is not None:
            line.setModified(False)
        self.clear_error()
        self.committed.emit(value)


EditorFactory = Callable[[ParamSpec, "QWidget | None"], ParamEditor]
EDITORS: dict[str, EditorFactory] = {}


def register(kind: str) -> Callable[[EditorFactory], EditorFactory]:
    def add(factory: EditorFactory) -> EditorFactory:
        EDITORS[kind] = factory
        return factory

    return add


def editor_for(spec: ParamSpec, parent: QWidget | None = None) -> ParamEditor:
    """The editor for a param; KeyError names a param kind with no registered editor."""
    try:
        factory = EDITORS[spec.kind]
    except KeyError:
        raise KeyError(f"no inspector editor for param kind {spec.kind!r}") from None
    return factory(spec, parent)


class _SpinBox(QSpinBox):
    """Ignores the wheel unless focused: scrolling the inspector must not edit the model."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class _ComboBox(QComboBox):
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


@register(cat.INT)
class IntEditor(ParamEditor):
    """A spin box bounded by the spec's range: out-of-range numbers cannot even be typed."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.spin = _SpinBox(self)
        self.spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        lo = -_INT_LIMIT if spec.minimum is None else int(spec.minimum) + spec.exclusive_min
        hi = _INT_LIMIT if spec.maximum is None else int(spec.maximum) - spec.exclusive_max
        self.spin.setRange(max(lo, -_INT_LIMIT), min(hi, _INT_LIMIT))
        self.spin.setKeyboardTracking(False)  # commit on Enter / focus out, not per keystroke
        self.spin.setGroupSeparatorShown(True)
        self.spin.valueChanged.connect(lambda v: self._commit(lambda: self.spec.check(v)))
        self._row.addWidget(self.spin)

    @property
    def field(self) -> QWidget:
        return self.spin

    def _apply_typed(self) -> None:
        self.spin.interpretText()  # emits valueChanged when the typed number differs

    def _show(self, value: Any) -> None:
        # QSpinBox repaints on every setValue, the same value too: every edit of another
        # param repainted this box.
        if self.spin.value() != int(value) or self.spin.text() != self.spin.textFromValue(
                int(value)):
            self.spin.setValue(int(value))


class _LineEditor(ParamEditor):
    """A line edit committed on Enter or focus out, parsed by ``parse``."""

    placeholder = ""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.line = QLineEdit(self)
        self.line.setPlaceholderText(self.placeholder_for(spec))
        self.line.editingFinished.connect(lambda: self._commit(self.parse))
        self._row.addWidget(self.line)

    def placeholder_for(self, spec: ParamSpec) -> str:
        return self.placeholder

    @property
    def field(self) -> QWidget:
        return self.line

    def _show(self, value: Any) -> None:
        self.line.setText(format_value(value))
        self.line.setModified(False)

    def parse(self) -> Any:
        raise NotImplementedError


@register(cat.SIZE2)
class SizeEditor(_LineEditor):
    """"int or h,w": 3 for a square window, 3,5 for height 3 and width 5."""

    def placeholder_for(self, spec: ParamSpec) -> str:
        return "same as pool size" if spec.optional else "n or h,w"

    def parse(self) -> Any:
        return parse_int_or_pair(self.line.text(), self.spec)


@register(cat.SIDES)
class SidesEditor(_LineEditor):
    """"n", "h,w" or "top,bottom,left,right": padding on every side, per axis or per side."""

    placeholder = "n, h,w or top,bottom,left,right"

    def parse(self) -> Any:
        text = self.line.text().strip()
        try:
            numbers = [int(p) for p in _PAIR_SPLIT.split(text)] if text else []
        except ValueError:
            numbers = []
        if len(numbers) not in (1, 2, 4):
            raise ParamError(f"{self.spec.name} takes 1, 2 (h,w) or 4 (top,bottom,left,right) "
                             f"whole numbers, got {text!r}")
        return self.spec.check(numbers[0] if len(numbers) == 1 else numbers)


@register(cat.FLOAT)
class FloatEditor(_LineEditor):
    def placeholder_for(self, spec: ParamSpec) -> str:
        return f"a number in {spec.range_text()}"

    def parse(self) -> Any:
        text = self.line.text().strip()
        try:
            value = float(text)
        except ValueError:
            raise ParamError(f"{self.spec.name} must be a number, got {text!r}") from None
        return self.spec.check(value)


@register(cat.CHOICE)
class ChoiceEditor(ParamEditor):
    """A combo box of the param's choices, read from the catalogue (nothing else to type)."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = _ComboBox(self)
        self.combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.combo.addItems(spec.choices)
        self.combo.activated.connect(
            lambda _i: self._commit(lambda: self.spec.check(self.combo.currentText())))
        self._row.addWidget(self.combo)

    @property
    def field(self) -> QWidget:
        return self.combo

    def _show(self, value: Any) -> None:
        self.combo.setCurrentText(str(value))


@register(cat.PADDING)
class PaddingEditor(ParamEditor):
    """Editable combo: pick one of the spec's words ("valid", "same"), or type a number of pixels
    or h,w."""

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = _ComboBox(self)
        self.combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.combo.setEditable(True)
        self.combo.addItems(spec.choices)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.lineEdit().setPlaceholderText(f"{', '.join(spec.choices)}, n or h,w")
        self.combo.activated.connect(lambda _i: self._commit(self.parse))
        self.combo.lineEdit().editingFinished.connect(lambda: self._commit(self.parse))
        self._row.addWidget(self.combo)

    @property
    def field(self) -> QWidget:
        return self.combo

    def _show(self, value: Any) -> None:
        self.combo.setEditText(format_value(value))
        self.combo.lineEdit().setModified(False)

    def parse(self) -> Any:
        text = self.combo.currentText().strip()
        if text.lower() in self.spec.choices:
            return text.lower()
        if not _NUMBERS.match(text):
            raise ParamError(f"{self.spec.name} must be {', '.join(self.spec.choices)}, a number "
                             f"of pixels or h,w; got {text!r}")
        return parse_int_or_pair(text, self.spec)

    def _commit(self, parse: Callable[[], Any]) -> None:
        super()._commit(parse)
        if not self.has_error:
            self.combo.lineEdit().setModified(False)


@register(cat.BOOL)
class BoolEditor(ParamEditor):
    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.check = QCheckBox(self)
        self.check.toggled.connect(lambda on: self._commit(lambda: bool(on)))
        self._row.addWidget(self.check)

    @property
    def field(self) -> QWidget:
        return self.check

    def _show(self, value: Any) -> None:
        self.check.setChecked(bool(value))

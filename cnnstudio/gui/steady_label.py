"""Labels whose text changes on every edit without laying the window out again.

A QLabel whose text changes asks its parent's layout to run again, and Qt then re-lays out every
widget up to the main window (each layout that runs tells its own widget's parent, whether or not
its size changed): the docks, the status bar, the splitters, repainted. For a number that changes
with every edit (totals, the status bar) that was most of an edit's cost on a small model, while
the label's size hint, and so the layout, almost never changes: digits are all one width.

``steady(label)`` puts a ``SteadyLabel`` into a holder without a layout of its own, so the
label's request stops at the holder. The holder answers for the label to the layout it sits in
(same size hints, same size policy) and fills itself with the label, so everything is placed
exactly as the bare label would be. When the label's size hints or policy really changed (a
longer number) the holder passes the request on at once, from ``setText``, so the layouts run in
the same pass as they would for a bare label; other changes of size (another font or style)
reach the holder as an event and are passed on from there.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSize, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

__all__ = ["SteadyHolder", "SteadyLabel", "WrappedSteadyLabel", "digits_as_zero", "steady"]

_UNLIMITED = QSize(16777215, 16777215)  # QWIDGETSIZE_MAX both ways: no maximum set


_DIGITS = frozenset("0123456789")
#: Every digit as 0: the shape of a text whose digits may change.
_ANY_DIGIT = str.maketrans("123456789", "000000000")
#: What a label receives when something besides its text may have changed its size.
_RESIZING = frozenset({QEvent.Type.FontChange, QEvent.Type.StyleChange, QEvent.Type.Polish,
                       QEvent.Type.ContentsRectChange, QEvent.Type.LayoutDirectionChange})


def same_extent(label: QLabel, old: str, new: str) -> bool:
    """Whether ``new`` takes exactly the room ``old`` took in ``label``: the same characters
    but for digits, all of them the label font's own, and the same advance to the fraction of
    a pixel (digits are one width in most fonts). A number whose digits changed is the common
    case, and this answers it without the label working out its size hint (for a selectable
    label, the layout of a whole text document)."""
    if len(old) != len(new) or any(a != b and not (a in _DIGITS and b in _DIGITS)
                                   for a, b in zip(old, new, strict=True)):
        return False
    metrics = QFontMetricsF(label.font(), label)
    return (all(metrics.inFont(d) for d in _DIGITS.intersection(old + new))
            and metrics.horizontalAdvance(old) == metrics.horizontalAdvance(new))


class SteadyLabel(QLabel):
    """A QLabel whose ``setText`` tells its holder at once (see the module's text)."""

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        old = self.text()
        if text == old:
            return
        super().setText(text)
        holder = self.parentWidget()
        if isinstance(holder, SteadyHolder):
            holder.text_changed(old, text)

    def setMargin(self, margin: int) -> None:  # noqa: N802 - Qt API
        super().setMargin(margin)
        self._resized()

    def setIndent(self, indent: int) -> None:  # noqa: N802 - Qt API
        super().setIndent(indent)
        self._resized()

    def _resized(self) -> None:
        holder = self.parentWidget()
        if isinstance(holder, SteadyHolder):
            holder.pass_on_if_changed()


class SteadyHolder(QWidget):
    """Holds one single-line label and stands for it in a layout (see the module's text)."""

    def __init__(self, label: SteadyLabel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if label.wordWrap():
            raise ValueError("a steady label is one line: its height must not follow its width")
        if label.minimumSize() != QSize(0, 0) or label.maximumSize() != _UNLIMITED:
            raise ValueError("a steady label has no size limits of its own to stand for")
        hidden = label.isHidden() and label.testAttribute(
            Qt.WidgetAttribute.WA_WState_ExplicitShowHide)
        self.label = label
        label.setParent(self)
        label.move(0, 0)
        if not hidden:
            label.show()  # shown with the holder, as it would be with its own parent
        else:
            self.hide()
        self._hints = self._current_hints()
        #: The label's text its hints were last known for (None: not known): a layout
        #: request from the label while it still shows it was caused by a text change
        #: already seen to. Changes of font, style or margins unset it (see eventFilter).
        self._known: str | None = label.text()
        self.setSizePolicy(label.sizePolicy())
        # Opaque, filled with the window colour it shows anyway: a changed text then repaints
        # the holder and its label, not every widget behind them (the status bar and the main
        # window, the inspector's page) as well.
        self.setAutoFillBackground(True)
        label.installEventFilter(self)

    def _current_hints(self) -> tuple[QSize, QSize, QSizePolicy]:
        label = self.label
        return (label.sizeHint(), label.minimumSizeHint(), label.sizePolicy())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.label.sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.label.minimumSizeHint()

    def text_changed(self, old: str, new: str) -> None:
        """The label's text went from ``old`` to ``new`` (its setText)."""
        if self._known == old and same_extent(self.label, old, new):
            self._known = new
        else:
            self.pass_on_if_changed()

    def pass_on_if_changed(self) -> bool:
        """Tell the layout above when the label's size hints or policy changed (and say
        whether they had)."""
        self._known = self.label.text()
        hints = self._current_hints()
        if hints == self._hints:
            return False
        self._hints = hints
        self.setSizePolicy(hints[2])
        self.updateGeometry()
        return True

    def event(self, event: QEvent) -> bool:
        # Sent by the label whenever its text (or font, style, ...) changed: only a change of
        # size concerns the layouts above.
        if event.type() == QEvent.Type.LayoutRequest:
            parent = self.parentWidget()
            if self.label.text() != self._known and self.pass_on_if_changed() and parent:
                # In this same pass, as the bare label's request would have been.
                QCoreApplication.sendPostedEvents(parent, QEvent.Type.LayoutRequest)
            return True
        return super().event(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """The label shown or hidden by its owner: the holder takes (or gives up) its room.
        Its font, style or margins changed: its size is worked out again."""
        if watched is self.label:
            kind = event.type()
            if kind in (QEvent.Type.ShowToParent, QEvent.Type.HideToParent):
                self.setVisible(kind == QEvent.Type.ShowToParent)
            elif kind in _RESIZING:
                self._known = None
        return super().eventFilter(watched, event)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        # While the holder was not visible the label's requests were not sent: its layout
        # asks again (rarely: when a window or dock is shown).
        super().showEvent(event)
        self._known = self.label.text()
        self._hints = self._current_hints()
        self.setSizePolicy(self._hints[2])
        self.updateGeometry()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self.label.resize(event.size())


def steady(label: SteadyLabel) -> SteadyHolder:
    """The widget to put into a layout in place of ``label`` (see the module's text)."""
    if not isinstance(label, SteadyLabel):
        raise TypeError("steady() holds a SteadyLabel: a QLabel's setText would not tell it")
    return SteadyHolder(label)


def digits_as_zero(text: str) -> str:
    """``text`` with every digit written 0: the same for two texts that differ in digits only."""
    return text.translate(_ANY_DIGIT)


def _digits_even(font: QFont) -> bool:
    """Whether every digit has the same advance in ``font``, its bold face and the monospace
    face rich text uses for formulas (then a text whose digits changed lays out the same)."""
    bold = QFont(font)
    bold.setBold(True)
    mono = QFont(font)
    mono.setFamilies(["monospace"])
    mono.setStyleHint(QFont.StyleHint.Monospace)
    for face in (font, bold, mono):
        metrics = QFontMetricsF(face)
        if len({metrics.horizontalAdvance(d) for d in _DIGITS}) != 1:
            return False
    return True


class WrappedSteadyLabel(QLabel):
    """A word-wrapped, possibly rich-text label (a formula box) that works out its size only
    when its text changed in more than its digits.

    Qt asks such a label for its size hints and its height at a width several times per layout
    pass, and each answer lays out a whole text document (half a millisecond for the inspector's
    formulas, several for the size hint's search for a good width). With digits one width in
    every face the text uses, a text that differs only in digits breaks into the same lines, so
    the answers for the previous text are the answers for this one."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self._answers: dict[object, object] = {}
        self._shape: str | None = None
        self._even: bool | None = None

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        if text == self.text():
            return
        super().setText(text)
        shape = digits_as_zero(text) if self.digits_even() else text
        if shape != self._shape:
            self._shape = shape
            self._answers = {}

    def digits_even(self) -> bool:
        """Whether a text whose digits changed breaks into the same lines (see _digits_even)."""
        if self._even is None:
            self._even = _digits_even(self.font())
        return self._even

    def _remember(self, key: object, work):  # noqa: ANN001, ANN202 - a size or a height
        if key not in self._answers:
            self._answers[key] = work()
        return self._answers[key]

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self._remember("hint", super().sizeHint))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(self._remember("minimum", super().minimumSizeHint))

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        return self._remember(width, lambda: super(WrappedSteadyLabel, self).heightForWidth(width))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        if event.type() in _RESIZING:
            self._answers = {}
            self._even = None
            self._shape = None
        super().changeEvent(event)

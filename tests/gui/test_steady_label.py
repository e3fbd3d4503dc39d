"""Labels whose text changes on every edit: placed and drawn exactly as a bare label, and only
a change of their size lays out what holds them (see ``gui.steady_label``)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QPushButton, QWidget

from cnnstudio.gui.steady_label import SteadyLabel, same_extent, steady


class _LayoutRequests(QObject):
    """Counts the layout requests a widget receives."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def _row(qtbot, text: str, held: bool, stretch: int, selectable: bool = False
         ) -> tuple[QWidget, QLabel, QPushButton]:
    """A row as the status bar and the summary have it: a label, then a button."""
    row = QWidget()
    qtbot.addWidget(row)
    label = SteadyLabel(text) if held else QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if selectable:  # as the summary's totals: a text document inside
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    button = QPushButton("Copy")
    layout = QHBoxLayout(row)
    layout.addWidget(steady(label) if held else label, stretch)
    layout.addWidget(button)
    if not stretch:
        layout.addStretch(1)
    row.resize(420, 40)
    row.show()
    qtbot.waitExposed(row)
    return row, label, button


def _placed(row: QWidget, label: QLabel, button: QPushButton) -> tuple[object, ...]:
    return (label.mapTo(row, label.rect().topLeft()), label.size(), button.geometry(),
            label.isVisible())


def _settle() -> None:
    """What the bench waits for after an edit: one pass of the events it caused."""
    QApplication.processEvents()


@pytest.mark.parametrize("selectable", [False, True])
@pytest.mark.parametrize("stretch", [0, 1])
def test_a_held_label_is_placed_and_drawn_as_a_bare_one(qtbot, stretch, selectable):
    bare = _row(qtbot, "61,706 trainable", held=False, stretch=stretch, selectable=selectable)
    held = _row(qtbot, "61,706 trainable", held=True, stretch=stretch, selectable=selectable)
    for text in ("62,132 trainable", "1,234,567,890 trainable", "1,111,111,111 trainable",
                 "7", "1", "", "61,706 trainable", "61,706 trainable!", "11,111 trainable"):
        for _row_widget, label, _button in (bare, held):
            label.setText(text)
        _settle()
        assert _placed(*held) == _placed(*bare), text
        assert held[0].grab().toImage() == bare[0].grab().toImage(), text
    for _row_widget, label, _button in (bare, held):
        font = label.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        label.setFont(font)  # a larger font, then only digits change: the label grew
        label.setText("62,132 trainable")
    _settle()
    assert _placed(*held) == _placed(*bare)
    assert held[0].grab().toImage() == bare[0].grab().toImage()
    for _row_widget, label, _button in (bare, held):
        label.setStyleSheet("QLabel { padding: 0 9px; }")  # wider by its style alone
    _settle()
    assert _placed(*held) == _placed(*bare)
    for _row_widget, label, _button in (bare, held):
        label.hide()  # a hidden label gives up its room
    _settle()
    assert _placed(*held) == _placed(*bare)
    for _row_widget, label, _button in (bare, held):
        label.show()
    _settle()
    assert _placed(*held) == _placed(*bare)


def test_only_a_change_of_size_lays_out_the_row(qtbot):
    row, label, button = _row(qtbot, "61,706", held=True, stretch=0)
    qtbot.wait(10)  # the layout requests of showing it are done
    requests = _LayoutRequests(row)
    before = button.geometry()
    label.setText("62,132")  # digits of one width: the row stays as it is
    _settle()
    assert requests.count == 0 and label.text() == "62,132"
    label.setText("1,262,132")  # wider: the row makes room
    _settle()
    assert requests.count >= 1 and button.geometry().x() > before.x()
    assert label.width() >= label.sizeHint().width()


def test_digits_that_change_only_keep_the_size_they_are_trusted_to_keep(qtbot):
    """The shortcut that spares a label working out its size: trusted only where the size
    really is the same."""
    label = SteadyLabel()
    qtbot.addWidget(label)
    metrics = QFontMetricsF(label.font(), label)
    one_width = len({metrics.horizontalAdvance(d) for d in "0123456789"}) == 1
    texts = ["61,706 trainable", "62,132 trainable", "11,111 trainable", "88,888 trainable",
             "61,706 trainable!", "61.706 trainable", "6l,706 trainable", "1,061,706 trainable"]
    for old in texts:
        for new in texts:
            label.setText(old)
            before = label.sizeHint()
            label.setText(new)
            if same_extent(label, old, new):
                assert label.sizeHint() == before, (old, new)
    assert same_extent(label, "61,706 trainable", "62,132 trainable") == one_width
    assert not same_extent(label, "61,706 trainable", "61.706 trainable")  # not only digits
    assert not same_extent(label, "61,706", "1,061,706")


def test_a_word_wrapped_or_plain_label_is_refused(qtbot):
    label = SteadyLabel("a long text that wraps")
    label.setWordWrap(True)
    with pytest.raises(ValueError, match="one line"):
        steady(label)
    with pytest.raises(TypeError, match="SteadyLabel"):
        steady(QLabel("its setText would not tell the holder"))


_FORMULA = ('<p style="margin:1px 0 3px 0;">Per axis, with N the input size, P the padding, '
            'F the kernel\'s span and S the stride:</p>'
            '<p style="margin:1px 0 1px 8px; font-family:monospace;">H, W: floor((32 + 2*{p} '
            '- {f}) / 1) + 1 = {out}</p><p><b>Output:</b> {k}x{out}x{out}</p>')


def _plain_answers(qtbot, text: str, font=None) -> tuple:  # noqa: ANN001
    plain = QLabel(text)
    plain.setWordWrap(True)
    if font is not None:
        plain.setFont(font)
    qtbot.addWidget(plain)
    return (plain.sizeHint(), plain.minimumSizeHint(),
            [plain.heightForWidth(w) for w in (120, 200, 333)])


def _answers(label: QLabel) -> tuple:
    return (label.sizeHint(), label.minimumSizeHint(),
            [label.heightForWidth(w) for w in (120, 200, 333)])


def test_a_wrapped_label_answers_for_its_new_text_as_a_fresh_label_would(qtbot):
    """The inspector's formula box keeps its size answers while only digits change (then the
    lines break the same) and works them out again otherwise: after any change its answers are
    a plain label's for the same text."""
    from cnnstudio.gui.steady_label import WrappedSteadyLabel

    label = WrappedSteadyLabel()
    qtbot.addWidget(label)
    texts = [_FORMULA.format(p=1, f=3, out=32, k=8),
             _FORMULA.format(p=2, f=5, out=32, k=9),  # digits only
             _FORMULA.format(p=2, f=5, out=32, k=16),  # one digit more
             _FORMULA.format(p=0, f=5, out=28, k=16) + "<p>a longer note that wraps again</p>",
             _FORMULA.format(p=1, f=3, out=32, k=8)]
    for text in texts:
        label.setText(text)
        assert _answers(label) == _plain_answers(qtbot, text), text
    bigger = label.font()
    bigger.setPointSizeF(bigger.pointSizeF() * 1.5)
    label.setFont(bigger)
    assert _answers(label) == _plain_answers(qtbot, texts[-1], bigger)

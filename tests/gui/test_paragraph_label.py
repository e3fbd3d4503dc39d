"""The explanation box rewrites only the paragraphs an edit changed, and then shows exactly what
a label given the whole text afresh shows: the same document, size answers and pixels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible, QGuiApplication, QImage, QTextDocument
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from cnnstudio.core.explain import explain
from cnnstudio.core.templates import load_template
from cnnstudio.core.validator import validate
from cnnstudio.gui.inspector.computes import sections_paragraphs
from cnnstudio.gui.paragraph_label import Paragraph, ParagraphLabel

_WIDTH = 300
_MUTED = "#7a7a7a"


def _paragraphs(**params) -> list[Paragraph]:
    """The explanation of LeNet-5's first convolution with ``params`` changed."""
    graph = load_template("lenet5")
    graph.layer("c1").params.update(params)
    result = validate(graph)
    return sections_paragraphs(explain(graph.layer("c1"), result.layers["c1"]), _MUTED)


def _label(qtbot, paragraphs: list[Paragraph] | None = None) -> ParagraphLabel:
    label = ParagraphLabel()
    qtbot.addWidget(label)
    if paragraphs is not None:
        label.set_paragraphs(paragraphs)
    label.resize(_WIDTH, label.heightForWidth(_WIDTH))
    label.show()
    return label


def _document(label: QLabel) -> QTextDocument:
    return label.findChild(QTextDocument)


def _read_aloud(label: QLabel) -> str:
    """What a screen reader is given as the label's name."""
    return QAccessible.queryAccessibleInterface(label).text(QAccessible.Text.Name)


def _on_screen(label: QLabel) -> QImage:
    """What the window shows now (its backing store), not a fresh drawing of it."""
    return label.screen().grabWindow(label.winId()).toImage()


def _shows_the_same(qtbot, label: ParagraphLabel, paragraphs: list[Paragraph]) -> None:
    """``label`` answers, holds and draws what a label set to ``paragraphs`` afresh does, and
    what it repainted after the change is all that changed on screen."""
    fresh = _label(qtbot, paragraphs)
    label.resize(_WIDTH, label.heightForWidth(_WIDTH))
    qtbot.wait(1)
    shown = _on_screen(label)
    label.repaint()
    assert shown == _on_screen(label)
    assert label.text() == fresh.text() == "".join(p.html for p in paragraphs)
    assert (label.sizeHint(), label.minimumSizeHint(), label.heightForWidth(_WIDTH)) == \
        (fresh.sizeHint(), fresh.minimumSizeHint(), fresh.heightForWidth(_WIDTH))
    assert label.size() == fresh.size()
    assert label.grab().toImage() == fresh.grab().toImage()  # the grab also lays fresh out
    assert _document(label).toHtml() == _document(fresh).toHtml()
    assert _read_aloud(label) == _read_aloud(fresh)  # QLabel's own copy of the text is older
    fresh.close()


def test_edits_of_numbers_rewrite_paragraphs_in_place_and_show_a_fresh_label(qtbot):
    label = _label(qtbot, _paragraphs())
    qtbot.wait(1)
    steps = [  # (params, rewritten in place)
        ({"filters": 7}, True),
        ({"filters": 8}, True),
        ({"filters": 16}, False),  # one digit more: the lines may break elsewhere
        ({"filters": 17}, True),
        ({"filters": 17, "kernel_size": 3}, True),
        ({"filters": 17, "kernel_size": 3, "padding": "same"}, False),  # more lines
        ({"filters": 18, "kernel_size": 3, "padding": "same"}, True),
        ({"filters": 18, "kernel_size": 3, "padding": "same", "stride": 2}, False),
        ({"filters": 6}, False),
        ({"filters": 6, "use_bias": False}, False),  # words changed, not digits
        ({"filters": 7, "use_bias": False}, True),
    ]
    for params, in_place in steps:
        before = label.edits_in_place
        paragraphs = _paragraphs(**params)
        label.set_paragraphs(paragraphs)
        assert label.edits_in_place == before + in_place, params
        _shows_the_same(qtbot, label, paragraphs)


def test_the_whole_text_set_after_edits_in_place_is_shown(qtbot):
    """QLabel still holds the text it was last given whole; setting exactly that text again
    (here: back where the edits started) must not be taken for no change."""
    first = _paragraphs()
    label = _label(qtbot, first)
    qtbot.wait(1)
    label.set_paragraphs(_paragraphs(filters=7))
    assert label.edits_in_place == 1
    label.setText("".join(p.html for p in first))
    _shows_the_same(qtbot, label, first)
    label.set_paragraphs(first)  # nothing to do: it shows them
    _shows_the_same(qtbot, label, first)
    label.set_paragraphs(_paragraphs(filters=8))  # and it edits in place again from there
    assert label.edits_in_place == 2
    _shows_the_same(qtbot, label, _paragraphs(filters=8))
    label.clear()  # (QLabel deletes its document)
    assert label.text() == ""
    label.set_paragraphs(_paragraphs(filters=9))
    _shows_the_same(qtbot, label, _paragraphs(filters=9))
    label.set_paragraphs(_paragraphs(filters=8))
    assert label.edits_in_place == 3
    _shows_the_same(qtbot, label, _paragraphs(filters=8))


def test_a_hidden_label_that_has_not_taken_its_text_yet_is_set_whole(qtbot):
    """A label sets its document from its text when it is next drawn or measured: an edit in
    place before that would be overwritten, so it is set whole instead."""
    label = _label(qtbot, _paragraphs())
    qtbot.wait(1)
    label.hide()
    label.set_paragraphs(_paragraphs(filters=16))  # set whole; not taken while hidden
    label.set_paragraphs(_paragraphs(filters=17))  # the same paragraphs, other digits
    assert label.edits_in_place == 0
    label.show()
    _shows_the_same(qtbot, label, _paragraphs(filters=17))
    label.set_paragraphs(_paragraphs(filters=18))  # shown: in place again
    assert label.edits_in_place == 1
    _shows_the_same(qtbot, label, _paragraphs(filters=18))


def test_white_space_that_rich_text_folds_is_never_written_in_place(qtbot):
    """Rich text shows "a  b" as "a b": such a paragraph is always set whole."""
    start = '<p style="margin:1px 0 3px 0;">'
    for inner in ("cost  1{} MACs", " cost 1{} MACs", "cost\t1{} MACs", "cost 1{} MACs"):
        label = _label(qtbot, [Paragraph(start, inner.format(2), "</p>")])
        qtbot.wait(1)
        label.set_paragraphs([Paragraph(start, inner.format(3), "</p>")])
        assert label.edits_in_place == (inner == "cost 1{} MACs"), inner
        _shows_the_same(qtbot, label, [Paragraph(start, inner.format(3), "</p>")])


def test_a_paragraph_set_in_another_style_is_set_whole(qtbot):
    formula = '<p style="margin:1px 0 1px 8px; font-family:monospace;">'
    prose = '<p style="margin:1px 0 3px 0;">'
    label = _label(qtbot, [Paragraph(formula, "out = 12", "</p>")])
    qtbot.wait(1)
    label.set_paragraphs([Paragraph(prose, "out = 13", "</p>")])
    assert label.edits_in_place == 0
    _shows_the_same(qtbot, label, [Paragraph(prose, "out = 13", "</p>")])


def test_a_selection_is_drawn_and_kept_through_edits_in_place(qtbot):
    """Text the user selected stays selected while numbers change elsewhere, drawn as QLabel
    draws a selection."""
    fresh = _label(qtbot, _paragraphs(filters=7))
    label = _label(qtbot, _paragraphs())
    qtbot.wait(1)
    label.setSelection(0, 40)  # the first title and the start of the first line
    selected = label.selectedText()
    qtbot.wait(1)
    label.set_paragraphs(_paragraphs(filters=7))
    assert label.edits_in_place == 1
    qtbot.wait(1)
    assert label.selectedText() == selected
    shown = _on_screen(label)
    drawn = label.grab().toImage()
    fresh.setSelection(0, 40)
    assert drawn == fresh.grab().toImage()
    label.repaint()
    assert shown == _on_screen(label)
    label.setSelection(0, 0)  # none left: the label draws as without one
    fresh.setSelection(0, 0)
    qtbot.wait(1)
    label.set_paragraphs(_paragraphs(filters=8))
    fresh.set_paragraphs(_paragraphs(filters=8))
    qtbot.wait(1)
    assert label.grab().toImage() == fresh.grab().toImage()


def _scrolled(qtbot, paragraphs: list[Paragraph]) -> tuple[QScrollArea, ParagraphLabel]:
    """A label on a page in a scroll area showing its top 150 pixels, as in the inspector."""
    area = QScrollArea()
    qtbot.addWidget(area)
    area.setWidgetResizable(True)
    area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
    area.resize(_WIDTH + 40, 150)
    page = QWidget()  # scrolling moves the page, not the label (nothing reaches the label)
    label = ParagraphLabel(page)
    label.set_paragraphs(paragraphs)
    QVBoxLayout(page).addWidget(label)
    area.setWidget(page)
    area.show()
    qtbot.waitExposed(area)
    return area, label


def _screen(widget: QWidget) -> QImage:
    return widget.screen().grabWindow(widget.winId()).toImage()


def test_paragraphs_out_of_sight_are_rewritten_when_shown(qtbot):
    """Edits rewrite at once only the paragraphs on screen; the others are rewritten when they
    are scrolled into view, and the screen then shows what a label given the text afresh
    shows there."""
    area, label = _scrolled(qtbot, _paragraphs())
    fresh_area, fresh = _scrolled(qtbot, _paragraphs(filters=8))
    for filters in (7, 8):
        label.set_paragraphs(_paragraphs(filters=filters))
        qtbot.wait(1)
    assert label.edits_in_place == 2
    assert label.text() == fresh.text()
    bar, fresh_bar = area.verticalScrollBar(), fresh_area.verticalScrollBar()
    assert bar.maximum() > 400
    for value in (0, 120, 400, bar.maximum(), 0):
        bar.setValue(value)
        fresh_bar.setValue(value)
        qtbot.wait(1)
        assert _screen(area) == _screen(fresh_area), value
    assert _read_aloud(label) == _read_aloud(fresh)
    label.set_paragraphs(_paragraphs(filters=9))  # kept for later, then the lines move:
    fresh.set_paragraphs(_paragraphs(filters=9))
    for each in (area, fresh_area):
        each.resize(_WIDTH - 60, 150)  # narrower, so they wrap elsewhere
    qtbot.wait(1)
    for value in (0, 300, 500, bar.maximum()):
        bar.setValue(value)
        fresh_bar.setValue(value)
        qtbot.wait(1)
        assert _screen(area) == _screen(fresh_area), value


def test_text_out_of_sight_is_rewritten_before_it_is_selected_or_drawn(qtbot):
    """Selecting and copying with the keyboard, or drawing the label whole, reads the new
    text of paragraphs that were out of sight."""
    _area, label = _scrolled(qtbot, _paragraphs())
    label.set_paragraphs(_paragraphs(filters=7))
    _fresh_area, fresh = _scrolled(qtbot, _paragraphs(filters=7))
    qtbot.wait(1)
    assert label.grab().toImage() == fresh.grab().toImage()

    label.set_paragraphs(_paragraphs(filters=8))
    qtbot.wait(1)
    label.setFocus()
    qtbot.keyClick(label, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    shown = "\n".join(p.plain for p in _paragraphs(filters=8))
    assert label.selectedText() == shown.replace("\n", "\u2029")
    qtbot.keyClick(label, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == shown
    label.set_paragraphs(_paragraphs(filters=9))
    label.setSelection(0, len(shown))
    assert label.selectedText() == "\n".join(
        p.plain for p in _paragraphs(filters=9)).replace("\n", "\u2029")



_EXIT_WITH_PARAGRAPHS_KEPT = """
import sys
from PySide6.QtWidgets import QApplication, QScrollArea, QVBoxLayout, QWidget
from cnnstudio.core.explain import explain
from cnnstudio.core.templates import load_template
from cnnstudio.core.validator import validate
from cnnstudio.gui.inspector.computes import sections_paragraphs
from cnnstudio.gui.paragraph_label import ParagraphLabel

def paragraphs(filters):
    graph = load_template("lenet5")
    graph.layer("c1").params["filters"] = filters
    report = validate(graph).layers["c1"]
    return sections_paragraphs(explain(graph.layer("c1"), report), "#777777")

app = QApplication([])
area = QScrollArea()
area.setWidgetResizable(True)
area.resize(340, 150)
page = QWidget()
label = ParagraphLabel(page)
label.set_paragraphs(paragraphs(6))
QVBoxLayout(page).addWidget(label)
area.setWidget(page)
area.show()
area.activateWindow()
app.processEvents()
label.set_paragraphs(paragraphs(7))  # the paragraphs below the fold are kept for later
sys.exit(0 if label.edits_in_place == 1 else 3)
"""


def test_a_program_quits_cleanly_with_paragraphs_not_written_yet():
    """Quitting, Qt deactivates the window while Python takes its objects apart: the label
    must not write the paragraphs it kept for later then (it crashed the interpreter)."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH"))
                                          if p))
    done = subprocess.run([sys.executable, "-c", _EXIT_WITH_PARAGRAPHS_KEPT], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

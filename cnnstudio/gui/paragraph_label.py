"""A rich-text label made of paragraphs, of which an edit rewrites only those that changed.

The inspector's "What this layer computes" box is some thirty paragraphs of rich text, and an
edit of one number changes a handful of them (the output shape, the parameter count, the cost).
``QLabel.setText`` parses the whole text again at the next paint and then lays the document out
three times over (text option, frame margin, width): about 1.5 ms, a third of a template edit.

A ``ParagraphLabel`` is a QLabel all the same (the same painting, text selection, context menu and
size answers), but when only some paragraphs' text changed, and in no more than their digits, it
writes the new text into those paragraphs of the document the label shows: the document lays out
only them again (digits are one width in every face the text uses, see ``WrappedSteadyLabel``, so
every line breaks where it did). Anything else (another layer, a section more or less, a number
one digit longer) is set as a whole text, as a QLabel always does.

The document is the label's own (the one its text control shows, found as its child): QLabel
has no API to edit it. Its text is checked against what this label last put there before every
edit in place, so a label that has not laid out its last text yet (hidden) is simply set afresh.
QLabel's own copy of the text is not updated by an edit in place: ``text()`` answers for it, and
the accessible name carries what a screen reader would otherwise read from that copy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import QLabel, QWidget

from cnnstudio.gui.steady_label import WrappedSteadyLabel, digits_as_zero

__all__ = ["Paragraph", "ParagraphLabel"]


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One paragraph of rich text: ``start`` and ``end`` are its tags (``<p ...><b>`` and
    ``</b></p>``), ``inner`` its escaped text with no tags, so every character of it is
    formatted alike."""

    start: str
    inner: str
    end: str

    @property
    def html(self) -> str:
        return self.start + self.inner + self.end

    @property
    def plain(self) -> str:
        """The text the paragraph shows."""
        return html.unescape(self.inner)


class ParagraphLabel(WrappedSteadyLabel):
    """A word-wrapped rich-text label set paragraph by paragraph (see the module's text)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self._paragraphs: tuple[Paragraph, ...] = ()
        #: The text shown after edits in place (QLabel's own copy is older), else None.
        self._edited: str | None = None
        self.edits_in_place = 0  # how many updates were edits in place (tests read it)

    def text(self) -> str:
        return self._edited if self._edited is not None else super().text()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        self._paragraphs = ()
        if self._edited is not None:
            if text == self._edited:
                return
            self._edited = None
            self.setAccessibleName("")
            if text == QLabel.text(self):  # its own copy: setText would think nothing changed
                QLabel.clear(self)
        super().setText(text)

    def set_paragraphs(self, paragraphs: Iterable[Paragraph]) -> None:
        """Show ``paragraphs``: only the changed ones are rewritten when that is exact."""
        paragraphs = tuple(paragraphs)
        if paragraphs == self._paragraphs:
            return
        text = "".join(p.html for p in paragraphs)
        if self._edit_in_place(paragraphs):
            self._edited = text
            self.edits_in_place += 1
        else:
            self.setText(text)
        self._paragraphs = paragraphs

    def _edit_in_place(self, paragraphs: tuple[Paragraph, ...]) -> bool:
        """Rewrite the paragraphs whose text changed in digits only; False (nothing done) when
        the change is more than that or the document does not show the last paragraphs as
        written (not taken yet, or white space that rich text folds: a change of digits
        keeps that as it was)."""
        old = self._paragraphs
        if len(old) != len(paragraphs) or not self.digits_even():
            return False
        changed = [i for i, (a, b) in enumerate(zip(old, paragraphs, strict=True)) if a != b]
        for i in changed:
            a, b = old[i], paragraphs[i]
            if a.start != b.start or a.end != b.end or \
                    digits_as_zero(a.inner) != digits_as_zero(b.inner):
                return False
        document = self.findChild(QTextDocument)
        if (document is None or document.blockCount() != len(old)
                or document.toPlainText() != "\n".join(p.plain for p in old)):
            return False
        blocks = [document.findBlockByNumber(i) for i in changed]
        if any(block.begin().atEnd() for block in blocks):  # empty: no format to keep
            return False
        cursor = QTextCursor(document)
        for i, block in zip(changed, blocks, strict=True):
            char_format = block.begin().fragment().charFormat()  # the paragraph's one format
            start = block.position()  # (moving by "end of block" would lay the block out)
            cursor.beginEditBlock()  # (else each move of the cursor looks at the layout)
            cursor.setPosition(start)
            cursor.setPosition(start + block.length() - 1, QTextCursor.MoveMode.KeepAnchor)
            cursor.insertText(paragraphs[i].plain, char_format)
            cursor.endEditBlock()
        self.setAccessibleName(document.toPlainText())
        return True

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

Paragraphs out of sight (the inspector's dock shows the top of the box; the formulas further
down change with every edit) are written when they are next drawn (scrolled into view, the dock
brought to the front) or before the user selects or copies text (a mouse or key event, the
context menu, ``setSelection``); the accessible name and ``text()`` are the new text at once.

Painting. QLabel's paint draws every paragraph of its document wherever the area to repaint
lies, and its text control has the whole label repainted on every change. After an edit in
place only the changed paragraphs are repainted, and the label draws just the paragraphs in the
area to repaint, as QLabel would draw them (the same document layout call, palette and
position), while nothing but paints and edits in place reached it since QLabel's own paint laid
the text out. Any other event (a resize, a font, style, palette or focus change, a mouse or key
that may select text) and any text set whole hand the next paint back to QLabel, as does a
selection, a margin, an indent, a frame or a style sheet (which QLabel's paint handles).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, QRect, QRectF, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QPainter,
    QPaintEvent,
    QPalette,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QLabel, QStyleOption, QWidget

from cnnstudio.gui.steady_label import WrappedSteadyLabel, digits_as_zero

__all__ = ["Paragraph", "ParagraphLabel"]

#: Events that change nothing QLabel's paint depends on.
_PAINTING = frozenset({QEvent.Type.Paint, QEvent.Type.UpdateRequest, QEvent.Type.UpdateLater})
#: Events with which the user selects or copies text: paragraphs not written yet are written
#: first. (Not any event: some reach the label while it is being destroyed, its document gone.)
_READING = frozenset({QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick,
                      QEvent.Type.MouseButtonRelease, QEvent.Type.MouseMove,
                      QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride,
                      QEvent.Type.ContextMenu})


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One paragraph of rich text: ``start`` and ``end`` are its tags (``<p ...><b>`` and
    ``</b></p>``), ``inner`` its escaped text with no tags, so every character of it is
    formatted alike; ``plain`` is the text it shows."""

    start: str
    inner: str
    end: str
    plain: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plain", html.unescape(self.inner))

    @property
    def html(self) -> str:
        return self.start + self.inner + self.end


class ParagraphLabel(WrappedSteadyLabel):
    """A word-wrapped rich-text label set paragraph by paragraph (see the module's text).
    It shows text only: give it ``set_paragraphs``, ``setText`` or ``clear`` (QLabel's own
    setters of a number, picture or movie would bypass what it keeps of its document)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self._paragraphs: tuple[Paragraph, ...] = ()
        #: The text shown after edits in place (QLabel's own copy is older), else None.
        self._edited: str | None = None
        self.edits_in_place = 0  # how many updates were edits in place (tests read it)
        #: The text of each paragraph in the document after edits in place (None: as set
        #: whole), and the texts still to be written into it (by paragraph number).
        self._held: list[str] | None = None
        self._pending: dict[int, str] = {}
        #: Where each paragraph kept for later lies, while nothing but paints and edits in
        #: place (which keep every line where it was) reached the label.
        self._lines: dict[int, QRect] = {}
        #: QLabel's document and its text control, once found (see _text_parts).
        self._parts: tuple[QTextDocument, QObject | None] | None = None
        #: How to draw as QLabel would (the document, where, in which palette) while nothing
        #: but paints and edits in place reached the label since QLabel last painted; else None.
        self._plain: tuple[QTextDocument, QRect, QPalette] | None = None

    def text(self) -> str:
        return self._edited if self._edited is not None else super().text()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        if self._edited is not None and text == self._edited:
            return  # shown already (what is out of sight is written when it is seen)
        stale = self._edited is not None and text == QLabel.text(self)
        self._forget()
        if stale:  # QLabel's own copy: it would take the text for no change
            QLabel.clear(self)
        super().setText(text)

    def clear(self) -> None:
        self._forget()
        super().clear()

    def _forget(self) -> None:
        """Forget the edits in place, before the label is given a text whole (or none);
        QLabel.clear deletes the document and its text control."""
        if self._edited is not None:
            self._edited = None
            self.setAccessibleName("")
        self._paragraphs = ()
        self._plain, self._parts = None, None
        self._held, self._pending, self._lines = None, {}, {}

    def setSelection(self, start: int, length: int) -> None:  # noqa: N802 - Qt API
        self._write_pending(None)
        self._plain = None
        super().setSelection(start, length)

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

    def _text_parts(self) -> tuple[QTextDocument, QObject | None] | None:
        """The document QLabel shows and the text control that holds it (None: the control
        is not what this label knows how to keep quiet)."""
        if self._parts is None:
            document = self.findChild(QTextDocument)
            if document is None:
                return None
            control = document.parent()
            if control is None or control.metaObject().className() != "QWidgetTextControl":
                control = None
            self._parts = (document, control)
        return self._parts

    def _edit_in_place(self, paragraphs: tuple[Paragraph, ...]) -> bool:
        """Rewrite the paragraphs whose text changed in digits only; False (nothing done) when
        the change is more than that or the document does not hold what this label last put
        there (not taken yet, or white space that rich text folds: a change of digits keeps
        that as it was). Paragraphs outside the part of the label on screen are rewritten
        when they are next drawn, or before text is selected or copied."""
        old = self._paragraphs
        if len(old) != len(paragraphs) or not self.digits_even():
            return False
        for a, b in zip(old, paragraphs, strict=True):
            if a != b and (a.start != b.start or a.end != b.end
                           or digits_as_zero(a.inner) != digits_as_zero(b.inner)):
                return False
        parts = self._text_parts()
        if parts is None:
            return False
        document, control = parts
        held = self._held if self._held is not None else [p.plain for p in old]
        if document.blockCount() != len(held) or document.toPlainText() != "\n".join(held):
            return False
        if any(document.findBlockByNumber(i).begin().atEnd()  # empty: no format to keep
               for i, p in enumerate(paragraphs) if p.plain != held[i]):
            return False
        self._held = held
        self._pending = {i: p.plain for i, p in enumerate(paragraphs) if p.plain != held[i]}
        # Only what is on screen now; the text control would repaint the whole label for
        # each change, but the changed paragraphs keep their lines: repainting them is enough.
        self._write_pending(self.visibleRegion().boundingRect() if control is not None else None)
        self.setAccessibleName("\n".join(p.plain for p in paragraphs))
        return True

    def _write_pending(self, area: QRect | None, painting: bool = False) -> None:
        """Write the paragraphs still to be rewritten that lie in ``area`` (None: all) into the
        document, and repaint them unless ``painting`` (they are being painted)."""
        if not self._pending:
            return
        document, control = self._parts  # type: ignore[misc] - set while anything is pending
        layout = document.documentLayout()
        top_left = (self._plain[1] if self._plain else self._layout_rect(document)).topLeft()
        due = []
        for i in sorted(self._pending):
            block = document.findBlockByNumber(i)
            lines = self._lines.get(i)
            if lines is None:
                lines = layout.blockBoundingRect(block).translated(top_left).toAlignedRect()
                lines = self._lines[i] = QRect(0, lines.y() - 1, self.width(), lines.height() + 2)
            if area is None or lines.intersects(area):
                due.append((i, block, lines))
        if not due:
            return
        if control is not None:
            control.blockSignals(True)
        try:
            cursor = QTextCursor(document)
            for i, block, _lines in due:
                char_format = block.begin().fragment().charFormat()  # the paragraph's format
                start = block.position()  # (moving by "end of block" would lay it out)
                cursor.beginEditBlock()  # (else each move of the cursor looks at the layout)
                cursor.setPosition(start)
                cursor.setPosition(start + block.length() - 1, QTextCursor.MoveMode.KeepAnchor)
                text = self._pending.pop(i)
                cursor.insertText(text, char_format)
                cursor.endEditBlock()
                self._held[i] = text  # type: ignore[index]
        finally:
            if control is not None:
                control.blockSignals(False)
        if control is None:
            self.update()
        elif not painting:
            for _i, _block, lines in due:
                self.update(lines)

    # --- painting ---------------------------------------------------------------------------
    def _layout_rect(self, document: QTextDocument) -> QRect:
        """Where QLabel draws its document: its contents, the document placed in them
        vertically as the label's alignment says (QLabel's layoutRect)."""
        area = QRectF(self.contentsRect())
        height = document.documentLayout().documentSize().height()
        align = self.alignment()
        if align & Qt.AlignmentFlag.AlignVCenter:
            area.translate(0, max((area.height() - height) / 2, 0))
        elif align & Qt.AlignmentFlag.AlignBottom:
            area.translate(0, max(area.height() - height, 0))
        return area.toAlignedRect()

    def _plain_state(self) -> tuple[QTextDocument, QRect, QPalette] | None:
        """How QLabel, having just painted, draws its document: where and in which palette;
        None when it does more than that (a selection, a margin, an indent, a frame, a style
        sheet) or shows no document."""
        parts = self._text_parts()
        if parts is None or self.hasSelectedText() or self.margin() or self.indent() > 0 \
                or self.frameWidth() or self.style().metaObject().className() == "QStyleSheetStyle":
            return None
        option = QStyleOption()
        option.initFrom(self)
        palette = QPalette(option.palette)  # as QLabel gives its document (QLabel::paintEvent)
        if self.foregroundRole() != QPalette.ColorRole.Text and self.isEnabled():
            palette.setColor(QPalette.ColorRole.Text, palette.color(self.foregroundRole()))
        return parts[0], self._layout_rect(parts[0]), palette

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        self._write_pending(event.rect(), painting=True)
        if self._plain is None:
            super().paintEvent(event)
            self._plain = self._plain_state()
            return
        document, where, palette = self._plain
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette = palette
        context.clip = QRectF(event.rect().translated(-where.topLeft()))
        painter = QPainter(self)
        painter.translate(where.topLeft())
        painter.setClipRect(where.translated(-where.topLeft()))
        document.documentLayout().draw(painter, context)
        painter.end()

    def event(self, event: QEvent) -> bool:
        kind = event.type()
        if kind not in _PAINTING:  # it may change how QLabel lays out or draws
            self._plain = None
            self._lines = {}
            if kind in _READING:
                self._write_pending(None)
        return super().event(event)

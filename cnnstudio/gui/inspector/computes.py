"""Rich text for the "what this layer computes" box, from core.explain's sections.

Formulas are set in monospace so the digits line up as arithmetic; prose stays in the UI font
(ui.md: monospace only for formulas). Colours come from the widget's palette, so the box reads in
light and dark themes alike.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from cnnstudio.core.explain import Line, Section
from cnnstudio.gui.paragraph_label import Paragraph

#: Zero-width space: lets a long product like ``Ho*Wo*K*Fh*Fw*C/groups`` wrap after an operator
#: in a narrow dock instead of running past its edge.
_BREAK = "\u200b"
_OPERATOR = re.compile(r"([*/+,])(?=\S)")
#: Words up to this many characters stay whole (they fit any dock a form fits in).
_LONG_WORD = 12


def breakable(text: str) -> str:
    """``text`` with a break opportunity after each operator inside a long word."""
    return " ".join(_OPERATOR.sub(lambda m: m.group(1) + _BREAK, word)
                    if len(word) > _LONG_WORD else word for word in text.split(" "))


_FORMULA = '<p style="margin:1px 0 1px 8px; font-family:monospace;">'
_PROSE = '<p style="margin:1px 0 3px 0;">'


def sections_paragraphs(sections: list[Section], muted: str) -> list[Paragraph]:
    """Section titles in small bold, prose lines wrapped, formula lines in monospace."""
    parts = []
    for section in sections:
        parts.append(_title(section.title, muted))
        parts.extend(_line(line) for line in section.lines)
    return parts


# An edit changes a few lines of an explanation: the others are made once (and compare equal
# to what the box shows at once, being the same objects).
@lru_cache(maxsize=1024)
def _title(title: str, muted: str) -> Paragraph:
    return Paragraph(f'<p style="margin-top:8px; margin-bottom:2px; color:{muted};"><b>',
                     html.escape(title), "</b></p>")


@lru_cache(maxsize=1024)
def _line(line: Line) -> Paragraph:
    text = html.escape(line.text)
    if line.formula:
        return Paragraph(_FORMULA, breakable(text), "</p>")
    return Paragraph(_PROSE, text, "</p>")

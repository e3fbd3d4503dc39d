"""Rich text for the "what this layer computes" box, from core.explain's sections.

Formulas are set in monospace so the digits line up as arithmetic; prose stays in the UI font
(ui.md: monospace only for formulas). Colours come from the widget's palette, so the box reads in
light and dark themes alike.
"""

from __future__ import annotations

import html

from cnnstudio.core.explain import Section


def sections_html(sections: list[Section], muted: str) -> str:
    """Section titles in small bold, prose lines wrapped, formula lines in monospace."""
    parts = []
    for section in sections:
        parts.append(f'<p style="margin-top:8px; margin-bottom:2px; color:{muted};">'
                     f"<b>{html.escape(section.title)}</b></p>")
        for line in section.lines:
            text = html.escape(line.text)
            if line.formula:
                parts.append(f'<p style="margin:1px 0 1px 8px; font-family:monospace;">{text}</p>')
            else:
                parts.append(f'<p style="margin:1px 0 3px 0;">{text}</p>')
    return "".join(parts)

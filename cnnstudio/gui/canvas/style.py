"""Colours and fonts of the canvas, derived once from the system palette.

Chrome follows the user's light or dark theme; only the family tints (core.appearance) and the
state colours (error, warning, accent) are fixed, and they are chosen to read on both.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

from cnnstudio.core.appearance import (
    ACCENT_COLOR,
    ERROR_COLOR,
    FAMILY_COLORS,
    WARNING_COLOR,
)

HEADER_HEIGHT = 22.0
CORNER_RADIUS = 7.0
#: Below this zoom the detail lines are unreadable: blocks show only their type, larger.
DETAIL_ZOOM = 0.55


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` towards ``b``."""
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t,
                           a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t, 1.0)


@dataclass(frozen=True)
class CanvasStyle:
    background: QColor
    grid: QColor
    block_fill: QColor
    text: QColor
    muted: QColor
    edge: QColor
    header_text: QColor
    accent: QColor
    error: QColor
    warning: QColor
    title_font: QFont
    shape_font: QFont
    small_font: QFont
    dark: bool

    def family(self, family: str) -> QColor:
        return QColor(FAMILY_COLORS.get(family, "#888888"))

    def body(self, family: str) -> QColor:
        """The block's body: the theme's base colour with a hint of the family tint."""
        return mix(self.block_fill, self.family(family), 0.10 if not self.dark else 0.16)


def canvas_style(palette: QPalette | None = None) -> CanvasStyle:
    pal = palette or QGuiApplication.palette()
    base = pal.color(QPalette.ColorRole.Base)
    window = pal.color(QPalette.ColorRole.Window)
    text = pal.color(QPalette.ColorRole.Text)
    dark = base.lightnessF() < 0.5
    background = mix(window, text, 0.03)
    title = QFont(QGuiApplication.font())
    title.setPointSizeF(9.0)
    title.setWeight(QFont.Weight.DemiBold)
    shape = QFont(QGuiApplication.font())
    shape.setPointSizeF(10.0)
    small = QFont(QGuiApplication.font())
    small.setPointSizeF(8.5)
    return CanvasStyle(
        background=background,
        grid=mix(background, text, 0.10),
        block_fill=base,
        text=text,
        muted=mix(text, base, 0.45),
        edge=mix(text, base, 0.50),
        header_text=QColor("#ffffff"),
        accent=QColor(ACCENT_COLOR),
        error=QColor(ERROR_COLOR),
        warning=QColor(WARNING_COLOR),
        title_font=title,
        shape_font=shape,
        small_font=small,
        dark=dark,
    )

"""Colours and fonts of the canvas, derived from the application palette.

Chrome follows the user's light or dark scheme (the scene rebuilds its style when the palette
changes); the family tints (core.appearance) and the state colours are fixed, and where text sits
on a tint the tint is darkened just enough for the text to pass WCAG's 4.5:1 contrast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

from cnnstudio.core.appearance import (
    ACCENT_COLOR,
    ERROR_COLOR,
    FAMILY_COLORS,
    RGB,
    WARNING_COLOR,
    contrast,
    mix_rgb,
    readable_rgb,
)

HEADER_HEIGHT = 22.0
CORNER_RADIUS = 7.0
#: Level of detail. As the zoom falls a block drops its detail lines in order, first the id,
#: then the parameter count (with the edges' shape labels), and keeps its type and output shape,
#: drawn larger, while they are legible (8 to 9 screen pixels); below LEGIBLE_ZOOM only the
#: type shows, as large as the block allows. Thresholds from the fonts below at 96 dpi.
ID_ZOOM = 0.8
PARAMS_ZOOM = 0.62
LEGIBLE_ZOOM = 0.4
FULL, NO_ID, TYPE_AND_SHAPE, TYPE_ONLY = "full", "no id", "type and shape", "type only"


def detail_level(zoom: float) -> str:
    """What a block shows at ``zoom`` (one of FULL, NO_ID, TYPE_AND_SHAPE, TYPE_ONLY)."""
    zoom += 1e-6  # a zoom set to a threshold may read back a hair below it
    if zoom >= ID_ZOOM:
        return FULL
    if zoom >= PARAMS_ZOOM:
        return NO_ID
    return TYPE_AND_SHAPE if zoom >= LEGIBLE_ZOOM else TYPE_ONLY


def legible_point_size(base: float, zoom: float, most: float) -> float:
    """A font size (points) that reads as about 9 pixels at ``zoom``: never smaller than the
    design size ``base``, never larger than ``most`` (what fits the block)."""
    return min(most, max(base, 6.8 / max(zoom, 0.01)))


def _rgb(c: QColor) -> RGB:
    return (c.redF(), c.greenF(), c.blueF())


def _qcolor(rgb: RGB) -> QColor:
    return QColor.fromRgbF(*rgb, 1.0)


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` towards ``b``."""
    return _qcolor(mix_rgb(_rgb(a), _rgb(b), t))


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours, 1 (same) to 21 (black on white)."""
    return contrast(_rgb(a), _rgb(b))


def readable_fill(fill: QColor, text: QColor, ratio: float = 4.5) -> QColor:
    """:func:`cnnstudio.core.appearance.readable_rgb` on Qt colours."""
    return _qcolor(readable_rgb(_rgb(fill), _rgb(text), ratio))


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
    #: Header and body colours already worked out, by (part, family): every block paint
    #: asks, and finding a legible header shade takes a search.
    _shades: dict[tuple[str, str], QColor] = field(default_factory=dict, compare=False,
                                                   repr=False)

    def family(self, family: str) -> QColor:
        return QColor(FAMILY_COLORS.get(family, "#888888"))

    def header(self, family: str) -> QColor:
        """The header band (and the far-out block): the family tint, dark enough for the white
        title to read on it."""
        shade = self._shades.get(("header", family))
        if shade is None:
            shade = self._shades[("header", family)] = readable_fill(self.family(family),
                                                                     self.header_text)
        return QColor(shade)

    def body(self, family: str) -> QColor:
        """The block's body: the theme's base colour with a hint of the family tint."""
        shade = self._shades.get(("body", family))
        if shade is None:
            shade = self._shades[("body", family)] = mix(
                self.block_fill, self.family(family), 0.10 if not self.dark else 0.16)
        return QColor(shade)


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

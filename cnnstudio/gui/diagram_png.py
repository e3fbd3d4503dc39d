"""PNG diagrams: the exported SVG rasterised by Qt's SVG renderer.

Rasterising the one SVG (rather than drawing a second picture with QPainter or Pillow) keeps the
PNG identical to the SVG and the canvas. QtSvg ships in PySide6-Essentials, which cnnstudio
already requires; this module lives in ``gui`` because only ``gui`` may import Qt. It works
headless: without a display it asks Qt for the ``offscreen`` platform.
"""

from __future__ import annotations

import math
import os
import sys

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

#: Default pixels per SVG unit: sharp on slides and high-density screens.
DEFAULT_SCALE = 2.0


def _ensure_app() -> None:
    """Text rendering needs a Qt application; create a headless one when none runs.

    It is a QApplication, not a bare QGuiApplication: Qt allows one application object per
    process, and a later window (or pytest-qt) would crash creating widgets on a QGuiApplication.
    """
    if QGuiApplication.instance() is not None:
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
            or sys.platform in ("win32", "darwin")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Kept on the module so it lives as long as the process (Qt needs exactly one).
    global _APP
    _APP = QApplication([sys.argv[0] if sys.argv else "cnnstudio"])


_APP: QGuiApplication | None = None


#: Largest PNG drawn (4 bytes a pixel while drawing: 1 GB). Qt itself refuses images over 2 GB.
MAX_PNG_PIXELS = 256 * 1024 * 1024


def svg_to_png(svg: str, scale: float = DEFAULT_SCALE) -> bytes:
    """PNG bytes of an SVG document, ``scale`` pixels per SVG unit, on a white background."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"the PNG scale must be a positive number, got {scale}")
    _ensure_app()
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    if not renderer.isValid():
        raise ValueError("the diagram SVG could not be read by Qt")
    size = renderer.defaultSize()
    width, height = round(size.width() * scale), round(size.height() * scale)
    if width < 1 or height < 1:
        raise ValueError(f"at scale {scale:g} the {size.width()}x{size.height()} diagram would be "
                         f"{width}x{height} pixels; use a larger scale")
    if width * height > MAX_PNG_PIXELS:
        raise ValueError(f"at scale {scale:g} the diagram would be {width}x{height} pixels, more "
                         f"than the {MAX_PNG_PIXELS:,} a PNG may have; use a smaller scale or SVG")
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise ValueError("Qt could not encode the diagram as PNG")
    buffer.close()
    return bytes(data.data())

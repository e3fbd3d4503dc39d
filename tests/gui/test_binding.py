"""Guard against the PySide6 6.12.0 fault: every Qt call returning nothing dropped a reference
to None, and after enough calls the interpreter crashed far from the cause."""

from __future__ import annotations

import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtGui import QImage


def test_void_qt_calls_keep_none_alive():
    image = QImage(4, 4, QImage.Format.Format_RGB32)
    before = sys.getrefcount(None)
    for i in range(2000):
        image.setPixel(i % 4, (i // 4) % 4, 0xFF00FF)
    after = sys.getrefcount(None)
    assert before - after <= 5, f"None lost {before - after} references in 2000 calls"


def test_pyside_version_is_in_the_supported_range():
    parts = tuple(int(p) for p in pyside_version.split(".")[:2])
    assert (6, 8) <= parts < (6, 12), f"PySide6 {pyside_version}: need >= 6.8 and < 6.12"

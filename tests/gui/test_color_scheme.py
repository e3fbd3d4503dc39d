"""Light and dark: the window follows the system scheme or the View menu's choice, the choice
is remembered, and every block's text stays legible (WCAG contrast >= 4.5) in both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from cnnstudio.core.appearance import FAMILY_COLORS
from cnnstudio.gui import color_scheme as cs
from cnnstudio.gui import settings as cfg
from cnnstudio.gui.canvas.style import contrast_ratio
from cnnstudio.gui.main_window import MainWindow
from cnnstudio.gui.training.curves import CurvesWidget


@pytest.fixture(autouse=True)
def back_to_system() -> Iterator[None]:
    """The palette is process-wide: no later test may inherit a dark one."""
    yield
    cs.apply_scheme(cs.SYSTEM)


def settle() -> None:
    """Qt posts the palette-change events to the widgets; let them arrive."""
    QApplication.processEvents()


def window_dark(w: MainWindow) -> bool:
    return w.palette().color(QPalette.ColorRole.Window).lightnessF() < 0.5


def make(qtbot, settings) -> MainWindow:
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    return w


def assert_legible(w: MainWindow) -> None:
    style = w.canvas.canvas_scene.style
    for family in FAMILY_COLORS:
        body = style.body(family)
        assert contrast_ratio(style.text, body) >= 4.5, family
        assert contrast_ratio(style.muted, body) >= 3.0, family  # secondary small text
        assert contrast_ratio(style.header_text, style.header(family)) >= 4.5, family
    assert contrast_ratio(style.text, style.background) >= 4.5
    assert contrast_ratio(style.edge, style.background) >= 2.0  # lines, not text


def test_dark_gives_a_dark_window_and_canvas_with_legible_blocks(qtbot, settings):
    w = make(qtbot, settings)
    w.scheme_actions[cs.DARK].trigger()
    settle()
    assert window_dark(w)
    scene = w.canvas.canvas_scene
    assert scene.backgroundBrush().color().lightnessF() < 0.3
    assert scene.style.dark
    block = next(iter(scene.blocks.values()))
    assert block.style is scene.style  # existing blocks repaint in the new colours
    assert_legible(w)
    w.files.shutdown()


def test_plots_follow_the_scheme(qtbot, settings):
    w = make(qtbot, settings)
    curves = CurvesWidget()
    qtbot.addWidget(curves)
    w.scheme_actions[cs.DARK].trigger()
    settle()
    ground = curves.view.backgroundBrush().color()
    axis = curves.loss_plot.getAxis("left").pen().color()
    assert ground.lightnessF() < 0.3 and contrast_ratio(axis, ground) >= 4.5
    w.scheme_actions[cs.LIGHT].trigger()
    settle()
    assert curves.view.backgroundBrush().color().lightnessF() > 0.7
    w.files.shutdown()


def test_light_gives_the_reverse(qtbot, settings):
    w = make(qtbot, settings)
    w.scheme_actions[cs.DARK].trigger()
    settle()
    w.scheme_actions[cs.LIGHT].trigger()
    settle()
    assert not window_dark(w)
    scene = w.canvas.canvas_scene
    assert scene.backgroundBrush().color().lightnessF() > 0.7
    assert not scene.style.dark
    assert_legible(w)
    w.files.shutdown()


def test_system_follows_the_style_hints(qtbot, settings, monkeypatch):
    w = make(qtbot, settings)
    assert w.color_scheme.choice == cs.SYSTEM and w.scheme_actions[cs.SYSTEM].isChecked()
    monkeypatch.setattr(cs, "system_is_dark", lambda: True)
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    settle()
    assert window_dark(w) and w.canvas.canvas_scene.style.dark
    monkeypatch.setattr(cs, "system_is_dark", lambda: False)
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    settle()
    assert not window_dark(w) and not w.canvas.canvas_scene.style.dark
    # An explicit choice overrides the system's.
    w.scheme_actions[cs.LIGHT].trigger()
    settle()
    monkeypatch.setattr(cs, "system_is_dark", lambda: True)
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    settle()
    assert not window_dark(w)
    w.files.shutdown()


def test_the_choice_is_remembered(qtbot, settings):
    w = make(qtbot, settings)
    w.scheme_actions[cs.DARK].trigger()
    settle()
    w.files.shutdown()
    w.close()
    again = QSettings(settings.fileName(), QSettings.Format.IniFormat)
    assert cfg.get(again, "view/color_scheme") == cs.DARK
    cs.apply_scheme(cs.SYSTEM)
    w2 = make(qtbot, again)
    settle()
    assert w2.scheme_actions[cs.DARK].isChecked() and window_dark(w2)
    w2.files.shutdown()


def test_an_unknown_stored_scheme_falls_back_to_system(qtbot, settings):
    settings.setValue("view/color_scheme", "purple")
    w = make(qtbot, settings)
    assert w.color_scheme.choice == cs.SYSTEM
    w.files.shutdown()


@pytest.mark.parametrize("first, then", [(cs.LIGHT, cs.DARK), (cs.DARK, cs.LIGHT)])
def test_the_summary_table_follows_a_switch_of_scheme(qtbot, settings, first, then):
    """Its ground and its cells' text take the new palette (the table has a style sheet, which
    kept the palette it was first polished with: white rows with near-white text in dark)."""
    w = make(qtbot, settings)
    w.scheme_actions[first].trigger()
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    w.docks["summary"].raise_()
    settle()
    w.scheme_actions[then].trigger()
    settle()
    table = w.panels["summary"].table
    app_palette = QApplication.palette()
    ground = table.palette().color(QPalette.ColorRole.Base)
    assert ground == app_palette.color(QPalette.ColorRole.Base)
    text = table.item(1, 0).foreground().color()  # a layer id, in the plain text colour
    assert text == app_palette.color(QPalette.ColorRole.Text)
    assert contrast_ratio(text, ground) >= 4.5
    alternate = table.palette().color(QPalette.ColorRole.AlternateBase)
    assert contrast_ratio(text, alternate) >= 4.5


@pytest.mark.parametrize("first, then", [(cs.LIGHT, cs.DARK), (cs.DARK, cs.LIGHT)])
def test_the_inspectors_muted_texts_follow_a_switch_of_scheme(qtbot, settings, first, then):
    """The notation under a layer's title and the explanation's headings are muted text,
    coloured from the palette: after a switch, from the new one."""
    w = make(qtbot, settings)
    w.scheme_actions[first].trigger()
    settle()
    layer = next(lay.id for lay in w.document.graph if lay.type != "Input")
    w.selection.set([layer])
    settle()
    inspector = w.panels["inspector"]
    w.scheme_actions[then].trigger()
    settle()
    muted = QApplication.palette().color(QPalette.ColorRole.PlaceholderText).name()
    assert muted in inspector.notation.styleSheet()

"""Light or dark: the window follows the system's colour scheme unless the user picks one.

Qt 6.5+ reports the system scheme through ``QStyleHints.colorScheme`` and announces changes; we
answer with a whole palette (Fusion's, so every platform style reads the same in dark), and the
widgets that paint their own colours (canvas, plots) rebuild them on the palette-change event
Qt sends every widget. The View menu's choice (System / Light / Dark) is kept in the settings.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMenu, QStyleFactory

from cnnstudio.gui import settings as cfg

SYSTEM, LIGHT, DARK = "system", "light", "dark"
CHOICES = (SYSTEM, LIGHT, DARK)
_LABELS = {SYSTEM: "&System", LIGHT: "&Light", DARK: "&Dark"}
_SETTING = "view/color_scheme"


def is_dark(palette: QPalette) -> bool:
    """Whether ``palette`` draws light text on a dark window."""
    return palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style: grey-blue grounds, near-white text, bright links."""
    pal = QPalette()
    roles = QPalette.ColorRole
    colours = {
        roles.Window: "#2b2d31", roles.WindowText: "#e6e6e6", roles.Base: "#1f2024",
        roles.AlternateBase: "#292b30", roles.ToolTipBase: "#3a3d43", roles.ToolTipText: "#f0f0f0",
        roles.PlaceholderText: "#8d9099", roles.Text: "#e6e6e6", roles.Button: "#34373d",
        roles.ButtonText: "#e6e6e6", roles.BrightText: "#ff6b6b", roles.Light: "#45484f",
        roles.Midlight: "#3a3d43", roles.Mid: "#26282c", roles.Dark: "#18191c",
        roles.Shadow: "#000000", roles.Highlight: "#3d7be0", roles.HighlightedText: "#ffffff",
        roles.Link: "#6ea8ff", roles.LinkVisited: "#b48cff",
    }
    for role, colour in colours.items():
        pal.setColor(role, QColor(colour))
    grey = QColor("#7c7f87")
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, grey)
    return pal


class _Original:
    """The style and palette the application started with (captured once per process), so
    choosing Light on a light system gives back the native look, not Fusion's."""

    style: str | None = None
    palette: QPalette | None = None

    @classmethod
    def capture(cls, app: QApplication) -> None:
        if cls.palette is None:
            cls.style = app.style().name()
            cls.palette = QPalette(app.palette())


def system_is_dark() -> bool:
    """The system's scheme as Qt reports it; Unknown (older platforms) counts as light."""
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_scheme(choice: str) -> bool:
    """Give the application the palette of ``choice`` (system, light or dark); True if dark."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    _Original.capture(app)
    dark = system_is_dark() if choice == SYSTEM else choice == DARK
    original = _Original.palette
    assert original is not None
    if is_dark(original) == dark:  # the native look already is what is wanted
        style, palette = _Original.style, original
    else:
        style = "Fusion"
        palette = dark_palette() if dark else QStyleFactory.create("Fusion").standardPalette()
    if style and app.style().name().lower() != style.lower():
        app.setStyle(style)
    app.setPalette(palette)
    _repolish_style_sheets(app)
    return dark


def _repolish_style_sheets(app: QApplication) -> None:
    """A widget with a style sheet keeps the palette it was polished with: the summary table
    (whose sheet only pads its cells) kept a white ground in the dark scheme. Setting its sheet
    again polishes it with the new palette."""
    for widget in app.allWidgets():
        sheet = widget.styleSheet()
        if sheet:
            widget.setStyleSheet(sheet)


class ColorScheme(QObject):
    """The user's choice, kept in the settings and applied now and on every system change."""

    changed = Signal(str)  # the new choice
    #: The palette is process-wide, so the choice that governs it is too: the one made last by
    #: any window. A window that still follows the system must not undo another's explicit pick.
    app_choice: str = SYSTEM

    def __init__(self, settings: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        choice = cfg.get(settings, _SETTING)
        self.choice = ColorScheme.app_choice = choice if choice in CHOICES else SYSTEM
        self.dark = apply_scheme(self.choice)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_changed)

    def choose(self, choice: str) -> None:
        if choice not in CHOICES:
            raise ValueError(f"unknown colour scheme {choice!r}")
        self.choice = ColorScheme.app_choice = choice
        cfg.put(self.settings, _SETTING, choice)
        self.dark = apply_scheme(choice)
        self.changed.emit(choice)

    def _system_changed(self, *_: object) -> None:
        if self.choice == SYSTEM and ColorScheme.app_choice == SYSTEM:
            self.dark = apply_scheme(SYSTEM)
            self.changed.emit(SYSTEM)

    def fill_menu(self, menu: QMenu) -> dict[str, QAction]:
        """System / Light / Dark as exclusive checkable items; returns them by choice."""
        group = QActionGroup(menu)
        actions = {}
        for choice in CHOICES:
            action = actions[choice] = menu.addAction(_LABELS[choice])
            action.setCheckable(True)
            action.setChecked(choice == self.choice)
            group.addAction(action)
            action.triggered.connect(lambda _=False, c=choice: self.choose(c))
        menu.setToolTipsVisible(True)
        actions[SYSTEM].setToolTip("Follow the desktop's light or dark setting")
        self.changed.connect(lambda c: actions[c].setChecked(True))
        return actions

"""Every setting the window remembers, in one table: key, type, default and why it exists.

QSettings stores untyped values (an INI file returns strings, lists may come back as a single
string); reading through ``get`` converts to the declared type and falls back to the default on
anything unreadable, so a hand-edited or stale settings file never breaks start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "cnnstudio"
APPLICATION = "cnnstudio"
MAX_RECENT = 10


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    type: type
    default: Any
    doc: str


SETTINGS: dict[str, Setting] = {s.key: s for s in (
    Setting("window/geometry", QByteArray, QByteArray(),
            "main window size and position, restored at start"),
    Setting("window/state", QByteArray, QByteArray(),
            "which docks are shown, where, and tabbed with which"),
    Setting("files/recent", list, [], "recently opened or saved model files, newest first"),
    Setting("files/last_dir", str, "", "folder the Open and Save dialogs start in"),
    Setting("view/color_scheme", str, "system",
            "system, light or dark: the View menu's colour scheme (system follows the desktop)"),
    Setting("recovery/delay_ms", int, 500,
            "milliseconds from a change to its recovery copy (changes in between are written "
            "together)"),
)}


def open_settings() -> QSettings:
    """The user's settings (INI format, so tests can redirect them with QSettings.setPath)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                     ORGANIZATION, APPLICATION)


def get(settings: QSettings, key: str) -> Any:
    spec = SETTINGS[key]
    raw = settings.value(key, None)
    if raw is None:
        return spec.default
    try:
        if spec.type is list:
            return [str(v) for v in raw] if isinstance(raw, list | tuple) else [str(raw)]
        if spec.type is QByteArray:
            return raw if isinstance(raw, QByteArray) else QByteArray(raw)
        return spec.type(raw)
    except (TypeError, ValueError):
        return spec.default


def put(settings: QSettings, key: str, value: Any) -> None:
    if key not in SETTINGS:
        raise KeyError(f"unknown setting {key!r}")
    settings.setValue(key, value)


def remember_recent(settings: QSettings, path: str | Path) -> list[str]:
    """Put ``path`` first in the recent-files list (no duplicates, at most MAX_RECENT)."""
    text = str(Path(path).resolve())
    recent = [text] + [p for p in get(settings, "files/recent") if p != text]
    recent = recent[:MAX_RECENT]
    put(settings, "files/recent", recent)
    return recent


def settings_folder(settings: QSettings) -> Path:
    """The folder beside the settings file: the recovery copies live there too."""
    return Path(settings.fileName()).resolve().parent

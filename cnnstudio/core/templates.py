"""The built-in model templates shipped in ``resources/templates``.

A template is an ordinary model file, so users can open, study and change it like their own work;
its file stem is the name used on the command line (``cnnstudio new --template lenet5``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnstudio.core import modelfile
from cnnstudio.core.graph import Graph
from cnnstudio.resources import resource_path

#: The template a first-time user sees: small, valid, and trains in seconds on the built-in data.
DEFAULT_TEMPLATE = "shapes_cnn"


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    key: str
    title: str
    description: str
    path: Path


def templates_dir() -> Path:
    return resource_path("templates")


def list_templates() -> list[TemplateInfo]:
    """Every shipped template, sorted by key, with the title and description users see."""
    out = []
    for path in sorted(templates_dir().glob("*.json")):
        graph = modelfile.load(path)
        out.append(TemplateInfo(path.stem, graph.name or path.stem, graph.description, path))
    return out


def load_template(key: str) -> Graph:
    """The template's graph; KeyError listing the known keys for an unknown one."""
    path = templates_dir() / f"{key}.json"
    if not path.is_file():
        known = ", ".join(t.key for t in list_templates())
        raise KeyError(f"unknown template {key!r} (known: {known})")
    return modelfile.load(path)

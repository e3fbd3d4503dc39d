"""The layer tables of the model-format spec, read from the document itself.

The spec (``shared/spec/model-format.md``, beside the repository) is the public contract: the
catalogue must have exactly its types, params and defaults. Tests read them from the document
instead of restating them, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "model-format.md"

#: A param and its default in a table cell: ``filters (16)``, ``stride (= pool_size)``,
#: ``approximate ("none"; or "tanh")``.
_PARAM = re.compile(r"(\w+) \(([^)]*)\)")
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass
class SpecParam:
    default: Any
    #: ``stride (= pool_size)``: empty means the value of that param.
    same_as: str | None = None
    #: Every quoted word in the cell (the choices of a choice param).
    words: tuple[str, ...] = ()


@dataclass
class SpecType:
    params: dict[str, SpecParam] = field(default_factory=dict)


def _value(text: str) -> SpecParam:
    text = text.strip()
    if text.startswith("="):
        return SpecParam(None, same_as=text[1:].strip())
    first = text.split(";")[0].strip()
    return SpecParam(json.loads(first), words=tuple(_QUOTED.findall(text)))


def _section(text: str, title: str) -> list[list[str]]:
    """The rows (cells) of the first table under ``## title``."""
    body = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]


def spec_types() -> dict[str, SpecType]:
    """Every layer type of "Layer types" and "Additions to version 1", with params/defaults."""
    text = SPEC_PATH.read_text(encoding="utf-8")
    types: dict[str, SpecType] = {}
    for row in _section(text, "Layer types"):
        for name in (n.strip() for n in row[0].split(",")):
            entry = types.setdefault(name, SpecType())
            for pname, default in _PARAM.findall(row[1]):
                entry.params[pname] = _value(default)
    if "## Additions to version 1" in text:
        for row in _section(text, "Additions to version 1"):
            names, _, added = row[0].partition("`")
            added = added.strip("` ")
            for name in (n.strip() for n in names.split(",")):
                entry = types.setdefault(name, SpecType())
                if added:  # a new param of an existing type: "int or `[h, w]` (1)"
                    entry.params[added] = _value(re.findall(r"\(([^)]*)\)", row[1])[0])
                else:
                    for pname, default in _PARAM.findall(row[1]):
                        entry.params[pname] = _value(default)
    return types

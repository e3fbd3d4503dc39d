"""Read and write the model file (format v1): the one module that knows the JSON layout.

Reading is defensive: a model file may come from anyone, so every way a document can be wrong
becomes one ModelFileError whose message names the file, the layer and the field. A file with
structural problems the validator can explain (cycles, wrong input counts) still opens, so the
user can see and fix them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from cnnstudio.core.atomic import atomic_write_text
from cnnstudio.core.catalogue import LAYERS, ParamError
from cnnstudio.core.files import FileRefused, read_limited
from cnnstudio.core.graph import MAX_COORDINATE, Graph, GraphError, Layer, check_id, is_unicode
from cnnstudio.core.units import Unit, UnitError, check_unit_id

FORMAT = "cnnstudio.model"
VERSION = 1
#: Files bigger than this are not models; refusing early keeps a stray dataset from hanging us.
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_LAYERS = 100_000


class ModelFileError(Exception):
    """A model file or document that cannot be read; the message is one line for the user."""


def _fail(source: str, message: str) -> ModelFileError:
    return ModelFileError(f"{source}: {message}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def loads(text: str, source: str = "<model>") -> Graph:
    """Parse a model document; ``source`` (usually the path) prefixes every error message."""
    return from_document(parse_json(text, source), source)


def load(path: str | os.PathLike[str]) -> Graph:
    """Read a model file from disk; every failure is a ModelFileError naming the file."""
    return from_document(read_json(path), str(path))


def parse_json(text: str, source: str = "<model>", what: str = "model file") -> Any:
    """JSON as model files are read: no NaN or Infinity, a depth error in one line."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _fail(source, f"not a {what}: the JSON is nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise _fail(source, f"not valid JSON ({exc})") from None


def read_json(path: str | os.PathLike[str], limit: int | None = None,
              what: str = "model file") -> Any:
    """The JSON document in a regular file of at most ``limit`` bytes (default
    MAX_FILE_BYTES; model files, and the recovery copies that wrap one); ModelFileError naming
    the file otherwise."""
    source = str(path)
    try:
        raw = read_limited(path, MAX_FILE_BYTES if limit is None else limit, what)
    except FileRefused as exc:
        raise ModelFileError(str(exc)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(source, f"not a {what}: it is not UTF-8 text") from None
    return parse_json(text, source, what)


def from_document(doc: Any, source: str = "<model>") -> Graph:
    """Build a graph from an already-parsed JSON document (see the format spec)."""
    if not isinstance(doc, dict):
        raise _fail(source, f"not a model file: expected a JSON object, got {_kind(doc)}")
    fmt = doc.get("format")
    if fmt != FORMAT:
        raise _fail(source, f"not a cnnstudio model: \"format\" is {_short(fmt)}, expected "
                    f"{FORMAT!r}")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _fail(source, f"\"version\" must be a whole number, got {_short(version)}")
    if version > VERSION:
        raise _fail(source, f"model format version {_short(version)} is newer than this cnnstudio "
                    f"reads (version {VERSION}); update cnnstudio to open it")
    if version < 1:
        raise _fail(source, f"unknown model format version {_short(version)}")
    name = _text(doc, "name", source)
    description = _text(doc, "description", source)
    raw_layers = doc.get("layers")
    if not isinstance(raw_layers, list):
        raise _fail(source, f"\"layers\" must be a list, got {_kind(raw_layers)}")
    if len(raw_layers) > MAX_LAYERS:
        raise _fail(source, f"{len(raw_layers):,} layers is more than the {MAX_LAYERS:,} allowed")
    layers: list[Layer] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_layers):
        layer = _read_layer(raw, i, layers[-1].id if layers else None, source)
        if layer.id in seen:
            raise _fail(source, f"layer {layer.id!r}: field \"id\": duplicate id (layer {i + 1} "
                        "reuses an id)")
        seen.add(layer.id)
        layers.append(layer)
    for layer in layers:
        for src in layer.inputs:
            if src not in seen:
                raise _fail(source, f"layer {layer.id!r}: field \"inputs\": {src!r} names no layer")
    graph = Graph.unchecked(name, description, layers)
    graph.positions = _read_layout(doc.get("layout"), seen, source)
    if "units" in doc:
        graph.units.restore(_read_units(doc["units"], source))
        try:
            graph.units.check()
        except UnitError as exc:
            raise _fail(source, f"\"units\": {exc}") from None
    return graph


def _read_units(raw: Any, source: str) -> list[Unit]:
    """The ``units`` list, each entry's fields checked for kind; the rules between units (and
    with the layers) are ``Units.check``'s."""
    if not isinstance(raw, list):
        raise _fail(source, f"\"units\" must be a list, got {_kind(raw)}")
    units: list[Unit] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise _fail(source, f"unit {i + 1}: expected an object, got {_kind(entry)}")
        try:
            uid = check_unit_id(entry.get("id"))
        except UnitError as exc:
            raise _fail(source, f"unit {i + 1}: field \"id\": {exc}") from None
        where = f"unit {uid!r}"
        if uid in seen:
            raise _fail(source, f"{where}: field \"id\": duplicate unit id")
        seen.add(uid)
        name = entry.get("name", uid)
        if not isinstance(name, str):
            raise _fail(source, f"{where}: field \"name\": must be text, got {_kind(name)}")
        if not is_unicode(name):
            raise _fail(source, f"{where}: field \"name\": holds characters that are not valid "
                        "Unicode (a lone surrogate such as \\ud800)")
        members = entry.get("members")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise _fail(source, f"{where}: field \"members\": expected a list of layer ids, "
                        f"got {_short(members)}")
        parent = entry.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise _fail(source, f"{where}: field \"parent\": expected a unit id, got "
                        f"{_short(parent)}")
        collapsed = entry.get("collapsed", False)
        if not isinstance(collapsed, bool):
            raise _fail(source, f"{where}: field \"collapsed\": must be true or false, got "
                        f"{_short(collapsed)}")
        units.append(Unit(uid, name, list(members), parent, collapsed))
    return units


def _read_layer(raw: Any, index: int, previous: str | None, source: str) -> Layer:
    where = f"layer {index + 1}"
    if not isinstance(raw, dict):
        raise _fail(source, f"{where}: expected an object, got {_kind(raw)}")
    try:
        lid = check_id(raw.get("id"))
    except GraphError as exc:
        raise _fail(source, f"{where}: field \"id\": {exc}") from None
    where = f"layer {lid!r}"
    type_name = raw.get("type")
    if not isinstance(type_name, str) or type_name not in LAYERS:
        raise _fail(source, f"{where}: field \"type\": unknown layer type {_short(type_name)} "
                    f"(known: {', '.join(LAYERS)})")
    spec = LAYERS[type_name]
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise _fail(source, f"{where}: field \"params\": expected an object, got {_kind(params)}")
    try:
        full = spec.resolve(params)
    except ParamError as exc:
        raise _fail(source, f"{where}: field \"params\": {exc}") from None
    if "inputs" in raw:
        inputs = raw["inputs"]
        if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
            raise _fail(source, f"{where}: field \"inputs\": expected a list of layer ids, got "
                        f"{_short(inputs)}")
        if len(set(inputs)) != len(inputs):
            raise _fail(source, f"{where}: field \"inputs\": lists the same layer twice")
        if spec.max_inputs == 0 and inputs:
            raise _fail(source, f"{where}: field \"inputs\": an {type_name} layer takes no inputs")
    else:
        inputs = [] if spec.max_inputs == 0 or previous is None else [previous]
    trainable = raw.get("trainable", True)
    if not isinstance(trainable, bool):
        raise _fail(source, f"{where}: field \"trainable\": must be true or false, got "
                    f"{_short(trainable)}")
    return Layer(lid, type_name, full, list(inputs), trainable)


def _read_layout(raw: Any, ids: set[str], source: str) -> dict[str, tuple[float, float]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(source, f"\"layout\" must be an object, got {_kind(raw)}")
    out = {}
    for lid, pos in raw.items():
        if lid not in ids:
            continue  # a position for a layer that is gone: harmless, dropped
        ok = (isinstance(pos, list) and len(pos) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                      and abs(v) < MAX_COORDINATE and math.isfinite(v) for v in pos))
        if not ok:
            raise _fail(source, f"layer {lid!r}: field \"layout\": expected [x, y] numbers, got "
                        f"{_short(pos)}")
        out[lid] = (float(pos[0]), float(pos[1]))
    return out


def _text(doc: Mapping[str, Any], key: str, source: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise _fail(source, f"\"{key}\" must be text, got {_kind(value)}")
    if not is_unicode(value):
        raise _fail(source, f"\"{key}\" holds characters that are not valid Unicode (a lone "
                    "surrogate such as \\ud800)")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), "a value")


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else \
        _kind(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- writing ----------------------------------------------------------------------------------

def to_document(graph: Graph) -> dict[str, Any]:
    """The JSON document for a graph. ``inputs`` is written only where it differs from the
    implicit "the layer just before", so a plain chain reads as a plain list."""
    layers = []
    previous: str | None = None
    for layer in graph:
        entry: dict[str, Any] = {"id": layer.id, "type": layer.type}
        params = layer.spec.file_params(layer.params)
        if params:
            entry["params"] = params
        implicit = [] if layer.spec.max_inputs == 0 or previous is None else [previous]
        if layer.inputs != implicit:
            entry["inputs"] = list(layer.inputs)
        if not layer.trainable:
            entry["trainable"] = False
        layers.append(entry)
        previous = layer.id
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": graph.name}
    if graph.description:
        doc["description"] = graph.description
    doc["layers"] = layers
    if graph.positions:
        doc["layout"] = {lid: [_num(x), _num(y)] for lid, (x, y) in graph.positions.items()
                         if lid in graph}
    if len(graph.units):
        doc["units"] = [_unit_entry(unit) for unit in graph.units]
    return doc


def _unit_entry(unit: Unit) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": unit.id, "name": unit.name, "members": list(unit.members)}
    if unit.parent is not None:
        entry["parent"] = unit.parent
    if unit.collapsed:
        entry["collapsed"] = True
    return entry


def _num(v: float) -> float | int:
    """Whole coordinates as ints for tidy files; others exactly (JSON floats round-trip)."""
    return int(v) if float(v).is_integer() else float(v)


def dumps(graph: Graph) -> str:
    """The model file text: indented for diffs, one layer per line for readability."""
    doc = to_document(graph)
    layers = doc.pop("layers")
    layout = doc.pop("layout", None)
    units = doc.pop("units", None)
    head = json.dumps(doc, ensure_ascii=False, indent=2)[:-2]
    body = ",\n".join("    " + json.dumps(entry, ensure_ascii=False) for entry in layers)
    text = head + ',\n  "layers": [\n' + body + "\n  ]"
    if layout is not None:
        text += ',\n  "layout": ' + json.dumps(layout, ensure_ascii=False)
    if units is not None:
        text += ',\n  "units": [\n' + ",\n".join(
            "    " + json.dumps(entry, ensure_ascii=False) for entry in units) + "\n  ]"
    return text + "\n}\n"


def save(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Write atomically: a crash mid-save never leaves a half-written model behind."""
    atomic_write_text(path, dumps(graph))

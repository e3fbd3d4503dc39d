"""The model graph: layers with ids and params, the edges between them and canvas positions.

It knows nothing of Qt, selection or colours. Every mutation validates its arguments and raises
GraphError with a sentence a user can read, so the GUI can refuse an edit and say why. Shapes and
problems are not stored here: the validator derives them from the graph on demand.
"""

from __future__ import annotations

import copy
import dataclasses
import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cnnstudio.core.catalogue import LayerSpec, ParamError, layer_spec
from cnnstudio.core.units import Units


class GraphError(ValueError):
    """An edit that would break the graph (cycle, duplicate id, too many inputs, ...)."""


@dataclass(slots=True)
class Layer:
    """One block: its id, catalogue type, full params, the ids feeding it, and the freeze flag."""

    id: str
    type: str
    params: dict[str, Any]
    inputs: list[str] = field(default_factory=list)
    trainable: bool = True

    @property
    def spec(self) -> LayerSpec:
        return layer_spec(self.type)


_ID_RE = re.compile(r"^\S(.*\S)?$")


def is_unicode(text: str) -> bool:
    """False for text holding lone surrogates (JSON's ``"\\ud800"``), which no file or
    terminal can encode: such a name would be accepted, then crash whatever prints it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_id(layer_id: Any) -> str:
    """Ids are non-empty strings without leading/trailing blanks or control characters."""
    if not isinstance(layer_id, str) or not layer_id or not _ID_RE.match(layer_id):
        raise GraphError(f"a layer id must be a non-empty string without surrounding spaces, "
                         f"got {layer_id!r}")
    if any(ord(ch) < 32 for ch in layer_id) or len(layer_id) > 200 or not is_unicode(layer_id):
        raise GraphError(f"layer id {layer_id[:40]!r} has control characters, characters that "
                         "are not valid Unicode, or is too long")
    return layer_id


#: Canvas coordinates beyond this are refused, as the model-file reader refuses them.
MAX_COORDINATE = 1e9


def _position(x: float, y: float) -> tuple[float, float]:
    """A canvas position the file format can store (NaN or inf would make an unreadable file)."""
    pos = (float(x), float(y))
    if not all(abs(v) < MAX_COORDINATE for v in pos):  # also False for NaN
        raise GraphError(f"canvas position ({x}, {y}) is not a pair of reasonable numbers")
    return pos


def _check_distinct(layer_id: str, inputs: list[str]) -> None:
    """One edge per pair, as connect() enforces and the file format requires (a graph the
    reader would refuse must never be built in the first place)."""
    twice = [src for i, src in enumerate(inputs) if src in inputs[:i]]
    if twice:
        raise GraphError(f"{layer_id}: {twice[0]} is listed twice as an input")


def copy_value(value: Any) -> Any:
    """A param value (or a whole params dict) copied as deep as it is mutable: lists and dicts
    of JSON values are copied, strings, numbers and None shared. Later in-place changes of the
    original cannot reach the copy."""
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_value(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return copy.deepcopy(value)


class Graph:
    """An ordered collection of layers (file order is kept) plus edges and layout."""

    def __init__(self, name: str = "", description: str = "") -> None:
        self.name = name
        self.description = description
        self._layers: dict[str, Layer] = {}
        self.positions: dict[str, tuple[float, float]] = {}
        #: Named groups of layers (how the model is drawn, not what it computes).
        self.units = Units(self)

    # --- reading ----------------------------------------------------------------------------
    def __contains__(self, layer_id: object) -> bool:
        return layer_id in self._layers

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers.values())

    def layer(self, layer_id: str) -> Layer:
        try:
            return self._layers[layer_id]
        except KeyError:
            raise GraphError(f"no layer with id {layer_id!r}") from None

    @property
    def ids(self) -> list[str]:
        return list(self._layers)

    def consumers(self, layer_id: str) -> list[str]:
        """Layers that take ``layer_id`` as an input, in file order."""
        return [lay.id for lay in self._layers.values() if layer_id in lay.inputs]

    def edges(self) -> list[tuple[str, str]]:
        """(source, destination) pairs, in destination order then input order."""
        return [(src, lay.id) for lay in self._layers.values() for src in lay.inputs]

    def topological_order(self) -> list[str]:
        """Kahn's algorithm, ties broken by file order, so the order is stable across edits.

        Layers on or after a cycle (possible only in a file read from disk) come last, in file
        order; ``topological_split()`` names them.
        """
        order, stuck = self.topological_split()
        return order + stuck

    def topological_split(self) -> tuple[list[str], list[str]]:
        """(ordered ids, ids Kahn's algorithm cannot place: on a cycle or fed by one)."""
        index = {lid: i for i, lid in enumerate(self._layers)}
        pending = {lid: len({s for s in lay.inputs if s in self._layers})
                   for lid, lay in self._layers.items()}
        consumers: dict[str, list[str]] = {lid: [] for lid in self._layers}
        for lay in self._layers.values():
            for src in dict.fromkeys(lay.inputs):
                if src in consumers:
                    consumers[src].append(lay.id)
        ready = [(index[lid], lid) for lid, n in pending.items() if n == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, lid = heapq.heappop(ready)
            order.append(lid)
            for dst in consumers[lid]:
                pending[dst] -= 1
                if pending[dst] == 0:
                    heapq.heappush(ready, (index[dst], dst))
        done = set(order)
        return order, [lid for lid in self._layers if lid not in done]

    def ancestors(self, layer_id: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.layer(layer_id).inputs)
        while stack:
            lid = stack.pop()
            if lid in seen or lid not in self._layers:
                continue
            seen.add(lid)
            stack.extend(self._layers[lid].inputs)
        return seen

    def would_create_cycle(self, src: str, dst: str) -> bool:
        return src == dst or dst in self.ancestors(src)

    def new_id(self, type_name: str) -> str:
        """A fresh id from the type name: ``conv2d_1``, ``conv2d_2``, ..."""
        base = type_name.lower()
        n = 1
        while f"{base}_{n}" in self._layers or f"{base}_{n}" in self.units:
            n += 1
        return f"{base}_{n}"

    def _check_free(self, lid: str) -> None:
        """One id names one thing: a layer id may not repeat a layer's or a unit's."""
        if lid in self._layers:
            raise GraphError(f"a layer with id {lid!r} already exists")
        if lid in self.units:
            raise GraphError(f"{lid!r} is already the id of a unit")

    # --- mutation ---------------------------------------------------------------------------
    def add_layer(
        self,
        type_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        layer_id: str | None = None,
        inputs: Iterable[str] = (),
        trainable: bool = True,
        position: tuple[float, float] | None = None,
        index: int | None = None,
    ) -> str:
        """Add a layer (params checked against the catalogue); returns its id."""
        try:
            spec = layer_spec(type_name)
        except KeyError as exc:
            raise GraphError(str(exc.args[0])) from None
        lid = check_id(layer_id) if layer_id is not None else self.new_id(type_name)
        self._check_free(lid)
        try:
            full = spec.resolve(params or {})
        except ParamError as exc:
            raise GraphError(f"{lid}: {exc}") from None
        inputs = list(inputs)
        for src in inputs:
            if src not in self._layers:
                raise GraphError(f"{lid}: input {src!r} names no layer")
        _check_distinct(lid, inputs)
        self._check_arity(spec, lid, len(inputs))
        pos = _position(*position) if position is not None else None
        layer = Layer(lid, type_name, full, inputs, bool(trainable))
        items = list(self._layers.items())
        if index is None or index >= len(items):
            self._layers[lid] = layer
        else:
            items.insert(max(index, 0), (lid, layer))
            self._layers = dict(items)
        if pos is not None:
            self.positions[lid] = pos
        return lid

    def insert_layer(self, layer: Layer, index: int,
                     position: tuple[float, float] | None = None) -> None:
        """Put back a layer object exactly as it was (undo of a removal), at its old index."""
        self._check_free(layer.id)
        items = list(self._layers.items())
        items.insert(max(0, min(index, len(items))), (layer.id, copy.deepcopy(layer)))
        self._layers = dict(items)
        if position is not None:
            self.positions[layer.id] = position

    def index_of(self, layer_id: str) -> int:
        return self.ids.index(layer_id)

    def remove_layer(self, layer_id: str) -> Layer:
        """Remove a layer and every edge touching it (and it from its units; a unit left with no
        layer goes too); returns the removed layer."""
        layer = self.layer(layer_id)
        self.units.forget_layer(layer_id)
        del self._layers[layer_id]
        self.positions.pop(layer_id, None)
        for other in self._layers.values():
            if layer_id in other.inputs:
                other.inputs = [s for s in other.inputs if s != layer_id]
        return layer

    def _check_arity(self, spec: LayerSpec, lid: str, count: int) -> None:
        if spec.max_inputs is not None and count > spec.max_inputs:
            if spec.max_inputs == 0:
                raise GraphError(f"{lid}: an {spec.type} layer takes no inputs")
            raise GraphError(
                f"{lid}: {spec.type} takes {spec.max_inputs} input"
                f"{'s' if spec.max_inputs != 1 else ''}; use Add or Concatenate to merge branches"
            )

    def connect(self, src: str, dst: str, slot: int | None = None) -> None:
        """Feed ``src``'s output into ``dst`` (appended, or at ``slot`` in its input list)."""
        self.layer(src)
        target = self.layer(dst)
        if src in target.inputs:
            raise GraphError(f"{src} already feeds {dst}")
        if target.spec.max_inputs == 0:
            self._check_arity(target.spec, dst, 1)
        if self.would_create_cycle(src, dst):
            raise GraphError(
                f"connecting {src} -> {dst} would make a cycle: {dst} already feeds {src}"
                if src != dst else f"a layer cannot feed itself ({src})"
            )
        self._check_arity(target.spec, dst, len(target.inputs) + 1)
        if slot is None:
            target.inputs.append(src)
        else:
            target.inputs.insert(slot, src)

    def disconnect(self, src: str, dst: str) -> int:
        """Remove the edge; returns the slot it had, so an undo can put it back in place."""
        target = self.layer(dst)
        if src not in target.inputs:
            raise GraphError(f"{src} does not feed {dst}")
        slot = target.inputs.index(src)
        target.inputs.pop(slot)
        return slot

    def set_inputs(self, layer_id: str, inputs: Iterable[str]) -> None:
        """Replace a layer's inputs at once (used by undo and by insert-into-edge)."""
        layer = self.layer(layer_id)
        inputs = list(inputs)
        for src in inputs:
            self.layer(src)
        _check_distinct(layer_id, inputs)
        self._check_arity(layer.spec, layer_id, len(inputs))
        old = layer.inputs
        layer.inputs = []
        for src in inputs:
            if self.would_create_cycle(src, layer_id):
                layer.inputs = old
                raise GraphError(f"connecting {src} -> {layer_id} would make a cycle")
        layer.inputs = inputs

    def set_param(self, layer_id: str, name: str, value: Any) -> Any:
        """Set one param (checked against the catalogue); returns the previous value."""
        layer = self.layer(layer_id)
        spec = layer.spec
        if name not in spec.param_names:
            raise GraphError(f"{layer_id}: {spec.type} has no param {name!r}")
        try:
            value = spec.param(name).check(value)
        except ParamError as exc:
            raise GraphError(f"{layer_id}: {exc}") from None
        old = layer.params[name]
        layer.params[name] = value
        return old

    def set_trainable(self, layer_id: str, trainable: bool) -> bool:
        layer = self.layer(layer_id)
        old, layer.trainable = layer.trainable, bool(trainable)
        return old

    def rename(self, old: str, new: str) -> None:
        """Change a layer's id everywhere it is referenced (edges, layout), keeping its place."""
        self.layer(old)
        if new == old:
            return
        check_id(new)
        self._check_free(new)
        self.units.rename_layer(old, new)
        items = []
        for lid, layer in self._layers.items():
            layer.inputs = [new if s == old else s for s in layer.inputs]
            if lid == old:
                layer.id = new
                lid = new
            items.append((lid, layer))
        self._layers = dict(items)
        if old in self.positions:
            self.positions[new] = self.positions.pop(old)

    def move(self, layer_id: str, x: float, y: float) -> None:
        self.layer(layer_id)
        self.positions[layer_id] = _position(x, y)

    # --- whole-graph helpers ----------------------------------------------------------------
    def copy(self) -> Graph:
        """An independent copy: editing either never changes the other.

        Built field by field rather than with ``copy.deepcopy`` (which walks every value through
        its memo, about 2 ms per 100 layers): params hold plain JSON values, of which only
        lists and dicts are copied; strings, numbers and position tuples are immutable and
        shared. Any other attribute is deep-copied as before."""
        new = Graph.__new__(Graph)
        for name, value in vars(self).items():
            if name == "_layers":
                value = {lid: dataclasses.replace(layer, params=copy_value(layer.params),
                                                  inputs=list(layer.inputs))
                         for lid, layer in value.items()}
            elif name == "positions":
                value = dict(value)
            elif name == "units":
                value = value.copy_for(new)
            else:
                value = copy.deepcopy(value)
            setattr(new, name, value)
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (
            self.name == other.name
            and self.description == other.description
            and list(self._layers.items()) == list(other._layers.items())
            and self.positions == other.positions
            and self.units == other.units
        )

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self)} layers)"

    @classmethod
    def unchecked(cls, name: str, description: str, layers: Iterable[Layer]) -> Graph:
        """Build from layers already checked one by one (the file reader), without refusing
        cycles or arity: those are the validator's to report, so a broken file still opens."""
        g = cls(name, description)
        for layer in layers:
            if layer.id in g._layers:
                raise GraphError(f"duplicate layer id {layer.id!r}")
            g._layers[layer.id] = layer
        return g

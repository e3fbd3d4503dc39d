"""Property tests: whatever a model file contains, reading it either gives a graph or raises
ModelFileError, never anything else; and whatever it gives can be validated and saved again."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnstudio.core import modelfile
from cnnstudio.core.catalogue import LAYERS
from cnnstudio.core.modelfile import ModelFileError
from cnnstudio.core.templates import list_templates
from cnnstudio.core.validator import validate

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=-3, max_value=40), st.integers(min_value=10**300),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=0, max_value=1),
    st.text(max_size=12),
    st.sampled_from(["same", "valid", "in", "c1", "Conv2D", "Input", "cnnstudio.model"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
#: Smaller junk for the many slots of a model-shaped document (keeps generation fast).
small_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=4), inner, max_size=2)),
    max_leaves=4,
)

PARAM_NAMES = sorted({p.name for spec in LAYERS.values() for p in spec.params})
TYPE_NAMES = sorted(LAYERS)


def accept_or_refuse(document: Any) -> None:
    """The property: a graph that validates and round-trips, or a ModelFileError."""
    try:
        graph = modelfile.from_document(document, "fuzz.json")
    except ModelFileError as exc:
        assert str(exc).startswith("fuzz.json: ")
        assert "\n" not in str(exc)
        return
    validate(graph)
    validate(graph, strict=True)
    assert modelfile.loads(modelfile.dumps(graph)) == graph


@SETTINGS
@given(json_values)
def test_random_json_values(value: Any) -> None:
    accept_or_refuse(value)


@SETTINGS
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    try:
        modelfile.loads(text, "fuzz.json")
    except ModelFileError:
        pass


layer_entries = st.fixed_dictionaries(
    {"id": st.one_of(st.sampled_from(["in", "a", "b", "c", "d"]), scalars)},
    optional={
        "type": st.one_of(st.sampled_from(TYPE_NAMES), scalars),
        "params": st.one_of(
            st.dictionaries(st.sampled_from(PARAM_NAMES), small_values, max_size=4),
            small_values),
        "inputs": st.one_of(st.lists(st.sampled_from(["in", "a", "b", "c", "d", "x"]),
                                     max_size=3), small_values),
        "trainable": st.one_of(st.booleans(), scalars),
    },
)
model_like = st.fixed_dictionaries(
    {"format": st.one_of(st.just("cnnstudio.model"), scalars),
     "version": st.one_of(st.just(1), scalars),
     "layers": st.one_of(st.lists(layer_entries, max_size=7), small_values)},
    optional={"name": small_values, "description": small_values,
              "layout": st.one_of(st.dictionaries(st.sampled_from(["in", "a", "b", "zz"]),
                                                  small_values), small_values),
              "extra": small_values},
)


@SETTINGS
@given(model_like)
def test_model_shaped_documents(document: dict) -> None:
    accept_or_refuse(document)
    # The same document as text: NaN/Infinity become tokens the text reader must refuse.
    try:
        graph = modelfile.loads(json.dumps(document), "fuzz.json")
    except ModelFileError:
        return
    validate(graph)


IDS = ["in", "a", "b", "c", "d", "e"]
plausible_values = st.one_of(
    st.integers(0, 40), st.sampled_from(["same", "valid"]),
    st.lists(st.integers(0, 9), min_size=2, max_size=2), st.floats(0, 1), st.booleans(),
    st.none(),
)


@st.composite
def plausible_layer(draw: st.DrawFn) -> dict:
    """A layer entry that is often right: a real type, its own param names, known ids."""
    type_name = draw(st.sampled_from(TYPE_NAMES))
    entry: dict[str, Any] = {"id": draw(st.sampled_from(IDS)), "type": type_name}
    names = LAYERS[type_name].param_names
    if names and draw(st.booleans()):
        entry["params"] = draw(st.dictionaries(st.sampled_from(names), plausible_values,
                                               max_size=3))
    if draw(st.booleans()):
        entry["inputs"] = draw(st.lists(st.sampled_from(IDS), max_size=3, unique=True))
    if draw(st.booleans()):
        entry["trainable"] = draw(st.booleans())
    return entry


plausible_model = st.fixed_dictionaries(
    {"format": st.just("cnnstudio.model"), "version": st.just(1),
     "layers": st.lists(plausible_layer(), max_size=8, unique_by=lambda e: e["id"])},
    optional={"layout": st.dictionaries(st.sampled_from(IDS), st.lists(
        st.floats(-1e4, 1e4), min_size=2, max_size=2))},
)


@SETTINGS
@given(plausible_model)
def test_plausible_documents(document: dict) -> None:
    """Mostly well-formed models (cycles, wrong arity, bad values): the graphs that load must
    validate without crashing and survive a save/load unchanged."""
    accept_or_refuse(document)


TEMPLATE_DOCS = [json.loads(t.path.read_text(encoding="utf-8")) for t in list_templates()]


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a document, as a tuple of keys/indices."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out


def get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


@SETTINGS
@given(st.sampled_from(TEMPLATE_DOCS), st.data())
def test_mutated_templates(template: dict, data: st.DataObject) -> None:
    document = copy.deepcopy(template)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        where = [p for p in paths(document) if p]
        path = data.draw(st.sampled_from(where), label="path")
        parent, key = get(document, path[:-1]), path[-1]
        action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "swap"]),
                           label="action")
        if action == "replace":
            parent[key] = data.draw(json_values, label="value")
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif action == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = data.draw(st.integers(0, len(parent) - 1), label="other")
            parent[key], parent[other] = parent[other], parent[key]
        if not isinstance(document, dict):
            break
    accept_or_refuse(document)


@SETTINGS
@given(st.sampled_from(TEMPLATE_DOCS), st.data())
def test_templates_with_random_param_values(template: dict, data: st.DataObject) -> None:
    """Targeted: keep the document valid except for one param of one layer."""
    document = copy.deepcopy(template)
    layer = data.draw(st.sampled_from(document["layers"]), label="layer")
    spec = LAYERS[layer["type"]]
    if not spec.params:
        return
    name = data.draw(st.sampled_from(spec.param_names), label="param")
    layer.setdefault("params", {})[name] = data.draw(json_values, label="value")
    accept_or_refuse(document)

"""The identifier sanitiser and the per-type export tables, checked over the whole catalogue."""

from __future__ import annotations

import builtins
import keyword

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstudio.core.catalogue import LAYERS
from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import validate
from cnnstudio.export.identifiers import MODULE_ATTRIBUTES, python_identifiers
from cnnstudio.export.registry import (
    TORCH_ARRAY_NAMES,
    ExportError,
    layer_tables,
    network_plan,
    refuse_invalid,
    unsupported,
)


def _is_safe(name: str) -> bool:
    return (name.isidentifier() and name.isascii() and not keyword.iskeyword(name)
            and not keyword.issoftkeyword(name) and not hasattr(builtins, name)
            and not name.startswith("_") and name not in MODULE_ATTRIBUTES)


@pytest.mark.parametrize("layer_id,expected", [
    ("conv1", "conv1"),
    ("conv 1", "conv_1"),
    ("in", "in_layer"),
    ("input", "input_layer"),
    ("forward", "forward_layer"),
    ("__class__", "class_layer"),
    ("2nd", "layer_2nd"),
    ("--", "layer"),
    ("__import__('os').system('x')", "import_os_system_x"),
])
def test_ids_become_readable_safe_identifiers(layer_id, expected):
    assert python_identifiers([layer_id])[layer_id] == expected


def test_collisions_get_numbered_suffixes_in_order():
    names = python_identifiers(["a-b", "a b", "a_b", "a_b_2"])
    assert list(names.values()) == ["a_b", "a_b_2", "a_b_3", "a_b_2_2"]
    assert python_identifiers(["a-b", "a b", "a_b", "a_b_2"]) == names  # deterministic


def test_reserved_names_are_avoided():
    assert python_identifiers(["CnnModel"], reserved=["CnnModel"])["CnnModel"] != "CnnModel"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True))
def test_any_ids_give_distinct_safe_identifiers(ids):
    names = python_identifiers(ids)
    assert set(names) == set(ids)
    assert len(set(names.values())) == len(ids)
    assert all(_is_safe(n) for n in names.values())


def test_module_attribute_list_covers_installed_torch():
    torch = pytest.importorskip("torch")
    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")}
    public |= {n for n in vars(torch.nn.Module()) if not n.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)


@pytest.mark.parametrize("type_name", list(LAYERS))
@pytest.mark.parametrize("fmt", ["pytorch", "onnx", "diagram"])
def test_every_catalogue_type_has_an_export_mapping(fmt, type_name):
    assert type_name in layer_tables()[fmt], f"{fmt} export has no mapping for {type_name}"


def test_unsupported_names_what_is_missing():
    assert unsupported({}) == list(LAYERS)
    assert unsupported(dict.fromkeys(LAYERS)) == []


@pytest.mark.parametrize("type_name", list(LAYERS))
def test_every_weight_array_has_a_torch_name(type_name):
    spec = LAYERS[type_name]
    for name in (*spec.weights, *spec.buffers):
        assert name in TORCH_ARRAY_NAMES


def test_invalid_model_refused_with_every_error():
    g = Graph("bad")
    g.add_layer("Input", {"channels": 1, "height": 4, "width": 4}, layer_id="in")
    g.add_layer("Conv2D", {"kernel_size": 7}, layer_id="c", inputs=["in"])
    g.add_layer("Dense", {}, layer_id="d", inputs=["in"])
    errors = validate(g).errors
    assert len(errors) >= 2
    with pytest.raises(ExportError) as info:
        refuse_invalid(g)
    assert info.value.lines == [f"error [{p.code}] {p.message}" for p in errors]


def test_plan_leaves_out_layers_that_do_not_feed_the_output():
    g = Graph("sketch")
    g.add_layer("Input", {"channels": 1, "height": 4, "width": 4}, layer_id="in")
    g.add_layer("Flatten", layer_id="f", inputs=["in"])
    g.add_layer("Dense", layer_id="loose")  # not connected: a warning, not an error
    plan = network_plan(g, layer_tables()["pytorch"], "PyTorch")
    assert plan.order == ["in", "f"]

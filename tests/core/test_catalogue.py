"""The layer catalogue: every type of the spec, params that teach, and checks that refuse nonsense.

The GUI's inspector, the file reader and the validator all trust ParamSpec.check, so a value it
lets through is a value the whole program must cope with.
"""

from __future__ import annotations

import math

import pytest
from spec_document import SPEC_PATH
from spec_document import spec_types as read_spec_types

from cnnstudio.core import catalogue
from cnnstudio.core.catalogue import (
    CHOICE,
    FAMILY_TITLES,
    LAYERS,
    PARAM_KINDS,
    ParamError,
    layer_spec,
    types_by_family,
)

ALL_PARAMS = [(spec, p) for spec in LAYERS.values() for p in spec.params]
PARAM_IDS = [f"{spec.type}.{p.name}" for spec, p in ALL_PARAMS]


@pytest.fixture(scope="module")
def spec_types():
    if not SPEC_PATH.exists():
        pytest.skip(f"the model-format spec is not beside the repository ({SPEC_PATH})")
    return read_spec_types()


def test_catalogue_has_exactly_the_spec_types_params_and_defaults(spec_types) -> None:
    assert set(LAYERS) == set(spec_types)
    for type_name, spec in LAYERS.items():
        documented = spec_types[type_name].params
        assert set(spec.param_names) == set(documented), type_name
        for name, doc in documented.items():
            param = spec.param(name)
            assert param.default == doc.default, (type_name, name)
            assert param.same_as == doc.same_as, (type_name, name)
            if param.kind == CHOICE:
                assert param.choices == doc.words, (type_name, name)


@pytest.mark.parametrize(("spec", "param"), ALL_PARAMS, ids=PARAM_IDS)
def test_every_param_is_documented_and_its_default_passes(spec, param) -> None:
    assert param.kind in PARAM_KINDS
    assert len(param.help) > 15, "help should teach the concept in a sentence"
    assert param.label
    assert param.check(param.default) == param.default


@pytest.mark.parametrize("spec", LAYERS.values(), ids=list(LAYERS))
def test_every_type_is_described(spec) -> None:
    assert spec.title and len(spec.description) > 30
    assert spec.family in FAMILY_TITLES
    assert spec.notation(spec.defaults()), "blocks and diagrams show this notation"
    assert spec.resolve({}) == spec.defaults()


def test_families_group_every_type_once() -> None:
    groups = types_by_family()
    assert list(groups) == list(FAMILY_TITLES)
    listed = [s.type for specs in groups.values() for s in specs]
    assert sorted(listed) == sorted(LAYERS)


def test_input_counts() -> None:
    assert (layer_spec("Input").min_inputs, layer_spec("Input").max_inputs) == (0, 0)
    for t in ("Conv2D", "Dense", "ReLU", "BatchNorm", "Flatten", "MaxPool2D"):
        assert (layer_spec(t).min_inputs, layer_spec(t).max_inputs) == (1, 1)
    for t in ("Add", "Concatenate"):
        assert layer_spec(t).min_inputs == 2 and layer_spec(t).max_inputs is None
        assert layer_spec(t).is_merge


def test_weight_names_match_the_weights_file_format() -> None:
    assert layer_spec("Conv2D").weights == ("weight", "bias")
    assert layer_spec("Dense").weights == ("weight", "bias")
    assert layer_spec("BatchNorm").weights == ("gamma", "beta")
    assert layer_spec("BatchNorm").buffers == ("moving_mean", "moving_var")
    assert layer_spec("ReLU").weights == ()


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(KeyError) as exc:
        layer_spec("Conv3D")
    assert "Conv3D" in str(exc.value) and "Conv2D" in str(exc.value)


def test_notation() -> None:
    conv = layer_spec("Conv2D")
    assert conv.notation(conv.resolve({"kernel_size": 3, "padding": "same"})) == \
        "Conv 16@3x3 s1 same"
    assert conv.notation(conv.resolve({"filters": 6, "kernel_size": 5})) == "Conv 6@5x5 s1 valid"
    assert conv.notation(conv.resolve({"kernel_size": [1, 7], "stride": 2})) == \
        "Conv 16@1x7 s2 valid"
    pool = layer_spec("MaxPool2D")
    assert pool.notation(pool.defaults()) == "MaxPool 2x2"
    assert "s1" in pool.notation(pool.resolve({"pool_size": 3, "stride": 1}))


# --- ParamSpec.check: accepted values in canonical form -----------------------------------------

def p(type_name: str, name: str):
    return layer_spec(type_name).param(name)


@pytest.mark.parametrize(("type_name", "name", "given", "canonical"), [
    ("Conv2D", "filters", 32, 32),
    ("Conv2D", "filters", 32.0, 32),  # JSON writers sometimes emit 32.0
    ("Conv2D", "kernel_size", [3, 3], 3),
    ("Conv2D", "kernel_size", (3, 5), [3, 5]),
    ("Conv2D", "kernel_size", [3.0, 5], [3, 5]),
    ("Conv2D", "padding", "same", "same"),
    ("Conv2D", "padding", 0, 0),
    ("Conv2D", "padding", [1, 2], [1, 2]),
    ("Conv2D", "padding", [2, 2], 2),
    ("MaxPool2D", "stride", None, None),
    ("Dropout", "rate", 0, 0.0),
    ("Dropout", "rate", 0.99, 0.99),
    ("BatchNorm", "epsilon", 1e-12, 1e-12),
    ("BatchNorm", "momentum", 0, 0.0),
    ("LeakyReLU", "alpha", 1, 1.0),
    ("Dense", "use_bias", False, False),
])
def test_check_accepts_and_canonicalises(type_name, name, given, canonical) -> None:
    got = p(type_name, name).check(given)
    assert got == canonical
    assert type(got) is type(canonical)


# --- ParamSpec.check: refused values and what the message says ----------------------------------

@pytest.mark.parametrize(("type_name", "name", "bad", "words"), [
    ("Conv2D", "filters", True, ["filters", "whole number", "True"]),
    ("Conv2D", "filters", "16", ["filters", "whole number", "'16'"]),
    ("Conv2D", "filters", 2.5, ["filters", "whole number", "2.5"]),
    ("Conv2D", "filters", math.nan, ["filters", "whole number", "nan"]),
    ("Conv2D", "filters", math.inf, ["filters", "inf"]),
    ("Conv2D", "filters", 0, ["filters", "[1,", "got 0"]),
    ("Conv2D", "filters", -3, ["filters", "got -3"]),
    ("Conv2D", "filters", 10**30, ["filters", "1048576", "1000000000"]),
    ("Conv2D", "filters", 10**400, ["filters", "1048576"]),
    ("Conv2D", "filters", 1e300, ["filters", "1e+300"]),
    ("Conv2D", "filters", None, ["filters", "must be set"]),
    ("Conv2D", "kernel_size", 0, ["kernel_size", "got 0"]),
    ("Conv2D", "kernel_size", [3], ["kernel_size", "[h, w]"]),
    ("Conv2D", "kernel_size", [3, 3, 3], ["kernel_size", "[h, w]"]),
    ("Conv2D", "kernel_size", [3, 0], ["kernel_size width", "got 0"]),
    ("Conv2D", "kernel_size", [[3], 3], ["kernel_size height", "whole number"]),
    ("Conv2D", "kernel_size", {"h": 3}, ["kernel_size", "whole number"]),
    ("Conv2D", "stride", 0, ["stride", "got 0"]),
    ("Conv2D", "padding", "full", ["padding", "valid", "same", "'full'"]),
    ("Conv2D", "padding", -1, ["padding", "got -1"]),
    ("Conv2D", "padding", [1, -1], ["padding width", "got -1"]),
    ("Conv2D", "use_bias", 1, ["use_bias", "true or false", "got 1"]),
    ("Conv2D", "use_bias", "yes", ["use_bias", "true or false"]),
    ("Dropout", "rate", 1.0, ["rate", "[0, 1)", "got 1"]),
    ("Dropout", "rate", 1, ["rate", "[0, 1)"]),
    ("Dropout", "rate", -0.1, ["rate", "-0.1"]),
    ("Dropout", "rate", math.nan, ["rate", "finite"]),
    ("Dropout", "rate", math.inf, ["rate", "finite"]),
    ("Dropout", "rate", "0.5", ["rate", "a number", "'0.5'"]),
    ("Dropout", "rate", False, ["rate", "a number"]),
    ("Dropout", "rate", 10**400, ["rate", "[0, 1)"]),
    ("BatchNorm", "epsilon", 0, ["epsilon", "(0, 1]", "got 0"]),
    ("BatchNorm", "momentum", 1.0, ["momentum", "[0, 1)"]),
    ("Input", "channels", 5000, ["channels", "4096"]),
    ("MaxPool2D", "pool_size", None, ["pool_size", "must be set"]),
])
def test_check_refuses_with_a_readable_reason(type_name, name, bad, words) -> None:
    with pytest.raises(ParamError) as exc:
        p(type_name, name).check(bad)
    message = str(exc.value)
    for word in words:
        assert word in message, (word, message)
    assert "\n" not in message and len(message) < 200


def test_param_error_is_a_value_error() -> None:
    assert issubclass(ParamError, ValueError)


def test_resolve_fills_defaults_and_names_unknown_params() -> None:
    conv = layer_spec("Conv2D")
    full = conv.resolve({"filters": 8})
    assert full == {**conv.defaults(), "filters": 8}
    with pytest.raises(ParamError) as exc:
        conv.resolve({"filter": 8})
    assert "'filter'" in str(exc.value) and "filters" in str(exc.value)
    with pytest.raises(ParamError, match="known: none"):
        layer_spec("ReLU").resolve({"alpha": 0.1})


def test_range_text() -> None:
    assert p("Dropout", "rate").range_text() == "[0, 1)"
    assert p("BatchNorm", "epsilon").range_text() == "(0, 1]"
    assert p("Conv2D", "filters").range_text() == f"[1, {catalogue.MAX_SIZE}]"

"""Every diagnostic code the validator can give: a model that triggers it, and what it says.

The messages are what a student reads on the canvas, so each test checks the numbers and the
advice, not only the code.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from cnnstudio.core import modelfile, rules
from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import CODES, ERROR, WARNING, Problem, validate

from .builders import chain


def from_layers(layers: list[dict]) -> Graph:
    """A graph read from a document: the only way to build what the Graph API refuses."""
    doc = {"format": "cnnstudio.model", "version": 1, "name": "t", "layers": layers}
    return modelfile.loads(json.dumps(doc), "t.json")


IN8 = {"id": "in", "type": "Input", "params": {"channels": 4, "height": 8, "width": 8}}


def kernel_too_large() -> Graph:
    return chain((1, 10, 10), [("c3", "Conv2D", {"kernel_size": 12})])


def pool_too_large() -> Graph:
    return chain((2, 3, 3), [("p", "MaxPool2D", {"pool_size": 4})])


def dense_on_image() -> Graph:
    return chain((3, 4, 4), [("d", "Dense", {"units": 5})])


def conv_on_vector() -> Graph:
    return chain((3, 4, 4), [("f", "Flatten", {}), ("c", "Conv2D", {})])


def fractional() -> Graph:
    return chain((1, 10, 10), [("c", "Conv2D", {"kernel_size": 3, "stride": 2})])


def two_outputs() -> Graph:
    g = chain((1, 8, 8), [("f", "Flatten", {}), ("d1", "Dense", {})])
    g.add_layer("Dense", layer_id="d2", inputs=["f"])
    return g


def no_input() -> Graph:
    g = Graph()
    g.add_layer("Dense", layer_id="d")
    return g


def cycle() -> Graph:
    return from_layers([
        IN8,
        {"id": "add", "type": "Add", "inputs": ["in", "r"]},
        {"id": "r", "type": "ReLU", "inputs": ["add"]},
        {"id": "gap", "type": "GlobalAvgPool2D"},
        {"id": "out", "type": "Dense"},
    ])


def dense_with_two_inputs() -> Graph:
    return from_layers([
        IN8,
        {"id": "f", "type": "Flatten"},
        {"id": "g", "type": "Flatten", "inputs": ["in"]},
        {"id": "d", "type": "Dense", "inputs": ["f", "g"]},
    ])


def add_with_one_input() -> Graph:
    return from_layers([IN8, {"id": "a", "type": "Add"}])


def add_with_loose_input() -> Graph:
    g = chain((4, 8, 8), [("r", "ReLU", {})])
    g.add_layer("Conv2D", {"filters": 4, "padding": "same"}, layer_id="loose")
    g.add_layer("Add", layer_id="a", inputs=["r", "loose"])
    return g


def unconnected() -> Graph:
    g = chain((1, 8, 8), [("f", "Flatten", {}), ("d", "Dense", {})])
    g.add_layer("Dense", layer_id="lonely")
    return g


def softmax_inside() -> Graph:
    return chain((1, 8, 8), [("f", "Flatten", {}), ("sm", "Softmax", {}), ("d", "Dense", {})])


def add_mismatch() -> Graph:
    g = chain((4, 8, 8), [("c", "Conv2D", {"filters": 8, "padding": "same"})])
    g.add_layer("Add", layer_id="a", inputs=["in", "c"])
    return g


def concat_mismatch() -> Graph:
    g = chain((4, 8, 8), [("p", "MaxPool2D", {})])
    g.add_layer("Concatenate", layer_id="cat", inputs=["in", "p"])
    return g


def concat_rank_mismatch() -> Graph:
    g = chain((4, 8, 8), [("f", "Flatten", {})])
    g.add_layer("Concatenate", layer_id="cat", inputs=["in", "f"])
    return g


def dense_after_dense() -> Graph:
    return chain((1, 4, 4), [("f", "Flatten", {}), ("d1", "Dense", {"units": 8}),
                             ("drop", "Dropout", {}), ("d2", "Dense", {"units": 3})])


def relu_on_scores() -> Graph:
    return chain((1, 4, 4), [("f", "Flatten", {}), ("d", "Dense", {"units": 3}),
                             ("r", "ReLU", {}), ("sm", "Softmax", {})])


def conv_groups_not_dividing() -> Graph:
    return chain((6, 8, 8), [("c", "Conv2D", {"filters": 8, "groups": 4})])


def groupnorm_groups_not_dividing() -> Graph:
    return chain((6, 8, 8), [("gn", "GroupNorm", {"groups": 4})])


def multiply_mismatch() -> Graph:
    g = chain((4, 8, 8), [("gap", "GlobalAvgPool2D", {}), ("d", "Dense", {"units": 3})])
    g.add_layer("Multiply", layer_id="m", inputs=["in", "d"])
    return g


# (code, build, layer, words the message must contain, fix)
CASES: list[tuple[str, Callable[[], Graph], str | None, list[str], str | None]] = [
    ("kernel_too_large", kernel_too_large, "c3",
     ["Conv2D c3", "(10 + 2*0 - 12)/1 + 1 = -1 < 1", "12x12", "10x10"], rules.FIX_PADDING_SAME),
    ("kernel_too_large", pool_too_large, "p",
     ["MaxPool2D p", "(3 + 2*0 - 4)/4 + 1 = 0.75 < 1", "4x4", "3x3"], rules.FIX_SHRINK_POOL),
    ("wrong_rank", dense_on_image, "d",
     ["Dense d", "3x4x4", "Flatten", "GlobalAvgPool2D"], rules.FIX_INSERT_FLATTEN),
    ("wrong_rank", conv_on_vector, "c", ["Conv2D c", "flat vector", "48"], None),
    ("fractional_tiling", fractional, "c",
     ["Conv2D c", "(10 + 2*0 - 3)/2 = 3.5", "floored to 4", "row 9"], None),
    ("multiple_outputs", two_outputs, "d1", ["d1", "2 outputs", "d2"], None),
    ("no_input", no_input, None, ["no Input layer"], None),
    ("cycle", cycle, "add", ["add", "cycle"], None),
    ("wrong_input_count", dense_with_two_inputs, "d",
     ["Dense d", "takes 1 input but has 2", "Add or Concatenate"], None),
    ("wrong_input_count", add_with_one_input, "a", ["Add a", "at least 2 inputs but has 1"], None),
    ("input_not_connected", add_with_loose_input, "a", ["Add a", "loose", "not connected"], None),
    ("not_connected", unconnected, "lonely", ["Dense lonely", "not connected to the Input"],
     rules.FIX_CONNECT_PREVIOUS),
    ("softmax_not_last", softmax_inside, "sm", ["Softmax sm", "not the last layer"],
     rules.FIX_REMOVE_BRIDGED),
    ("linear_stack", dense_after_dense, "d2",
     ["Dense d2 follows Dense d1", "drop", "collapse into one", "insert ReLU"],
     rules.FIX_INSERT_RELU),
    ("activation_on_logits", relu_on_scores, "r", ["ReLU r", "class scores"], None),
    ("shape_mismatch", add_mismatch, "a",
     ["Add a", "4x8x8", "8x8x8", "one shape", "1x1 Conv2D"], None),
    ("concat_mismatch", concat_mismatch, "cat", ["Concatenate cat", "4x8x8", "4x4x4"], None),
    ("concat_mismatch", concat_rank_mismatch, "cat", ["4x8x8", "256"], None),
    ("groups_mismatch", conv_groups_not_dividing, "c",
     ["Conv2D c", "groups = 4", "input channels (6)"], None),
    ("groups_mismatch", groupnorm_groups_not_dividing, "gn",
     ["GroupNorm gn", "groups = 4", "channels (6)"], None),
    ("shape_mismatch", multiply_mismatch, "m",
     ["Multiply m", "4x8x8", "3", "[C] vector"], None),
]


def find(problems: list[Problem], code: str, layer: str | None) -> Problem:
    hits = [p for p in problems if p.code == code and p.layer == layer]
    assert hits, f"no {code} on {layer}: {[(p.code, p.layer) for p in problems]}"
    return hits[0]


@pytest.mark.parametrize(("code", "build", "layer", "words", "fix"), CASES,
                         ids=[f"{c[0]}-{c[1].__name__}" for c in CASES])
def test_code_is_triggered_with_a_readable_message(code, build, layer, words, fix) -> None:
    result = validate(build())
    problem = find(result.problems, code, layer)
    assert problem.severity == CODES[code]
    for word in words:
        assert word in problem.message, (word, problem.message)
    assert "\n" not in problem.message
    assert problem.fix == fix
    if CODES[code] == ERROR:
        assert problem in result.errors and not result.valid
    else:
        assert problem in result.warnings
    if layer is not None:
        assert problem in result.problems_for(layer)


def test_every_code_has_a_case() -> None:
    assert {c[0] for c in CASES} == set(CODES)


def test_severities_follow_the_spec() -> None:
    """Spec: warnings are a layer not connected to the Input, fractional tiling, Softmax not
    last (and the model-design warnings added since: linear stacks, activations on the class
    scores); everything else stops the model."""
    warnings = {"not_connected", "fractional_tiling", "softmax_not_last", "linear_stack",
                "activation_on_logits"}
    assert {c for c, s in CODES.items() if s == WARNING} == warnings
    assert all(s in (ERROR, WARNING) for s in CODES.values())


def test_fractional_tiling_names_columns_and_rows_separately() -> None:
    g = chain((1, 9, 10), [("c", "Conv2D", {"kernel_size": [3, 3], "stride": [3, 2]})])
    result = validate(g)
    msgs = [p.message for p in result.warnings if p.code == "fractional_tiling"]
    # height: (9-3)/3 = 2, whole; width: (10-3)/2 = 3.5, column 9 lost.
    assert len(msgs) == 1
    assert msgs[0].startswith("Conv2D c: width") and "column 9 is never covered" in msgs[0]
    assert result.valid


def test_fractional_tiling_lists_several_rows() -> None:
    g = chain((1, 11, 11), [("p", "MaxPool2D", {"pool_size": 3})])
    msgs = [p.message for p in validate(g).warnings]
    # (11-3)/3 = 2.67: windows cover rows 0-8, rows 9 and 10 are never seen.
    assert any("rows 9, 10 are never covered" in m for m in msgs), msgs


def test_fractional_tiling_on_padding_only_is_not_a_warning() -> None:
    """Spec ("Arithmetic"): when only padding is left unused nothing of the image is lost."""
    g = chain((1, 8, 8), [("c", "Conv2D", {"kernel_size": 3, "stride": 2, "padding": 1})])
    # (8 + 2 - 3)/2 = 3.5: the last padded row (index 8) is unused, every real row is covered.
    assert validate(g).warnings == []


def test_fractional_tiling_names_real_rows_skipped_after_padding() -> None:
    g = chain((1, 9, 9), [("c", "Conv2D", {"kernel_size": 3, "stride": 3, "padding": 1})])
    # windows -1..1, 2..4, 5..7: real row 8 (and padding 9) are never covered.
    msgs = [p.message for p in validate(g).warnings if p.code == "fractional_tiling"]
    assert len(msgs) == 2 and "input row 8 is never covered" in msgs[0]
    assert "input column 8 is never covered" in msgs[1]


def test_cycle_marks_the_cycle_and_blocks_what_follows() -> None:
    result = validate(cycle())
    assert {p.layer for p in result.errors if p.code == "cycle"} == {"add", "r"}
    for lid in ("gap", "out"):
        assert result.layers[lid].output_shape is None
        assert result.layers[lid].status == "blocked"
    assert result.layers["in"].output_shape == (4, 8, 8)
    assert set(result.order) == {"in", "add", "r", "gap", "out"} and result.order[0] == "in"


def test_multiple_outputs_with_equal_branches_keeps_the_last_as_output() -> None:
    g = two_outputs()
    g.add_layer("Dense", layer_id="d3", inputs=["f"])
    result = validate(g)
    flagged = [p.layer for p in result.errors if p.code == "multiple_outputs"]
    assert flagged == ["d1", "d2"]
    assert "3 outputs (d1, d2, d3)" in result.errors[0].message
    assert result.output_id is None


def test_a_stray_layer_is_flagged_not_the_real_output() -> None:
    """A second Input dropped on the canvas is the odd one out, not the network's last layer."""
    g = chain((1, 8, 8), [("f", "Flatten", {}), ("d", "Dense", {})])
    g.add_layer("Input", layer_id="in2")
    flagged = [p.layer for p in validate(g).errors if p.code == "multiple_outputs"]
    assert flagged == ["in2"]
    g = chain((1, 8, 8), [("f", "Flatten", {}), ("d", "Dense", {}), ("d2", "Dense", {})])
    g.add_layer("ReLU", layer_id="side", inputs=["f"], index=2)
    flagged = [p.layer for p in validate(g).errors if p.code == "multiple_outputs"]
    assert flagged == ["side"]


def test_softmax_at_the_end_is_fine() -> None:
    g = chain((1, 8, 8), [("f", "Flatten", {}), ("d", "Dense", {}), ("sm", "Softmax", {})])
    result = validate(g)
    assert result.problems == [] and result.output_id == "sm"

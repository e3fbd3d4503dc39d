"""What the validator computes for every layer: shapes, counts, receptive field, MACs, statuses.

Expected numbers are worked out in each test from the spec's formulas (or published figures),
never copied from the validator's own output.
"""

from __future__ import annotations

import json

from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import ERROR, validate

from .builders import chain


def conv_out(n: int, f: int, s: int = 1, p: int = 0) -> int:
    return (n + 2 * p - f) // s + 1


def test_lenet_shapes_params_and_macs_by_hand() -> None:
    g = chain((1, 32, 32), [
        ("c1", "Conv2D", {"filters": 6, "kernel_size": 5}),
        ("a1", "ReLU", {}),
        ("p1", "MaxPool2D", {"pool_size": 2}),
        ("c2", "Conv2D", {"filters": 16, "kernel_size": 5}),
        ("a2", "ReLU", {}),
        ("p2", "MaxPool2D", {"pool_size": 2}),
        ("f", "Flatten", {}),
        ("fc1", "Dense", {"units": 120}),
        ("fc2", "Dense", {"units": 84}),
        ("out", "Dense", {"units": 10}),
    ])
    r = validate(g)
    # Valid; the only remarks are that the Dense layers have no activation between them.
    assert r.valid and [(p.code, p.layer) for p in r.problems] == [
        ("linear_stack", "fc2"), ("linear_stack", "out")]
    shapes = {lid: r.layers[lid].output_shape for lid in r.order}
    assert shapes["c1"] == (6, 28, 28) and shapes["p1"] == (6, 14, 14)
    assert shapes["c2"] == (16, 10, 10) and shapes["p2"] == (16, 5, 5)
    assert shapes["f"] == (400,) and shapes["out"] == (10,)
    # Conv: Fh*Fw*C_in*K + K; Dense: N*U + U.
    assert r.layers["c1"].trainable == 5 * 5 * 1 * 6 + 6
    assert r.layers["c2"].trainable == 5 * 5 * 6 * 16 + 16
    assert r.layers["fc1"].trainable == 400 * 120 + 120
    assert r.totals.trainable == 156 + 2416 + 48120 + 10164 + 850 == 61706
    # MACs: H'*W'*K*Fh*Fw*C_in for conv, N*U for dense.
    macs = 28 * 28 * 6 * 25 * 1 + 10 * 10 * 16 * 25 * 6 + 400 * 120 + 120 * 84 + 84 * 10
    assert r.layers["c1"].macs == 28 * 28 * 6 * 25
    assert r.layers["a1"].macs == 0 and r.layers["p1"].macs == 0
    assert r.totals.macs == macs == 416520
    assert r.input_ids == ["in"] and r.output_id == "out"


def test_use_bias_false_drops_the_bias() -> None:
    g = chain((3, 8, 8), [("c", "Conv2D", {"filters": 4, "use_bias": False}),
                          ("f", "Flatten", {}), ("d", "Dense", {"units": 2, "use_bias": False})])
    r = validate(g)
    assert r.layers["c"].trainable == 3 * 3 * 3 * 4
    assert r.layers["d"].trainable == 4 * 6 * 6 * 2


def test_batchnorm_counts_two_trainable_and_two_running_per_channel() -> None:
    g = chain((3, 8, 8), [("c", "Conv2D", {"filters": 5}), ("bn", "BatchNorm", {}),
                          ("gap", "GlobalAvgPool2D", {}), ("bn2", "BatchNorm", {})])
    r = validate(g)
    assert (r.layers["bn"].trainable, r.layers["bn"].non_trainable) == (10, 10)
    assert (r.layers["bn2"].trainable, r.layers["bn2"].non_trainable) == (10, 10)
    assert r.totals.non_trainable == 20
    assert r.totals.total == r.totals.trainable + 20 == 3 * 3 * 3 * 5 + 5 + 40


def test_receptive_field_follows_the_formula() -> None:
    """r_out = r_in + (F-1)*j_in, j_out = j_in*S, r = j = 1 at the Input."""
    steps = [("c1", 3, 1), ("c2", 3, 2), ("p1", 2, 2), ("c3", 3, 1), ("c4", 5, 3)]
    layers = [(lid, "MaxPool2D" if lid.startswith("p") else "Conv2D",
               {"pool_size": f, "stride": s} if lid.startswith("p")
               else {"kernel_size": f, "stride": s, "padding": "same"})
              for lid, f, s in steps]
    r = validate(chain((1, 64, 64), layers))
    rf, jump = 1, 1
    for lid, f, s in steps:
        rf, jump = rf + (f - 1) * jump, jump * s
        assert r.layers[lid].receptive_field == (rf, rf), lid
        assert r.layers[lid].jump == (jump, jump), lid
    assert rf == 1 + 2 + 2 * 1 + 1 * 2 + 2 * 4 + 4 * 4  # = 31, by hand


def test_receptive_field_per_axis_with_hw_kernels() -> None:
    g = chain((1, 32, 32), [("a", "Conv2D", {"kernel_size": [1, 5], "stride": [1, 2]}),
                            ("b", "Conv2D", {"kernel_size": [3, 3]})])
    r = validate(g)
    assert r.layers["a"].receptive_field == (1, 5)
    assert r.layers["b"].receptive_field == (1 + 2 * 1, 5 + 2 * 2)


def test_merge_takes_the_largest_receptive_field() -> None:
    g = chain((2, 16, 16), [("c1", "Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"}),
                            ("c2", "Conv2D", {"filters": 2, "kernel_size": 5, "padding": "same"})])
    g.add_layer("Add", layer_id="add", inputs=["in", "c2"])
    r = validate(g)
    assert r.layers["add"].receptive_field == (1 + 2 + 4, 7)
    assert r.layers["add"].output_shape == (2, 16, 16)


def test_fc_equivalent_shows_what_weight_sharing_saves() -> None:
    g = chain((3, 32, 32), [("c", "Conv2D", {"filters": 16, "padding": "same"})])
    rep = validate(g).layers["c"]
    assert rep.output_shape == (16, 32, 32)
    assert rep.fc_equivalent == (3 * 32 * 32) * (16 * 32 * 32) == 3072 * 16384
    assert rep.trainable == 3 * 3 * 3 * 16 + 16


def test_axes_expose_the_formula_numbers() -> None:
    g = chain((1, 6, 7), [("c", "Conv2D", {"kernel_size": 3, "stride": 2, "padding": "same"})])
    h, w = validate(g).layers["c"].axes
    # height: ceil(6/2) = 3, total pad (3-1)*2 + 3 - 6 = 1 -> 0 top, 1 bottom.
    assert (h.n, h.f, h.s, h.pad_before, h.pad_after, h.out) == (6, 3, 2, 0, 1, 3)
    # width: ceil(7/2) = 4, total pad (4-1)*2 + 3 - 7 = 2 -> 1 and 1.
    assert (w.n, w.pad_before, w.pad_after, w.out) == (7, 1, 1, 4)


def test_pool_stride_defaults_to_pool_size() -> None:
    g = chain((1, 9, 9), [("p", "AvgPool2D", {"pool_size": 3}),
                          ("q", "MaxPool2D", {"pool_size": 3, "stride": 1})])
    r = validate(g)
    assert r.layers["p"].output_shape == (1, conv_out(9, 3, 3), conv_out(9, 3, 3))
    assert r.layers["q"].output_shape == (1, conv_out(3, 3, 1), conv_out(3, 3, 1))


def test_global_pool_flatten_concat_shapes() -> None:
    g = chain((4, 6, 5), [("c", "Conv2D", {"filters": 3, "padding": "same"})])
    g.add_layer("Concatenate", layer_id="cat", inputs=["in", "c"])
    g.add_layer("GlobalMaxPool2D", layer_id="gmp", inputs=["cat"])
    g.add_layer("Flatten", layer_id="f", inputs=["cat"])
    g.add_layer("Concatenate", layer_id="cat2", inputs=["gmp", "f"])
    r = validate(g)
    assert r.layers["cat"].output_shape == (7, 6, 5)
    assert r.layers["gmp"].output_shape == (7,)
    assert r.layers["f"].output_shape == (7 * 6 * 5,)
    assert r.layers["cat2"].output_shape == (7 + 210,)
    assert r.valid


def test_shape_preserving_layers() -> None:
    types = ["ReLU", "Sigmoid", "Tanh", "LeakyReLU", "BatchNorm", "Dropout", "SpatialDropout2D"]
    g = chain((3, 5, 7), [(t.lower(), t, {}) for t in types])
    r = validate(g)
    assert all(r.layers[t.lower()].output_shape == (3, 5, 7) for t in types)
    assert r.valid


def test_a_broken_branch_does_not_hide_the_other_branch() -> None:
    g = chain((3, 10, 10), [("bad", "Conv2D", {"kernel_size": 12}), ("bad_relu", "ReLU", {})])
    g.add_layer("Conv2D", {"filters": 5, "padding": "same"}, layer_id="good", inputs=["in"])
    g.add_layer("ReLU", layer_id="good_relu", inputs=["good"])
    g.add_layer("Concatenate", layer_id="cat", inputs=["bad_relu", "good_relu"])
    g.add_layer("Flatten", layer_id="f", inputs=["cat"])
    r = validate(g)
    assert r.layers["good"].output_shape == (5, 10, 10)
    assert r.layers["good_relu"].output_shape == (5, 10, 10)
    assert r.layers["good"].status == "ok"
    assert r.layers["bad"].status == "error"
    for lid in ("bad_relu", "cat", "f"):
        assert r.layers[lid].output_shape is None, lid
        assert r.layers[lid].status == "blocked", lid
    # Only the cause is reported, not every layer after it.
    assert [(p.code, p.layer) for p in r.errors] == [("kernel_too_large", "bad")]
    # Totals count what is known: the good branch.
    assert r.totals.trainable == 3 * 3 * 3 * 5 + 5


def test_totals_exclude_disconnected_layers() -> None:
    g = chain((1, 8, 8), [("f", "Flatten", {}), ("d", "Dense", {"units": 3})])
    base = validate(g).totals.to_json()
    g.add_layer("Dense", {"units": 100}, layer_id="lonely")
    g.add_layer("Dense", {"units": 100}, layer_id="lonely2", inputs=["lonely"])
    r = validate(g)
    assert r.totals.to_json() == base
    assert r.layers["lonely"].status == "disconnected"
    assert r.layers["lonely2"].status == "disconnected"
    assert not r.layers["lonely2"].connected
    assert r.valid  # not_connected is only a warning


def test_statuses() -> None:
    g = chain((1, 10, 10), [("c", "Conv2D", {"stride": 2}), ("r", "ReLU", {}),
                            ("f", "Flatten", {}), ("d", "Dense", {})])
    r = validate(g)
    assert r.layers["in"].status == "ok" and r.layers["c"].status == "warning"
    assert r.layers["d"].status == "ok"


def test_strict_turns_warnings_into_errors() -> None:
    g = chain((1, 10, 10), [("c", "Conv2D", {"stride": 2}), ("r", "ReLU", {}),
                            ("f", "Flatten", {}), ("d", "Dense", {})])
    loose = validate(g)
    assert loose.valid and {p.code for p in loose.warnings} == {"fractional_tiling"}
    strict = validate(g, strict=True)
    assert not strict.valid and strict.warnings == []
    assert [(p.code, p.message) for p in strict.errors] == \
        [(p.code, p.message) for p in loose.warnings]
    assert all(p.severity == ERROR for p in strict.errors)


def test_validate_does_not_change_the_graph() -> None:
    g = chain((1, 10, 10), [("c", "Conv2D", {"kernel_size": 12})])
    before = g.copy()
    validate(g)
    assert g == before


def test_empty_graph() -> None:
    r = validate(Graph())
    assert [p.code for p in r.errors] == ["no_input"]
    assert r.layers == {} and r.totals.total == 0


def test_summary_json_has_the_spec_keys_and_the_spec_example_row() -> None:
    g = chain((1, 32, 32), [("c1", "Conv2D", {"filters": 6, "kernel_size": 5}),
                            ("c2", "Conv2D", {"kernel_size": 40})])
    doc = validate(g).to_json()
    json.dumps(doc)  # plain JSON types only
    assert set(doc) == {"valid", "errors", "warnings", "layers", "totals"}
    assert doc["valid"] is False
    assert set(doc["errors"][0]) == {"layer", "code", "message"}
    assert set(doc["totals"]) == {"trainable", "non_trainable", "total", "macs"}
    # The row the spec shows for LeNet's c1.
    assert doc["layers"][1] == {
        "id": "c1", "type": "Conv2D", "inputs": ["in"], "output_shape": [6, 28, 28],
        "params": {"trainable": 156, "non_trainable": 0}, "receptive_field": [5, 5],
        "rf_jump": [1, 1], "rf_origin": [0, 0], "macs": 117600,
    }
    assert [row["id"] for row in doc["layers"]] == ["in", "c1", "c2"]
    assert doc["layers"][2]["output_shape"] is None


def test_frozen_layer_weights_count_as_non_trainable() -> None:
    """Freezing a layer (transfer learning) moves its weights to the non-trainable total."""
    from cnnstudio.core.templates import load_template

    graph = load_template("lenet5")
    before = validate(graph).totals
    graph.set_trainable("c1", False)
    after = validate(graph)
    conv_weights = 5 * 5 * 1 * 6 + 6
    assert after.layers["c1"].trainable == 0
    assert after.layers["c1"].non_trainable == conv_weights
    assert after.totals.trainable == before.trainable - conv_weights
    assert after.totals.non_trainable == before.non_trainable + conv_weights
    assert after.totals.total == before.total


def test_origin_moves_back_by_the_padding_before_times_the_input_jump() -> None:
    """o_out = o_in - P_before*j_in (o = 0 at the Input); unit i covers o + i*j .. + r - 1."""
    g = chain((1, 32, 32), [("c1", "Conv2D", {"kernel_size": 3, "padding": 1}),
                            ("p1", "MaxPool2D", {"pool_size": 2}),
                            ("c2", "Conv2D", {"kernel_size": 5, "stride": 2, "padding": 2}),
                            ("c3", "Conv2D", {"kernel_size": [3, 4], "padding": "same"})])
    r = validate(g)
    assert r.layers["in"].origin == (0, 0)
    assert r.layers["c1"].origin == (-1, -1)
    assert r.layers["p1"].origin == (-1, -1)  # no padding: unchanged
    assert r.layers["c2"].origin == (-1 - 2 * 2, -1 - 2 * 2)
    # "same" with an even kernel: 1 before, 2 after along W; 1 and 1 along H.
    assert r.layers["c3"].origin == (-5 - 1 * 4, -5 - 1 * 4)
    c2 = r.layers["c2"]
    assert (c2.receptive_field, c2.jump) == ((4 + 4 * 2, 4 + 4 * 2), (4, 4))
    box = c2.unit_box(3, 1)
    assert (box.top, box.left) == (-5 + 3 * 4, -5 + 1 * 4)
    assert (box.height, box.width) == c2.receptive_field


def test_merge_of_misaligned_branches_takes_the_union_of_their_boxes() -> None:
    """Padding 1 puts a's window one pixel before b's ("same" puts its odd pixel after), so
    the merge sees 3 input pixels per axis where each branch sees 2: its field grows."""
    g = chain((1, 13, 13), [])
    g.add_layer("Conv2D", {"filters": 2, "kernel_size": 2, "stride": 2, "padding": 1},
                layer_id="a", inputs=["in"])
    g.add_layer("Conv2D", {"filters": 2, "kernel_size": 2, "stride": 2, "padding": "same"},
                layer_id="b", inputs=["in"])
    g.add_layer("Add", layer_id="add", inputs=["a", "b"])
    g.add_layer("Concatenate", layer_id="cat", inputs=["a", "b"])
    r = validate(g)
    a, b = r.layers["a"], r.layers["b"]
    assert a.output_shape == b.output_shape == (2, 7, 7)
    assert (a.receptive_field, a.origin) == ((2, 2), (-1, -1))  # unit i: rows 2i-1 .. 2i
    assert (b.receptive_field, b.origin) == ((2, 2), (0, 0))  # unit i: rows 2i .. 2i+1
    for merge in ("add", "cat"):
        rep = r.layers[merge]
        assert (rep.receptive_field, rep.jump, rep.origin) == ((3, 3), (2, 2), (-1, -1))


def test_union_with_different_jumps_covers_every_units_union() -> None:
    """Inputs of one shape may slide by different jumps (a 5x5 conv and a 2x2 pool both map
    8x8 to 4x4): the merged box slides by the larger jump and holds each unit's union."""
    from cnnstudio.core.receptive import Field, union

    a, b = Field((5, 5), (1, 1), (0, 0)), Field((2, 2), (2, 2), (0, 0))
    merged = union([a, b], (4, 4))
    for i in range(4):
        box = merged.box(i, i)
        for f in (a, b):
            inner = f.box(i, i)
            assert box.top <= inner.top and inner.bottom <= box.bottom
            assert box.left <= inner.left and inner.right <= box.right
    assert merged.jump == (2, 2)
    assert union([a, a], (4, 4)) == a


def test_box_clipped_to_the_image_and_wholly_in_padding() -> None:
    from cnnstudio.core.receptive import Box

    box = Box(-2, 5, 2, 9)
    assert box.clipped(8, 8) == Box(0, 5, 2, 7)
    assert box.reaches_padding(8, 8) and not Box(0, 0, 7, 7).reaches_padding(8, 8)
    assert Box(-3, 0, -1, 2).clipped(8, 8) is None

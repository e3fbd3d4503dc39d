"""The "what this layer computes" text: formulas filled in with the layer's own numbers."""

from __future__ import annotations

from typing import Any

from cnnstudio.core.explain import explain_text
from cnnstudio.core.graph import Graph
from cnnstudio.core.templates import load_template
from cnnstudio.core.validator import validate


def _chain(input_shape: tuple[int, int, int], *layers: tuple[str, dict[str, Any]]) -> Graph:
    """Input -> layers..., each fed by the one before (ids l1, l2, ...)."""
    g = Graph("t")
    c, h, w = input_shape
    prev = g.add_layer("Input", {"channels": c, "height": h, "width": w}, layer_id="in")
    for i, (type_name, params) in enumerate(layers, start=1):
        prev = g.add_layer(type_name, params, layer_id=f"l{i}", inputs=[prev])
    return g


def _text(g: Graph, layer_id: str) -> str:
    return explain_text(g.layer(layer_id), validate(g).layers[layer_id])


def test_conv_same_shows_output_formula_padding_split_params_and_dense_comparison() -> None:
    g = _chain((3, 32, 32), ("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"}))
    text = _text(g, "l1")
    assert "floor((32 + 2*1 - 3) / 1) + 1 = 32" in text
    assert "same: out = ceil(32 / 1) = 32" in text
    assert "pad = max((32 - 1)*1 + 3 - 32, 0) = 2: 1 top, 1 bottom" in text
    assert "3*3*3*16 + 16 = 448" in text
    assert ("a Dense layer mapping 3x32x32 to 16x32x32 would need 50,331,648 weights: "
            "112,347x more than this conv's 448") in text.replace("A Dense", "a Dense")
    assert "32*32*16*3*3*3 = 442,368" in text  # MACs
    assert "as deep as its input (3 channels)" in text


def test_conv_stride_two_explicit_padding_fills_the_formula() -> None:
    g = _chain((3, 32, 32), ("Conv2D", {"filters": 16, "kernel_size": 3, "stride": 2,
                                        "padding": 1}))
    text = _text(g, "l1")
    assert "floor((32 + 2*1 - 3) / 2) + 1 = 16" in text
    assert "same:" not in text


def test_same_padding_with_stride_two_puts_the_odd_pixel_at_the_bottom() -> None:
    g = _chain((3, 32, 32), ("Conv2D", {"kernel_size": 3, "stride": 2, "padding": "same"}))
    text = _text(g, "l1")
    assert "floor((32 + 0+1 - 3) / 2) + 1 = 16" in text
    assert "= 1: 0 top, 1 bottom" in text


def test_non_square_kernel_explains_each_axis() -> None:
    g = _chain((1, 28, 20), ("Conv2D", {"filters": 4, "kernel_size": [3, 5], "use_bias": False}))
    text = _text(g, "l1")
    assert "H: floor((28 + 2*0 - 3) / 1) + 1 = 26" in text
    assert "W: floor((20 + 2*0 - 5) / 1) + 1 = 16" in text
    assert "3*5*1*4 = 60" in text  # no bias term
    assert "no bias" in text


def test_receptive_field_growth_uses_the_input_jump() -> None:
    g = load_template("shapes_cnn")  # c2 is a 3x3 conv after a 2x2 pool: jump 2
    text = _text(g, "c2")
    assert "6 + (3 - 1)*2 = 10" in text
    assert "10x10 patch" in text


def test_pool_that_does_not_tile_says_which_part_is_skipped() -> None:
    g = _chain((8, 7, 8), ("MaxPool2D", {"pool_size": 2}))
    text = _text(g, "l1")
    assert "H: floor((7 + 2*0 - 2) / 2) + 1 = 3" in text
    assert "the last 1 row(s)" in text and "input row(s) 6 are never seen" in text
    assert "W: floor((8 + 2*0 - 2) / 2) + 1 = 4" in text
    assert "equals the pool size" in text


def test_unused_padding_is_explained_though_not_warned() -> None:
    """ResNet's stride-2 convs: the last padded row is left over, nothing of the image is lost;
    the validator stays quiet and the explanation is where the user learns of it."""
    g = _chain((3, 224, 224), ("Conv2D", {"kernel_size": 7, "stride": 2, "padding": 3}))
    assert not validate(g).warnings
    text = _text(g, "l1")
    assert "the last 1 row(s) of the padded input are skipped" in text
    assert "unused padding, so nothing of the image is lost" in text


def test_stride_larger_than_window_skips_rows_without_losing_more() -> None:
    """A 1x1 stride-2 projection on an even size: its last row is one the stride skips anyway."""
    g = _chain((64, 56, 56), ("Conv2D", {"kernel_size": 1, "stride": 2}))
    assert not validate(g).warnings
    text = _text(g, "l1")
    assert "skips rows between windows anyway" in text


def test_dense_params_and_flatten_size() -> None:
    g = _chain((16, 5, 5), ("Flatten", {}), ("Dense", {"units": 120}))
    assert "16x5x5 -> 16*5*5 = 400" in _text(g, "l1")
    text = _text(g, "l2")
    assert "400*120 + 120 = 48,120" in text
    assert "N*units = 400*120 = 48,000" in text


def test_batchnorm_counts_two_trained_and_two_moving_per_channel() -> None:
    g = _chain((16, 8, 8), ("BatchNorm", {}))
    text = _text(g, "l1")
    assert "2C = 2*16 = 32 trained" in text
    assert "2C = 2*16 = 32 moving" in text
    assert "Per channel" in text


def test_dropout_and_spatial_dropout_teach_the_difference() -> None:
    g = _chain((16, 8, 8), ("Dropout", {"rate": 0.5}), ("SpatialDropout2D", {"rate": 0.25}))
    plain, spatial = _text(g, "l1"), _text(g, "l2")
    assert "1/(1 - 0.5) = 2" in plain
    assert "SpatialDropout2D usually helps more" in plain
    assert "each of the 16 whole maps" in spatial
    assert "1/(1 - 0.25) = 1.33" in spatial


def test_unknown_shape_is_said_not_guessed() -> None:
    g = _chain((3, 8, 8), ("Dense", {"units": 4}))  # Dense on an image: an error
    text = _text(g, "l1")
    assert "Unknown until the problems" in text
    assert "=" not in text


def test_frozen_layer_with_weights_says_so() -> None:
    g = _chain((3, 8, 8), ("Conv2D", {}))
    g.set_trainable("l1", False)
    assert "Frozen" in _text(g, "l1")


def test_receptive_field_states_jump_and_origin_with_the_users_numbers() -> None:
    g = load_template("shapes_cnn")
    r = validate(g)
    rep = r.layers["c2"]
    (oh, ow), (jh, jw), (rh, _) = rep.origin, rep.jump, rep.receptive_field
    text = _text(g, "c2")
    assert f"Jump {jh}x{jw}" in text
    assert f"Origin ({oh}, {ow})" in text
    assert f"rows {oh}..{oh + rh - 1}" in text
    assert f"rows {oh} + {jh}i .. {oh + rh - 1} + {jh}i" in text
    assert "o_out = o_in - P_before*j_in" in text


def test_merge_explains_its_field_is_the_union() -> None:
    g = load_template("mini_resnet")
    add = next(lay.id for lay in g if lay.type == "Add")
    text = _text(g, add)
    assert "union" in text and "Origin (" in text


def test_grouped_conv_explains_its_groups_and_the_saving_against_a_full_conv() -> None:
    g = _chain((8, 10, 10), ("Conv2D", {"filters": 16, "kernel_size": 3, "groups": 4}))
    text = _text(g, "l1")
    assert "3*3*(8/4)*16 + 16 = 304" in text
    assert "each filter sees only its own group's channels" in text
    assert "4 groups of 2 channels and 4 filters" in text
    assert "3*3*8*16 + 16 = 1,168" in text and "3.84x the 304" in text
    assert "MACs = Ho*Wo*K*Fh*Fw*C/groups = 8*8*16*3*3*(8/4) = 18,432" in text


def test_depthwise_conv_is_named_as_such() -> None:
    g = _chain((6, 8, 8), ("Conv2D", {"filters": 6, "groups": 6, "padding": "same"}))
    assert "depthwise convolution" in _text(g, "l1")


def test_dilated_conv_explains_its_span() -> None:
    g = _chain((1, 12, 12), ("Conv2D", {"filters": 2, "kernel_size": 3, "dilation": 3}))
    text = _text(g, "l1")
    assert "F = 3*(3 - 1) + 1 = 7" in text
    assert "floor((12 + 2*0 - 7) / 1) + 1 = 6" in text
    assert "sees a 7x7 patch" in text


def test_ceil_mode_pool_shows_the_rounding_up_and_the_dropped_window() -> None:
    g = _chain((1, 5, 5), ("AvgPool2D", {"pool_size": 2, "stride": 2, "padding": 1,
                                          "ceil_mode": True}))
    text = _text(g, "l1")
    assert "out = ceil((N + 2P - F) / S) + 1" in text
    assert "ceil((5 + 2*1 - 2) / 2) + 1 = 4 - 1 (its last window would start in the padding)" \
        " = 3" in text


def test_squeeze_and_excitation_multiply_is_explained() -> None:
    g = load_template("mobilenet_se")
    mul = next(lay.id for lay in g if lay.type == "Multiply")
    text = _text(g, mul)
    assert "Each of the 64 channels is rescaled by one weight computed from the whole image" \
        in text
    assert "squeeze-and-excitation" in text and "union" not in text


def test_groupnorm_says_what_it_averages_over_and_why_the_batch_does_not_matter() -> None:
    g = _chain((8, 5, 5), ("GroupNorm", {"groups": 2}))
    text = _text(g, "l1")
    assert "8 channels / 2 groups = 4 channels per group" in text
    assert "4x5x5 = 100 values" in text
    assert "does not depend on the batch size" in text
    assert "layer norm" in _text(_chain((8, 5, 5), ("GroupNorm", {"groups": 1})), "l1")
    assert "instance norm" in _text(_chain((8, 5, 5), ("GroupNorm", {"groups": 8})), "l1")

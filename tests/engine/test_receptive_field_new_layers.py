"""Receptive fields of the additions to version 1 against the engine's input gradients.

Dilated and grouped convolutions and ZeroPadding2D keep the validator's boxes exact: a unit's
box is the bounding box of its input gradient's support wherever it lies inside the image (see
test_receptive_field_support), and holds it everywhere. UpSampling2D
adds no context: a unit's box is the box of the input unit it copies (nearest) or of the two it
blends (bilinear), so the reported size is exact and unit (0, 0) is where the validator says;
units are s times denser, so the jump is divided by s.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_receptive_field_support import gradient_support, linearised

from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import validate
from cnnstudio.engine.network import Network


def _graph(layers) -> Graph:
    g = Graph("rf")
    for lid, kind, params, inputs in layers:
        g.add_layer(kind, params, layer_id=lid, inputs=inputs)
    return g


def _positive_net(graph: Graph) -> tuple[Network, np.ndarray]:
    net = Network(linearised(graph), np.random.default_rng(0), dtype=np.float64)
    rng = np.random.default_rng(1)
    for impl in net.layers.values():
        for arr in impl.params.values():
            arr[...] = rng.uniform(0.1, 1.0, arr.shape)
    c, h, w = net.input_shape
    return net, rng.uniform(0.5, 1.0, (1, c, h, w))


def test_dilated_grouped_conv_and_zero_padding_boxes_are_the_gradient_support() -> None:
    graph = _graph([
        ("in", "Input", {"channels": 4, "height": 15, "width": 13}, []),
        ("zp", "ZeroPadding2D", {"padding": [2, 0, 1, 3]}, ["in"]),
        ("c1", "Conv2D", {"filters": 4, "kernel_size": 3, "dilation": [2, 3], "groups": 2,
                          "padding": 1}, ["zp"]),
        ("r1", "ReLU", {}, ["c1"]),
        ("c2", "Conv2D", {"filters": 4, "kernel_size": 3, "stride": 2, "dilation": 2,
                          "groups": 4, "padding": "same"}, ["r1"]),
        ("p", "AvgPool2D", {"pool_size": 2, "stride": 2, "ceil_mode": True, "padding": 1},
         ["c2"]),
        ("gap", "GlobalAvgPool2D", {}, ["p"]),
    ])
    result = validate(graph)
    assert result.valid, result.errors
    assert result.layers["c1"].receptive_field == (5, 7)  # 1 + 2*(3-1), 1 + 3*(3-1)
    assert result.layers["zp"].origin == (-2, -1)  # moved back by top, left
    net, x = _positive_net(graph)
    h, w = net.input_shape[1:]
    for lid in ("zp", "c1", "c2", "p"):
        rep = result.layers[lid]
        _, oh, ow = rep.output_shape
        support = gradient_support(net, x, lid)
        inside = 0
        for i in range(oh):
            for j in range(ow):
                box, seen = rep.unit_box(i, j), support[i][j]
                clipped = box.clipped(h, w)
                if seen is None:  # its taps all fall on padding
                    assert box.reaches_padding(h, w), (lid, i, j, box)
                    continue
                # a dilated kernel reads every D-th pixel of its span: where the span reaches
                # into padding, the first real pixel it reads may lie past the image's edge
                assert clipped.top <= seen.top and clipped.left <= seen.left, (lid, i, j, box)
                assert seen.bottom <= clipped.bottom and seen.right <= clipped.right
                if not box.reaches_padding(h, w):
                    assert seen == box, (lid, i, j, box)
                    inside += 1
        assert inside or lid == "p", f"{lid}: no unit whose box lies inside the image"


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsampling_sees_no_more_than_its_input_units(mode: str) -> None:
    graph = _graph([
        ("in", "Input", {"channels": 1, "height": 12, "width": 12}, []),
        ("c", "Conv2D", {"filters": 1, "kernel_size": 3, "stride": 2}, ["in"]),
        ("up", "UpSampling2D", {"scale": 2, "mode": mode}, ["c"]),
    ])
    result = validate(graph)
    conv, up = result.layers["c"], result.layers["up"]
    blend = 1 if mode == "bilinear" else 0
    assert up.receptive_field == tuple(r + blend * j for r, j in
                                       zip(conv.receptive_field, conv.jump, strict=True))
    assert up.jump == (1, 1) and up.origin == conv.origin
    net, x = _positive_net(graph)
    support = gradient_support(net, x, "up")
    _, oh, ow = up.output_shape
    heights = {support[i][j].height for i in range(oh) for j in range(ow)}
    assert max(heights) == up.receptive_field[0]  # the size is exact
    box = up.unit_box(0, 0).clipped(12, 12)
    if mode == "nearest":
        assert support[0][0] == box
    else:  # unit 0 samples input unit 0 exactly (its neighbour has weight 0): inside the box
        assert (box.top, box.left) == (support[0][0].top, support[0][0].left)
        assert support[0][0].bottom <= box.bottom and support[0][0].right <= box.right
    # the unit i copies input unit i // 2 (nearest): its box starts where that unit's does
    if mode == "nearest":
        for i in range(oh):
            assert support[i][0].top == conv.unit_box(i // 2, 0).top


def test_per_channel_multiply_takes_the_image_inputs_box() -> None:
    """The spec's rule: the [C] weights were computed from the whole image already, so the
    product's box is the image input's."""
    graph = _graph([
        ("in", "Input", {"channels": 4, "height": 9, "width": 9}, []),
        ("c", "Conv2D", {"filters": 4, "kernel_size": 3, "stride": 2}, ["in"]),
        ("gap", "GlobalAvgPool2D", {}, ["c"]),
        ("d", "Dense", {"units": 4}, ["gap"]),
        ("s", "Hardsigmoid", {}, ["d"]),
        ("m", "Multiply", {}, ["c", "s"]),
    ])
    r = validate(graph)
    m, c = r.layers["m"], r.layers["c"]
    assert m.output_shape == c.output_shape
    assert (m.receptive_field, m.jump, m.origin) == (c.receptive_field, c.jump, c.origin)

"""The validator's receptive-field boxes against what the engine actually computes.

In a *linearised* copy of a network (positive weights and biases, positive input so every ReLU
is the identity, average instead of max pooling) the gradient of one unit with respect to the
input is strictly positive exactly on the input pixels that unit depends on. Its support is
therefore the unit's true receptive field, found here by backpropagation alone; the validator's
box (size, jump, origin from core) must match it for every unit of every spatial layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.core import modelfile
from cnnstudio.core.graph import Graph
from cnnstudio.core.receptive import Box
from cnnstudio.core.validator import validate
from cnnstudio.engine.kernels.layout import batch_to_internal, batch_to_public
from cnnstudio.engine.network import Network

#: Max pooling's gradient reaches one pixel per window; average pooling reaches them all.
_LINEAR_TYPES = {"MaxPool2D": "AvgPool2D", "GlobalMaxPool2D": "GlobalAvgPool2D"}


def branchy_graph() -> Graph:
    """Stride, padding ("same" with its odd pixel after, explicit, none), pooling with padding,
    fan-out, a misaligned Add (its branches see different pixels, so its field grows beyond
    both) and a Concatenate."""
    g = Graph("branchy")
    layers = [
        ("in", "Input", {"channels": 2, "height": 13, "width": 14}, []),
        ("c1", "Conv2D", {"filters": 3, "kernel_size": 3, "padding": 1}, ["in"]),
        ("r1", "ReLU", {}, ["c1"]),
        ("p1", "MaxPool2D", {"pool_size": 3, "stride": 2, "padding": 1}, ["r1"]),
        ("ba", "Conv2D", {"filters": 4, "kernel_size": 2, "stride": 2, "padding": 1}, ["p1"]),
        ("bb", "Conv2D", {"filters": 4, "kernel_size": 2, "stride": 2, "padding": "same"},
         ["p1"]),
        ("add", "Add", {}, ["ba", "bb"]),
        ("r2", "ReLU", {}, ["add"]),
        ("c3", "Conv2D", {"filters": 2, "kernel_size": [3, 1], "padding": "same"}, ["r2"]),
        ("cat", "Concatenate", {}, ["c3", "r2"]),
        ("ap", "AvgPool2D", {"pool_size": 2, "stride": 1}, ["cat"]),
        ("gap", "GlobalAvgPool2D", {}, ["ap"]),
        ("out", "Dense", {"units": 3}, ["gap"]),
    ]
    for lid, kind, params, inputs in layers:
        g.add_layer(kind, params, layer_id=lid, inputs=inputs)
    return g


def linearised(graph: Graph) -> Graph:
    doc = modelfile.to_document(graph)
    for layer in doc["layers"]:
        layer["type"] = _LINEAR_TYPES.get(layer["type"], layer["type"])
    return modelfile.from_document(doc)


def gradient_support(net: Network, x: np.ndarray, layer_id: str) -> list[list[Box | None]]:
    """Bounding box of the nonzero input gradient of every unit (i, j) of a layer (all its
    channels at that position: a Concatenate's channels each come from one input, the layer's
    field is their union), from one batched backward pass (one copy of ``x`` per unit)."""
    _, h, w = net.result.layers[layer_id].output_shape
    batch = np.repeat(x, h * w, axis=0)
    net.forward(batch, training=True)  # keeps the caches backward needs (no dropout/BN here)
    dout = np.zeros((h * w, *net.result.layers[layer_id].output_shape))
    units = np.arange(h * w)
    dout[units, :, units // w, units % w] = 1.0
    dx = batch_to_public(net.backward_internal(batch_to_internal(dout), layer_id,
                                               need_input_grad=True))
    assert np.all(dx >= 0)
    boxes: list[list[Box | None]] = [[None] * w for _ in range(h)]
    for u in units:
        rows, cols = np.nonzero(dx[u].sum(axis=0) > 0)
        if len(rows):
            boxes[u // w][u % w] = Box(int(rows.min()), int(cols.min()), int(rows.max()),
                                       int(cols.max()))
    return boxes


def test_every_units_box_is_the_support_of_its_input_gradient() -> None:
    graph = branchy_graph()
    result = validate(graph)
    assert result.valid, result.errors
    net = Network(linearised(graph), np.random.default_rng(0), dtype=np.float64)
    rng = np.random.default_rng(1)
    for impl in net.layers.values():
        for arr in impl.params.values():
            arr[...] = rng.uniform(0.1, 1.0, arr.shape)
    c, h, w = net.input_shape
    x = rng.uniform(0.5, 1.0, (1, c, h, w))
    spatial = [lid for lid in result.order
               if len(result.layers[lid].output_shape) == 3 and lid != "in"]
    assert {"p1", "ba", "bb", "add", "c3", "cat", "ap"} <= set(spatial)
    for lid in spatial:
        rep = result.layers[lid]
        _, oh, ow = rep.output_shape
        support = gradient_support(net, x, lid)
        for i in range(oh):
            for j in range(ow):
                box = rep.unit_box(i, j)
                assert box is not None
                assert box.clipped(h, w) == support[i][j], (lid, i, j, box)


def test_the_misaligned_merge_sees_more_than_either_branch() -> None:
    """ba's window starts one input step before bb's (explicit padding 1 versus "same", whose
    odd pixel goes after), so their union is wider than each: the spec's merge rule."""
    r = validate(branchy_graph())
    ba, bb, add = r.layers["ba"], r.layers["bb"], r.layers["add"]
    assert ba.receptive_field == bb.receptive_field == (7, 7)
    assert ba.origin == (-4, -4) and bb.origin == (-2, -2)
    assert add.origin == (-4, -4) and add.receptive_field == (9, 9)
    assert add.jump == ba.jump == bb.jump == (4, 4)


@pytest.mark.parametrize("lid", ["c1", "p1", "add", "cat"])
def test_summary_json_states_jump_and_origin(lid: str) -> None:
    rep = validate(branchy_graph()).layers[lid]
    row = rep.to_json()
    assert row["rf_jump"] == list(rep.jump) and row["rf_origin"] == list(rep.origin)

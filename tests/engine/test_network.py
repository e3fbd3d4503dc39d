"""The network built from a graph: catalogue conformance, gradients, fan-out, weights API."""

from __future__ import annotations

import numpy as np
import pytest
from _netbuild import branching_graph, chain, network_grad_check

from cnnstudio.core.catalogue import LAYERS
from cnnstudio.engine.errors import NetworkError
from cnnstudio.engine.layers import LAYER_TYPES
from cnnstudio.engine.network import Network

CATALOGUE = sorted(LAYERS)


def test_every_catalogue_type_has_an_implementation():
    missing = sorted(set(LAYERS) - set(LAYER_TYPES))
    assert not missing, f"no engine implementation for {missing}"
    assert not set(LAYER_TYPES) - set(LAYERS), "engine implements types the catalogue lacks"


def test_branching_graph_gradients_float64(rng, gradcheck):
    """Fan-out into Add, Concatenate of two pools, BatchNorm on maps and vectors."""
    net = Network(branching_graph(), rng, dtype=np.float64)
    x = rng.standard_normal((4, *net.input_shape))
    checked = network_grad_check(net, x, rng, gradcheck)
    assert checked == 11  # input, c1 weight, bn1 (2), c2 (2), d1 weight, bn2 (2), out (2)


def test_frozen_batchnorm_runs_in_inference_mode(rng, gradcheck):
    """Keras semantics: a frozen BatchNorm normalises with its moving statistics (and leaves
    them alone) even in training; gradients still flow through it correctly."""
    net = Network(branching_graph(), rng, dtype=np.float64)
    x = rng.standard_normal((3, *net.input_shape))
    net.forward(x, training=True)  # move the moving statistics away from 0/1
    net.set_frozen({"bn1", "bn2"})
    before = net.weights_of("bn1")
    train_out = net.forward(x, training=True)
    after = net.weights_of("bn1")
    assert all(np.array_equal(before[k], after[k]) for k in before)
    # no dropout in this graph: with both BatchNorms frozen, training == inference
    np.testing.assert_allclose(train_out, net.forward(x, training=False), rtol=1e-12)
    network_grad_check(net, x, rng, gradcheck)


def test_invalid_graph_is_refused_with_the_validator_message(rng):
    graph = chain(("Dense", {"units": 3}))  # Dense on an image
    with pytest.raises(NetworkError, match="insert Flatten"):
        Network(graph, rng)


def test_wrong_input_shape_is_refused(rng):
    net = Network(chain(("Flatten", {}), ("Dense", {"units": 3})), rng)
    with pytest.raises(NetworkError, match=r"\[B, 2x6x5\]"):
        net.forward(np.zeros((1, 3, 6, 5), np.float32))


def test_initialisation(rng):
    g = chain(("Conv2D", {"filters": 64, "kernel_size": 3}), ("ReLU", {}),
              ("Conv2D", {"filters": 64, "kernel_size": 3, "use_bias": True}),
              ("BatchNorm", {}), ("Flatten", {}), ("Dense", {"units": 10}),
              input_shape=(16, 9, 9))
    net = Network(g, rng)
    he = net.layers["l0_conv2d"].params["weight"]
    assert he.std() == pytest.approx(np.sqrt(2 / (16 * 9)), rel=0.05)
    glorot = net.layers["l2_conv2d"].params["weight"]  # BatchNorm then Flatten: no ReLU
    limit = np.sqrt(6 / (64 * 9 + 64 * 9))
    assert np.abs(glorot).max() <= limit
    assert glorot.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)
    assert not net.layers["l0_conv2d"].params["bias"].any()
    bn = net.layers["l3_batchnorm"]
    assert (bn.params["gamma"] == 1).all() and not bn.params["beta"].any()
    assert not bn.buffers["moving_mean"].any() and (bn.buffers["moving_var"] == 1).all()


def test_same_seed_same_weights():
    g = branching_graph()
    a = Network(g, np.random.default_rng(5)).state_dict()
    b = Network(g, np.random.default_rng(5)).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_state_dict_uses_pytorch_layouts(rng):
    net = Network(branching_graph(), rng)
    sd = net.state_dict()
    assert sd["c1/weight"].shape == (3, 2, 3, 3)
    assert sd["d1/weight"].shape == (5, 3 * 4 * 4 + 3 * 4 * 4)
    assert sd["bn1/moving_var"].shape == (3,)
    sd["c1/weight"][...] = 0  # a copy: the network is untouched
    assert net.layers["c1"].params["weight"].any()


def test_strict_load_lists_every_mismatch(rng):
    net = Network(branching_graph(), rng)
    sd = net.state_dict()
    del sd["c2/bias"]
    sd["d1/weight"] = np.zeros((5, 7), np.float32)
    sd["ghost/weight"] = np.zeros(2, np.float32)
    sd["_meta/norm_mean"] = np.zeros(2, np.float32)  # meta keys are not mismatches
    with pytest.raises(NetworkError) as err:
        net.load_state_dict(sd)
    msg = str(err.value)
    assert "missing c2/bias" in msg
    assert "d1/weight has shape [5, 7], the model needs [5, 96]" in msg
    assert "unexpected ghost/weight" in msg
    assert "_meta" not in msg


def test_load_where_fits_reports_loaded_and_skipped(rng):
    src = Network(branching_graph(), np.random.default_rng(1))
    g = branching_graph()
    g.set_param("out", "units", 7)  # a new head: its weights cannot transfer
    dst = Network(g, np.random.default_rng(2))
    report = dst.load_where_fits(src.state_dict())
    assert "out" not in report.loaded and "c1" in report.loaded and "bn2" in report.loaded
    assert dict(report.skipped)["out"] == "out/weight is [3, 5] in the file, [7, 5] in the model"
    np.testing.assert_array_equal(dst.weights_of("c1")["weight"], src.weights_of("c1")["weight"])
    assert "skipped out" in report.text()


def test_activations_and_weights_of(rng):
    net = Network(branching_graph(), rng)
    x = rng.standard_normal((2, *net.input_shape)).astype(np.float32)
    acts = net.activations(x, ["c1", "cat", "f", "out"])
    assert acts["c1"].shape == (2, 3, 7, 7)
    assert acts["cat"].shape == (2, 6, 4, 4)
    assert acts["f"].shape == (2, 96)
    np.testing.assert_allclose(acts["out"], net.forward(x), rtol=1e-6)
    # Flatten order is C, then H, then W: the public feature map flattened row-major.
    np.testing.assert_allclose(acts["f"], np.maximum(acts["cat"], 0.2 * acts["cat"]).reshape(2, -1),
                               rtol=1e-6)
    w = net.weights_of("c1")
    assert set(w) == {"weight"} and w["weight"].shape == (3, 2, 3, 3)
    with pytest.raises(NetworkError):
        net.activations(x, ["nope"])


def test_predict_proba_and_fused_softmax(rng):
    g = chain(("Flatten", {}), ("Dense", {"units": 4}), ("Softmax", {}))
    net = Network(g, rng)
    assert net.logits_id == "l1_dense" and net.ends_with_softmax
    x = rng.standard_normal((5, *net.input_shape)).astype(np.float32)
    p = net.predict_proba(x)
    np.testing.assert_allclose(p, net.forward(x), rtol=1e-5)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


def test_inplace_relu_does_not_corrupt_a_shared_output(rng):
    """conv feeds ReLU and Add: ReLU must not overwrite the conv output Add still needs."""
    from cnnstudio.core.graph import Graph

    g = Graph()
    g.add_layer("Input", {"channels": 1, "height": 4, "width": 4}, layer_id="in")
    g.add_layer("Conv2D", {"filters": 2, "kernel_size": 1}, layer_id="c", inputs=["in"])
    g.add_layer("ReLU", layer_id="r", inputs=["c"])
    g.add_layer("Add", layer_id="add", inputs=["c", "r"])
    net = Network(g, rng)
    x = rng.standard_normal((3, 1, 4, 4)).astype(np.float32)
    c = net.activations(x, ["c"])["c"]
    np.testing.assert_allclose(net.forward(x), c + np.maximum(c, 0), rtol=1e-6)


@pytest.mark.parametrize("keeper", ["MaxPool2D", "ELU"])
def test_a_shared_output_kept_for_backward_is_not_overwritten(rng, gradcheck, keeper):
    """conv feeds a layer that keeps its input for backward (an overlapping max pool finds its
    winners by comparing with it; ELU keeps it whole), then a ReLU, the last consumer. The
    ReLU used to rectify the shared output in place, and with mostly negative conv outputs the
    kept input was wrong by the time backward ran."""
    from cnnstudio.core.graph import Graph

    g = Graph()
    g.add_layer("Input", {"channels": 2, "height": 5, "width": 5}, layer_id="in")
    g.add_layer("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"}, layer_id="c",
                inputs=["in"])
    params = {"pool_size": 3, "stride": 1, "padding": "same"} if keeper == "MaxPool2D" else {}
    g.add_layer(keeper, params, layer_id="k", inputs=["c"])
    g.add_layer("ReLU", layer_id="r", inputs=["c"])
    g.add_layer("Add", layer_id="add", inputs=["k", "r"])
    net = Network(g, rng, dtype=np.float64)
    assert net.order.index("k") < net.order.index("r")  # the keeper runs first
    net.layers["c"].params["bias"][...] = -2.0  # most outputs negative: ReLU changes them
    x = rng.standard_normal((3, 2, 5, 5))
    network_grad_check(net, x, rng, gradcheck)


def test_layers_not_feeding_the_output_are_ignored(rng):
    g = chain(("Flatten", {}), ("Dense", {"units": 2}))
    g.add_layer("ReLU", layer_id="loose", inputs=[])  # not connected: only a warning
    net = Network(g, rng)
    assert "loose" not in net.layers

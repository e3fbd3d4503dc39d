"""A max pool fed by a ReLU applies the ReLU's gradient itself in a training backward pass.

The network skips that ReLU's backward and masks the pool's (smaller) gradient instead
(``Network._rectified_pools``). These tests compare it with the two backward passes run one
after the other, to the bit, and with finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.core.graph import Graph
from cnnstudio.core.templates import load_template
from cnnstudio.engine.network import Network
from tests.engine._netbuild import chain, network_grad_check

CONV = ("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same"})
HEAD = (("Flatten", {}), ("Dense", {"units": 4}))
POOLS = {
    "tiling 2x2": {"pool_size": 2},
    "overlapping 3x3 stride 2, same": {"pool_size": 3, "stride": 2, "padding": "same"},
    "stride 1": {"pool_size": 2, "stride": 1},
    "ragged 2x2 on 7x7": {"pool_size": 2, "padding": "valid"},
}


def _twins(graph: Graph) -> tuple[Network, Network]:
    """Two float64 networks with the same weights; the second never fuses."""
    fused, plain = (Network(graph, np.random.default_rng(0), np.float64) for _ in range(2))
    plain._rectified_pools = {}
    return fused, plain


def _gradients(net: Network, x: np.ndarray, r: np.ndarray) -> dict[str, np.ndarray]:
    net.forward(x, training=True)
    grads = {"input": net.backward(r)}
    for lid, impl in net.layers.items():
        grads.update({f"{lid}/{name}": g.copy() for name, g in impl.grads.items()})
    return grads


def _assert_same_backward(graph: Graph, batch: int = 3) -> Network:
    fused, plain = _twins(graph)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, *fused.input_shape))
    r = rng.standard_normal((batch, *fused.output_shape))
    got, want = _gradients(fused, x, r), _gradients(plain, x, r)
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    return fused


@pytest.mark.parametrize("pool", POOLS.values(), ids=POOLS.keys())
def test_a_relu_before_a_max_pool_gives_the_same_gradients(pool):
    net = _assert_same_backward(chain(CONV, ("ReLU", {}), ("MaxPool2D", pool), *HEAD,
                                      input_shape=(2, 7, 7)))
    assert net._rectified_pools == {"l2_maxpool2d": "l1_relu"}


def test_templates_with_relu_and_max_pool_give_the_same_gradients():
    for key in ("lenet5", "shapes_cnn", "cifar_vgg"):
        net = _assert_same_backward(load_template(key), batch=2)
        assert net._rectified_pools, key


def test_a_relu_that_feeds_more_than_the_pool_is_left_alone():
    g = Graph("fan-out")
    g.add_layer("Input", {"channels": 2, "height": 6, "width": 6}, layer_id="in")
    g.add_layer("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same"}, layer_id="c",
                inputs=["in"])
    g.add_layer("ReLU", layer_id="r", inputs=["c"])
    g.add_layer("MaxPool2D", {"pool_size": 2}, layer_id="p", inputs=["r"])
    g.add_layer("AvgPool2D", {"pool_size": 2}, layer_id="a", inputs=["r"])
    g.add_layer("Add", layer_id="add", inputs=["p", "a"])
    g.add_layer("Flatten", layer_id="f", inputs=["add"])
    g.add_layer("Dense", {"units": 2}, layer_id="out", inputs=["f"])
    net = _assert_same_backward(g)
    assert net._rectified_pools == {}


def test_a_relu_on_the_input_passes_no_gradient_it_was_not_asked_for():
    net = _assert_same_backward(chain(("ReLU", {}), ("MaxPool2D", {"pool_size": 2}), *HEAD,
                                      input_shape=(2, 6, 6)))
    assert net._rectified_pools == {"l1_maxpool2d": "l0_relu"}


def test_fused_backward_matches_finite_differences(gradcheck):
    graph = chain(CONV, ("ReLU", {}), ("MaxPool2D", POOLS["overlapping 3x3 stride 2, same"]),
                  ("Conv2D", {"filters": 2, "kernel_size": 2}), ("ReLU", {}),
                  ("MaxPool2D", {"pool_size": 2}), *HEAD, input_shape=(2, 9, 9))
    net = Network(graph, np.random.default_rng(3), np.float64)
    assert len(net._rectified_pools) == 2
    assert network_grad_check(net, np.random.default_rng(4).standard_normal((2, 2, 9, 9)),
                              np.random.default_rng(5), gradcheck) > 4


def test_grad_cam_at_the_relu_sees_its_own_unmasked_gradient():
    """Gradients asked for at a layer (Grad-CAM, saliency) are those with respect to its
    output: a ReLU whose pool would apply its mask is not skipped then."""
    graph = chain(CONV, ("ReLU", {}), ("MaxPool2D", {"pool_size": 2}), *HEAD,
                  input_shape=(2, 6, 6))
    fused, plain = _twins(graph)
    for net in (fused, plain):  # channel 0 dead: its windows' maxima are 0, masked out
        net.layers["l0_conv2d"].params["bias"][0] = -100.0
    x = np.random.default_rng(2).standard_normal((2, 2, 6, 6))
    dout = np.ones((2, 4))
    got = fused.inference_gradients(x, "l4_dense", dout, at=["l1_relu"])
    want = plain.inference_gradients(x, "l4_dense", dout, at=["l1_relu"])
    np.testing.assert_array_equal(got.grads["l1_relu"], want.grads["l1_relu"])
    assert np.any(got.grads["l1_relu"][:, 0] != 0)  # the dead channel's winners get theirs
    np.testing.assert_array_equal(got.input, want.input)

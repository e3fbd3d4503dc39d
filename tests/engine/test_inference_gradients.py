"""Gradients of the network as it predicts: saliency, Grad-CAM and effective receptive fields.

Each is checked against central finite differences of inference-mode forward passes (float64),
so moving BatchNorm statistics and switched-off dropout are part of what is differentiated.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.core.graph import Graph
from cnnstudio.engine import introspect
from cnnstudio.engine.errors import NetworkError
from cnnstudio.engine.network import Network

EPS = 1e-6


def tiny_classifier() -> Graph:
    g = Graph("tiny")
    layers = [
        ("in", "Input", {"channels": 2, "height": 6, "width": 5}, []),
        ("c1", "Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same"}, ["in"]),
        ("bn", "BatchNorm", {}, ["c1"]),
        ("r1", "ReLU", {}, ["bn"]),
        ("c2", "Conv2D", {"filters": 4, "kernel_size": 2, "stride": 2}, ["r1"]),
        ("r2", "Tanh", {}, ["c2"]),
        ("drop", "Dropout", {"rate": 0.5}, ["r2"]),
        ("f", "Flatten", {}, ["drop"]),
        ("out", "Dense", {"units": 3}, ["f"]),
        ("sm", "Softmax", {}, ["out"]),
    ]
    for lid, kind, params, inputs in layers:
        g.add_layer(kind, params, layer_id=lid, inputs=inputs)
    return g


def _network(graph: Graph, seed: int = 0) -> Network:
    net = Network(graph, np.random.default_rng(seed), dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for impl in net.layers.values():  # moving statistics that are not the identity
        for name, buf in impl.buffers.items():
            buf[...] = rng.uniform(0.5, 1.5, buf.shape) if "var" in name else rng.normal(
                0, 0.3, buf.shape)
    return net


def _finite_difference(f, x: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + EPS
        up = f(x)
        x[idx] = old - EPS
        down = f(x)
        x[idx] = old
        grad[idx] = (up - down) / (2 * EPS)
    return grad


def test_class_score_gradient_equals_finite_differences() -> None:
    net = _network(tiny_classifier())
    x = np.random.default_rng(2).normal(size=(1, 2, 6, 5))
    for cls in range(3):
        grads = introspect.class_score_gradients(net, x, cls)

        def score(v: np.ndarray, c: int = cls) -> float:
            return float(introspect.predict_logits(net, v)[0, c])

        np.testing.assert_allclose(grads.input, _finite_difference(score, x.copy()),
                                   rtol=1e-6, atol=1e-8)


def test_saliency_is_the_largest_absolute_gradient_over_channels() -> None:
    net = _network(tiny_classifier())
    x = np.random.default_rng(3).normal(size=(2, 6, 5))
    ex = introspect.explain_prediction(net, x)
    grads = introspect.class_score_gradients(net, x[None], ex.predicted)
    np.testing.assert_allclose(ex.saliency, np.abs(grads.input[0]).max(axis=0))
    assert ex.class_index == ex.predicted == int(introspect.predict_proba(net, x[None])[0].argmax())


def test_gradient_at_an_inner_layer_is_what_its_bias_sees() -> None:
    """d score / d bias_k = sum over positions of d score / d (conv output)_k: a finite
    difference of the bias checks the captured inner gradient."""
    net = _network(tiny_classifier())
    x = np.random.default_rng(4).normal(size=(1, 2, 6, 5))
    grads = introspect.class_score_gradients(net, x, 1, at=("c2",))
    bias = net.layers["c2"].params["bias"]

    def score(b: np.ndarray) -> float:
        bias[...] = b
        return float(introspect.predict_logits(net, x)[0, 1])

    original = bias.copy()
    fd = _finite_difference(score, bias.copy())
    bias[...] = original
    np.testing.assert_allclose(grads.grads["c2"][0].sum(axis=(1, 2)), fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grads.outputs["c2"], net.activations(x, ["c2"])["c2"])


def test_grad_cam_weights_maps_by_their_mean_gradient() -> None:
    net = _network(tiny_classifier())
    x = np.random.default_rng(5).normal(size=(2, 6, 5))
    ex = introspect.explain_prediction(net, x, class_index=2)
    assert ex.cam_layer == "c2" == introspect.grad_cam_layer(net)
    grads = introspect.class_score_gradients(net, x[None], 2, at=("c2",))
    a, g = grads.outputs["c2"][0], grads.grads["c2"][0]
    by_hand = np.maximum(sum(g[k].mean() * a[k] for k in range(len(a))), 0)
    np.testing.assert_allclose(ex.cam, by_hand)
    assert ex.cam_on_input is not None and ex.cam_on_input.shape == (6, 5)


def test_inference_gradients_do_not_touch_batchnorm_statistics_or_weights() -> None:
    net = _network(tiny_classifier())
    before = net.state_dict()
    introspect.explain_prediction(net, np.ones((2, 6, 5)))
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(impl.cache is None for impl in net.layers.values() if not impl.recording)


def test_effective_field_lies_inside_the_theoretical_one() -> None:
    net = _network(tiny_classifier())
    x = np.random.default_rng(6).normal(size=(2, 6, 5))
    rep = net.result.layers["c2"]
    for row in range(3):
        for col in range(2):
            eff = introspect.effective_field(net, x, "c2", 1, row, col)
            box = rep.unit_box(row, col).clipped(6, 5)
            outside = eff.copy()
            outside[box.top:box.bottom + 1, box.left:box.right + 1] = 0
            assert not outside.any() and eff.any()
    with pytest.raises(NetworkError, match="outside"):
        introspect.effective_field(net, x, "c2", 9, 0, 0)


def test_unknown_class_is_refused() -> None:
    net = _network(tiny_classifier())
    with pytest.raises(NetworkError, match="class 7"):
        introspect.class_score_gradients(net, np.zeros((1, 2, 6, 5)), 7)


def test_top_activations_are_the_brute_force_top_k() -> None:
    net = _network(tiny_classifier())
    images = np.random.default_rng(8).normal(size=(37, 2, 6, 5))
    maps = net.activations(images, ["c1"])["c1"][:, 2]  # [37, 6, 5]
    flat = maps.reshape(-1)
    want = np.argsort(-flat, kind="stable")[:9]
    seen = []
    top = introspect.top_activations(net, images, "c1", 2, k=9, batch_size=8,
                                     progress=lambda done, total: seen.append((done, total)))
    assert [(t.image, t.row, t.col) for t in top] == [tuple(int(v) for v in np.unravel_index(
        i, maps.shape)) for i in want]
    np.testing.assert_allclose([t.value for t in top], flat[want])
    assert seen[-1] == (37, 37) and len(seen) == 5
    stopped = introspect.top_activations(net, images, "c1", 2, k=9, batch_size=8,
                                         stop=lambda: True)
    assert stopped == []


@pytest.mark.parametrize("k", [1, 9, 40])
def test_top_activations_with_many_ties_and_with_nan_are_still_the_brute_force_top_k(k):
    """Most ReLU outputs are exactly 0 (ties, decided by position) and one image holds NaN:
    the scan picks its candidates by a partition, and must agree with sorting every value."""
    net = _network(tiny_classifier())
    images = np.random.default_rng(9).normal(size=(21, 2, 6, 5))
    net.layers["bn"].params["beta"][...] = -1.5  # most of r1 is 0
    for bad in (None, 13):
        if bad is not None:
            images[bad, 0, 2, 2] = np.nan
        maps = net.activations(images, ["r1"])["r1"][:, 1]
        flat = maps.reshape(-1)
        assert (flat == 0).sum() > 2 * k or k == 40
        want = np.lexsort((np.arange(flat.size), -flat))[:k]
        top = introspect.top_activations(net, images, "r1", 1, k=k, batch_size=4)
        assert [(t.image, t.row, t.col) for t in top] == [
            tuple(int(v) for v in np.unravel_index(i, maps.shape)) for i in want]


def test_crop_field_fills_the_padding_with_zeros() -> None:
    from cnnstudio.core.receptive import Box

    image = np.arange(2 * 4 * 5, dtype=np.float64).reshape(2, 4, 5) + 1
    crop = introspect.crop_field(image, Box(-1, 3, 1, 5))  # rows -1..1, columns 3..5
    assert crop.shape == (2, 3, 3)
    np.testing.assert_array_equal(crop[:, 1:, :2], image[:, 0:2, 3:5])
    assert not crop[:, 0, :].any() and not crop[:, :, 2].any()

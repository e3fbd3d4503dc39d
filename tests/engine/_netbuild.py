"""Small graphs for the network tests, built through the core Graph API."""

from __future__ import annotations

import numpy as np

from cnnstudio.core.graph import Graph
from cnnstudio.engine.network import Network


def chain(*layers: tuple[str, dict], input_shape=(2, 6, 5), name: str = "t") -> Graph:
    """Input followed by ``(type, params)`` layers in a plain chain."""
    g = Graph(name)
    c, h, w = input_shape
    prev = g.add_layer("Input", {"channels": c, "height": h, "width": w}, layer_id="in")
    for i, (kind, params) in enumerate(layers):
        prev = g.add_layer(kind, params, layer_id=f"l{i}_{kind.lower()}", inputs=[prev])
    return g


def branching_graph() -> Graph:
    """Fan-out, Add, Concatenate, BatchNorm (image and flat), both pools, Dense. (No bias
    before a BatchNorm: its true gradient is 0, which a relative-error check cannot test.)"""
    g = Graph("branches")
    g.add_layer("Input", {"channels": 2, "height": 7, "width": 7}, layer_id="in")
    g.add_layer("Conv2D", {"filters": 3, "kernel_size": 3, "padding": "same",
                           "use_bias": False}, layer_id="c1",
                inputs=["in"])
    g.add_layer("BatchNorm", layer_id="bn1", inputs=["c1"])
    g.add_layer("Tanh", layer_id="t1", inputs=["bn1"])
    g.add_layer("Conv2D", {"filters": 3, "kernel_size": 1}, layer_id="c2", inputs=["t1"])
    g.add_layer("Add", layer_id="add", inputs=["t1", "c2"])  # t1 feeds c2 and add: fan-out
    g.add_layer("MaxPool2D", {"pool_size": 2, "padding": "same"}, layer_id="mp",
                inputs=["add"])
    g.add_layer("AvgPool2D", {"pool_size": 3, "stride": 2, "padding": 1}, layer_id="ap",
                inputs=["t1"])
    g.add_layer("Concatenate", layer_id="cat", inputs=["mp", "ap"])
    g.add_layer("LeakyReLU", {"alpha": 0.2}, layer_id="lr", inputs=["cat"])
    g.add_layer("Flatten", layer_id="f", inputs=["lr"])
    g.add_layer("Dense", {"units": 5, "use_bias": False}, layer_id="d1", inputs=["f"])
    g.add_layer("BatchNorm", layer_id="bn2", inputs=["d1"])
    g.add_layer("Sigmoid", layer_id="s", inputs=["bn2"])
    g.add_layer("Dense", {"units": 3}, layer_id="out", inputs=["s"])
    return g


def network_grad_check(net: Network, x: np.ndarray, rng: np.random.Generator, gradcheck,
                       training: bool = True) -> int:
    """Assert the analytic gradients of ``sum(out * r)`` (input and every param) match central
    differences, using the ``gradcheck`` fixture. Dropout masks are replayed by resetting the
    network's generator before every forward. Returns how many arrays were checked."""
    out = net.forward(x, training=training)
    r = rng.standard_normal(out.shape)

    def loss() -> float:
        net.rng = np.random.default_rng(99)
        return float(np.sum(net.forward(x, training=training) * r))

    net.rng = np.random.default_rng(99)
    net.forward(x, training=training)
    checks = [("input", net.backward(r), x)]
    for lid in net.order:
        impl = net.layers[lid]
        checks += [(f"{lid}/{name}", impl.grads[name].copy(), p)
                   for name, p in impl.params.items()]
    for name, analytic, arr in checks:
        try:
            gradcheck.check(analytic, loss, arr)
        except AssertionError as exc:
            raise AssertionError(f"gradient of {name}: {exc}") from None
    return len(checks)

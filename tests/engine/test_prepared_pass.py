"""The prepared inference pass (engine/prepared.py) gives exactly what the general pass gives.

Predictions, feature maps and the Why view of a chain of layers run through steps planned once
per input shape, with buffers shared by every call; these tests pin that the results are the
general pass's to the last bit, follow the current weights, and are never overwritten later.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from _netbuild import branching_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnstudio.core.templates import load_template
from cnnstudio.engine.kernels._blas import single_threaded_blas
from cnnstudio.engine.kernels.layout import batch_to_internal, batch_to_public
from cnnstudio.engine.network import Network
from cnnstudio.engine.optimizers import OptimizerConfig, make_optimizer
from cnnstudio.engine.trainer import train_step
from tests.edit_sequences import valid_graphs


def general_pass(net: Network, x: np.ndarray, stop_at: str | None = None,
                 keep: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The layer-by-layer pass every network can run (what the prepared one must equal),
    batch first."""
    stop_at = stop_at or net.output_id
    xi = batch_to_internal(x.astype(net.dtype))
    with single_threaded_blas():
        outs = net._run_layers(xi, False, stop_at, {stop_at, *keep})
    return {lid: batch_to_public(v) for lid, v in outs.items()}


def randomise(net: Network) -> Network:
    """Every weight, bias and moving statistic drawn at random (a fresh network's biases are
    0 and its moving statistics 0 and 1, which would hide their arithmetic)."""
    rng = np.random.default_rng(5)
    for impl in net.layers.values():
        for name, value in [*impl.params.items(), *impl.buffers.items()]:
            draw = rng.uniform(0.5, 2.0, value.shape) if name == "moving_var" else \
                rng.standard_normal(value.shape) * 0.5
            value[...] = draw
    return net


def prepared_used(net: Network) -> bool:
    return any(p is not None for p in net._prepared.values())


def images(net: Network, batch: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(
        (batch, *net.input_shape)).astype(np.float32)


@pytest.mark.parametrize("template", ["lenet5", "cifar_vgg", "digits_tiny", "shapes_cnn",
                                      "dilated_context", "mobilenet_se", "mini_resnet"])
@pytest.mark.parametrize("batch", [1, 3])
def test_templates_predict_exactly_as_the_general_pass(template, batch):
    net = randomise(Network(load_template(template), np.random.default_rng(0)))
    x = images(net, batch)
    np.testing.assert_array_equal(net.forward(x), general_pass(net, x)[net.output_id])


def test_a_chain_is_prepared_and_a_branching_graph_is_not():
    chain = Network(load_template("lenet5"), np.random.default_rng(0))
    chain.forward(images(chain, 1))
    assert prepared_used(chain)
    branching = Network(branching_graph(), np.random.default_rng(0))
    x = images(branching, 2)
    np.testing.assert_array_equal(branching.forward(x), general_pass(branching, x)[
        branching.output_id])
    assert not prepared_used(branching)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=valid_graphs(), batch=st.integers(1, 3))
def test_random_catalogue_models_predict_exactly_as_the_general_pass(graph, batch):
    net = randomise(Network(graph, np.random.default_rng(0)))
    x = images(net, batch)
    np.testing.assert_array_equal(net.forward(x), general_pass(net, x)[net.output_id])
    middle = net.order[len(net.order) // 2]
    if middle != net.input_id:
        got = net.activations(x, [middle, net.output_id])
        want = general_pass(net, x, net.output_id, (middle,))
        for lid in (middle, net.output_id):
            np.testing.assert_array_equal(got[lid], want[lid])


def test_a_prediction_follows_the_weights_after_training_and_after_replacing_them():
    net = Network(load_template("cifar_vgg"), np.random.default_rng(0))
    x = images(net, 1)
    before = net.forward(x)
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((4, *net.input_shape)).astype(np.float32)
    train_step(net, make_optimizer(OptimizerConfig("sgd", lr=0.1)), xs,
               np.arange(4) % net.output_shape[0])
    trained = net.forward(x)
    assert not np.array_equal(before, trained)
    np.testing.assert_array_equal(trained, general_pass(net, x)[net.output_id])
    for impl in net.layers.values():  # new arrays, as loading weights may give
        for name, value in list(impl.params.items()):
            impl.params[name] = value * np.float32(0.5)
    np.testing.assert_array_equal(net.forward(x), general_pass(net, x)[net.output_id])


def test_kept_outputs_are_not_overwritten_by_later_layers_or_later_calls():
    """LeNet-5's ReLU after c1 works in place on a fresh output; asked for c1 too, it must not,
    and what one call returned must survive the next call's reuse of the buffers."""
    net = Network(load_template("lenet5"), np.random.default_rng(0))
    first_x, second_x = images(net, 1, seed=1), images(net, 1, seed=2)
    first = net.activations(first_x, ["c1", "a1", net.output_id])
    assert (first["c1"] < 0).any()  # the convolution's own output, before the ReLU
    copies = {lid: v.copy() for lid, v in first.items()}
    net.activations(second_x, ["c1", "a1", net.output_id])
    net.forward(second_x)
    for lid, value in first.items():
        np.testing.assert_array_equal(value, copies[lid])
    want = general_pass(net, first_x, net.output_id, ("c1", "a1"))
    for lid, value in first.items():
        np.testing.assert_array_equal(value, want[lid])


def test_threads_predicting_at_once_each_get_their_own_results():
    net = Network(load_template("lenet5"), np.random.default_rng(0))
    inputs = [images(net, 1, seed=s) for s in range(4)]
    expected = [general_pass(net, x)[net.output_id] for x in inputs]
    failures: list[str] = []

    def predict(i: int) -> None:
        for _ in range(200):
            if not np.array_equal(net.forward(inputs[i]), expected[i]):
                failures.append(f"thread {i}")
                return

    threads = [threading.Thread(target=predict, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []

"""Random models from the whole catalogue, trained one step in the engine and in the exported
PyTorch model with the same weights: the outputs, the input gradient and every parameter
gradient agree (float64 on both sides, so any difference is a bug, not rounding).

The templates have their own such test (tests/engine/test_torch_templates.py); random models
reach what templates do not: fan-out, frozen layers, merges of odd branches, every layer type.
"""

from __future__ import annotations

import numpy as np
import pytest
from _exportgraphs import random_state
from hypothesis import HealthCheck, given, settings

from cnnstudio.commands.bench_contenders import torch_model
from cnnstudio.core.graph import Graph
from cnnstudio.engine.network import Network
from tests.edit_sequences import valid_graphs

torch = pytest.importorskip("torch")


def _close(engine: np.ndarray, reference: np.ndarray, what: str) -> None:
    scale = max(1.0, float(np.abs(reference).max(initial=0.0)))
    assert np.abs(engine - reference).max(initial=0.0) <= 1e-7 * scale, what


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph=valid_graphs())
def test_random_models_train_as_in_torch(graph: Graph):
    for layer in graph:  # both sides must compute the same function: no random masks
        if layer.type in ("Dropout", "SpatialDropout2D"):
            graph.set_param(layer.id, "rate", 0.0)
    net = Network(graph, np.random.default_rng(0), dtype=np.float64)
    # weights and statistics off their defaults, so no value sits on a ReLU's kink by design
    state = random_state(graph, np.random.default_rng(3))
    net.load_state_dict(state)
    model, weight_keys = torch_model(graph, state, torch)
    model = model.double().train()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, *net.input_shape))

    out = net.forward(x, training=True)
    r = rng.standard_normal(out.shape)
    dx = net.backward(r)
    tx = torch.from_numpy(x).requires_grad_(True)
    tout = model(tx)
    (tout * torch.from_numpy(r)).sum().backward()

    _close(out, tout.detach().numpy(), "output")
    _close(dx, tx.grad.numpy(), "input gradient")
    params = dict(model.named_parameters())
    for key, target in weight_keys.items():
        lid, name = key.rsplit("/", 1)
        impl = net.layers[lid]
        if name not in impl.grads:
            continue  # BatchNorm statistics
        assert params[target].requires_grad == (lid not in net.frozen), key
        if lid not in net.frozen:
            _close(impl.grads[name], params[target].grad.numpy(), key)

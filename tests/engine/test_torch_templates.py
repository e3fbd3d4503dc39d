"""Whole templates against PyTorch with the same weights: outputs and every gradient.

The torch network comes from the PyTorch exporter (the same one users get), loaded with the
engine's initial weights. Dropout rates are set to 0 so both sides compute the same function.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.commands.bench_contenders import torch_model
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.engine.introspect import softmax_cross_entropy
from cnnstudio.engine.kernels.layout import flat_to_public
from cnnstudio.engine.network import Network

torch = pytest.importorskip("torch")


def _without_dropout(key: str):
    g = load_template(key)
    for layer in g:
        if layer.type in ("Dropout", "SpatialDropout2D"):
            g.set_param(layer.id, "rate", 0.0)
    return g


@pytest.mark.parametrize("key", [t.key for t in list_templates()])
def test_template_matches_torch(key, tmp_path):
    g = _without_dropout(key)
    net = Network(g, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, *net.input_shape), dtype=np.float32)
    y = rng.integers(0, net.output_shape[0], 8)
    state = net.state_dict()
    model, weight_keys = torch_model(g, state, torch)
    model.train()

    logits = net.forward_logits(x, training=True)
    loss, dlogits, _ = softmax_cross_entropy(logits, y)
    net.backward_internal(dlogits, net.logits_id)

    tx = torch.from_numpy(x)
    tout = model(tx)
    tloss = torch.nn.functional.cross_entropy(tout, torch.from_numpy(y))
    tloss.backward()
    np.testing.assert_allclose(flat_to_public(logits), tout.detach().numpy(), atol=1e-4, rtol=0)
    assert loss == pytest.approx(tloss.item(), abs=1e-5)

    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    checked = 0
    for key_name, target in weight_keys.items():
        lid, name = key_name.rsplit("/", 1)
        impl = net.layers[lid]
        if name in impl.grads:
            grad = params[target].grad.numpy()
            assert np.abs(impl.grads[name] - grad).max() < 1e-4, key_name
            checked += 1
        else:  # BatchNorm moving statistics after one training step
            assert np.abs(impl.buffers[name] - buffers[target].numpy()).max() < 1e-4, key_name
    assert checked == sum(len(impl.params) for impl in net.layers.values())

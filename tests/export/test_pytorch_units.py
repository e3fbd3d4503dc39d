"""Units in the PyTorch export: a unit that repeats becomes one nn.Module class with one instance
per copy, and the exported model still computes exactly what the engine computes."""

from __future__ import annotations

import numpy as np
import pytest
from _exportgraphs import import_file, input_batch, random_state

from cnnstudio.core.graph import Graph
from cnnstudio.core.templates import load_template
from cnnstudio.core.unit_ops import repeat_plan
from cnnstudio.engine.network import Network
from cnnstudio.export.pytorch import export_pytorch, pytorch_source

torch = pytest.importorskip("torch")


def repeated_resnet(copies: int = 2, freeze: str | None = None) -> Graph:
    """mini_resnet with its first residual block repeated ``copies`` more times."""
    g = load_template("mini_resnet")
    if freeze:
        g.set_trainable(freeze, False)
    plan = repeat_plan(g, "block1", copies)
    for n in plan.layers:
        g.add_layer(n.type, n.params, layer_id=n.id, inputs=n.inputs, index=n.index,
                    position=n.position, trainable=n.trainable)
    for cid, inputs in plan.rewire.items():
        g.set_inputs(cid, inputs)
    for u in plan.units:
        g.units.add(u.id, u.name, u.members, parent=u.parent, collapsed=u.collapsed)
    return g


@pytest.mark.parametrize("freeze", [None, "b1_bn1"])
def test_repeated_units_become_one_class_and_match_the_engine(tmp_path, freeze) -> None:
    graph = repeated_resnet(2, freeze)
    source = pytorch_source(graph)
    assert source.count("class ResidualBlock(nn.Module):") == 1
    assert source.count("= ResidualBlock()") == 3
    path = tmp_path / "model.py"
    export_pytorch(graph, path)
    module = import_file(path)
    rng = np.random.default_rng(3)
    state = random_state(graph, rng)
    weights = tmp_path / "w.npz"
    np.savez(weights, **state)
    model = module.build_model(str(weights))
    blocks = [m for m in model.modules() if type(m).__name__ == "ResidualBlock"]
    assert len(blocks) == 3
    assert module.WEIGHT_KEYS["b1_c1_3/weight"] == "block1_3.b1_c1.weight"
    assert not torch.equal(blocks[0].b1_c1.weight, blocks[2].b1_c1.weight)  # own weights
    x = input_batch(graph, rng, batch=3)
    net = Network(graph, rng)
    net.load_state_dict(state)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    assert np.abs(got - net.forward(x)).max() < 1e-4
    model.train()  # frozen BatchNorm inside a unit module stays in eval mode
    assert all(not m.training for m in model.modules()
               if freeze and m is model.get_submodule("block1.b1_bn1"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    from cnnstudio.core.validator import validate
    assert trainable == validate(graph).totals.trainable


def test_units_that_do_not_repeat_export_as_plain_layers() -> None:
    source = pytorch_source(load_template("mini_resnet"))
    assert "class CnnModel" in source and source.count("(nn.Module):") == 1

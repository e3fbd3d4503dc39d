"""The PyTorch export computes what the engine computes, trains, and refuses what it must."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from _exportgraphs import (
    engine_forward,
    import_file,
    input_batch,
    random_state,
    trainable_count,
    valid_graphs,
)
from hypothesis import HealthCheck, given, settings

from cnnstudio.core.graph import Graph
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.core.validator import validate
from cnnstudio.engine.network import Network
from cnnstudio.export.pytorch import _py_string, export_pytorch, pytorch_source
from cnnstudio.export.registry import ExportError

torch = pytest.importorskip("torch")


def _exported(graph: Graph, tmp_path, state=None, name="model.py"):
    path = tmp_path / name
    export_pytorch(graph, path)
    module = import_file(path)
    if state is None:
        return module, module.build_model()
    weights = tmp_path / (name + ".npz")
    np.savez(weights, **state)
    return module, module.build_model(str(weights))


def _run(model, x: np.ndarray, double: bool = False) -> np.ndarray:
    with torch.no_grad():
        t = torch.from_numpy(x)
        if double:
            model, t = model.double(), t.double()
        return model(t).numpy()


@pytest.mark.parametrize("key", [t.key for t in list_templates()])
def test_template_matches_engine_and_counts_params(key, tmp_path):
    graph = load_template(key)
    rng = np.random.default_rng(1)
    state = random_state(graph, rng)
    _, model = _exported(graph, tmp_path, state)
    x = input_batch(graph, rng, batch=4)
    net = Network(graph, rng)
    net.load_state_dict(state)
    assert np.abs(_run(model, x) - net.forward(x)).max() < 1e-4
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == validate(graph).totals.trainable
    assert not model.training  # build_model returns eval mode


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(graph=valid_graphs())
def test_random_graphs_match_engine(graph, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("g")
    rng = np.random.default_rng(2)
    state = random_state(graph, rng)
    _, model = _exported(graph, tmp_path, state)
    x = input_batch(graph, rng)
    got = _run(model, x, double=True)
    want = engine_forward(graph, state, x)
    assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())
    totals = validate(graph).totals
    # frozen layers count as non-trainable in the validator and have requires_grad off in torch
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == totals.trainable
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == \
        trainable_count(graph)
    running = sum(b.numel() for name, b in model.named_buffers() if "running_" in name)
    assert sum(p.numel() for p in model.parameters()) + running == totals.total


def _chain(*layers, shape=(2, 7, 6)) -> Graph:
    g = Graph("t")
    last = g.add_layer("Input", {"channels": shape[0], "height": shape[1], "width": shape[2]})
    for kind, params in layers:
        last = g.add_layer(kind, params, inputs=[last])
    return g


@pytest.mark.parametrize("layer", [
    ("Conv2D", {"filters": 3, "kernel_size": 3, "stride": 2, "padding": "same"}),
    ("Conv2D", {"filters": 3, "kernel_size": [4, 2], "stride": [2, 3], "padding": "same"}),
    ("AvgPool2D", {"pool_size": 2, "stride": 1, "padding": 1}),  # torch's own count_include_pad
    ("AvgPool2D", {"pool_size": 3, "stride": 2, "padding": "same"}),  # asymmetric
    ("AvgPool2D", {"pool_size": 2, "stride": 2, "padding": 3}),  # windows of padding only
    ("MaxPool2D", {"pool_size": 2, "stride": 2, "padding": 2}),  # pad > kernel / 2
    ("MaxPool2D", {"pool_size": 3, "stride": 2, "padding": "same"}),
    # ceil_mode whose last window would start in the right padding (dropped, as in PyTorch)
    ("AvgPool2D", {"pool_size": 1, "padding": 1, "ceil_mode": True}),
    ("MaxPool2D", {"pool_size": 2, "stride": 1, "padding": 1, "ceil_mode": True}),
])
def test_padding_reproduced_exactly(layer, tmp_path):
    """The cases nn.Conv2d/nn.*Pool2d cannot express, with inputs that are all negative so a
    zero counted as a pixel (or padding winning a max) would change the result."""
    graph = _chain(layer)
    rng = np.random.default_rng(3)
    state = random_state(graph, rng)
    _, model = _exported(graph, tmp_path, state)
    x = -np.abs(input_batch(graph, rng)) - 1
    assert np.abs(_run(model, x, True) - engine_forward(graph, state, x)).max() < 1e-6


def test_same_padding_with_stride_puts_odd_pixel_bottom_right(tmp_path):
    graph = _chain(("Conv2D", {"filters": 1, "kernel_size": 2, "stride": 2, "padding": "same",
                               "use_bias": False}), shape=(1, 3, 3))
    source = pytorch_source(graph)
    assert "pads=(0, 1, 0, 1)" in source  # (left, right, top, bottom)
    module = import_file(_write(tmp_path, source))
    model = module.build_model()
    with torch.no_grad():
        model.conv2d_1.weight.fill_(1.0)
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    # windows: rows {0,1},{2,pad}; columns {0,1},{2,pad}
    expected = [[0 + 1 + 3 + 4, 2 + 5], [6 + 7, 8]]
    assert _run(model, x)[0, 0].tolist() == expected


def _write(tmp_path, source: str):
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    return path


def test_batchnorm_and_dropout_layers_are_torch_layers(tmp_path):
    graph = _chain(("BatchNorm", {"momentum": 0.8, "epsilon": 0.01}),
                   ("SpatialDropout2D", {"rate": 0.3}), ("Flatten", {}),
                   ("BatchNorm", {}), ("Dropout", {"rate": 0.2}))
    _, model = _exported(graph, tmp_path)
    bn2d, sd, _, bn1d, drop = (m for name, m in model.named_children())
    assert isinstance(bn2d, torch.nn.BatchNorm2d) and bn2d.eps == 0.01
    assert bn2d.momentum == pytest.approx(0.2)  # ours 0.8 keeps 80% of the old statistics
    assert isinstance(sd, torch.nn.Dropout2d) and sd.p == 0.3
    assert isinstance(bn1d, torch.nn.BatchNorm1d)
    assert isinstance(drop, torch.nn.Dropout) and drop.p == 0.2


def test_frozen_layers_stay_frozen_and_frozen_batchnorm_uses_moving_stats(tmp_path):
    graph = _chain(("Conv2D", {"filters": 2}), ("BatchNorm", {}))
    for lid in ("conv2d_1", "batchnorm_1"):
        graph.set_trainable(lid, False)
    _, model = _exported(graph, tmp_path)
    assert not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not model.batchnorm_1.training
    before = model.batchnorm_1.running_mean.clone()
    model(torch.randn(4, 2, 7, 6))
    assert torch.equal(model.batchnorm_1.running_mean, before)


def test_weights_that_do_not_fit_are_refused_with_every_mismatch(tmp_path):
    graph = load_template("lenet5")
    state = random_state(graph, np.random.default_rng(0))
    state["c1/weight"] = state["c1/weight"][:, :, :3, :3]
    del state["out/bias"]
    state["ghost/weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError) as info:
        _exported(graph, tmp_path, state)
    text = str(info.value)
    assert "c1/weight has shape [6, 1, 3, 3]" in text
    assert "missing out/bias" in text and "unexpected ghost/weight" in text


def test_save_weights_round_trips_to_the_engine(tmp_path):
    graph = load_template("mini_resnet")
    state = random_state(graph, np.random.default_rng(4))
    module, model = _exported(graph, tmp_path, state)
    out = tmp_path / "back.npz"
    module.save_weights(model, str(out), (np.zeros(3, np.float32), np.ones(3, np.float32)))
    with np.load(out, allow_pickle=False) as saved:
        back = {k: saved[k] for k in saved.files}
    net = Network(graph, np.random.default_rng(0))
    net.load_state_dict(back)  # strict: same keys, same shapes
    for key, arr in state.items():
        np.testing.assert_array_equal(back[key], arr)
    assert "_meta/norm_mean" in back


def test_invalid_model_is_refused_with_the_validators_errors():
    graph = _chain(("Dense", {"units": 3}))
    with pytest.raises(ExportError) as info:
        pytorch_source(graph)
    assert info.value.lines == [f"error [{p.code}] {p.message}"
                                for p in validate(graph).errors]
    assert info.value.lines[0].startswith("error [wrong_rank]")


def test_long_strings_are_split_without_changing_them():
    text = "word " * 40 + "x" * 150 + " \n'\"end"
    literal = _py_string(text)
    assert eval(literal) == text  # noqa: S307 - our own literal


def _tiny_dataset(path, graph: Graph, n=24, test=True):
    rng = np.random.default_rng(5)
    shape = validate(graph).layers["in"].output_shape
    arrays = {"x_train": rng.integers(0, 256, (n, *shape)).astype(np.uint8),
              "y_train": rng.integers(0, 10, n)}
    if test:
        arrays.update(x_test=arrays["x_train"][:8], y_test=arrays["y_train"][:8])
    np.savez(path, **arrays)


@pytest.mark.slow
def test_generated_file_trains_one_epoch(tmp_path):
    graph = load_template("lenet5")
    export_pytorch(graph, tmp_path / "model.py")
    _tiny_dataset(tmp_path / "d.npz", graph)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    done = subprocess.run(
        [sys.executable, "model.py", "--data", "d.npz", "--epochs", "1", "--batch-size", "8",
         "--optimizer", "momentum", "--lr", "0.01", "--out", "w.npz"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    assert "epoch 1/1" in done.stdout and "test accuracy" in done.stdout
    with np.load(tmp_path / "w.npz", allow_pickle=False) as saved:
        trained = {k: saved[k] for k in saved.files}
    net = Network(graph, np.random.default_rng(0))
    net.load_state_dict(trained)  # the engine reads what PyTorch wrote
    assert trained["_meta/norm_std"].shape == (1,)


@pytest.mark.slow
def test_generated_file_trains_under_torchrun_with_two_processes(tmp_path):
    pytest.importorskip("torch.distributed.run")
    if not torch.distributed.is_available():
        pytest.skip("this torch build has no distributed support")
    graph = load_template("digits_tiny")
    export_pytorch(graph, tmp_path / "model.py")
    _tiny_dataset(tmp_path / "d.npz", graph, test=False)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "model.py", "--data", "d.npz", "--epochs", "1", "--batch-size", "4", "--out", "w.npz"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("epoch 1/1") == 1  # only rank 0 reports
    assert (tmp_path / "w.npz").exists()

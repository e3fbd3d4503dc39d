"""The ONNX export passes the checker and, in onnxruntime, computes what the engine computes."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _exportgraphs import engine_forward, input_batch, random_state, valid_graphs
from hypothesis import HealthCheck, given, settings

from cnnstudio.core.graph import Graph
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.export import onnx_export
from cnnstudio.export.onnx_export import OnnxMissing, build_onnx, require_onnx

onnx = pytest.importorskip("onnx")


def _session(model):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _check_against_engine(graph: Graph, seed: int, x: np.ndarray | None = None) -> None:
    rng = np.random.default_rng(seed)
    state = random_state(graph, rng)
    model = build_onnx(graph, state)
    x = input_batch(graph, rng) if x is None else x
    got = _session(model).run(["output"], {"input": x})[0]
    want = engine_forward(graph, state, x)
    # float32 in onnxruntime against the engine in float64: relative to the values' size
    assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())


@pytest.mark.parametrize("key", [t.key for t in list_templates()])
def test_template_passes_checker_and_matches_engine(key):
    graph = load_template(key)
    model = build_onnx(graph, random_state(graph, np.random.default_rng(0)))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    (inp,) = model.graph.input
    assert inp.name == "input"
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].HasField("dim_value")  # dynamic batch
    _check_against_engine(graph, 1)


def test_dynamic_batch_runs_with_any_batch_size():
    graph = load_template("shapes_cnn")
    state = random_state(graph, np.random.default_rng(0))
    session = _session(build_onnx(graph, state))
    for batch in (1, 5):
        x = input_batch(graph, np.random.default_rng(batch), batch)
        assert session.run(None, {"input": x})[0].shape[0] == batch


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(graph=valid_graphs())
def test_random_graphs_match_engine(graph):
    _check_against_engine(graph, 2)


def _chain(kind: str, params: dict) -> Graph:
    g = Graph("t")
    g.add_layer("Input", {"channels": 2, "height": 7, "width": 6}, layer_id="in")
    g.add_layer(kind, params, inputs=["in"])
    return g


@pytest.mark.parametrize("kind,params", [
    ("AvgPool2D", {"pool_size": 3, "stride": 2, "padding": "same"}),
    ("AvgPool2D", {"pool_size": 2, "stride": 2, "padding": 3}),
    ("AvgPool2D", {"pool_size": 2, "stride": 1, "padding": [2, 0]}),
    ("MaxPool2D", {"pool_size": 2, "stride": 2, "padding": 3}),
    ("MaxPool2D", {"pool_size": 2, "stride": 3, "padding": 2}),
    ("Conv2D", {"filters": 2, "kernel_size": 4, "stride": 3, "padding": "same"}),
    # ceil_mode whose last window would start in the right padding: PyTorch (and the engine)
    # drop it, ONNX's own ceil rule would not (7 rows, 1x1 windows, padding 1: 8 rows, not 9).
    ("AvgPool2D", {"pool_size": 1, "padding": 1, "ceil_mode": True}),
    ("MaxPool2D", {"pool_size": 1, "padding": 1, "ceil_mode": True}),
    ("AvgPool2D", {"pool_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}),
    ("MaxPool2D", {"pool_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
])
def test_padding_reproduced_exactly(kind, params):
    """All-negative inputs: a padded zero counted as a pixel, or -inf escaping, would show."""
    graph = _chain(kind, params)
    x = -np.abs(input_batch(graph, np.random.default_rng(3))) - 1
    _check_against_engine(graph, 3, x)


def test_missing_onnx_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(OnnxMissing) as info:
        require_onnx()
    assert "pip install cnnstudio[onnx]" in str(info.value)
    assert onnx_export.INSTALL_HINT == "pip install cnnstudio[onnx]"


def test_missing_weights_are_reported():
    graph = load_template("lenet5")
    state = random_state(graph, np.random.default_rng(0))
    del state["c2/bias"]
    with pytest.raises(onnx_export.ExportError, match="c2/bias"):
        build_onnx(graph, state)

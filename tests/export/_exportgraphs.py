"""Shared helpers for the export tests: random valid graphs, random weights, module import."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
from hypothesis import strategies as st

from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import validate
from cnnstudio.engine.network import Network
from tests.edit_sequences import valid_graphs as catalogue_graphs

_counter = itertools.count()


def import_file(path: Path) -> ModuleType:
    """Import a generated ``.py`` under a fresh module name (as a user's ``import`` would)."""
    name = f"cnnstudio_export_test_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def random_state(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Engine-initialised weights with biases and BatchNorm statistics moved off their
    defaults (so a swapped mean/var or a missing bias would show), rounded to float32."""
    state = Network(graph, rng).state_dict()
    out = {}
    for key, arr in state.items():
        name = key.rsplit("/", 1)[1]
        if name in ("bias", "beta", "moving_mean"):
            arr = rng.normal(0, 0.3, arr.shape)
        elif name == "gamma":
            arr = 1 + rng.normal(0, 0.3, arr.shape)
        elif name == "moving_var":
            arr = rng.uniform(0.3, 2.0, arr.shape)
        out[key] = np.asarray(arr, dtype=np.float32)
    return out


def engine_forward(graph: Graph, state: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The engine's inference output in float64 (the reference)."""
    net = Network(graph, np.random.default_rng(0), dtype=np.float64)
    net.load_state_dict(state)
    return net.forward(x.astype(np.float64), training=False)


def input_batch(graph: Graph, rng: np.random.Generator, batch: int = 3) -> np.ndarray:
    result = validate(graph)
    shape = result.layers[result.input_ids[0]].output_shape
    return rng.normal(size=(batch, *shape)).astype(np.float32)


def trainable_count(graph: Graph) -> int:
    """The validator's trainable parameters of the layers the user has not frozen."""
    result = validate(graph)
    return sum(result.layers[layer.id].trainable for layer in graph if layer.trainable)


# --- random valid graphs ---------------------------------------------------------------------

_pair = st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2, max_size=2))
_padding = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 3),
                     st.lists(st.integers(0, 3), min_size=2, max_size=2))
_IMAGE_STEPS = ("Conv2D", "MaxPool2D", "AvgPool2D", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
                "BatchNorm", "Dropout", "SpatialDropout2D", "Add", "Concatenate")
_FLAT_STEPS = ("Dense", "ReLU", "Tanh", "BatchNorm", "Dropout", "Add", "Concatenate")


def _params(draw: st.DrawFn, kind: str, channels: int) -> dict:
    if kind == "Conv2D":
        return {"filters": draw(st.integers(1, 4)), "kernel_size": draw(_pair),
                "stride": draw(_pair), "padding": draw(_padding),
                "use_bias": draw(st.booleans())}
    if kind in ("MaxPool2D", "AvgPool2D"):
        return {"pool_size": draw(_pair), "stride": draw(st.one_of(st.none(), _pair)),
                "padding": draw(_padding)}
    if kind == "LeakyReLU":
        return {"alpha": draw(st.floats(0, 1))}
    if kind == "BatchNorm":
        return {"momentum": draw(st.floats(0, 0.99)), "epsilon": draw(st.floats(1e-5, 0.1))}
    if kind in ("Dropout", "SpatialDropout2D"):
        return {"rate": draw(st.floats(0, 0.9))}
    if kind == "Dense":
        return {"units": draw(st.integers(1, 6)), "use_bias": draw(st.booleans())}
    return {}


def _shape(graph: Graph, lid: str) -> tuple[int, ...]:
    shape = validate(graph).layers[lid].output_shape
    assert shape is not None
    return shape


def _step(draw: st.DrawFn, graph: Graph, last: str, kind: str) -> str:
    """Add one layer (or a two-branch merge) after ``last``; undo it if the model breaks."""
    shape = _shape(graph, last)
    image = len(shape) == 3
    added: list[str] = []
    trainable = draw(st.booleans()) or draw(st.booleans())  # mostly trainable
    if kind in ("Add", "Concatenate"):
        n = draw(st.integers(2, 3))
        branches = [last]
        for _ in range(n - 1):
            if image:
                filters = shape[0] if kind == "Add" else draw(st.integers(1, 3))
                params = {"filters": filters, "kernel_size": draw(st.sampled_from([1, 3])),
                          "padding": "same", "use_bias": draw(st.booleans())}
                branch = graph.add_layer("Conv2D", params, inputs=[last], trainable=trainable)
            else:
                units = shape[0] if kind == "Add" else draw(st.integers(1, 4))
                branch = graph.add_layer("Dense", {"units": units}, inputs=[last])
            branches.append(branch)
            added.append(branch)
        merged = graph.add_layer(kind, inputs=branches)
    else:
        merged = graph.add_layer(kind, _params(draw, kind, shape[0]), inputs=[last],
                                 trainable=trainable)
    added.append(merged)
    if validate(graph).valid:
        return merged
    for lid in reversed(added):
        graph.remove_layer(lid)
    return last


def valid_graphs() -> st.SearchStrategy[Graph]:
    """Small valid models: half of them built for the exporters' hard cases (conv branches into
    merges, odd paddings and strides, dense heads), half from the whole catalogue (every layer
    type and param, units), so a layer added to the catalogue is exported in random company
    without this file knowing of it."""
    return st.one_of(_hard_case_graphs(), catalogue_graphs(max_steps=8))


@st.composite
def _hard_case_graphs(draw: st.DrawFn) -> Graph:
    """Conv branches into merges, odd paddings, strides, and a flat head."""
    graph = Graph("random")
    last = graph.add_layer("Input", {"channels": draw(st.integers(1, 3)),
                                     "height": draw(st.integers(3, 9)),
                                     "width": draw(st.integers(3, 9))})
    for _ in range(draw(st.integers(0, 5))):
        last = _step(draw, graph, last, draw(st.sampled_from(_IMAGE_STEPS)))
    head = draw(st.sampled_from(["Flatten", "GlobalAvgPool2D", "GlobalMaxPool2D", None]))
    if head is not None:
        last = graph.add_layer(head, inputs=[last])
        for _ in range(draw(st.integers(0, 3))):
            last = _step(draw, graph, last, draw(st.sampled_from(_FLAT_STEPS)))
        if draw(st.booleans()):
            last = graph.add_layer("Dense", {"units": draw(st.integers(2, 5))}, inputs=[last])
            if draw(st.booleans()):
                last = graph.add_layer("Softmax", inputs=[last])
    assert validate(graph).valid
    return graph

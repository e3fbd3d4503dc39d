"""The conformance harness: every catalogue layer type, through every part of the program.

Parametrised over ``core.catalogue.LAYERS``, so a new layer type is tested here the moment it is
registered, and fails with a message naming the part it is still missing: its model-file round
trip, the validator's shape and parameter count against the engine's actual arrays, forward and
backward against finite differences, the PyTorch export (torch is the forward reference) and the
ONNX export computing what the engine computes, its explanation, its palette entry and an
inspector editor for every param. Each layer runs in the smallest model that gives it the input
it needs, with the catalogue's ``example`` params (its less common paths: strides, padding, modes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE / "engine"), str(_HERE / "export")]

from _exportgraphs import engine_forward, import_file, random_state  # noqa: E402
from _netbuild import network_grad_check  # noqa: E402
from _numerics import GradCheck  # noqa: E402

from cnnstudio.core import modelfile  # noqa: E402
from cnnstudio.core.catalogue import FLAT, LAYERS, ROLE_INPUT, LayerSpec  # noqa: E402
from cnnstudio.core.explain import explain, explainer_for  # noqa: E402
from cnnstudio.core.graph import Graph  # noqa: E402
from cnnstudio.core.validator import validate  # noqa: E402
from cnnstudio.engine.layers import LAYER_TYPES  # noqa: E402
from cnnstudio.engine.network import Network  # noqa: E402
from cnnstudio.export.registry import layer_tables  # noqa: E402

TYPES = sorted(LAYERS)
#: The image every one-layer model starts from: channels x height x width (odd sizes, so
#: windows that do not tile and asymmetric "same" padding are exercised).
INPUT_SHAPE = (4, 7, 6)


def one_layer_model(spec: LayerSpec) -> tuple[Graph, str]:
    """The smallest valid model around one layer of ``spec`` (id "x"), with its example params:
    a Flatten first for layers that need a flat vector, two different branches for merges."""
    g = Graph(spec.type)
    c, h, w = INPUT_SHAPE
    if spec.role == ROLE_INPUT:
        return g, g.add_layer(spec.type, {"channels": c, "height": h, "width": w}, layer_id="x")
    src = g.add_layer("Input", {"channels": c, "height": h, "width": w}, layer_id="in")
    if spec.input_rank == FLAT:
        src = g.add_layer("Flatten", layer_id="flat", inputs=[src])
    inputs = [src]
    if spec.min_inputs >= 2:
        inputs = [g.add_layer("Tanh", layer_id="a", inputs=[src]),
                  g.add_layer("Sigmoid", layer_id="b", inputs=[src])]
    return g, g.add_layer(spec.type, dict(spec.example), layer_id="x", inputs=inputs)


def _valid_model(type_name: str) -> tuple[LayerSpec, Graph, str]:
    spec = LAYERS[type_name]
    graph, lid = one_layer_model(spec)
    result = validate(graph)
    assert result.valid, (f"{spec.type}: its one-layer model with the catalogue's example "
                          f"params is invalid: {[p.message for p in result.errors]}")
    return spec, graph, lid


@pytest.fixture(params=TYPES)
def model(request) -> tuple[LayerSpec, Graph, str]:
    return _valid_model(request.param)


#: Types that compute something (all but Input), for the numeric checks.
COMPUTING = [t for t in TYPES if LAYERS[t].role != ROLE_INPUT]


def test_model_file_round_trip(model) -> None:
    spec, graph, lid = model
    again = modelfile.loads(modelfile.dumps(graph))
    assert again.layer(lid).type == spec.type
    assert again.layer(lid).params == graph.layer(lid).params, \
        f"{spec.type}: params change when saved and read back"
    assert modelfile.dumps(again) == modelfile.dumps(graph)


def test_engine_implements_it(model) -> None:
    spec, _, _ = model
    assert spec.type in LAYER_TYPES, \
        f"{spec.type}: no engine layer class (register one in cnnstudio/engine/layers.py)"


def test_validator_counts_are_the_engine_arrays(model) -> None:
    spec, graph, lid = model
    assert spec.type in LAYER_TYPES, f"{spec.type}: no engine layer class"
    rep = validate(graph).layers[lid]
    net = Network(graph, np.random.default_rng(0))
    impl = net.layers[lid]
    owned = spec.arrays(graph.layer(lid).params, rep.input_shapes)
    assert [a.name for a in owned if a.trainable] == list(impl.params), spec.type
    assert [a.name for a in owned if not a.trainable] == list(impl.buffers), spec.type
    for a in owned:
        arr = impl.params.get(a.name, impl.buffers.get(a.name))
        assert arr.shape == a.shape, f"{spec.type}.{a.name}: engine {arr.shape}, spec {a.shape}"
        assert a.decayed == (a.name == "weight"), \
            f"{spec.type}.{a.name}: the optimizer decays exactly the arrays named weight"
    assert rep.trainable == sum(p.size for p in impl.params.values()), \
        f"{spec.type}: validator's trainable count differs from the engine's arrays"
    assert rep.non_trainable == sum(b.size for b in impl.buffers.values()), spec.type
    x = np.random.default_rng(1).standard_normal((3, *net.input_shape)).astype(np.float32)
    for training in (False, True):
        out = net.activations(x, [lid])[lid] if not training else net.forward(x, training=True)
        assert out.shape == (3, *rep.output_shape), \
            f"{spec.type}: engine output {out.shape[1:]}, validator {rep.output_shape}"
        assert out.dtype == np.float32 and np.isfinite(out).all(), spec.type


def test_weights_file_round_trip(model) -> None:
    spec, graph, lid = model
    a = Network(graph, np.random.default_rng(1))
    b = Network(graph, np.random.default_rng(2))
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(3).standard_normal((2, *INPUT_SHAPE)).astype(np.float32)
    np.testing.assert_array_equal(a.forward(x), b.forward(x),
                                  err_msg=f"{spec.type}: weights do not survive a round trip")
    owned = {f"{lid}/{name}" for name in (*a.layers[lid].params, *a.layers[lid].buffers)}
    assert set(a.state_dict()) == owned, f"{spec.type}: weights file keys"


@pytest.mark.parametrize("type_name", COMPUTING)
def test_forward_and_backward_match_finite_differences(type_name) -> None:
    spec, graph, lid = _valid_model(type_name)
    assert spec.type in LAYER_TYPES, f"{spec.type}: no engine layer class"
    rng = np.random.default_rng(3)
    net = Network(graph, rng, dtype=np.float64)
    for arrays in (net.layers[lid].params, net.layers[lid].buffers):
        for arr in arrays.values():  # off their zero/one starts, so every path is exercised
            arr[...] += rng.normal(0, 0.3, arr.shape) if arrays is net.layers[lid].params \
                else rng.uniform(0.2, 0.5, arr.shape)
    x = rng.standard_normal((2, *net.input_shape))
    try:
        network_grad_check(net, x, rng, GradCheck())
    except AssertionError as exc:
        raise AssertionError(f"{spec.type}: backward does not match finite differences: "
                             f"{exc}") from None


def test_pytorch_export_computes_what_the_engine_computes(model, tmp_path) -> None:
    """torch is the reference forward: the exported module's output equals the engine's."""
    spec, graph, _ = model
    assert spec.type in layer_tables()["pytorch"], \
        f"{spec.type}: no PyTorch export mapping (cnnstudio/export/pytorch.py LAYER_BUILDERS)"
    torch = pytest.importorskip("torch")
    from cnnstudio.export.pytorch import export_pytorch

    rng = np.random.default_rng(4)
    state = random_state(graph, rng)
    path = tmp_path / "model.py"
    export_pytorch(graph, path)
    weights = tmp_path / "w.npz"
    np.savez(weights, **state)
    module = import_file(path).build_model(str(weights)).double()
    x = rng.standard_normal((3, *INPUT_SHAPE))
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    want = engine_forward(graph, state, x)
    assert got.shape == want.shape, f"{spec.type}: torch {got.shape}, engine {want.shape}"
    assert np.abs(got - want).max() < 1e-9, \
        f"{spec.type}: PyTorch export differs from the engine by {np.abs(got - want).max():.2e}"


def test_onnx_export_computes_what_the_engine_computes(model) -> None:
    spec, graph, _ = model
    assert spec.type in layer_tables()["onnx"], \
        f"{spec.type}: no ONNX export mapping (cnnstudio/export/onnx_export.py NODE_BUILDERS)"
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnstudio.export.onnx_export import build_onnx

    rng = np.random.default_rng(5)
    state = random_state(graph, rng)
    session = ort.InferenceSession(build_onnx(graph, state).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    x = rng.standard_normal((3, *INPUT_SHAPE)).astype(np.float32)
    got = session.run(["output"], {"input": x})[0]
    want = engine_forward(graph, state, x)
    assert np.abs(got - want).max() < 1e-4, \
        f"{spec.type}: ONNX export differs from the engine by {np.abs(got - want).max():.2e}"


def test_it_is_explained_with_numbers(model) -> None:
    spec, graph, lid = model
    assert explainer_for(spec.type) is not None, \
        f"{spec.type}: no explanation (cnnstudio/core/explain.py EXPLAINERS)"
    sections = explain(graph.layer(lid), validate(graph).layers[lid])
    lines = [line.text for s in sections for line in s.lines]
    assert lines and all(lines), f"{spec.type}: empty explanation"
    assert any(ch.isdigit() for t in lines for ch in t), \
        f"{spec.type}: the explanation shows none of the user's numbers"


def test_it_has_a_palette_entry(model) -> None:
    spec, _, _ = model
    from cnnstudio.gui.palette import palette_entries

    listed = [s.type for _, specs in palette_entries() for s in specs]
    assert listed.count(spec.type) == 1, f"{spec.type}: not in the palette exactly once"


def test_every_param_has_an_inspector_editor(model, qtbot) -> None:
    spec, graph, lid = model
    from cnnstudio.gui.inspector.editors import editor_for

    for param in spec.params:
        try:
            editor = editor_for(param)
        except KeyError as exc:
            raise AssertionError(f"{spec.type}.{param.name}: {exc}") from None
        qtbot.addWidget(editor)
        editor.set_value(graph.layer(lid).params[param.name])
        assert not editor.has_error, f"{spec.type}.{param.name}: its editor refuses its value"


@pytest.mark.parametrize("type_name", COMPUTING)
def test_differentiates_in_inference_mode(type_name: str) -> None:
    """Saliency, Grad-CAM and effective receptive fields differentiate the network as it
    predicts: the layer must keep its backward cache while the network records
    (``LayerImpl._kept``) and its gradient must match finite differences of inference passes."""
    spec, graph, lid = _valid_model(type_name)
    net = Network(graph, np.random.default_rng(0), dtype=np.float64)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, *net.input_shape))
    dout = rng.normal(size=(1, *validate(graph).layers[lid].output_shape))
    got = net.inference_gradients(x, lid, dout).input

    def target(v: np.ndarray) -> float:
        return float((net.activations(v, [lid])[lid] * dout).sum())

    want = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + 1e-6
        up = target(x)
        x[idx] = old - 1e-6
        want[idx] = (up - target(x)) / 2e-6
        x[idx] = old
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7,
                               err_msg=f"{spec.type}: inference-mode input gradient")

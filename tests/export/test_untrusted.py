"""A model file from a stranger is data: exporting it can never run its text or inject markup."""

from __future__ import annotations

import io
import json
import tokenize
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from _exportgraphs import import_file, random_state

from cnnstudio.core import modelfile
from cnnstudio.export.diagram import to_svg
from cnnstudio.export.pytorch import export_pytorch, pytorch_source


def _hostile_model(marker) -> modelfile.Graph:
    run = f"__import__('os').system('touch {marker}')"
    ids = [
        run,
        f"\"); {run} #",
        f"'''; {run}; '''",
        '"""',
        "<script>alert(1)</script>",
        "]]><x/>",
        "self",
        "forward",
        "__init__",
        "x",
        "F",
    ]
    kinds = ["Input", "Conv2D", "ReLU", "Conv2D", "MaxPool2D", "BatchNorm", "Conv2D", "ReLU",
             "Flatten", "Dense", "Softmax"]
    layers = [{"id": lid, "type": kind} for lid, kind in zip(ids, kinds, strict=True)]
    layers[0]["params"] = {"channels": 2, "height": 16, "width": 16}
    doc = {
        "format": "cnnstudio.model", "version": 1,
        "name": f"evil\n{run}\n\"\"\"'''<script>alert('n')</script>",
        "description": f"line one\nimport os; os.system('touch {marker}')\n# \r\n\u2028"
                       f"\"\"\" {run} ''' <script>x</script> ]]> &amp;",
        "layers": layers,
    }
    return modelfile.loads(json.dumps(doc), "evil.json")


def test_pytorch_export_of_hostile_model_runs_nothing(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "MARKER"
    graph = _hostile_model(marker)
    path = tmp_path / "evil_model.py"
    state = random_state(graph, np.random.default_rng(0))
    weights = tmp_path / "w.npz"
    np.savez(weights, **state)
    export_pytorch(graph, path, weights_file=weights)
    module = import_file(path)
    model = module.build_model()  # loads w.npz through WEIGHTS_FILE
    out = model(torch.zeros(2, 2, 16, 16))
    assert out.shape == (2, 10)
    assert not marker.exists()
    assert module.MODEL_NAME == graph.name and module.MODEL_DESCRIPTION == graph.description
    assert set(module.WEIGHT_KEYS) == set(state)
    # the payloads reached the file only inside string literals and comments, never as code
    source = pytorch_source(graph)
    code_names = {tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                  if tok.type == tokenize.NAME}
    assert not code_names & {"__import__", "system", "touch", "alert", "script"}


def test_svg_of_hostile_model_is_escaped_text(tmp_path):
    marker = tmp_path / "MARKER"
    graph = _hostile_model(marker)
    svg = to_svg(graph)
    root = ET.fromstring(svg.encode("utf-8"))
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert "script" not in tags and "x" not in tags and "foreignObject" not in tags
    for el in root.iter():
        assert not any(name.startswith("on") for name in el.attrib)
    texts = ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("text")]
    for layer in graph:
        shown = [t for t in texts if t == layer.id or (t.endswith("\u2026")
                                                       and layer.id.startswith(t[:-1]))]
        assert shown, f"id {layer.id!r} not shown as text"
    assert not marker.exists()


def test_onnx_export_of_hostile_model(tmp_path):
    pytest.importorskip("onnx")
    from cnnstudio.export.onnx_export import build_onnx

    graph = _hostile_model(tmp_path / "MARKER")
    model = build_onnx(graph, random_state(graph, np.random.default_rng(0)))
    names = [n.name for n in model.graph.node] + [i.name for i in model.graph.initializer]
    assert all(name.replace(".", "_").replace("_", "a").isalnum() for name in names)

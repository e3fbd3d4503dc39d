"""The diagram shows what the canvas shows; ``cnnstudio export`` writes each format or says why."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from _exportgraphs import import_file, random_state

from cnnstudio.cli import main
from cnnstudio.core import modelfile
from cnnstudio.core.appearance import block_text, contrast, header_color, hex_rgb
from cnnstudio.core.layout import auto_layout
from cnnstudio.core.templates import load_template
from cnnstudio.core.validator import validate
from cnnstudio.engine.network import Network
from cnnstudio.export.diagram import PAGE_TARGET, positions_for, to_svg

SVG = "{http://www.w3.org/2000/svg}"


def _texts(root) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def test_svg_has_every_block_text_family_colour_and_edge_label():
    graph = load_template("mini_resnet")
    for uid in graph.units.ids:  # every layer drawn (collapsed units: test_diagram_units)
        graph.units.set_collapsed(uid, False)
    result = validate(graph)
    root = ET.fromstring(to_svg(graph, result))
    texts = _texts(root)
    fills = {el.get("fill") for el in root.iter()}
    for layer in graph:
        bt = block_text(layer, result.layers[layer.id])
        assert bt.title in texts and bt.layer_id in texts and bt.shape in texts
        if bt.params:
            assert bt.params in texts
        header = header_color(layer.spec.family)
        assert header in fills
        # the white bold title on it passes WCAG AA for normal-size text
        assert contrast(hex_rgb(header), (1.0, 1.0, 1.0)) >= 4.5, layer.spec.family
    curves = [p for p in root.iter(f"{SVG}path") if p.get("marker-end")]
    assert len(curves) == len(graph.edges())
    assert texts.count("32x16x16") >= 4  # edge labels carry the shapes that flow


def test_svg_uses_saved_positions_else_auto_layout():
    graph = load_template("lenet5")
    assert positions_for(graph) == auto_layout(graph, target=PAGE_TARGET)
    for i, lid in enumerate(graph.ids):
        graph.move(lid, 500.0 * i, 0.0)  # one long row
    assert positions_for(graph) == graph.positions
    root = ET.fromstring(to_svg(graph))
    assert float(root.get("width")) > 500.0 * (len(graph) - 1)


def _write_model(tmp_path, graph, name="m.json"):
    path = tmp_path / name
    modelfile.save(graph, path)
    return path


@pytest.mark.parametrize("fmt,check", [
    ("svg", lambda data: ET.fromstring(data) is not None),
    ("png", lambda data: data.startswith(b"\x89PNG\r\n\x1a\n")),
    ("markdown", lambda data: b"| Layer |" in data and b"Trainable params: 61,706" in data),
    ("json", lambda data: json.loads(data)["name"] == "LeNet-5"),
    ("pytorch", lambda data: b"class CnnModel(nn.Module)" in data),
])
def test_cli_writes_each_format(fmt, check, tmp_path, capsys):
    model = _write_model(tmp_path, load_template("lenet5"))
    out = tmp_path / f"out.{fmt}"
    assert main(["export", str(model), "--to", fmt, "-o", str(out)]) == 0
    assert check(out.read_bytes())


def test_cli_json_round_trips(tmp_path):
    graph = load_template("mini_resnet")
    out = tmp_path / "copy.json"
    assert main(["export", str(_write_model(tmp_path, graph)), "--to", "json", "-o",
                 str(out)]) == 0
    assert modelfile.load(out) == graph


def test_cli_refuses_invalid_model_one_line_per_error(tmp_path, capsys):
    g = load_template("lenet5")
    g.set_param("c1", "kernel_size", 40)
    g.add_layer("Dense", layer_id="bad", inputs=["in"])  # Dense on an image
    errors = validate(g).errors
    assert len(errors) >= 2
    out = tmp_path / "x.py"
    assert main(["export", str(_write_model(tmp_path, g)), "--to", "pytorch", "-o",
                 str(out)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error [{p.code}] {p.message}" for p in errors]
    assert not out.exists()


def test_cli_unreadable_model_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["export", str(bad), "--to", "svg", "-o", str(tmp_path / "o.svg")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "bad.json" in err and "\n" not in err


def test_cli_refuses_weights_that_do_not_fit(tmp_path, capsys):
    model = _write_model(tmp_path, load_template("lenet5"))
    weights = tmp_path / "w.npz"
    np.savez(weights, **random_state(load_template("digits_tiny"), np.random.default_rng(0)))
    assert main(["export", str(model), "--to", "pytorch", "-o", str(tmp_path / "m.py"),
                 "--weights", str(weights)]) == 2
    assert "weights do not fit" in capsys.readouterr().err


def test_cli_pytorch_with_weights_loads_them_by_default(tmp_path):
    torch = pytest.importorskip("torch")
    graph = load_template("shapes_cnn")
    state = random_state(graph, np.random.default_rng(1))
    np.savez(tmp_path / "w.npz", **state)
    out = tmp_path / "model.py"
    assert main(["export", str(_write_model(tmp_path, graph)), "--to", "pytorch", "-o",
                 str(out), "--weights", str(tmp_path / "w.npz"), "--optimizer", "sgd",
                 "--lr", "0.05", "--epochs", "3"]) == 0
    module = import_file(out)
    assert module.WEIGHTS_FILE == "w.npz"  # relative: the pair can move together
    assert (module.TRAINING["optimizer"], module.TRAINING["lr"],
            module.TRAINING["epochs"]) == ("sgd", 0.05, 3)
    net = Network(graph, np.random.default_rng(0))
    net.load_state_dict(state)
    x = np.random.default_rng(2).normal(size=(2, *net.input_shape)).astype(np.float32)
    with torch.no_grad():
        got = module.build_model()(torch.from_numpy(x)).numpy()
    assert np.abs(got - net.forward(x)).max() < 1e-4


def test_cli_onnx_with_weights(tmp_path):
    onnx = pytest.importorskip("onnx")
    graph = load_template("digits_tiny")
    state = random_state(graph, np.random.default_rng(1))
    np.savez(tmp_path / "w.npz", **state)
    out = tmp_path / "m.onnx"
    assert main(["export", str(_write_model(tmp_path, graph)), "--to", "onnx", "-o", str(out),
                 "--weights", str(tmp_path / "w.npz")]) == 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    stored = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    np.testing.assert_array_equal(stored["c1.weight"], state["c1/weight"])


def test_cli_onnx_without_package_exits_2(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    model = _write_model(tmp_path, load_template("lenet5"))
    assert main(["export", str(model), "--to", "onnx", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "pip install cnnstudio[onnx]" in capsys.readouterr().err

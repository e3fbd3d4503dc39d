"""The Export menu as a user meets it: each format written from the open model, a model with
errors refused with the validator's reasons, the ONNX install hint, trained weights carried into
PyTorch and ONNX. Dialogs are patched with plain answers."""

from __future__ import annotations

import importlib.util
import json
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from cnnstudio.core import modelfile
from cnnstudio.core.templates import load_template
from cnnstudio.export.summary import format_markdown
from cnnstudio.gui.document import Document
from cnnstudio.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, settings):
    w = MainWindow(Document(load_template("lenet5")), settings=settings)
    qtbot.addWidget(w)
    yield w
    w.document.undo_stack.setClean()
    w.files.shutdown()


@pytest.fixture
def dialogs(monkeypatch):
    """Record message boxes; answer file dialogs with ``dialogs.save_path``; questions get
    "Discard", so closing a window (pytest-qt does it before fixture teardown) never blocks."""
    class Dialogs:
        shown: list[tuple[str, str, str]] = []
        save_path = ""
        offered: list[str] = []

    def record(kind):
        def show(parent, title, text, *args, **kwargs):
            Dialogs.shown.append((kind, title, text))
            return QMessageBox.StandardButton.Discard if kind == "question" else \
                QMessageBox.StandardButton.Ok
        return show

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(record(kind)))

    def save_name(parent, caption, start, *args, **kwargs):
        Dialogs.offered.append(start)
        return Dialogs.save_path, ""
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_name))
    Dialogs.shown, Dialogs.offered = [], []
    return Dialogs


def break_model(window) -> None:
    """Remove LeNet's Flatten: the first Dense then gets a 3-D tensor (an error)."""
    doc = window.document
    doc.remove_layers(["f"])
    doc.connect("p2", "fc1")
    assert not doc.result.valid


def test_file_menu_offers_every_export_format(window):
    titles = [a.text().replace("&", "") for a in window.menus["export"].actions() if a.text()]
    assert titles[0].startswith("Model as JSON")
    for word in ("PyTorch", "ONNX", "SVG", "PNG", "Markdown", "Summary as JSON"):
        assert any(word in t for t in titles), (word, titles)
    assert window.menus["export"].menuAction() in window.menus["file"].actions()


def test_json_export_writes_a_copy_and_keeps_the_document(window, tmp_path, dialogs):
    own = tmp_path / "lenet.json"
    window.files._save_to(own)
    window.document.set_param("c1", "filters", 8)  # unsaved change
    dialogs.save_path = str(tmp_path / "copy")  # no suffix: .json is added
    window.exports.actions["json"].trigger()
    copy = tmp_path / "copy.json"
    assert modelfile.load(copy) == window.document.graph
    assert json.loads(copy.read_text())["format"] == modelfile.FORMAT
    assert window.document.path == own  # still editing the original file
    assert not window.document.is_clean()  # and the change is still unsaved
    assert modelfile.load(own).layer("c1").params["filters"] == 6
    assert "copy.json" in window.statusBar().currentMessage()
    assert dialogs.offered == [str(tmp_path / "lenet-copy.json")]


def test_json_export_onto_the_model_file_itself_is_refused(window, tmp_path, dialogs):
    own = tmp_path / "lenet.json"
    window.files._save_to(own)
    window.document.set_param("c1", "filters", 8)
    assert not window.exports.export("json", own)
    assert dialogs.shown and "Save" in dialogs.shown[-1][2]
    assert modelfile.load(own).layer("c1").params["filters"] == 6


@pytest.mark.parametrize("key", ["pytorch", "onnx", "svg", "png", "markdown"])
def test_invalid_model_is_refused_with_the_validator_errors(window, tmp_path, dialogs, key):
    break_model(window)
    dialogs.save_path = str(tmp_path / f"out.{key}")
    assert not window.exports.export(key)
    kind, _title, text = dialogs.shown[-1]
    assert kind == "warning"
    for problem in window.document.result.errors:
        assert problem.message in text
    assert dialogs.offered == []  # refused before asking where
    assert not (tmp_path / f"out.{key}").exists()


def test_summary_json_is_still_available_for_an_invalid_model(window, tmp_path, dialogs):
    break_model(window)
    out = tmp_path / "s.json"
    assert window.exports.export("summary_json", out)
    data = json.loads(out.read_text())
    assert data == json.loads(json.dumps(window.document.result.to_json()))
    assert data["valid"] is False


def test_markdown_is_the_summary_table(window, tmp_path, dialogs):
    out = tmp_path / "lenet.md"
    assert window.exports.export("markdown", out)
    assert out.read_text() == format_markdown(window.document.graph, window.document.result)


def test_diagram_svg_and_png(window, tmp_path, dialogs):
    svg, png = tmp_path / "d.svg", tmp_path / "d.png"
    assert window.exports.export("svg", svg)
    root = ET.fromstring(svg.read_text())
    text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert "Conv 6@5x5" in text and "16x5x5" in text
    assert window.exports.export("png", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "d.png" in window.statusBar().currentMessage()


def test_unwritable_target_is_reported_and_nothing_crashes(window, tmp_path, dialogs):
    assert not window.exports.export("markdown", tmp_path / "missing" / "x.md")
    assert dialogs.shown[-1][0] == "critical"
    assert "x.md" in dialogs.shown[-1][2]


def test_onnx_without_the_package_names_the_install_line(window, tmp_path, dialogs,
                                                         monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    out = tmp_path / "m.onnx"
    assert not window.exports.export("onnx", out)
    assert "pip install cnnstudio[onnx]" in dialogs.shown[-1][2]
    assert not out.exists()


def test_onnx_of_weights_too_large_for_one_file_is_refused_before_asking_where(
        window, tmp_path, dialogs, monkeypatch):
    """The window says what the command line says (an ONNX file stops at 2 GB), in a dialog,
    before a file name is chosen and before any weights are built; nothing is written."""
    pytest.importorskip("onnx")
    from cnnstudio.engine import network
    from cnnstudio.export import onnx_export

    lenet_bytes = 4 * 61_706
    monkeypatch.setattr(onnx_export, "MAX_ONNX_WEIGHT_BYTES", lenet_bytes - 4)
    built, original_init = [], network.Network.__init__
    monkeypatch.setattr(network.Network, "__init__",
                        lambda *a, **k: built.append(a) or (_ for _ in ()).throw(MemoryError))
    dialogs.save_path = str(tmp_path / "m.onnx")
    assert not window.exports.export("onnx")
    kind, title, text = dialogs.shown[-1]
    assert kind == "warning" and title == "Cannot export"
    assert "an ONNX file holds at most" in text and "export to PyTorch instead" in text
    assert "\n" not in text.strip()  # one line
    assert dialogs.offered == [] and built == []  # no file dialog, no weights built
    assert not (tmp_path / "m.onnx").exists()
    # Scripts and tests that call write() directly get the same refusal.
    from cnnstudio.export.registry import ExportError

    with pytest.raises(ExportError, match="ONNX file holds at most"):
        window.exports.write("onnx", tmp_path / "direct.onnx")
    assert not (tmp_path / "direct.onnx").exists()
    # Just within the limit, the same model exports.
    monkeypatch.setattr(network.Network, "__init__", original_init)
    monkeypatch.setattr(onnx_export, "MAX_ONNX_WEIGHT_BYTES", lenet_bytes)
    assert window.exports.export("onnx", tmp_path / "fits.onnx")
    assert (tmp_path / "fits.onnx").stat().st_size > lenet_bytes


def test_running_out_of_memory_while_exporting_is_a_dialog(window, tmp_path, dialogs,
                                                           monkeypatch):
    from cnnstudio.engine import network

    def no_memory(*_a, **_k):  # noqa: ANN002, ANN202
        raise MemoryError

    monkeypatch.setattr(network.Network, "__init__", no_memory)
    window.weights_provider = lambda: {"c1/weight": np.zeros((6, 1, 5, 5), np.float32)}
    out = tmp_path / "m.py"
    assert not window.exports.export("pytorch", out)
    kind, _title, text = dialogs.shown[-1]
    assert kind == "critical" and "m.py: not enough memory" in text
    assert not out.exists()


def _engine(graph, weights=None):
    from cnnstudio.engine.network import Network

    net = Network(graph.copy(), np.random.default_rng(0))
    if weights is not None:
        net.load_state_dict(weights)
    return net


def _trained(graph, seed=7):
    """Weights different from the fresh seed-0 ones, as training would leave them."""
    from cnnstudio.engine.network import Network

    return Network(graph.copy(), np.random.default_rng(seed)).state_dict()


def test_pytorch_without_weights_writes_only_the_module(window, tmp_path, dialogs):
    out = tmp_path / "net.py"
    assert window.exports.export("pytorch", out)
    assert "WEIGHTS_FILE = None" in out.read_text()
    assert not (tmp_path / "net.npz").exists()
    assert "no trained weights" in window.statusBar().currentMessage()


def test_pytorch_with_trained_weights_matches_the_engine(window, tmp_path, dialogs):
    torch = pytest.importorskip("torch")
    weights = _trained(window.document.graph)
    window.weights_provider = lambda: weights
    out = tmp_path / "net.py"
    assert window.exports.export("pytorch", out)
    assert (tmp_path / "net.npz").exists()
    assert "net.npz" in window.statusBar().currentMessage()
    spec = importlib.util.spec_from_file_location("exported_net", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()  # loads WEIGHTS_FILE, stored relative to the .py
    x = np.random.default_rng(1).random((3, 1, 32, 32), dtype=np.float32)
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    want = _engine(window.document.graph, weights).forward(x)
    assert np.abs(got - want).max() < 1e-4


def test_onnx_uses_trained_weights_when_there_are_some(window, tmp_path, dialogs):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    graph = window.document.graph
    x = np.random.default_rng(2).random((2, 1, 32, 32), dtype=np.float32)

    def run(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"input": x})[0]

    fresh = tmp_path / "fresh.onnx"
    assert window.exports.export("onnx", fresh)
    assert np.abs(run(fresh) - _engine(graph).forward(x)).max() < 1e-4
    assert "fresh weights" in window.statusBar().currentMessage()

    weights = _trained(graph)
    window.weights_provider = lambda: weights
    trained = tmp_path / "trained.onnx"
    assert window.exports.export("onnx", trained)
    assert np.abs(run(trained) - _engine(graph, weights).forward(x)).max() < 1e-4
    assert "trained weights" in window.statusBar().currentMessage()
    assert "standardised" not in window.statusBar().currentMessage()


def test_onnx_export_takes_images_unless_the_normalisation_is_left_out(window, tmp_path,
                                                                        dialogs):
    """By default the ONNX graph standardises its input itself (images in [0, 1], as Predict
    takes them); the Export menu's toggle leaves that out, and the status line says which."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnstudio.engine.datasets.normalize import Normalizer
    from cnnstudio.engine.weights import normalizer_meta

    graph = window.document.graph
    weights = _trained(graph)
    norm = Normalizer(mean=np.array([0.25]), std=np.array([0.5]))
    window.weights_provider = lambda: {**weights, **normalizer_meta(norm)}
    x = np.random.default_rng(1).random((2, 1, 32, 32), dtype=np.float32)
    expected = _engine(graph, weights).forward(norm.apply(x))

    def run(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"input": x})[0]

    toggle = window.exports.normalization_inside
    assert toggle.isChecked()
    assert window.exports.export("onnx", tmp_path / "m.onnx")
    assert "input: images in [0, 1]" in window.statusBar().currentMessage()
    assert np.abs(run(tmp_path / "m.onnx") - expected).max() < 1e-4
    toggle.setChecked(False)
    assert window.exports.export("onnx", tmp_path / "raw.onnx")
    assert ("input: images standardised as in training: (x - [0.25]) / [0.5] per channel"
            in window.statusBar().currentMessage())
    assert np.abs(run(tmp_path / "raw.onnx") - expected).max() > 1e-2


def test_weights_of_layers_changed_since_training_are_fresh(window, tmp_path, dialogs):
    """Train, then resize two Dense layers: the export still works, keeps the weights that fit
    and the status bar names the layers that got fresh ones."""
    from cnnstudio.engine.weights import load_weights

    weights = _trained(window.document.graph)
    window.weights_provider = lambda: weights
    window.document.set_param("fc2", "units", 64)
    window.document.set_param("fc1", "units", 100)
    assert window.exports.export("pytorch", tmp_path / "net.py")
    assert window.statusBar().currentMessage().endswith(
        "3 layer(s) that changed since got fresh weights: fc1, fc2, out)")
    saved = load_weights(tmp_path / "net.npz")
    assert np.array_equal(saved["c1/weight"], weights["c1/weight"])
    assert saved["fc2/weight"].shape == (64, 100)

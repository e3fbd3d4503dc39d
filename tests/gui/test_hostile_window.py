"""Issue 9 in the window: models and data too big for memory are refused where they are shown,
nothing escapes a view's redraw, and the app keeps running (cases 5 and 6)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from training_support import small_digits

from cnnstudio import DEBUG_ENV
from cnnstudio.core.graph import Graph, Layer
from cnnstudio.gui.document import Document
from cnnstudio.gui.selection import Selection
from cnnstudio.gui.training import install_training


def _graph(height: int, units: int, conv: bool = True) -> Graph:
    layers = [Layer("in", "Input", {"channels": 1, "height": height, "width": height}, [])]
    prev = "in"
    if conv:
        layers.append(Layer("c1", "Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"},
                            ["in"]))
        prev = "c1"
    layers += [Layer("flat", "Flatten", {}, [prev]),
               Layer("d", "Dense", {"units": units}, ["flat"])]
    from cnnstudio.core.catalogue import LAYERS

    for layer in layers:
        layer.params = LAYERS[layer.type].resolve(layer.params)
    return Graph.unchecked("hostile", "", layers)


def _window(qtbot, graph: Graph):
    from PySide6.QtWidgets import QMainWindow

    w = QMainWindow()
    w.document = Document(graph)
    w.selection = Selection(w)
    ui = install_training(w, default_dataset=False)
    ui.controller.set_dataset(small_digits(), "digits")
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    return w


def _still_usable(qtbot, window) -> None:
    """The app runs on: events are processed and the model can still be edited and undone."""
    qtbot.wait(50)
    assert window.isVisible()
    window.document.set_params("d", {"units": 10})
    assert window.document.graph.layer("d").params["units"] == 10
    window.document.undo_stack.undo()


def test_case5_a_2_20_unit_dense_model_is_refused_in_the_views(qtbot, monkeypatch):
    monkeypatch.setenv("CNNSTUDIO_MEMORY_LIMIT", "512MB")
    window = _window(qtbot, _graph(8, 1 << 20))
    ui = window.training
    ui.docks["filters"].raise_()
    ui.filters.refresh()
    assert "this model needs 1.0 GB for its weights; the limit is 512.0 MB" in \
        ui.filters.grid._placeholder
    ui.docks["feature_maps"].raise_()
    ui.feature_maps.refresh()
    assert "needs 1.0 GB for its weights" in ui.feature_maps.grid._placeholder
    _still_usable(qtbot, window)
    ui.controller.shutdown()


def test_case6_a_65536_square_input_with_dense_leaves_the_app_running(qtbot):
    """The SIGSEGV case: built for the Filters panel, the network is refused from the
    validator's totals (172 GB of weights), on any machine."""
    window = _window(qtbot, _graph(65536, 10))
    ui = window.training
    for key, view in (("filters", ui.filters), ("feature_maps", ui.feature_maps)):
        ui.docks[key].raise_()
        view.refresh()
        assert "GB for its weights" in view.grid._placeholder
    _still_usable(qtbot, window)
    ui.controller.shutdown()


def test_case5_fitting_data_to_a_2048_square_input_is_refused(qtbot, monkeypatch):
    monkeypatch.setenv("CNNSTUDIO_MEMORY_LIMIT", "2GB")
    window = _window(qtbot, _graph(2048, 10, conv=False))
    c = window.training.controller
    before = c.dataset
    with qtbot.waitSignal(c.datasetFailed) as failed:
        c.fit_data_to_input()
    message = failed.args[0]
    assert "resizing to 1x2048x2048 needs" in message and "the limit is 2.0 GB" in message
    assert c.dataset is before
    _still_usable(qtbot, window)
    c.shutdown()


def test_a_failing_redraw_is_shown_in_place_not_raised(qtbot, monkeypatch):
    window = _window(qtbot, _graph(8, 10))
    ui = window.training

    def broken(*_args):
        raise RuntimeError("a bug in a view")

    monkeypatch.setattr(ui.controller, "activations", broken)
    ui.docks["feature_maps"].raise_()
    monkeypatch.delenv(DEBUG_ENV)
    ui.feature_maps.refresh()
    assert "could not be drawn (RuntimeError: a bug in a view)" in ui.feature_maps.grid._placeholder
    monkeypatch.setenv(DEBUG_ENV, "1")  # the test suite's setting: bugs fail loudly
    with pytest.raises(RuntimeError):
        ui.feature_maps.refresh()
    monkeypatch.undo()
    _still_usable(qtbot, window)
    ui.controller.shutdown()


_PEAK_SCRIPT = textwrap.dedent("""
    import json, sys
    from cnnstudio.gui.app import create_application
    from cnnstudio.core import modelfile
    from cnnstudio.gui.document import Document
    from cnnstudio.gui.main_window import MainWindow
    from cnnstudio.engine.datasets import load_dataset
    from PySide6.QtCore import QEventLoop, QTimer

    app = create_application(offscreen=True)
    window = MainWindow(Document(modelfile.load(sys.argv[1]), sys.argv[1]))
    window.show()
    ui = window.training
    ui.controller.set_dataset(load_dataset("digits"), "digits")
    for key in ("filters", "feature_maps"):
        ui.docks[key].show()
        ui.docks[key].raise_()
        loop = QEventLoop(); QTimer.singleShot(200, loop.quit); loop.exec()
    ui.filters.refresh()
    print(json.dumps({"message": ui.filters.grid._placeholder,
                      "peak_mb": peak_kb() / 1024}))
    window.training.controller.shutdown()
    window.document.undo_stack.setClean()
    window.close()
""")


def test_case5_window_peak_memory_stays_bounded(tmp_path):
    """The whole window, in a fresh process, opening the 1 KB model with a 2^20-unit Dense
    layer and showing the views that build networks: refused, peak under 600 MB (it was
    8.5 GB)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
    from hostile import PEAK_KB, write_model

    model = write_model(tmp_path / "big.json", [  # the 538M parameters: 2.0 GB
        {"id": "in", "type": "Input", "params": {"channels": 2, "height": 16, "width": 16}},
        {"id": "c1", "type": "Conv2D", "params": {"filters": 2, "kernel_size": 1}},
        {"id": "flat", "type": "Flatten"},
        {"id": "d", "type": "Dense", "params": {"units": 1 << 20}}])
    env = {**os.environ, "CNNSTUDIO_MEMORY_LIMIT": "512MB", "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", PEAK_KB + _PEAK_SCRIPT, str(model)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    import json

    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "this model needs 2.0 GB for its weights" in result["message"]
    assert result["peak_mb"] < 600, result


def test_summary_and_problems_show_a_failing_refresh_in_place(qtbot, monkeypatch):
    from cnnstudio.gui import problems_panel, summary_panel

    document = Document(_graph(8, 10))
    selection = Selection()
    summary = summary_panel.SummaryPanel(document, selection)
    problems = problems_panel.ProblemsPanel(document, selection)
    for panel in (summary, problems):  # each on screen: hidden views redraw when shown
        qtbot.addWidget(panel)
        panel.show()
        qtbot.waitExposed(panel)

    def broken(*_args):
        raise RuntimeError("a bug in a view")

    monkeypatch.setattr(summary_panel, "summary_row", broken)
    monkeypatch.setattr(problems_panel, "ProblemRow", broken)
    monkeypatch.delenv(DEBUG_ENV)
    document.set_params("c1", {"padding": "valid", "kernel_size": 9})  # > the 8x8 input
    assert not document.result.valid
    assert "could not be drawn (RuntimeError: a bug in a view)" in summary.totals.text()
    assert "could not be drawn (RuntimeError: a bug in a view)" in problems.header.text()
    monkeypatch.undo()
    document.undo_stack.undo()
    assert "could not be drawn" not in problems.header.text()
    assert "0 errors" in problems.header.text() or "no problems" in problems.header.text().lower()

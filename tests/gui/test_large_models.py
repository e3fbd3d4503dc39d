"""Models far larger than anyone draws by hand: the window opens them in bounded work or says
plainly that it will not draw them (the command line still works on them)."""

from __future__ import annotations

import json
import subprocess
import sys

from PySide6.QtWidgets import QMessageBox

from cnnstudio.core.layout import LayoutReport
from cnnstudio.gui.document import MAX_DISPLAY_LAYERS, Document
from cnnstudio.gui.main_window import MainWindow
from tests.core.test_layout import chain_document, dense_adds_document


def test_a_chain_too_long_to_draw_is_refused_with_the_numbers(window, tmp_path, monkeypatch):
    path = tmp_path / "long.json"
    path.write_text(json.dumps(chain_document(MAX_DISPLAY_LAYERS + 1)))
    shown = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda _p, title, text, *a, **k: shown.append(text)))
    before = window.document.graph.copy()
    assert not window.open_path(str(path))
    assert len(shown) == 1
    assert "long.json" in shown[0] and f"{MAX_DISPLAY_LAYERS + 1:,} layers" in shown[0]
    assert "cnnstudio summary" in shown[0]
    assert window.document.graph == before  # the open model is untouched and still usable
    window.document.set_param("c1", "filters", 7)
    assert window.document.graph.layer("c1").params["filters"] == 7


def test_the_command_line_refuses_to_draw_it_in_one_line(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps(chain_document(MAX_DISPLAY_LAYERS + 1)))
    run = subprocess.run([sys.executable, "-m", "cnnstudio.cli", "gui", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1
    assert "long.json" in run.stderr and "more than the designer window shows" in run.stderr


def test_every_add_taking_all_earlier_layers_opens_with_the_simpler_layout(qtbot, tmp_path):
    path = tmp_path / "dense.json"
    path.write_text(json.dumps(dense_adds_document(100)))  # the 38 KB file: 5,050 edges
    document = Document()
    document.open(path)
    report = document.layout_report
    assert isinstance(report, LayoutReport) and report.method == "rows"
    from cnnstudio.gui.canvas import CanvasView
    from cnnstudio.gui.selection import Selection

    view = CanvasView(document, Selection())
    qtbot.addWidget(view)
    assert len(view.canvas_scene.edges) == 5050
    assert len(view.canvas_scene.blocks) == 101


def test_the_overview_shows_the_whole_large_model_after_edits(qtbot, settings):
    """In the real window, the overview of a model too large for the canvas shows all of it,
    filling the overview's width or height (it is fitted again when its own size settles and
    when the model's extent changes, not on every edit)."""
    from cnnstudio.engine.bench import big_graph

    w = MainWindow(Document(big_graph(300)), settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    overview = w.canvas.overview

    def fitted() -> bool:
        rect = w.canvas.canvas_scene.content_rect().adjusted(-20, -20, 20, 20)
        shown = overview.mapFromScene(rect).boundingRect()
        port = overview.viewport().rect()
        return (overview.isVisible() and port.adjusted(-2, -2, 2, 2).contains(shown)
                and (shown.width() >= port.width() - 3 or shown.height() >= port.height() - 3))

    qtbot.waitUntil(fitted)
    conv = next(lay.id for lay in w.document.graph if lay.type == "Conv2D")
    for filters in (17, 123, 9):
        w.document.set_param(conv, "filters", filters)
        assert fitted()
    w.document.move_layers({conv: (-3000.0, -2000.0)})  # the model's extent grows
    assert fitted()
    w.document.undo_stack.setClean()


def test_the_overview_kept_picture_is_what_it_would_paint(qtbot, settings, monkeypatch):
    """The overview repaints from the picture it kept while nothing it shows has changed, and
    redraws into it only where something did: after every kind of edit, selection and scroll,
    what it shows equals what a plain view paints."""
    from cnnstudio.engine.bench import big_graph

    w = MainWindow(Document(big_graph(120)), settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    overview, doc, scene = w.canvas.overview, w.document, w.canvas.canvas_scene
    qtbot.waitUntil(overview.isVisible)

    def painted_as_a_view() -> object:
        with monkeypatch.context() as m:
            m.setattr(scene, "picture", lambda _zoom: None)  # nothing kept can be vouched for
            return overview.grab().toImage()

    def kept_again() -> None:  # the overview has kept a whole picture of the scene as it is
        overview.viewport().update()
        qtbot.waitUntil(lambda: overview._kept is not None and overview._behind.isEmpty())

    def shown() -> bool:
        qtbot.wait(20)  # the scene's updates reach the overview (from the kept picture)
        same = overview.grab().toImage() == painted_as_a_view()
        kept_again()  # (painting as a view dropped the kept picture)
        return same

    convs = [lay.id for lay in doc.graph if lay.type == "Conv2D"]
    middle = convs[len(convs) // 2]
    x, y = doc.graph.positions[middle]
    relu = next(lid for lid in doc.graph.ids[doc.graph.ids.index(middle):]
                if doc.graph.layer(lid).type == "ReLU")
    steps = [
        lambda: doc.set_param(convs[0], "filters", 17),  # nothing it shows changes
        lambda: doc.set_param(convs[1], "kernel_size", 99),  # an error: red outlines
        lambda: doc.move_layers({middle: (x + 40.0, y + 10.0)}),  # within the model's extent
        lambda: doc.remove_layers([relu]),
        lambda: w.selection.set([convs[3]]),
        lambda: w.canvas.scroll_by(300, 500),
        doc.undo_stack.undo,
        lambda: doc.set_param(convs[0], "filters", 123),
    ]
    kept_again()
    before = overview.grab().toImage()
    assert shown()
    for step in steps:
        step()
        assert shown()
    assert overview.grab().toImage() != before  # the steps changed what it shows
    doc.undo_stack.setClean()

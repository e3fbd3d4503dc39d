"""The canvas at the size of real networks: level of detail, the opening zoom, Fit to Window, the
overview, wires around blocks, and a ResNet-18 laid out to fit the screen."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtTest import QTest

from cnnstudio.core import modelfile, routing
from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.gui.canvas import CanvasView
from cnnstudio.gui.canvas.style import ID_ZOOM, LEGIBLE_ZOOM, PARAMS_ZOOM
from cnnstudio.gui.document import Document
from cnnstudio.gui.main_window import MainWindow
from tests.core.test_real_architectures import resnet18


@pytest.fixture
def resnet18_file(tmp_path):
    """A 69-layer ResNet-18 (torchvision's, 224x224 input) as a model file with no layout."""
    path = tmp_path / "resnet18.json"
    modelfile.save(resnet18(), path)
    return path


def open_view(qtbot, selection, graph, size=(900, 700)) -> CanvasView:
    view = CanvasView(Document(graph), selection)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.show_model()
    return view


def shown(view: CanvasView) -> QRectF:
    return view.mapToScene(view.viewport().rect()).boundingRect()


# --- level of detail -------------------------------------------------------------------------
def test_blocks_drop_the_id_then_the_parameters_but_keep_type_and_shape(qtbot, selection):
    view = open_view(qtbot, selection, load_template("lenet5"))
    block = view.canvas_scene.blocks["c1"]
    title, shape, params, ident = "Conv 6@5x5 s1 valid", "6x28x28", "156 p", "c1"
    assert block.lines_at(1.0) == [title, shape, params, ident]
    assert block.lines_at(ID_ZOOM - 0.01) == [title, shape, params]
    assert block.lines_at(PARAMS_ZOOM - 0.01) == [title, shape]
    assert block.lines_at(LEGIBLE_ZOOM) == [title, shape]
    assert block.lines_at(LEGIBLE_ZOOM - 0.01) == ["Conv"]  # the type survives every zoom


# --- opening zoom, Fit to Window, overview ---------------------------------------------------
def test_mini_resnet_opens_whole_and_legible(qtbot, selection):
    view = open_view(qtbot, selection, load_template("mini_resnet"))
    assert LEGIBLE_ZOOM <= view.zoom() <= 1.0
    assert shown(view).contains(view.canvas_scene.content_rect())
    assert not view.overview.isVisible()


def test_fit_never_goes_below_the_legible_zoom_without_saying_so(qtbot, selection):
    view = open_view(qtbot, selection, resnet18(), size=(700, 450))
    view.zoom_by(2.0)
    view.fit_all()
    assert view.zoom() == pytest.approx(LEGIBLE_ZOOM)
    assert "legible" in view.message() or "read" in view.message()
    assert view.overview.isVisible()
    first = view.canvas_scene.blocks["in"].sceneBoundingRect()
    assert shown(view).contains(first)  # it starts where the model starts


def test_clicking_the_overview_moves_the_canvas_there(qtbot, selection):
    view = open_view(qtbot, selection, resnet18(), size=(700, 450))
    overview = view.overview
    assert overview.isVisible()
    target = view.canvas_scene.blocks["fc"].sceneBoundingRect().center()
    assert not shown(view).contains(target)
    QTest.mouseClick(overview.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, overview.mapFromScene(target))
    assert shown(view).contains(target)


# --- wires around blocks ---------------------------------------------------------------------
@pytest.mark.parametrize("name", [t.key for t in list_templates()] + ["resnet18"])
def test_no_wire_on_the_canvas_runs_through_a_block(qtbot, selection, name):
    graph = resnet18() if name == "resnet18" else load_template(name)
    view = open_view(qtbot, selection, graph)
    scene = view.canvas_scene
    rects = {lid: item.mapRectToScene(item.rect())  # the block itself (a unit: its front card)
             for lid, item in scene.blocks.items()}
    for (src, dst), edge in scene.edges.items():
        path = edge._path
        for i in range(401):
            p = path.pointAtPercent(i / 400)
            inside = [lid for lid, r in rects.items() if r.adjusted(1, 1, -1, -1).contains(p)]
            assert not inside, f"{src}->{dst} runs through {inside} at {p}"


def test_moving_a_block_onto_a_wire_reroutes_it_around(qtbot, selection):
    view = open_view(qtbot, selection, load_template("lenet5"))
    scene = view.canvas_scene
    edge = scene.edges[("c1", "a1")]
    c1 = scene.blocks["c1"].pos()
    view.document.move_layers({"a1": (c1.x(), c1.y() + 400)})
    view.document.move_layers({"p1": (c1.x() - 20, c1.y() + 180)})  # onto the c1 -> a1 wire
    blocker = scene.blocks["p1"].mapRectToScene(scene.blocks["p1"].rect())
    path = edge._path
    assert not any(blocker.contains(path.pointAtPercent(i / 200)) for i in range(201))


# --- a ResNet-18 laid out to fit -------------------------------------------------------------
def test_resnet18_auto_layout_fits_two_screens_with_branches_side_by_side(
        qtbot, settings, resnet18_file):
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    assert window.open_path(str(resnet18_file))
    doc = window.document
    doc.move_layers({lid: (0.0, 100.0 * i) for i, lid in enumerate(doc.graph.ids)})  # a tower
    button = window.toolbar.widgetForAction(window.actions["auto_layout"])
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    pos = doc.graph.positions
    assert doc.undo_stack.undoText() == "Move"
    assert len(pos) == 69
    # No two blocks overlap.
    index = routing.BlockIndex()
    for lid, p in pos.items():
        assert not index.hits(routing.block_rect(p)), lid
        index.put(lid, routing.block_rect(p))
    # Each projection shortcut stands beside the main path's first conv, in the same row.
    for stage in (2, 3, 4):
        main, side = pos[f"layer{stage}_0_conv1"], pos[f"layer{stage}_0_down"]
        assert side[1] == main[1] and abs(side[0] - main[0]) >= BLOCK_WIDTH
    # The whole model at the legible zoom covers at most two canvases of a 1280x800 window.
    port = window.canvas.viewport()
    left, top, right, bottom = index.extent()
    w, h = (right - left) * LEGIBLE_ZOOM, (bottom - top) * LEGIBLE_ZOOM
    assert w * h <= 2 * port.width() * port.height()
    assert w <= 2 * port.width() and h <= 2 * port.height()
    # and it opens (Auto-Layout shows it) at a zoom where type and shape read.
    assert window.canvas.zoom() >= LEGIBLE_ZOOM - 1e-6
    assert BLOCK_HEIGHT * window.canvas.zoom() >= 20


def test_dragging_a_block_reroutes_only_the_wires_it_can_change(qtbot, selection, monkeypatch):
    """Live feedback during a drag on a ResNet-18: the wires of the moved block and those it
    passes over follow at once, not all 77 of them on every mouse move; the release re-syncs."""
    from tests.gui.test_canvas import at

    view = open_view(qtbot, selection, resnet18())
    scene = view.canvas_scene
    x0, y0 = view.document.graph.positions["layer3_1_conv1"]
    placed: list[tuple[str, str]] = []
    original = scene._place_edge
    monkeypatch.setattr(scene, "_place_edge", lambda e: (placed.append(e.key), original(e)))
    block = scene.blocks["layer3_1_conv1"].sceneBoundingRect().center()
    view.centerOn(block)
    vp = view.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     at(view, block))
    QTest.mouseMove(vp, at(view, block + QPointF(40, 0)))
    QTest.mouseMove(vp, at(view, block + QPointF(80, 0)))
    during = len(placed)
    assert 0 < during < len(scene.edges)  # two moves, each touching a few wires
    assert ("layer3_1_conv1", "layer3_1_conv1_bn") in placed
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       at(view, block + QPointF(80, 0)))
    x1, y1 = view.document.graph.positions["layer3_1_conv1"]
    assert (x1 - x0, y1 - y0) == pytest.approx((80, 0), abs=3 / view.zoom())
    assert view.document.undo_stack.count() == 1

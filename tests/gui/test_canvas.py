"""The canvas driven as a user would: drops, mouse drags on ports and blocks, keys, wheel."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH
from cnnstudio.core.graph import Graph, GraphError
from cnnstudio.core.templates import load_template
from cnnstudio.gui.canvas import CanvasView
from cnnstudio.gui.canvas.style import LEGIBLE_ZOOM
from cnnstudio.gui.document import Document
from cnnstudio.gui.mime import LAYER_MIME


@pytest.fixture
def view(qtbot, document, selection):
    v = CanvasView(document, selection)
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    v.resetTransform()
    return v


def at(view: CanvasView, scene_point: QPointF) -> QPoint:
    return view.mapFromScene(scene_point)


def drag(view: CanvasView, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton,
         modifier=Qt.KeyboardModifier.NoModifier) -> None:
    vp = view.viewport()
    QTest.mousePress(vp, button, modifier, start)
    for i in range(1, 6):
        QTest.mouseMove(vp, start + (end - start) * (i / 5))
    QTest.mouseRelease(vp, button, modifier, end)


def drop(view: CanvasView, type_name: str, pos: QPoint) -> None:
    mime = QMimeData()
    mime.setData(LAYER_MIME, type_name.encode("utf-8"))
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, action, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(view.viewport(), QDropEvent(QPointF(pos), action, mime,
                                                       Qt.MouseButton.LeftButton,
                                                       Qt.KeyboardModifier.NoModifier))


def test_drop_from_palette_creates_a_block_where_dropped(view, document, selection):
    target = QPointF(700, -200)  # empty canvas, away from every edge
    view.centerOn(target)
    drop(view, "Conv2D", at(view, target))
    new = selection.current()
    assert new is not None and document.graph.layer(new).type == "Conv2D"
    x, y = document.graph.positions[new]
    assert abs(x + BLOCK_WIDTH / 2 - target.x()) <= 1.5
    assert abs(y + BLOCK_HEIGHT / 2 - target.y()) <= 1.5
    assert new in view.canvas_scene.blocks
    document.undo_stack.undo()
    assert new not in document.graph and new not in view.canvas_scene.blocks


def test_drop_onto_an_edge_inserts_into_it(view, document):
    edge = view.canvas_scene.edges[("p1", "c2")]
    mid = edge._path.pointAtPercent(0.5)  # a point on the curve itself
    view.centerOn(mid)
    drop(view, "Dropout", at(view, mid))
    (new,) = [lid for lid in document.graph.ids if lid.startswith("dropout")]
    assert document.graph.layer(new).inputs == ["p1"]
    assert document.graph.layer("c2").inputs == [new]
    assert document.undo_stack.count() == 1


def test_connect_two_ports_with_the_mouse(view, document):
    document.disconnect("r1", "p1")
    scene = view.canvas_scene
    src = scene.blocks["c1"].out_port.scenePos()
    dst = scene.blocks["p1"].in_port.scenePos()
    view.centerOn((src + dst) / 2)
    drag(view, at(view, src), at(view, dst))
    assert document.graph.layer("p1").inputs == ["c1"]
    assert ("c1", "p1") in scene.edges
    assert document.undo_stack.undoText().startswith("Connect")


def test_connect_refused_shows_the_reason(view, document):
    scene = view.canvas_scene
    src = scene.blocks["p2"].out_port.scenePos()
    dst = scene.blocks["c2"].in_port.scenePos()  # c2 feeds p2: a cycle
    view.centerOn((src + dst) / 2)
    before = document.graph.copy()
    drag(view, at(view, dst), at(view, src))  # dragging from the input end works too
    assert document.graph == before
    assert "cycle" in view.message()


def test_move_is_one_undo_step_on_release(view, document, selection):
    scene = view.canvas_scene
    block = scene.blocks["c1"]
    start = block.sceneBoundingRect().center()
    view.centerOn(start)
    x0, y0 = document.graph.positions["c1"]
    drag(view, at(view, start), at(view, start + QPointF(120, 0)))
    assert selection.ids() == ["c1"]
    x1, y1 = document.graph.positions["c1"]
    assert (x1 - x0, y1 - y0) == pytest.approx((120, 0), abs=1.5)
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.graph.positions["c1"] == (x0, y0)
    assert block.pos() == QPointF(x0, y0)


def test_rubber_band_selects_and_delete_key_removes(view, document, selection):
    scene = view.canvas_scene
    r1 = scene.blocks["r1"].sceneBoundingRect()
    p1 = scene.blocks["p1"].sceneBoundingRect()
    view.centerOn(r1.united(p1).center())
    drag(view, at(view, r1.topLeft() - QPointF(60, 10)), at(view, p1.topLeft() + QPointF(40, 20)))
    assert sorted(selection.ids()) == ["p1", "r1"]
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert "r1" not in document.graph and "p1" not in document.graph
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert "r1" in document.graph and "p1" in document.graph


def test_click_an_edge_then_delete_disconnects(view, document):
    edge = view.canvas_scene.edges[("c2", "r2")]
    point = edge._path.pointAtPercent(0.3)
    view.centerOn(point)
    pos = at(view, point)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pos)
    assert view.canvas_scene.selected_edges == {("c2", "r2")}
    view.actions_by_name["delete"].trigger()
    assert document.graph.layer("r2").inputs == []


def test_copy_paste_and_duplicate(view, document, selection):
    selection.set(["c1", "r1"])
    view.actions_by_name["copy"].trigger()
    view.actions_by_name["paste"].trigger()
    assert selection.ids() == ["c1_2", "r1_2"]
    assert document.graph.layer("r1_2").inputs == ["c1_2"]
    view.actions_by_name["duplicate"].trigger()
    assert selection.ids() == ["c1_3", "r1_3"]
    assert document.undo_stack.count() == 2


def test_wheel_zooms_around_the_cursor(view):
    pos = QPoint(200, 150)
    anchor = view.mapToScene(pos)
    event = QWheelEvent(QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(),
                        QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom() > 1.3
    after = view.mapToScene(pos)
    assert abs(after.x() - anchor.x()) < 2 and abs(after.y() - anchor.y()) < 2


def test_middle_button_pans(view):
    before = view.mapToScene(QPoint(100, 100))
    drag(view, QPoint(300, 300), QPoint(200, 250), button=Qt.MouseButton.MiddleButton)
    after = view.mapToScene(QPoint(100, 100))
    assert (after - before).manhattanLength() > 50


def test_error_state_and_blocked_shapes(qtbot, selection, chain):
    graph = chain("Input", "Conv2D", "Dense", "ReLU")
    doc = Document(graph)
    v = CanvasView(doc, selection)
    qtbot.addWidget(v)
    blocks = v.canvas_scene.blocks
    dense = blocks["dense_1"].view
    assert dense.status == "error" and "flat" in " ".join(dense.messages).lower()
    assert "flat" in blocks["dense_1"].toolTip().lower()
    assert blocks["relu_1"].view.shape == "?"
    assert blocks["relu_1"].view.status == "blocked"
    assert v.canvas_scene.edges[("dense_1", "relu_1")].label == "?"


def test_frozen_layer_shows_a_lock_and_disconnected_is_dimmed(view, document):
    document.set_trainable("c1", False)
    assert view.canvas_scene.blocks["c1"].view.frozen
    document.add_layer("ReLU", position=(600, 0))
    assert view.canvas_scene.blocks["relu_1"].opacity() < 1.0


def test_param_edit_updates_one_block_in_place(view, document):
    items = dict(view.canvas_scene.blocks)
    document.set_param("c1", "filters", 3)
    assert view.canvas_scene.blocks == items  # same item objects: updated, not rebuilt
    assert items["c1"].view.shape == "3x32x32"
    assert view.canvas_scene.edges[("c1", "r1")].label == "3x32x32"


def test_locked_canvas_shows_banner_and_refuses_connect(view, document):
    document.set_locked(True, "training is running")
    assert "training is running" in view.banner_text()
    scene = view.canvas_scene
    src = scene.blocks["c1"].out_port.scenePos()
    view.centerOn(src)
    before = document.graph.copy()
    drag(view, at(view, src), at(view, src + QPointF(0, 300)))
    assert document.graph == before
    view.zoom_by(0.5)  # viewing stays free
    document.set_locked(False)
    assert view.banner_text() == ""


def test_focus_request_selects_and_centres(view, selection):
    selection.focusRequested.emit("out")
    assert selection.ids() == ["out"]
    centre = view.mapToScene(view.viewport().rect().center())
    block = view.canvas_scene.blocks["out"].sceneBoundingRect()
    assert abs(centre.y() - block.center().y()) < 60


def test_three_hundred_blocks_stay_responsive(qtbot, selection):
    graph = Graph("big")
    prev: list[str] = []
    graph.add_layer("Input", layer_id="in")
    prev = ["in"]
    for i in range(299):
        lid = graph.add_layer("ReLU" if i % 2 else "Conv2D", inputs=prev)
        prev = [lid]
    doc = Document(graph)
    v = CanvasView(doc, selection)
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    v.fit_all()
    t0 = time.perf_counter()
    for n in (4, 5, 6, 7, 8):
        doc.set_param("conv2d_1", "filters", n)
    per_edit = (time.perf_counter() - t0) / 5
    assert per_edit < 0.25, f"{per_edit:.3f}s per edit with 300 blocks"
    assert len(v.canvas_scene.blocks) == 300


def _visible(v: CanvasView, layer_id: str) -> bool:
    shown = v.mapToScene(v.viewport().rect()).boundingRect()
    return shown.contains(v.canvas_scene.blocks[layer_id].sceneBoundingRect())


def test_opening_fits_the_model_when_it_reads_at_that_size(qtbot, selection, chain):
    """Nine layers fit a 900x700 canvas at about 0.75: shown whole, not cut at the bottom."""
    v = CanvasView(Document(chain("Input", *["ReLU"] * 8)), selection)
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    v.show_model()
    assert LEGIBLE_ZOOM <= v.zoom() < 0.8
    assert all(_visible(v, lid) for lid in v.document.graph.ids)


def test_opening_a_tall_model_shows_its_top_readably(qtbot, selection, chain):
    v = CanvasView(Document(chain("Input", *["ReLU"] * 19)), selection)
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    v.show_model()
    assert v.zoom() == pytest.approx(LEGIBLE_ZOOM)
    ids = v.document.graph.ids
    assert _visible(v, ids[0]) and not _visible(v, ids[-1])


def test_undoing_new_shows_the_old_model_from_its_top(qtbot, selection, chain):
    """Seen in journey 2: after File > New and Ctrl+Z the template came back scrolled to
    wherever the one-block model had been, its top cut off."""
    from cnnstudio.core.graph import Graph

    doc = Document(chain("Input", *["ReLU"] * 19))
    v = CanvasView(doc, selection)
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    v.show_model()
    first = doc.graph.ids[0]
    single = Graph("Untitled")
    single.add_layer("Input", position=(2000.0, 3000.0))
    doc.replace_graph(single)
    assert _visible(v, single.ids[0])
    doc.undo_stack.undo()
    assert _visible(v, first) and v.zoom() == pytest.approx(LEGIBLE_ZOOM)
    doc.undo_stack.redo()
    assert _visible(v, single.ids[0])


def _drawn_edges(view: CanvasView) -> dict[tuple[str, str], tuple[object, str, tuple]]:
    return {key: (edge._ends, edge.label, edge._label_rect.getRect(), edge.toolTip())
            for key, edge in view.scene().edges.items()}


def test_edges_after_edits_match_a_freshly_drawn_canvas(qtbot, view, document, selection):
    """Every edit leaves the edges (routes, labels) exactly as a canvas drawn from scratch
    would show them."""
    conv = next(lay.id for lay in document.graph if lay.type == "Conv2D")
    steps = [
        lambda: document.set_param(conv, "filters", 7),  # labels change, widths may not
        lambda: document.set_param(conv, "filters", 123),  # a wider label
        lambda: document.set_param(conv, "kernel_size", 99),  # an error: "?" downstream
        lambda: document.move_layers({conv: (400.0, 40.0)}),
        document.undo_stack.undo,
        lambda: document.insert_after("ReLU", conv),
    ]
    for step in steps:
        step()
        fresh = CanvasView(document, selection)
        qtbot.addWidget(fresh)
        assert _drawn_edges(view) == _drawn_edges(fresh)
        assert _drawn(view.scene()) == _drawn(fresh.scene())
        fresh.close()


def _drawn(scene) -> dict[str, object]:
    """Everything the canvas shows: each block's kind, content (text, state, ports), place and
    size; each edge's ends, course and label; unit frames; the scene's extent."""
    return {
        "blocks": {n: (type(b).__name__, b.view, b.pos().toTuple(),
                       b.sceneBoundingRect().getRect()) for n, b in scene.blocks.items()},
        "edges": {k: (e.ends, e._ends, e.label, e._label_rect.getRect(), e.toolTip())
                  for k, e in scene.edges.items()},
        "frames": {u: f.frame_rect().getRect() for u, f in scene.frames.items()},
        "rect": scene.sceneRect().getRect(),
    }


# Seeds whose sequences include a label pushed aside by an earlier edge's changed label.
@pytest.mark.parametrize(("template", "seed"),
                         [("mini_resnet", 2), ("mini_resnet", 6), ("mobilenet_se", 3)])
def test_canvas_after_many_kinds_of_edit_matches_a_freshly_drawn_canvas(qtbot, selection,
                                                                       template, seed):
    """The canvas updates only what an edit changes; after each of a long, varied sequence of
    edits (params, errors, renames, moves into other wires' paths, drags, inserts, removals,
    rewiring, units collapsed to one larger block and expanded, undo and redo) it shows exactly
    what a canvas drawn from scratch shows."""
    import random

    from cnnstudio.gui.canvas.scene import CanvasScene

    document = Document(load_template(template))
    scene = CanvasScene(document, selection)
    rng = random.Random(seed)
    graph = document.graph

    def some(kind: str | None = None) -> str:
        ids = [lay.id for lay in graph if kind is None or lay.type == kind]
        return rng.choice(ids)

    def near() -> tuple[float, float]:  # somewhere among the blocks, often across wires
        x, y = graph.positions[some()]
        return (x + rng.choice([-120.0, -40.0, 0.0, 60.0, 150.0]), y + rng.choice([-50.0, 30.0]))

    def drag() -> None:  # a drag preview (which re-routes approximately), then the release
        lid = some()
        x, y = near()
        scene.preview_positions({lid: QPointF(x, y)})
        scene.preview_positions({lid: QPointF(x + 13, y + 7)})
        document.move_nodes({lid: (x + 13, y + 7)})

    def group_and_collapse() -> None:
        conv = some("Conv2D")
        uid = document.group([conv, *graph.consumers(conv)][:2])
        document.set_collapsed(uid, True)

    def expand_or_ungroup() -> None:
        for unit in list(graph.units):
            if unit.collapsed:
                document.set_collapsed(unit.id, False)
            else:
                document.ungroup(unit.id)
            return

    def rewire() -> None:
        add = next((lay for lay in graph if len(lay.inputs) > 1), None)
        if add is not None:
            document.disconnect(add.inputs[-1], add.id)
        else:
            document.connect(some("Conv2D"), some("Conv2D"))

    edits = [
        lambda: document.set_param(some("Conv2D"), "filters", rng.choice([3, 17, 123, 1024])),
        lambda: document.set_param(some("Conv2D"), "kernel_size", rng.choice([1, 3, 99])),
        lambda: document.rename(some(), f"renamed_{rng.randrange(10**6)}"),
        lambda: document.move_layers({some(): near()}),
        drag,
        lambda: document.insert_after(rng.choice(["ReLU", "BatchNorm"]), some("Conv2D")),
        lambda: document.remove_layers([some("ReLU")]),
        rewire,
        group_and_collapse,
        expand_or_ungroup,
        document.undo_stack.undo,
        document.undo_stack.undo,
        document.undo_stack.redo,
    ]
    done = 0
    for _ in range(60):
        try:
            rng.choice(edits)()
        except (GraphError, IndexError, ValueError):  # refused (a cycle, nothing to remove)
            continue
        done += 1
        graph = document.graph
        fresh = CanvasScene(document, selection)
        assert _drawn(scene) == _drawn(fresh)
    assert done > 40


def test_a_block_pushed_aside_and_deselected_is_drawn_deselected(qtbot, settings,
                                                                  monkeypatch):
    """Seen in a real window: with a MaxPool selected, a Dense dropped onto it pushes it down
    and is selected instead; the MaxPool kept its selection outline on screen (its cached
    picture) even after clicking the empty canvas. In the real window the whole-canvas redraw
    after moved blocks (the next test) did not cure it; offscreen it does, so it is switched
    off here to see the block's own redraw."""
    from PySide6.QtCore import QPointF

    from cnnstudio.core.graph import Graph
    from cnnstudio.gui.document import Document
    from cnnstudio.gui.main_window import MainWindow

    graph = Graph("Untitled")
    graph.add_layer("Input", position=(0.0, 0.0))
    window = MainWindow(Document(graph), settings=settings)
    qtbot.addWidget(window)
    window.resize(1000, 650)
    window.show()
    qtbot.waitExposed(window)
    view = window.canvas
    real_update = view.viewport().update
    monkeypatch.setattr(view.viewport(), "update", lambda *a: real_update(*a) if a else None)
    view.drop_layer("Conv2D", QPointF(90, 130))
    pool = view.drop_layer("MaxPool2D", QPointF(90, 230))
    block = view.canvas_scene.blocks[pool]
    view.centerOn(block)
    qtbot.wait(10)

    def outline_colour() -> str:
        image = view.viewport().grab().toImage()
        corner = view.mapFromScene(block.mapToScene(block.rect().topLeft()))
        return image.pixelColor(corner.x() + 40, corner.y() - 2).name()

    accent = view.canvas_scene.style.accent.name()
    assert outline_colour() == accent  # selected, and drawn so
    x, y = window.document.graph.positions[pool]
    view.drop_layer("Dense", QPointF(x + 90, y + 30))
    assert window.document.graph.positions[pool][1] > y  # pushed down to make room
    window.selection.clear()
    qtbot.wait(10)
    assert not block.selected
    assert outline_colour() != accent


def test_edits_that_move_blocks_redraw_the_whole_canvas_and_parameter_edits_do_not(
        qtbot, settings, monkeypatch):
    """Seen in a real window (X11): after undoing an Auto-Layout the blocks' old places stayed
    on screen, more with each undo, as QGraphicsView's smart updates missed them. Blocks that
    come, go or move now redraw the whole viewport; a parameter edit (the latency the bench
    measures) keeps the smaller repaint. The ghosts themselves do not appear offscreen, so this
    checks the full redraw is asked for."""
    from cnnstudio.core.templates import load_template
    from cnnstudio.gui.document import Document
    from cnnstudio.gui.main_window import MainWindow

    graph = load_template("lenet5")
    for i, layer in enumerate(graph):  # scattered: Auto-Layout moves every block
        graph.positions[layer.id] = (float(i * 37 % 300), float(i * 91 % 500))
    window = MainWindow(Document(graph), settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    viewport = window.canvas.viewport()
    full: list[int] = []
    real = viewport.update
    monkeypatch.setattr(viewport, "update",
                        lambda *args: (full.append(1) if not args else None, real(*args)))
    document = window.document
    document.set_param("c1", "filters", 8)
    assert full == []
    document.auto_layout()
    assert full
    full.clear()
    document.undo_stack.undo()
    assert full


def test_the_hint_stays_at_the_top_of_the_canvas_when_the_view_scrolls(qtbot, settings):
    """The overlays are children of the viewport, which QGraphicsView scrolls with its pixels:
    seen in a real window, after Fit to Window the wiring hint sat mid-left on the canvas."""
    from PySide6.QtCore import QPointF

    from cnnstudio.core.graph import Graph
    from cnnstudio.gui.document import Document
    from cnnstudio.gui.main_window import MainWindow

    graph = Graph("Untitled")
    graph.add_layer("Input", position=(0.0, 0.0))
    window = MainWindow(Document(graph), settings=settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    view = window.canvas
    hint = view._hint
    assert hint.isVisible()
    placed = hint.geometry()
    view.centerOn(QPointF(400, 300))
    view.fit_all()
    qtbot.wait(10)
    assert hint.geometry() == placed
    assert hint.y() == 12 and abs(hint.x() * 2 + hint.width() - view.viewport().width()) <= 1

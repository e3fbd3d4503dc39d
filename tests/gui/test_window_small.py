"""Smaller things of the window: focus after an error box, the Model menu, the loss plot's log
scale and hover line."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from cnnstudio.core.templates import load_template
from cnnstudio.gui.document import Document
from cnnstudio.gui.training.curves import CurvesWidget
from cnnstudio.gui.training.dialogs import show_problem
from cnnstudio.gui.training.progress import BatchPoint, EpochPoint


@pytest.fixture
def window(qtbot, settings):
    from cnnstudio.gui.main_window import MainWindow

    w = MainWindow(Document(load_template("shapes_cnn")), settings=settings)
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    yield w
    w.document.undo_stack.setClean()
    w.training.controller.shutdown()


def test_focus_returns_to_the_canvas_after_an_error_box(qtbot, window, monkeypatch):
    """On X11 without a window manager (seen in Xvfb) nothing gives the focus back when a box
    closes, so Ctrl+O and Ctrl+0 did nothing; offscreen Qt does it by itself, so this test
    checks the two halves: closing a box of the window asks for the focus back, and giving
    it back reaches the widget that had it."""
    window.canvas.setFocus()
    qtbot.waitUntil(window.canvas.hasFocus)
    asked = []
    monkeypatch.setattr(type(window.focus_keeper), "restore", lambda self: asked.append(self))
    box = show_problem(window, "Cannot open the dataset", "x.npz: no such file")
    qtbot.waitUntil(box.isVisible)
    box.button(QMessageBox.StandardButton.Ok).setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not window.canvas)
    box.button(QMessageBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: asked == [window.focus_keeper])
    monkeypatch.undo()
    window.canvas.clearFocus()
    window.focus_keeper.restore()
    qtbot.waitUntil(window.canvas.hasFocus, timeout=3000)
    window.canvas.scale(2.0, 2.0)  # Ctrl+0 works at once: actual size
    qtbot.keyClick(window.canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.canvas.transform().m11() == pytest.approx(1.0)


def test_the_model_menu_gathers_model_level_actions(window):
    texts = [a.text().replace("&", "") for a in window.menus["model"].actions() if a.text()]
    for wanted in ("Check the Model", "Summary Table", "Auto-Layout", "Save Weights\u2026",
                   "Load Weights\u2026", "Reset Weights", "Predict Image\u2026"):
        assert wanted in texts
    window.docks["summary"].raise_()
    window.actions["validate"].trigger()
    assert window.docks["problems"].isVisible()
    assert "valid" in window.statusBar().currentMessage()
    window.actions["summary"].trigger()
    assert window.docks["summary"].isVisible()


def _batches(n: int, loss: float) -> list[BatchPoint]:
    return [BatchPoint(1, 1, i + 1, n, loss * (1 + i), None, 100.0, 1.0) for i in range(n)]


def _shown_curves(qtbot, epochs: int, batches: list) -> CurvesWidget:  # noqa: ANN001
    """A curves view on screen for a run of ``epochs``, with ``batches`` added."""
    curves = CurvesWidget()
    qtbot.addWidget(curves)
    curves.resize(800, 400)
    curves.show()
    curves.reset(epochs)
    curves.add_batches(batches)
    return curves


def test_the_loss_plot_has_a_log_scale(qtbot):
    curves = _shown_curves(qtbot, 1, _batches(10, 0.1))  # 0.1 .. 1.0
    curves.add_epoch(EpochPoint(1, 1, 0.5, None, 0.4, None, 100.0))
    curves.flush()
    assert not curves.is_log_scale()
    curves.log_scale.setChecked(True)
    assert curves.is_log_scale()
    low, high = curves.loss_plot.getViewBox().viewRange()[1]
    assert low <= np.log10(0.1) and high >= np.log10(1.0)  # the whole run on a log axis
    curves.log_scale.setChecked(False)
    assert not curves.is_log_scale()
    assert curves.loss_plot.getViewBox().viewRange()[1][0] == pytest.approx(0.0)


def test_a_new_run_clears_the_hover_line(qtbot):
    curves = _shown_curves(qtbot, 1, _batches(10, 0.1))
    curves.flush()
    qtbot.waitExposed(curves)
    box = curves.loss_plot.getViewBox().sceneBoundingRect()
    curves._hover(QPointF(box.center()))
    assert curves._cursor.isVisible()
    curves.reset(3)
    assert not curves._cursor.isVisible()
    assert curves.readout.text() == "Training\u2026"


@pytest.mark.parametrize("zoom", [0.25, 0.4, 0.7, 1.0, 2.0])
def test_a_frozen_layer_shows_its_lock_at_every_zoom(qtbot, zoom):
    """The lock is drawn at every zoom, not only when the detail lines show; with the detail
    lines it sits in the body, so the title keeps its whole width."""
    import dataclasses

    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionGraphicsItem

    from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH
    from cnnstudio.gui.canvas import CanvasView
    from cnnstudio.gui.selection import Selection

    document = Document(load_template("shapes_cnn"))
    canvas = CanvasView(document, Selection())
    qtbot.addWidget(canvas)
    block = canvas.canvas_scene.blocks["c1"]

    def render(frozen: bool) -> QImage:
        block.set_view(dataclasses.replace(block.view, frozen=frozen))
        w, h = int(BLOCK_WIDTH * zoom) + 20, int(BLOCK_HEIGHT * zoom) + 20
        image = QImage(w, h, QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        painter.translate(10, 10)
        painter.scale(zoom, zoom)
        block.paint(painter, QStyleOptionGraphicsItem())
        painter.end()
        return image

    plain, locked = render(False), render(True)
    right = 10 + int(BLOCK_WIDTH * zoom)
    differs = [(x, y) for x in range(right - int(max(14, 40 * zoom)), right)
               for y in range(locked.height()) if plain.pixel(x, y) != locked.pixel(x, y)]
    assert differs, f"no lock drawn at zoom {zoom}"
    assert all(x >= right - max(14, 40 * zoom) for x, _ in differs)
    if zoom >= 0.7:  # the title is drawn in full: the lock takes none of its width
        header = [(x, y) for x in range(locked.width()) for y in range(10, 10 + int(20 * zoom))
                  if plain.pixel(x, y) != locked.pixel(x, y)]
        assert not header, f"the lock changed the header at zoom {zoom}"


def test_weights_dialogs_start_in_the_last_folder(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    folder = tmp_path / "work"
    folder.mkdir()
    window.files.remember_folder(folder / "model.json")  # e.g. a model was opened from there
    asked = []

    def save(_parent, _title, start, _filter):  # noqa: ANN001, ANN202
        asked.append(start)
        return str(folder / "trained"), ""

    def open_(_parent, _title, start, _filter):  # noqa: ANN001, ANN202
        asked.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(open_))
    ui = window.training
    ui.weights.save_action.trigger()
    assert asked[0].startswith(str(folder))
    assert (folder / "trained.npz").exists()
    ui.weights.load_action.trigger()
    assert asked[1] == str(folder)


def wrong_images_after_one_epoch(qtbot, dataset=None):  # noqa: ANN001, ANN201
    """A window trained one epoch, its confusion view showing the most confidently wrong."""
    from training_support import configure, make_window, run_to_end

    ui = make_window(qtbot, dataset=dataset).training
    configure(ui, epochs=1)
    run_to_end(qtbot, ui)
    ui.docks["confusion"].raise_()
    ui.confusion.show_wrong()
    assert ui.confusion.images.count() > 0
    return ui, ui.confusion


def test_confusion_images_have_whole_captions_and_enlarge_on_double_click(qtbot):
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QDialog, QLabel

    ui, view = wrong_images_after_one_epoch(qtbot)
    fm = view.images.fontMetrics()
    for caption in view.images.captions():  # confidence, then the class: each fits its tile
        percent, name = caption.split("\n")
        assert percent.endswith("%") and name in ui.controller.class_names()
        assert fm.horizontalAdvance(name) <= view.images.tile_size() + 6
    assert view.images._caption_height() >= 2 * fm.height()
    centre = view.images._tile_rect(0).center()
    qtbot.mouseDClick(view.images, Qt.MouseButton.LeftButton, pos=QPoint(centre))
    (dialog,) = [d for d in view.findChildren(QDialog, "enlargedImage") if d.isVisible()]
    picture = dialog.findChildren(QLabel)[0].pixmap()
    assert picture.width() >= 256 or picture.height() >= 256
    assert "true" in dialog.findChildren(QLabel)[1].text()
    dialog.close()
    ui.controller.shutdown()


def test_confusion_images_of_a_folder_dataset_show_their_file_names(qtbot):
    from dataclasses import replace

    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QDialog, QLabel
    from training_support import small_digits

    d = small_digits()
    files = tuple(f"train/{d.class_names[c]}/t{i}.png" for i, c in enumerate(d.y_train)) + tuple(
        f"test/{d.class_names[c]}/e{i}.png" for i, c in enumerate(d.y_test))
    ui, view = wrong_images_after_one_epoch(qtbot, replace(d, file_names=files))
    for caption in view.images.captions():  # confidence, class, then the test image's file
        percent, name, file = caption.split("\n")
        assert file.startswith("e") and file[1:].isdigit()  # the stem, under its tile
    centre = view.images._tile_rect(0).center()
    qtbot.mouseDClick(view.images, Qt.MouseButton.LeftButton, pos=QPoint(centre))
    (dialog,) = [d for d in view.findChildren(QDialog, "enlargedImage") if d.isVisible()]
    first = view.images.captions()[0].split("\n")[2]
    text = dialog.findChildren(QLabel)[1].text()
    assert "test/" in text and first in text and "true" in text
    title = dialog.windowTitle()
    assert title.startswith("test/") and title.endswith(f"/{first}.png")
    dialog.close()
    ui.controller.shutdown()


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_epochs_without_validation_draw_no_validation_points(qtbot):
    """Training with no validation split: the validation curves stay empty (pyqtgraph used to
    warn "All-NaN slice" on a curve of missing values) while the training curves draw."""
    curves = _shown_curves(qtbot, 2, _batches(4, 0.5))
    curves.add_epoch(EpochPoint(1, 2, 0.9, 0.5, None, None, 100.0))
    curves.add_epoch(EpochPoint(2, 2, 0.7, 0.6, 0.8, None, 100.0))
    curves.flush()
    qtbot.waitExposed(curves)
    data = curves.curve_data()
    assert list(data["train accuracy"][1]) == [50.0, 60.0]
    assert len(data["validation accuracy"][0]) == 0
    assert list(data["validation loss"][0]) == [2.0] and list(data["validation loss"][1]) == [0.8]

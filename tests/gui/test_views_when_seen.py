"""Views behind another dock tab wait, and show the current model once they are seen.

An edit while a view is covered (another tab in front) does no work for it; when the view comes
into view (its tab brought to the front, its dock split beside another, floated, or docked
again) it shows exactly what a freshly built view of the same model shows.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from training_support import digits_main_window

from cnnstudio.gui.lazy import is_seen
from cnnstudio.gui.problems_panel import ProblemsPanel
from cnnstudio.gui.summary_panel import SummaryPanel
from cnnstudio.gui.training.feature_maps import FeatureMapsWidget
from cnnstudio.gui.training.filters import FiltersWidget
from cnnstudio.gui.training.top_patches import TopPatchesWidget

BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea


@pytest.fixture
def window(qtbot, settings):
    w = digits_main_window(qtbot, settings)
    qtbot.waitExposed(w)
    yield w
    w.training.controller.shutdown()


def _summary(panel: SummaryPanel) -> tuple:
    t = panel.table
    cells = [[t.item(r, c).text() if t.item(r, c) else "" for c in range(t.columnCount())]
             for r in range(t.rowCount())]
    return panel.totals.text(), cells


def _problems(panel: ProblemsPanel) -> tuple:
    return panel.header.text(), [(row.problem.message, row.fix_button.text()
                                  if row.fix_button else None) for row in panel.rows]


def _filters(view: FiltersWidget) -> tuple:
    return (view.layer_id(), view.info.text(), view.grid.captions(), list(view.grid._images))


def _feature_maps(view: FeatureMapsWidget) -> tuple:
    combo = [view.layer_combo.itemText(i) for i in range(view.layer_combo.count())]
    maps = None if view.shown_maps is None else view.shown_maps.tolist()
    return (view.layer_id(), combo, view.info.text(), view.grid.captions(), maps,
            view.sample_caption.text(), view.unit_caption.text())


def _top_patches(view: TopPatchesWidget) -> tuple:
    combo = [view.layer_combo.itemData(i) for i in range(view.layer_combo.count())]
    return (combo, view.layer_combo.currentData(), view.channel.minimum(),
            view.channel.maximum(), view.channel.value(), view.find_button.isEnabled())


#: dock key -> (what the view shows, how to build a fresh one for the same window)
VIEWS = {
    "summary": (_summary, lambda w: SummaryPanel(w.document, w.selection)),
    "problems": (_problems, lambda w: ProblemsPanel(w.document, w.selection)),
    "filters": (_filters, lambda w: FiltersWidget(w.training.controller)),
    "feature_maps": (_feature_maps,
                     lambda w: FeatureMapsWidget(w.training.controller, w.selection)),
    "top_patches": (_top_patches, lambda w: TopPatchesWidget(w.training.controller)),
}


def _fresh(qtbot, window, key: str) -> tuple:
    """What a new view of the current model shows, on screen on its own."""
    shows, build = VIEWS[key]
    view: QWidget = build(window)
    qtbot.addWidget(view)
    view.resize(900, 300)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: not view.stale)
    return shows(view)


def _cover(qtbot, window, key: str) -> None:
    """Bring another tab of ``key``'s group to the front."""
    other = "curves" if key != "curves" else "summary"
    window.docks[other].raise_()
    view = window.docks[key].widget()
    qtbot.waitUntil(lambda: not is_seen(view))


def _edit(window) -> None:
    """Changes every one of these views: a shape, a param count, the filters, a problem."""
    window.document.set_param("c1", "filters", 5)
    window.document.set_param("c2", "kernel_size", 9)  # too large: an error with a fix


def _tab_switch(window, key: str) -> None:
    window.docks[key].raise_()


def _split(window, key: str) -> None:
    """The dock leaves its tab group for a place of its own beside it (what a user's drag of
    the tab to the group's side does)."""
    window.addDockWidget(BOTTOM, window.docks[key], Qt.Orientation.Horizontal)


def _float(window, key: str) -> None:
    window.docks[key].setFloating(True)


OCCASIONS = {"tab switch": _tab_switch, "split": _split, "floated": _float}


@pytest.mark.parametrize("how", list(OCCASIONS))
@pytest.mark.parametrize("key", list(VIEWS))
def test_a_covered_view_waits_and_then_shows_the_current_model(qtbot, window, key, how):
    shows, _ = VIEWS[key]
    view = window.docks[key].widget()
    window.docks[key].raise_()
    qtbot.waitUntil(lambda: is_seen(view) and not view.stale)
    _cover(qtbot, window, key)
    before = shows(view)
    _edit(window)
    assert view.stale and shows(view) == before  # no work done for a covered view
    OCCASIONS[how](window, key)
    qtbot.waitUntil(lambda: is_seen(view) and not view.stale)
    assert shows(view) == _fresh(qtbot, window, key)
    window.document.undo_stack.undo()  # and it keeps following the model while seen
    assert shows(view) == _fresh(qtbot, window, key)


def test_views_in_a_split_dock_and_a_docked_again_float_follow_the_model(qtbot, window):
    """Feature maps split beside the summary and filters floated then docked again: both keep
    showing the current model through edits, covers and uncovers."""
    fm, filters = window.training.feature_maps, window.training.filters
    _split(window, "feature_maps")
    _float(window, "filters")
    qtbot.waitUntil(lambda: is_seen(fm) and is_seen(filters) and not fm.stale
                    and not filters.stale)
    _edit(window)
    assert not fm.stale and not filters.stale  # on screen: redrawn at once
    assert _feature_maps(fm) == _fresh(qtbot, window, "feature_maps")
    assert _filters(filters) == _fresh(qtbot, window, "filters")
    window.docks["filters"].setFloating(False)  # back into its tab group, in front
    window.docks["filters"].raise_()
    window.selection.set(["c2"])  # the feature maps follow the canvas
    window.document.set_param("c2", "kernel_size", 3)
    qtbot.waitUntil(lambda: is_seen(filters) and not filters.stale)
    assert _filters(filters) == _fresh(qtbot, window, "filters")
    c = window.training.controller
    assert fm.layer_id() == "c2" and not fm.stale
    np.testing.assert_array_equal(fm.shown_maps, c.activations(c.sample, "c2"))
    assert fm.grid.count() == len(fm.shown_maps)

"""The summary panel: Keras-style table, totals, copy to clipboard, row click selects."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from cnnstudio.core.templates import load_template
from cnnstudio.export.summary import format_markdown, format_text
from cnnstudio.gui.inspector import InspectorWidget
from cnnstudio.gui.summary_panel import LAYER_ROLE, SummaryPanel


def _panel(qtbot, document, selection) -> SummaryPanel:
    panel = SummaryPanel(document, selection)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    return panel


def _cell(panel: SummaryPanel, layer_id: str, column: int) -> str:
    return panel.table.item(panel.row_of(layer_id), column).text()


def test_table_has_a_row_per_layer_and_a_totals_row(qtbot, document, selection) -> None:
    document.load_graph(load_template("lenet5"))
    panel = _panel(qtbot, document, selection)
    assert panel.table.rowCount() == len(document.graph) + 1
    assert _cell(panel, "c1", 2) == "6x28x28"
    assert _cell(panel, "fc1", 3) == "48,120"
    assert _cell(panel, "c2", 5) == "240,000"
    last = panel.table.rowCount() - 1
    assert panel.table.item(last, 0).text() == "Total"
    assert panel.table.item(last, 3).text() == f"{document.result.totals.total:,}"
    assert panel.table.item(panel.row_of("fc1"), 3).textAlignment() & Qt.AlignmentFlag.AlignRight
    assert "61,706 trainable" in panel.totals.text()


def test_inspector_edit_updates_the_summary(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    inspector = InspectorWidget(document, selection)
    qtbot.addWidget(inspector)
    inspector.show()
    selection.set(["c1"])
    assert _cell(panel, "c1", 2) == "8x32x32"
    line = inspector.editors["stride"].field
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, "2")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert _cell(panel, "c1", 2) == "8x16x16"
    assert _cell(panel, "p1", 2) == "8x8x8"
    document.undo_stack.undo()
    assert _cell(panel, "c1", 2) == "8x32x32"


def test_broken_layers_show_unknown_values(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.remove_layers(["gap"])
    document.connect("r3", "out")
    assert _cell(panel, "out", 2) == "?"
    assert _cell(panel, "out", 3) == "?"
    assert "needs a flat vector" in panel.table.item(panel.row_of("out"), 0).toolTip()
    assert "1 error" in panel.totals.text()


def test_copy_as_markdown_and_text_put_the_table_on_the_clipboard(qtbot, document,
                                                                  selection) -> None:
    panel = _panel(qtbot, document, selection)
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    panel.copy_markdown_action.trigger()
    text = clipboard.text()
    assert text == format_markdown(document.graph, document.result)
    assert "| Layer | Type |" in text and "| c1 |" in text
    panel.copy_text_action.trigger()
    assert clipboard.text() == format_text(document.graph, document.result)


def test_clicking_a_row_selects_the_layer_and_selection_highlights_it(qtbot, document,
                                                                      selection) -> None:
    panel = _panel(qtbot, document, selection)
    row = panel.row_of("p2")
    rect = panel.table.visualItemRect(panel.table.item(row, 1))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert selection.ids() == ["p2"]
    selection.set(["c3"])
    assert {i.row() for i in panel.table.selectedIndexes()} == {panel.row_of("c3")}
    assert selection.ids() == ["c3"]  # highlighting did not write back


def test_totals_row_cannot_be_selected(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    last = panel.table.rowCount() - 1
    rect = panel.table.visualItemRect(panel.table.item(last, 0))
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert selection.ids() == []


def test_columns_fill_a_wide_dock_and_keep_their_text_in_a_narrow_one(qtbot, document,
                                                                      selection) -> None:
    document.load_graph(load_template("lenet5"))
    panel = _panel(qtbot, document, selection)
    qtbot.waitExposed(panel)
    header, table = panel.table.horizontalHeader(), panel.table
    for width in (1400, 900):
        panel.resize(width, 400)
        qtbot.wait(1)
        used = sum(header.sectionSize(c) for c in range(table.columnCount()))
        assert abs(used - table.viewport().width()) <= 1  # no blank strip at the right
    document.rename("c1", "the_first_convolution_" * 6 + "end")  # wider than the dock
    qtbot.wait(1)
    content = [table.sizeHintForColumn(c) for c in range(table.columnCount())]
    assert all(header.sectionSize(c) >= content[c] for c in range(table.columnCount()))
    assert sum(header.sectionSize(c) for c in range(table.columnCount())) > \
        table.viewport().width()


def test_spread_widths_shares_the_spare_room_evenly() -> None:
    from cnnstudio.gui.summary_panel import spread_widths

    assert spread_widths([50, 100, 70], 400) == [110, 160, 130]
    assert spread_widths([50, 100, 70], 221) == [51, 100, 70]
    assert spread_widths([50, 100, 70], 200) == [50, 100, 70]


def _everything_shown(panel: SummaryPanel) -> list[tuple[object, ...]]:
    table = panel.table
    return [(item.text(), item.data(LAYER_ROLE), item.toolTip(), item.foreground().color().name(),
             item.font().bold(), int(item.textAlignment()), item.flags().value)
            for r in range(table.rowCount()) for c in range(table.columnCount())
            if (item := table.item(r, c)) is not None] + [
        (table.rowCount(), panel.totals.text())]


def test_rows_updated_in_place_match_a_fresh_table(qtbot, document, selection) -> None:
    """The panel rewrites only the rows an edit changed; after any mix of edits (shape and
    parameter changes, an error and its fix, insertions, deletions, undo) it shows exactly what
    a panel built from scratch shows."""
    panel = _panel(qtbot, document, selection)
    first_conv = next(lay.id for lay in document.graph if lay.type == "Conv2D")
    steps = [
        lambda: document.set_param(first_conv, "filters", 7),
        lambda: document.set_param(first_conv, "kernel_size", 99),  # an error row, in red
        lambda: document.set_param(first_conv, "kernel_size", 3),
        lambda: document.insert_after("ReLU", first_conv),
        lambda: document.remove_layers([document.graph.ids[-1]]),
        document.undo_stack.undo,
        document.undo_stack.undo,
        lambda: document.load_graph(load_template("lenet5")),
        lambda: document.set_param("c1", "filters", 2),
    ]
    for step in steps:
        step()
        fresh = _panel(qtbot, document, selection)
        assert _everything_shown(panel) == _everything_shown(fresh)
        fresh.close()


def test_an_edit_rewrites_only_the_cells_it_changed(qtbot, document, selection) -> None:
    """Each rewritten cell repaints: an edit of c1's filters changes c1's type, shape,
    parameters and MACs, the shapes after it and c2's parameters, and nothing else."""
    document.load_graph(load_template("lenet5"))
    panel = _panel(qtbot, document, selection)
    table = panel.table

    def texts() -> dict[tuple[int, int], str]:
        return {(r, c): table.item(r, c).text() for r in range(table.rowCount())
                for c in range(table.columnCount())}

    before = texts()
    written: set[tuple[int, int]] = set()
    table.model().dataChanged.connect(
        lambda top, bottom, _roles: written.update(
            (r, c) for r in range(top.row(), bottom.row() + 1)
            for c in range(top.column(), bottom.column() + 1)))
    document.set_param("c1", "filters", 7)
    after = texts()
    changed = {cell for cell in after if after[cell] != before[cell]}
    assert (panel.row_of("c1"), 2) in changed and (panel.row_of("c2"), 3) in changed
    assert written == changed


def test_an_edit_keeps_the_selected_row_where_the_user_scrolled(qtbot, document,
                                                                selection) -> None:
    """Editing the selected layer leaves the table's selection and scroll position alone (it
    used to select the row again and scroll back to it on every edit); a new selection, and a
    selected layer whose row moved or was renamed, are still selected and scrolled to."""
    document.load_graph(load_template("cifar_vgg"))
    panel = _panel(qtbot, document, selection)
    panel.resize(900, 160)  # a few rows visible
    qtbot.wait(1)
    table, bar = panel.table, panel.table.verticalScrollBar()
    assert bar.maximum() > 0

    def selected_rows() -> set[int]:
        return {i.row() for i in table.selectedIndexes()}

    first_conv = next(lay.id for lay in document.graph if lay.type == "Conv2D")
    selection.set([first_conv])
    assert selected_rows() == {panel.row_of(first_conv)}
    bar.setValue(bar.maximum())  # the user looks at the last rows
    for filters in (9, 10, 11):
        document.set_param(first_conv, "filters", filters)
        assert bar.value() == bar.maximum()
        assert selected_rows() == {panel.row_of(first_conv)}

    last = document.graph.ids[-2]
    selection.set([last])  # a new selection is shown and scrolled to
    assert selected_rows() == {panel.row_of(last)}
    bar.setValue(0)
    selection.set([first_conv])
    assert selected_rows() == {panel.row_of(first_conv)}
    assert table.visualItemRect(table.item(panel.row_of(first_conv), 0)).intersects(
        table.viewport().rect())

    added = document.insert_before("ReLU", first_conv)  # the selected row moves down one
    assert selection.ids() == [first_conv] and panel.row_of(first_conv) == 1 + panel.row_of(added)
    assert selected_rows() == {panel.row_of(first_conv)}
    document.rename(first_conv, "renamed")
    selection.set(["renamed"])
    assert selected_rows() == {panel.row_of("renamed")}
    document.undo_stack.undo()  # the rename undone: the row shows the old id again
    selection.set([first_conv])
    assert selected_rows() == {panel.row_of(first_conv)}


def test_the_totals_line_fills_its_background_with_the_colour_behind_it(qtbot, document,
                                                                        selection) -> None:
    """The totals line paints its own background (so an edit does not repaint the dock behind
    it): in the light and the dark palette alike, the panel looks as with a transparent one."""
    from cnnstudio.gui.color_scheme import dark_palette

    panel = _panel(qtbot, document, selection)
    holder = panel.totals.parentWidget()
    assert holder.autoFillBackground()
    for palette in (panel.palette(), dark_palette()):
        panel.setPalette(palette)
        qtbot.wait(1)
        filled = panel.grab().toImage()
        holder.setAutoFillBackground(False)
        assert panel.grab().toImage() == filled
        holder.setAutoFillBackground(True)

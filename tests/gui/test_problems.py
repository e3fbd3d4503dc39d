"""The problems panel: errors then warnings, click to focus, one-click undoable fixes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from cnnstudio.core.graph import Graph
from cnnstudio.gui.problems_panel import ProblemRow, ProblemsPanel


def _panel(qtbot, document, selection) -> ProblemsPanel:
    panel = ProblemsPanel(document, selection)
    qtbot.addWidget(panel)
    panel.resize(900, 400)
    panel.show()
    return panel


def _row(panel: ProblemsPanel, code: str) -> ProblemRow:
    return next(r for r in panel.rows if r.problem.code == code)


def _fix_in_one_click(qtbot, panel: ProblemsPanel, document, code: str,
                      label: str) -> Graph:
    """Click the row's fix button; check it made one undo step and the model valid.

    Returns the broken graph, for the caller to compare after undo.
    """
    broken = document.graph.copy()
    steps = document.undo_stack.count()
    button = _row(panel, code).fix_button
    assert button is not None and button.text() == label
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert document.result.valid, document.result.errors
    assert not any(r.problem.code == code for r in panel.rows)
    assert document.undo_stack.count() == steps + 1
    return broken


def test_valid_model_says_so(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    assert panel.rows == []
    texts = [w.text() for w in panel.scroll.widget().findChildren(QLabel)]
    assert any("No problems: the model is valid" in t for t in texts)


def test_errors_come_before_warnings(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.set_param("p1", "pool_size", 3)  # warnings: 32 is not a multiple of 3
    document.disconnect("gap", "out")  # error-free warning ...
    document.set_param("c3", "padding", "valid")
    document.set_param("c3", "kernel_size", 12)  # ... and an error
    severities = [r.problem.severity for r in panel.rows]
    assert severities[0] == "error"
    assert severities == sorted(severities)  # "error" < "warning"
    assert "1 error" in panel.header.text()


def test_fix_insert_flatten_before_dense(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.remove_layers(["gap"])
    document.connect("r3", "out")
    broken = _fix_in_one_click(qtbot, panel, document, "wrong_rank", "Insert Flatten before out")
    (flat,) = document.graph.layer("out").inputs
    assert document.graph.layer(flat).type == "Flatten"
    assert document.graph.layer(flat).inputs == ["r3"]
    document.undo_stack.undo()
    assert document.graph == broken


def test_fix_set_padding_same(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.set_param("c3", "kernel_size", 12)  # 12x12 on an 8x8 map ...
    document.set_param("c3", "padding", "valid")  # ... fits only while padded
    # The fix edits the param the user edited last: it must still be an undo step of its own.
    broken = _fix_in_one_click(qtbot, panel, document, "kernel_too_large",
                               "Set padding to same")
    assert document.graph.layer("c3").params["padding"] == "same"
    assert document.result.layers["c3"].output_shape == (32, 8, 8)
    document.undo_stack.undo()
    assert document.graph == broken


def test_fix_shrink_pool_to_fit(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.set_param("p2", "pool_size", [20, 4])  # input is 16x16: height does not fit
    broken = _fix_in_one_click(qtbot, panel, document, "kernel_too_large",
                               "Shrink the pool to 16x4")
    assert document.graph.layer("p2").params["pool_size"] == [16, 4]
    document.undo_stack.undo()
    assert document.graph == broken


def test_fix_connect_to_the_previous_block(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    original = document.graph.copy()
    document.disconnect("gap", "out")
    broken = _fix_in_one_click(qtbot, panel, document, "not_connected", "Connect gap -> out")
    assert document.graph == original
    document.undo_stack.undo()
    assert document.graph == broken


def test_connect_previous_skips_loose_blocks(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.disconnect("gap", "out")
    document.add_layer("ReLU")  # loose, below "out" in file order
    row = next(r for r in panel.rows if r.problem.layer == "relu_1")
    assert row.fix_button.text() == "Connect gap -> relu_1"  # not the loose "out"


def test_problems_without_a_plain_fix_have_no_button(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.set_param("p1", "pool_size", 3)
    assert _row(panel, "fractional_tiling").fix_button is None


def test_clicking_a_problem_selects_and_centres_its_layer(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.set_param("p1", "pool_size", 3)
    row = _row(panel, "fractional_tiling")
    with qtbot.waitSignal(selection.focusRequested, timeout=1000) as focus:
        qtbot.mouseClick(row.message, Qt.MouseButton.LeftButton)
    assert focus.args == ["p1"]
    assert selection.ids() == ["p1"]
    assert "background" in row.styleSheet()  # the row shows it belongs to the selection


def test_fix_insert_relu_between_two_linear_layers(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    document.remove_layers(["r3"])
    document.connect("c3", "gap")  # c3 -> gap -> out: one linear map in two layers
    assert any(p.code == "linear_stack" and p.layer == "out" for p in document.result.warnings)
    broken = _fix_in_one_click(qtbot, panel, document, "linear_stack", "Insert ReLU before out")
    (relu,) = document.graph.layer("out").inputs
    assert document.graph.layer(relu).type == "ReLU"
    document.undo_stack.undo()
    assert document.graph == broken


def test_fix_removes_a_softmax_in_the_middle_and_bridges_it(qtbot, document, selection) -> None:
    panel = _panel(qtbot, document, selection)
    sm = document.insert_before("Softmax", "out")  # gap -> sm -> out
    broken = _fix_in_one_click(qtbot, panel, document, "softmax_not_last", f"Remove {sm}")
    assert sm not in document.graph and document.graph.layer("out").inputs == ["gap"]
    document.undo_stack.undo()
    assert document.graph == broken

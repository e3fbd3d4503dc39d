"""The inspector: editors from the catalogue, refusals with reasons, rename, freeze, formulas."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit

from cnnstudio.core.catalogue import LAYERS
from cnnstudio.gui.inspector import InspectorWidget
from cnnstudio.gui.inspector.editors import editor_for


def _inspector(qtbot, document, selection) -> InspectorWidget:
    widget = InspectorWidget(document, selection)
    qtbot.addWidget(widget)
    widget.resize(340, 900)
    widget.show()
    return widget


def _type(qtbot, line: QLineEdit, text: str) -> None:
    """Replace the text as a user would, then press Enter."""
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def _line(inspector: InspectorWidget, name: str) -> QLineEdit:
    field = inspector.editors[name].field
    return field if isinstance(field, QLineEdit) else field.lineEdit()


def test_shows_an_editor_per_param_with_current_values(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    assert set(inspector.editors) == set(LAYERS["Conv2D"].param_names)
    assert inspector.editors["filters"].field.value() == 8
    assert _line(inspector, "kernel_size").text() == "5"
    assert _line(inspector, "padding").text() == "same"
    assert inspector.id_editor.line.text() == "c1"
    assert "5*5*1*8 + 8 = 208" in inspector.computes.text()


def test_editing_stride_changes_the_graph_and_the_filled_formula(qtbot, document,
                                                                 selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    _type(qtbot, _line(inspector, "padding"), "2")
    _type(qtbot, _line(inspector, "stride"), "2")
    assert document.graph.layer("c1").params["stride"] == 2
    assert document.graph.layer("c1").params["padding"] == 2
    assert document.result.layers["c1"].output_shape == (8, 16, 16)
    assert "floor((32 + 2*2 - 5) / 2) + 1 = 16" in inspector.computes.text()
    assert document.undo_stack.count() == 2


def test_int_pair_entry_is_stored_canonically(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c2"])
    _type(qtbot, _line(inspector, "kernel_size"), "3,5")
    assert document.graph.layer("c2").params["kernel_size"] == [3, 5]
    _type(qtbot, _line(inspector, "kernel_size"), "3x3")
    assert document.graph.layer("c2").params["kernel_size"] == 3
    assert _line(inspector, "kernel_size").text() == "3"


def test_invalid_entries_are_refused_with_the_reason(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    before = document.graph.copy()
    for name, text, reason in (
        ("stride", "0", "stride must be in [1,"),
        ("kernel_size", "three", "whole number or h,w"),
        ("kernel_size", "2.5", "whole number"),
        ("padding", "banana", "valid, same"),
        ("padding", "-1", "padding must be in [0,"),
    ):
        _type(qtbot, _line(inspector, name), text)
        editor = inspector.editors[name]
        assert editor.error.isVisible(), (name, text)
        assert reason in editor.error.text()
        assert document.graph == before
    assert document.undo_stack.count() == 0
    _type(qtbot, _line(inspector, "stride"), "1")  # a good value clears the message
    assert not inspector.editors["stride"].error.isVisible()


def test_float_editor_respects_exclusive_bounds(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    drop = document.insert_after("Dropout", "gap")
    selection.set([drop])
    _type(qtbot, _line(inspector, "rate"), "1")
    assert "rate must be in [0, 1)" in inspector.editors["rate"].error.text()
    _type(qtbot, _line(inspector, "rate"), "0.25")
    assert document.graph.layer(drop).params["rate"] == 0.25


def test_spin_box_edit_changes_params(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    spin = inspector.editors["filters"].field
    _type(qtbot, spin.lineEdit(), "32")
    assert document.graph.layer("c1").params["filters"] == 32
    assert document.result.layers["c1"].trainable == 5 * 5 * 1 * 32 + 32
    assert spin.maximum() >= 1024 and spin.minimum() == 1


def test_refresh_does_not_write_back(qtbot, document, selection) -> None:
    """Undo updates the form; showing a value must not push a new command (no feedback loop)."""
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    _type(qtbot, _line(inspector, "stride"), "2")
    inspector.editors["use_bias"].field.click()
    assert document.undo_stack.count() == 2
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert document.undo_stack.count() == 2 and document.undo_stack.index() == 0
    assert _line(inspector, "stride").text() == "1"
    assert inspector.editors["use_bias"].field.isChecked()
    document.undo_stack.redo()
    assert _line(inspector, "stride").text() == "2"


def test_rename_refuses_a_duplicate_and_renames_everywhere(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    before = document.graph.copy()
    _type(qtbot, inspector.id_editor.line, "c2")
    assert inspector.id_editor.error.isVisible()
    assert "already exists" in inspector.id_editor.error.text()
    assert document.graph == before
    _type(qtbot, inspector.id_editor.line, "edges")
    assert "edges" in document.graph and "c1" not in document.graph
    assert document.graph.layer("r1").inputs == ["edges"]
    assert selection.current() == "edges"
    assert inspector.id_editor.line.text() == "edges"
    assert not inspector.id_editor.error.isVisible()
    document.undo_stack.undo()
    assert document.graph == before


def test_trainable_checkbox_freezes_the_layer(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c2"])
    inspector.trainable.click()
    assert document.graph.layer("c2").trainable is False
    assert "Frozen" in inspector.computes.text()
    document.undo_stack.undo()
    assert document.graph.layer("c2").trainable is True
    assert inspector.trainable.isChecked()
    selection.set(["r1"])  # no weights: nothing to freeze
    assert inspector.trainable is None


def test_empty_state_shows_the_model_totals(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    texts = " ".join(label.text() for label in inspector.scroll.widget().findChildren(
        type(inspector.title)))
    assert "Shapes CNN" in texts
    assert f"{document.result.totals.trainable:,}" in texts
    assert "Select a block" in texts


def test_problems_of_the_layer_are_listed(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    document.remove_layers(["gap"])
    document.connect("r3", "out")
    selection.set(["out"])
    assert inspector.problems.isVisible()
    assert "needs a flat vector" in inspector.problems.text()
    assert "Unknown" in inspector.computes.text()


def test_every_catalogue_param_kind_has_an_editor(qtbot) -> None:
    for spec in LAYERS.values():
        for pspec in spec.params:
            editor = editor_for(pspec)
            qtbot.addWidget(editor)
            editor.set_value(pspec.default)
            assert not editor.has_error


def test_edits_refused_by_the_document_show_why_and_the_real_value(qtbot, document,
                                                                    selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    before = document.graph.copy()
    document.set_locked(True, "training is running")
    spin = inspector.editors["filters"].field
    _type(qtbot, spin.lineEdit(), "32")
    assert document.graph == before
    assert spin.value() == 8
    assert "training is running" in inspector.editors["filters"].error.text()
    _type(qtbot, inspector.id_editor.line, "renamed")
    assert document.graph == before
    assert "training is running" in inspector.id_editor.error.text()


def test_scrolling_over_an_unfocused_spin_box_does_not_edit(qtbot, document, selection) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    spin = inspector.editors["filters"].field
    inspector.id_editor.line.setFocus()

    def wheel() -> None:
        centre = QPointF(spin.rect().center())
        event = QWheelEvent(centre, spin.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(spin, event)

    wheel()
    assert document.undo_stack.count() == 0
    inspector.activateWindow()
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=1000)
    wheel()
    assert document.graph.layer("c1").params["filters"] == 9  # focused: the wheel edits


def test_model_summary_counts_layers_in_plain_english(qtbot, document, selection) -> None:
    """Seen in journey 2: File > New showed "1 layers, valid"."""
    from cnnstudio.core.graph import Graph

    inspector = _inspector(qtbot, document, selection)
    assert inspector.notation.text() == f"{len(document.graph)} layers, valid"
    single = Graph("Untitled")
    single.add_layer("Input")
    document.replace_graph(single)
    assert inspector.notation.text() == "1 layer, valid"


def test_receptive_field_section_states_jump_and_origin(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c2"])
    rep = document.result.layers["c2"]
    text = inspector.computes.text()
    assert f"Jump {rep.jump[0]}x{rep.jump[1]}" in text
    assert f"Origin ({rep.origin[0]}, {rep.origin[1]})" in text


def _texts(inspector: InspectorWidget) -> str:
    from PySide6.QtWidgets import QLabel

    return " | ".join(label.text() for label in inspector.findChildren(QLabel)
                      if label.isVisibleTo(inspector))


def test_a_selected_unit_shows_its_exact_totals_and_what_flows_through(qtbot, document,
                                                                      selection) -> None:
    """Clicking a collapsed unit used to leave the model page up; now the unit has its own:
    name, shapes in and out, and totals that add up its layers exactly."""
    inspector = _inspector(qtbot, document, selection)
    uid = document.group(["c2", "r2", "p2"], name="Middle")
    selection.set([uid])
    assert inspector.title.text() == "Middle"
    assert inspector.notation.text() == "unit of 3 layers, collapsed"
    reports = [document.result.layers[lid] for lid in ("c2", "r2", "p2")]
    trainable = sum(r.trainable for r in reports)
    macs = sum(r.macs for r in reports)
    assert trainable == 8 * 3 * 3 * 16 + 16
    assert inspector.unit_numbers["Trainable params"].text() == f"{trainable:,}"
    assert inspector.unit_numbers["MACs per image"].text() == f"{macs:,}"
    shapes = document.result.layers
    assert "\u2192" in _texts(inspector)
    assert "x".join(map(str, shapes["p2"].output_shape)) in _texts(inspector)
    assert "c2, r2, p2" in _texts(inspector)


def test_a_unit_is_renamed_expanded_and_ungrouped_from_the_inspector(qtbot, document,
                                                                    selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    uid = document.group(["c2", "r2"], name="Pair")
    selection.set([uid])
    steps = document.undo_stack.count()
    _type(qtbot, inspector.unit_name, "Conv block")
    assert document.graph.units.get(uid).name == "Conv block"
    assert inspector.title.text() == "Conv block"
    qtbot.mouseClick(inspector.unit_toggle, Qt.MouseButton.LeftButton)
    assert not document.graph.units.get(uid).collapsed
    assert inspector.unit_toggle.text() == "Collapse"
    assert document.undo_stack.count() == steps + 2  # one step each
    document.undo_stack.undo()
    assert document.graph.units.get(uid).collapsed
    qtbot.mouseClick(inspector.unit_ungroup, Qt.MouseButton.LeftButton)
    assert uid not in document.graph.units
    assert inspector.title.text() == document.graph.name  # back to the model page
    document.undo_stack.undo()
    assert uid in document.graph.units


def test_a_problem_inside_a_unit_is_listed_on_its_page(qtbot, document, selection) -> None:
    inspector = _inspector(qtbot, document, selection)
    uid = document.group(["c2", "r2"], name="Pair")
    document.set_param("c2", "padding", "valid")
    document.set_param("c2", "kernel_size", 20)  # larger than its 16x16 input
    selection.set([uid])
    assert inspector.problems.isVisibleTo(inspector)
    assert "c2:" in inspector.problems.text()


def _shown(inspector: InspectorWidget) -> tuple[object, ...]:
    """Everything the layer page shows: its texts, the fields' values and its picture whole
    (the page, not only what the dock's scroll area shows of it)."""
    page = inspector.scroll.widget()
    texts = tuple(label.text() for label in page.findChildren(QLabel))
    fields = tuple(line.text() for line in page.findChildren(QLineEdit))
    return texts, fields, page.size(), page.grab().toImage()


def test_after_edits_of_the_selected_layer_the_page_is_a_fresh_inspectors(qtbot, document,
                                                                           selection) -> None:
    """With the layer selected, an edit updates its page in place (the explanation's changed
    paragraphs rewritten, the rest kept); after any mix of edits the page shows exactly what an
    inspector opened on the result shows, to the pixel."""
    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    qtbot.wait(1)
    steps = [
        lambda: _type(qtbot, inspector.editors["filters"].field.lineEdit(), "9"),
        lambda: document.set_param("c1", "filters", 7),  # digits only: in place
        lambda: document.set_param("c1", "filters", 12),  # one digit more
        lambda: document.set_param("c1", "filters", 13),
        lambda: _type(qtbot, _line(inspector, "kernel_size"), "3"),
        lambda: _type(qtbot, _line(inspector, "padding"), "valid"),  # fewer lines
        lambda: document.set_param("c1", "stride", 2),
        lambda: document.set_param("c1", "kernel_size", 99),  # an error: unknown shapes
        document.undo_stack.undo,
        lambda: inspector.editors["use_bias"].field.click(),
        lambda: inspector.trainable.click(),  # frozen: a section more
        document.undo_stack.undo,
        lambda: document.set_param("c1", "filters", 14),
        lambda: document.rename("c1", "first"),
        lambda: selection.set(["first"]),
        lambda: document.set_param("first", "filters", 15),
    ]
    in_place = 0
    for step, action in enumerate(steps):
        label, before = inspector.computes, inspector.computes.edits_in_place
        action()
        in_place += label is inspector.computes and label.edits_in_place > before
        if (focused := QApplication.focusWidget()) is not None:
            focused.clearFocus()  # a typed field: not a difference the edit made
        qtbot.wait(1)
        fresh = _inspector(qtbot, document, selection)
        qtbot.wait(1)
        assert _shown(inspector) == _shown(fresh), step
        fresh.close()
    assert in_place == 5  # the changes of digits only: 9, 7, 13, 14 and 15 filters


def test_an_edit_repaints_only_the_spin_boxes_whose_value_changed(qtbot, document,
                                                                  selection) -> None:
    """QSpinBox repaints on every setValue, the same value too; the inspector must not hand
    unchanged values to the boxes of the other params (a repaint per box per edit), and must
    still show a value that did change (an undo, a refused entry set back)."""
    from PySide6.QtCore import QEvent, QObject

    inspector = _inspector(qtbot, document, selection)
    selection.set(["c1"])
    qtbot.waitExposed(inspector)
    groups = inspector.editors["groups"].field
    painted: list[int] = []

    class Paints(QObject):
        def eventFilter(self, obj, event):  # noqa: ANN001, ANN202, N802
            if event.type() == QEvent.Type.Paint:
                painted.append(1)
            return False

    watcher = Paints()
    groups.installEventFilter(watcher)
    QApplication.processEvents()
    painted.clear()
    for filters in (9, 10, 12):
        document.set_param("c1", "filters", filters)
        QApplication.processEvents()
    assert painted == []
    assert inspector.editors["filters"].field.value() == 12
    document.set_param("c1", "groups", 2)
    QApplication.processEvents()
    assert groups.value() == 2 and painted
    document.undo_stack.undo()
    assert groups.value() == 1

"""The Document validates incrementally: after every edit, undo and redo, the result it hands to
the views equals a fresh full validation of its graph."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnstudio.core.graph import GraphError
from cnnstudio.core.templates import load_template
from cnnstudio.core.validator import validate
from cnnstudio.gui.document import Document
from tests.edit_sequences import TYPES, param_edit, valid_graphs


def assert_current(doc: Document) -> None:
    full = validate(doc.graph)
    assert doc.result == full
    assert list(doc.result.layers) == list(full.layers)


def _edit(data: st.DataObject, doc: Document) -> None:
    graph = doc.graph
    ids = graph.ids
    kind = data.draw(st.sampled_from(
        ["param", "param", "add", "insert", "remove", "connect", "disconnect", "rename", "move",
         "trainable", "group", "ungroup", "collapse", "undo", "undo", "redo", "template"] if ids
        else ["add", "undo", "redo", "template"]))  # every layer deleted

    def pick() -> str:
        return data.draw(st.sampled_from(ids))

    stack = doc.undo_stack
    try:
        if kind == "param":
            edit = param_edit(data.draw, graph)
            if edit is not None:
                doc.set_param(*edit)
        elif kind == "add":
            doc.add_layer(data.draw(st.sampled_from(TYPES)), inputs=[pick()] if ids else [])
        elif kind == "insert":
            doc.insert_after(data.draw(st.sampled_from(TYPES)), pick())
        elif kind == "remove":
            doc.remove_layers([pick()])
        elif kind == "connect":
            doc.connect(pick(), pick())
        elif kind == "disconnect" and graph.edges():
            doc.disconnect(*data.draw(st.sampled_from(graph.edges())))
        elif kind == "rename":
            doc.rename(pick(), data.draw(st.sampled_from(["renamed", "other", *ids])))
        elif kind == "move":
            doc.move_layers({pick(): (data.draw(st.floats(-300, 300)), 50.0)})
        elif kind == "trainable":
            lid = pick()
            doc.set_trainable(lid, not graph.layer(lid).trainable)
        elif kind == "group":
            doc.group(data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3,
                                         unique=True)))
        elif kind in ("ungroup", "collapse") and len(graph.units):
            uid = data.draw(st.sampled_from(graph.units.ids))
            if kind == "ungroup":
                doc.ungroup(uid)
            else:
                doc.set_collapsed(uid, not graph.units.get(uid).collapsed)
        elif kind == "undo" and stack.canUndo():
            stack.undo()
        elif kind == "redo" and stack.canRedo():
            stack.redo()
        elif kind == "template":
            doc.replace_graph(load_template("lenet5"))
    except GraphError:
        pass


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(valid_graphs(), st.data())
def test_document_result_equals_a_full_validation_after_edits_undo_and_redo(qapp, graph, data):
    doc = Document(graph)
    assert_current(doc)
    for _ in range(data.draw(st.integers(1, 10))):
        _edit(data, doc)
        assert_current(doc)
    while doc.undo_stack.canUndo():  # all the way back, then forward again
        doc.undo_stack.undo()
        assert_current(doc)
    while doc.undo_stack.canRedo():
        doc.undo_stack.redo()
        assert_current(doc)


def test_undo_and_redo_of_a_shape_change_restore_every_downstream_shape(qapp):
    doc = Document(load_template("lenet5"))
    first = doc.graph.ids[1]
    before = doc.result
    doc.set_param(first, "kernel_size", 3)
    changed = doc.result
    assert changed.totals != before.totals
    doc.undo_stack.undo()
    assert doc.result == before
    assert_current(doc)
    doc.undo_stack.redo()
    assert doc.result == changed
    assert_current(doc)

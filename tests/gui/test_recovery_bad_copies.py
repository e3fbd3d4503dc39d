"""A recovery copy is a file like any other: a huge, truncated, foreign or damaged one gets one
line naming it and what is wrong, the window starts and stays usable, and the broken copy is set
aside so it is not reported (or offered) again at every start."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from cnnstudio.core import modelfile
from cnnstudio.core.templates import load_template
from cnnstudio.gui.recovery import RECOVERY_FORMAT, RecoveryStore


def envelope(graph_name: str = "shapes_cnn", **changes: object) -> dict:
    doc = {"format": RECOVERY_FORMAT, "original": None, "saved_at": time.time() - 5,
           "model_unsaved": True, "weights": None, "weights_note": "",
           "model": modelfile.to_document(load_template(graph_name))}
    doc.update(changes)
    return doc


def assert_reported_once_and_set_aside(window, dialogs, copy, problem: str) -> None:
    before = window.document.graph.copy()
    assert not window.offer_recovery()
    ((kind, title, text),) = dialogs.shown
    assert kind == "warning" and title == "Recovery copy unreadable"
    first = text.splitlines()[0]
    assert first.startswith(f"{copy}: ") and problem in first, text
    assert window.document.graph == before  # nothing of the current model changed
    folder = copy.parent
    assert not copy.exists() and list(folder.glob("recovery-*.json")) == []
    assert (folder / (copy.name + ".unreadable")).exists()  # kept for a person to look at
    dialogs.shown.clear()
    assert not window.offer_recovery()  # the next start says nothing more
    assert dialogs.shown == []
    window.document.set_param("c1", "filters", 5)  # and the window is usable
    assert window.document.graph.layer("c1").params["filters"] == 5


def test_a_copy_larger_than_any_model_is_refused_without_reading_it(window, dialogs):
    copy = window.files.recovery.folder / "recovery-999.json"
    with copy.open("wb") as fh:
        fh.truncate(modelfile.MAX_FILE_BYTES + 1024 * 1024)  # sparse: no disk, no memory
    assert_reported_once_and_set_aside(window, dialogs, copy, "bytes; a recovery copy is at most")


@pytest.mark.parametrize("content, problem", [
    (json.dumps(envelope())[:500], "not valid JSON"),
    ("\x89PNG\r\n\x1a\n binary", "not valid JSON"),
    (b"\xff\xfe\x00 not utf-8", "not UTF-8 text"),
    (json.dumps({"format": "something.else", "model": {}}), "not a cnnstudio recovery copy"),
    (json.dumps([1, 2, 3]), "not a cnnstudio recovery copy"),
    ("[" * 100_000, "nested too deeply"),
    (json.dumps(envelope(model={"format": "cnnstudio.model", "version": 1, "layers": 3})),
     "layers"),
], ids=["truncated", "binary", "not-utf8", "other-format", "a-list", "deep", "bad-model"])
def test_a_damaged_copy_is_reported_in_one_line(window, dialogs, content, problem):
    copy = window.files.recovery.folder / "recovery-998.json"
    if isinstance(content, bytes):
        copy.write_bytes(content)
    else:
        copy.write_text(content, encoding="utf-8")
    assert_reported_once_and_set_aside(window, dialogs, copy, problem)


def test_a_model_too_large_to_show_is_reported_and_set_aside(window, dialogs, monkeypatch):
    from cnnstudio.gui import document

    monkeypatch.setattr(document, "MAX_DISPLAY_LAYERS", 5)
    copy = window.files.recovery.folder / "recovery-997.json"
    copy.write_text(json.dumps(envelope()), encoding="utf-8")
    dialogs.answer = QMessageBox.StandardButton.Yes
    before = window.document.graph.copy()
    assert not window.offer_recovery()
    kinds = [b[0] for b in dialogs.shown]
    assert kinds == ["question", "warning"], dialogs.shown
    assert dialogs.shown[-1][2].startswith(f"{copy}: ")
    assert window.document.graph == before
    assert list(copy.parent.glob("recovery-*.json")) == []


@pytest.mark.parametrize("saved_at", [1e300, -1e300, 10**400, "noon", None],
                         ids=["huge", "negative", "huge-int", "text", "null"])
def test_a_nonsense_time_falls_back_to_the_file_date(window, dialogs, saved_at):
    copy = window.files.recovery.folder / "recovery-996.json"
    text = json.dumps(envelope(saved_at=saved_at))
    copy.write_text(text, encoding="utf-8")
    dialogs.answer = QMessageBox.StandardButton.No
    assert not window.offer_recovery()
    ((kind, title, text),) = dialogs.shown
    assert title == "Recover unsaved work?"
    assert "seconds ago" in text or "second ago" in text


def test_weights_that_fit_no_layer_are_not_restored(window, dialogs):
    """A copy whose weights belong to another model restores the model alone, and says why."""
    from cnnstudio.engine.network import Network

    folder = window.files.recovery.folder
    other = Network(load_template("lenet5"), np.random.default_rng(0)).state_dict()
    np.savez(folder / "recovery-995.npz", **other)
    copy = folder / "recovery-995.json"
    copy.write_text(json.dumps(envelope(weights="recovery-995.npz",
                                        weights_note="trained 3 epochs on shapes")),
                    encoding="utf-8")
    dialogs.answer = QMessageBox.StandardButton.Yes
    assert window.offer_recovery()
    ((kind, title, text),) = dialogs.shown
    assert "not its weights (" in text and "recovery-995.npz" in text
    assert "fit none of the model's layers" in text
    assert [layer.id for layer in window.document.graph] == [
        layer.id for layer in load_template("shapes_cnn")]
    assert window.training.controller.weights is None
    assert window.current_weights() is None  # exports carry nothing that does not fit


def test_weights_that_fit_some_layers_come_back_and_say_what_starts_fresh(window, dialogs):
    from cnnstudio.engine.network import Network

    folder = window.files.recovery.folder
    graph = load_template("shapes_cnn")
    state = Network(graph, np.random.default_rng(1)).state_dict()
    state["c1/weight"] = np.ones((3, 3, 3, 3), np.float32)  # not c1's shape
    np.savez(folder / "recovery-994.npz", **state)
    (folder / "recovery-994.json").write_text(
        json.dumps(envelope(weights="recovery-994.npz", weights_note="trained")),
        encoding="utf-8")
    dialogs.answer = QMessageBox.StandardButton.Yes
    assert window.offer_recovery()
    c = window.training.controller
    for key in ("c1/weight", "c2/weight", "c2/bias", "out/weight"):  # as the session kept them
        np.testing.assert_array_equal(c.weights[key], state[key])
    assert "1 layer(s) they do not fit start from fresh weights" in c.weights_note
    report = c.view_network().load_where_fits(c.weights)
    assert [lid for lid, _why in report.skipped] == ["c1"] and "c2" in report.loaded


def test_a_huge_note_is_shortened_in_the_question(window, dialogs):
    from cnnstudio.engine.network import Network

    folder = window.files.recovery.folder
    state = Network(load_template("shapes_cnn"), np.random.default_rng(1)).state_dict()
    np.savez(folder / "recovery-993.npz", **state)
    (folder / "recovery-993.json").write_text(
        json.dumps(envelope(weights_note="x" * 1_000_000, weights="recovery-993.npz")),
        encoding="utf-8")
    dialogs.answer = QMessageBox.StandardButton.No
    window.offer_recovery()
    ((_kind, _title, text),) = dialogs.shown
    assert "its weights: xxx" in text and len(text) < 2_000


def test_the_store_reads_with_the_model_file_limit(tmp_path):
    """The copy reader refuses what is bigger than a model file could ever make."""
    copy = tmp_path / "recovery-1.json"
    with copy.open("wb") as fh:
        fh.truncate(modelfile.MAX_FILE_BYTES * 2)
    with pytest.raises(modelfile.ModelFileError, match="recovery copy is at most"):
        RecoveryStore.read(copy)

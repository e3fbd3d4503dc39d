"""Files as a user meets them: save and reopen, a corrupt file, unsaved-changes questions,
recent files and the recovery copy after a crash. Dialogs are patched with plain answers."""

from __future__ import annotations

import json
import subprocess
import sys

from PySide6.QtWidgets import QFileDialog, QMessageBox

from cnnstudio.core import modelfile
from cnnstudio.gui import settings as cfg
from cnnstudio.gui.document import Document
from cnnstudio.gui.main_window import MainWindow
from cnnstudio.gui.recovery import RecoveryStore


def test_save_and_reopen_gives_the_identical_model(window, tmp_path, dialogs, monkeypatch):
    doc = window.document
    doc.set_param("c1", "filters", 12)
    doc.move_layers({"r1": (250.5, 180.0)})
    doc.set_trainable("c2", False)
    target = tmp_path / "mine"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "")))
    assert window.files.save()  # no path yet: Save asks where (Save As)
    saved = target.with_suffix(".json")
    assert doc.path == saved and doc.is_clean()
    assert "mine.json" in window.windowTitle() and not window.isWindowModified()
    before = doc.graph.copy()
    other = Document()
    other.open(saved)
    assert other.graph == before
    assert modelfile.load(saved) == before
    assert cfg.get(window.settings, "files/recent")[0] == str(saved.resolve())


def test_title_shows_the_unsaved_mark(window):
    assert not window.isWindowModified()
    assert "[*]" in window.windowTitle()
    window.document.set_param("c1", "filters", 3)
    assert window.isWindowModified()
    window.document.undo_stack.undo()
    assert not window.isWindowModified()


def test_corrupt_file_shows_the_reader_message_and_keeps_the_model(window, tmp_path, dialogs):
    bad = tmp_path / "broken.json"
    bad.write_text('{"format": "cnnstudio.model", "version": 1, "layers": [{"id": "a"}]}')
    window.document.set_param("c1", "filters", 5)
    before = window.document.graph.copy()
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert not window.open_path(str(bad))
    kinds = [d[0] for d in dialogs.shown]
    assert kinds == ["question", "critical"]
    message = dialogs.shown[-1][2]
    assert "broken.json" in message and "type" in message
    assert window.document.graph == before
    assert window.document.undo_stack.count() == 1  # history untouched too


def test_not_json_at_all_is_reported(window, tmp_path, dialogs):
    bad = tmp_path / "noise.json"
    bad.write_bytes(b"\x00\xff garbage")
    assert not window.files.open_path(bad)
    assert "noise.json" in dialogs.shown[-1][2]


def test_unsaved_changes_cancel_keeps_everything(window, tmp_path, dialogs):
    path = tmp_path / "other.json"
    modelfile.save(modelfile.loads(json.dumps({
        "format": "cnnstudio.model", "version": 1, "name": "x",
        "layers": [{"id": "in", "type": "Input"}]})), path)
    window.document.set_param("c1", "filters", 5)
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not window.open_path(str(path))
    assert "c1" in window.document.graph
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert window.open_path(str(path))
    assert window.document.graph.ids == ["in"]
    assert window.document.undo_stack.count() == 0  # opening a file starts a fresh history


def test_close_with_unsaved_changes_asks(window, dialogs):
    window.show()
    window.document.set_param("c1", "filters", 5)
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible()
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert window.close()


def test_new_from_template_is_undoable(window):
    before = window.document.graph.copy()
    window.files.new_from_template("lenet5")
    assert window.document.graph.name.lower().startswith("lenet")
    window.document.undo_stack.undo()
    assert window.document.graph == before


CRASHING_SESSION = """
import os, sys
from pathlib import Path
from cnnstudio.core import modelfile
from cnnstudio.core.templates import load_template
from cnnstudio.gui.recovery import RecoveryStore
graph = load_template("shapes_cnn")
graph.set_param("c1", "filters", 7)
graph.rename("c2", "middle")
RecoveryStore(Path(sys.argv[1])).write(modelfile.dumps(graph), Path(sys.argv[2]))
os._exit(3)  # dies holding its lock, like a crash
"""


def test_recovery_copy_of_a_crashed_session_is_offered_and_restored(qtbot, settings, tmp_path,
                                                                     dialogs):
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    folder = window.files.recovery.folder
    original = tmp_path / "work.json"
    proc = subprocess.run([sys.executable, "-c", CRASHING_SESSION, str(folder), str(original)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    (copy_path,) = [p for p in folder.glob("recovery-*.json")]
    dialogs.answer = QMessageBox.StandardButton.Yes
    assert window.offer_recovery()
    assert dialogs.shown[-1][1] == "Recover unsaved work?"
    graph = window.document.graph
    assert graph.layer("c1").params["filters"] == 7 and "middle" in graph
    assert window.document.path == original  # re-attached to the file it was work on
    assert not window.document.is_clean()  # restored work is not on disk yet
    assert not copy_path.exists()
    window.document.undo_stack.setClean()
    window.files.shutdown()


def test_declined_recovery_is_discarded(qtbot, settings, tmp_path, dialogs):
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    folder = window.files.recovery.folder
    subprocess.run([sys.executable, "-c", CRASHING_SESSION, str(folder), str(tmp_path / "w")],
                   timeout=60)
    before = window.document.graph.copy()
    dialogs.answer = QMessageBox.StandardButton.No
    assert not window.offer_recovery()
    assert window.document.graph == before
    assert list(folder.glob("recovery-*.json")) == []
    window.files.shutdown()


def test_a_running_window_copy_is_not_offered(qtbot, settings, dialogs):
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.document.set_param("c1", "filters", 7)
    first.files.autosave()
    store = RecoveryStore(first.files.recovery.folder)
    store.path = store.folder / "recovery-other.json"  # another window, same folder
    assert store.orphans() == ([], [])  # first's lock is held: it is alive
    first.document.undo_stack.setClean()
    first.files.shutdown()


def test_saving_clears_the_recovery_copy(qtbot, window, tmp_path):
    window.document.set_param("c1", "filters", 7)
    window.files.autosave()
    assert window.files.recovery.path.exists()
    window.document.save(tmp_path / "m.json")
    qtbot.waitUntil(lambda: not window.files.autosave_timer.isActive(), timeout=5000)
    assert window.files.recovery.flush()  # the writing thread has done what it was given
    assert not window.files.recovery.path.exists()


def test_save_failure_is_reported(window, tmp_path, dialogs):
    window.document.set_param("c1", "filters", 7)
    assert not window.files._save_to(tmp_path / "missing-folder" / "m.json")
    assert dialogs.shown[-1][0] == "critical"
    assert not window.document.is_clean()


KILLED_SESSION = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
    QSettings.setPath(QSettings.Format.IniFormat, scope, sys.argv[1])
app = QApplication([])
import numpy as np
from cnnstudio.core.templates import load_template
from cnnstudio.engine.datasets import Dataset, load_dataset
from cnnstudio.gui.document import Document
from cnnstudio.gui.main_window import MainWindow
from cnnstudio.gui.training.hyperparams import RunSettings

window = MainWindow(Document(load_template("digits_tiny")))
c = window.training.controller
d = load_dataset("digits")
c.set_dataset(Dataset(d.x_train[:200], d.y_train[:200], d.x_test[:60], d.y_test[:60],
                      d.class_names, d.name, d.source), "digits")

def trained(state):
    if state != "idle" or not c.weights:
        return
    window.document.set_param("c1", "filters", 7)  # the edit made just before the crash
    np.savez(sys.argv[2], **c.weights)
    print("edited", flush=True)

c.stateChanged.connect(trained)
c.start(RunSettings(epochs=1, batch_size=32))
app.exec()
"""


def test_a_killed_session_gets_its_last_edit_and_its_weights_back(qtbot, settings, tmp_path,
                                                                 dialogs, settings_dir):
    """SIGKILL about a second after an edit: the copy holds that edit and the trained weights."""
    import signal
    import time

    import numpy as np

    expected = tmp_path / "weights-at-kill.npz"
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_SESSION, str(settings_dir),
                                 str(expected)], stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        line = proc.stdout.readline()  # the child trained, then made its edit
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert line.strip() == "edited", errors.read_text()
    assert proc.returncode == -signal.SIGKILL

    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    dialogs.answer = QMessageBox.StandardButton.Yes
    assert window.offer_recovery()
    kind, title, text = dialogs.shown[-1]
    assert title == "Recover unsaved work?"
    assert "second" in text and "ago" in text and f"({len(window.document.graph)} layers)" in text
    assert "its weights: trained 1 epoch" in text and "on digits" in text
    graph = window.document.graph
    assert graph.layer("c1").params["filters"] == 7  # the edit of a second before the kill
    assert not window.document.is_clean()
    c = window.training.controller
    with np.load(expected) as want:
        assert set(want.files) == set(c.weights)
        for key in want.files:
            np.testing.assert_array_equal(c.weights[key], want[key])
    assert c.normalizer is not None  # the normalisation the weights were trained with
    assert "(recovered)" in window.training.panel.weights_label.text()
    window.document.undo_stack.setClean()
    window.files.shutdown()


def test_the_prompt_says_what_is_restored_and_how_old_it_is(tmp_path):
    from cnnstudio.core.templates import load_template
    from cnnstudio.gui.recovery import Recovered

    graph = load_template("shapes_cnn")
    item = Recovered(tmp_path / "r.json", graph, tmp_path / "work.json", 1000.0)
    text = item.describe(now=1000.0 + 125)
    assert "2 minutes ago" in text and "unsaved changes to work.json" in text
    assert f"({len(graph)} layers)" in text and "no trained weights" in text
    kept = Recovered(tmp_path / "r.json", graph, None, 1000.0, weights={"c1/weight": None},
                     weights_note="trained 3 epochs on shapes")
    assert "its weights: trained 3 epochs on shapes" in kept.describe(now=1003.0)
    assert "3 seconds ago" in kept.describe(now=1003.0) and "never saved" in kept.describe()
    broken = Recovered(tmp_path / "r.json", graph, None, 1000.0,
                       weights_problem="r.npz: not a readable .npz weights file")
    assert "not its weights (r.npz: not a readable" in broken.describe()

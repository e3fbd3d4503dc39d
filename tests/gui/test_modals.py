"""Tests never wait on a modal box: what conftest's ``modal_answers`` guarantees, checked."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from cnnstudio.core.templates import load_template
from cnnstudio.gui.document import Document


def test_a_window_closed_with_unsaved_changes_discards_without_blocking(
        qtbot, settings, modal_answers):
    from cnnstudio.gui.main_window import MainWindow

    w = MainWindow(Document(load_template("shapes_cnn")), settings=settings)
    qtbot.addWidget(w)
    w.show()
    w.document.set_param("c1", "filters", 4)
    assert not w.document.is_clean()
    assert w.close()  # "Save changes?" answered Discard at once
    assert [kind for kind, _ in modal_answers] == ["question"]
    assert "Save the changes" in modal_answers[0][1]


def test_unexpected_blocking_dialogs_fail_loudly_and_file_dialogs_cancel(qtbot, modal_answers):
    with pytest.raises(AssertionError, match="unexpected modal"):
        QDialog().exec()
    with pytest.raises(AssertionError, match="unexpected modal"):
        QMessageBox.critical(None, "Cannot save model", "disk full")
    assert QFileDialog.getOpenFileName(None, "Open model") == ("", "")
    assert QFileDialog.getExistingDirectory(None, "Open dataset folder") == ""
    assert [kind for kind, _ in modal_answers] == ["exec", "critical", "getOpenFileName",
                                                    "getExistingDirectory"]


def test_a_test_can_still_choose_its_own_answer(qtbot, monkeypatch, modal_answers):
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Save))
    assert QMessageBox.question(None, "t", "q") == QMessageBox.StandardButton.Save
    assert modal_answers == []

"""The window figures of ``cnnstudio bench``: what they measure really happens (speed itself is
reported by the bench, never asserted)."""

from __future__ import annotations

import pytest

from cnnstudio.core.templates import load_template
from cnnstudio.gui.latency import cold_start_seconds, edit_latency_ms


@pytest.mark.parametrize("selected", [False, True])
def test_edit_latency_leaves_the_callers_graph_alone(qapp, selected):
    graph = load_template("lenet5")
    before = graph.layer(next(lay.id for lay in graph if lay.type == "Conv2D")).params.copy()
    median, worst = edit_latency_ms(graph, edits=3, selected=selected)
    assert 0 < median <= worst
    assert graph.layer(next(lay.id for lay in graph if lay.type == "Conv2D")).params == before


def test_cold_start_child_exits_once_the_window_is_shown():
    (seconds,) = cold_start_seconds(1)  # raises if the child fails or never shows its window
    assert seconds > 0


def test_cold_start_measures_this_cnnstudio_not_one_in_the_current_folder(tmp_path, monkeypatch):
    # a bench run from inside another checkout must not time that checkout's window
    decoy = tmp_path / "cnnstudio" / "gui"
    decoy.mkdir(parents=True)
    (tmp_path / "cnnstudio" / "__init__.py").write_text("")
    (decoy / "__init__.py").write_text("")
    (decoy / "latency.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(tmp_path)
    (seconds,) = cold_start_seconds(1)
    assert seconds > 0


def test_the_window_figures_leave_no_folders_behind(qapp, tmp_path, monkeypatch):
    """Each bench run made a settings folder for the edit latency and a home for the cold
    starts and never removed them (1,259 of them had piled up in /tmp here)."""
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    edit_latency_ms(load_template("lenet5"), edits=1)
    cold_start_seconds(1)
    assert list(scratch.iterdir()) == []


def test_edit_latency_keeps_the_offscreen_platforms_size_hint_noise_out(qapp, capfd, qtlog):
    """Qt's offscreen platform says "This plugin does not support propagateSizeHints()" each
    time the window's docks change their size hints; the bench printed it twice per line.
    Other Qt messages still get through, and the handler before is back afterwards."""
    from PySide6.QtCore import qWarning

    edit_latency_ms(load_template("lenet5"), edits=1)
    shown = capfd.readouterr().err + "".join(r.message for r in qtlog.records)
    assert "propagateSizeHints" not in shown
    qWarning("a message after the measurement")
    assert any("a message after the measurement" in r.message for r in qtlog.records)

"""A folder dataset without test/ holds out a test split the window shows and lets the user
change (issue 13, point 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training_support import make_window

Image = pytest.importorskip("PIL.Image")


def _folder(root: Path, per_class: int = 10) -> Path:
    for k, name in enumerate(("circles", "squares")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8), 20 * k + i, np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.training.controller.shutdown()


def _load(qtbot, ui, spec: str) -> None:
    failures: list[str] = []
    ui.controller.datasetFailed.connect(failures.append)
    with qtbot.waitSignal(ui.controller.datasetChanged, timeout=30_000):
        ui.panel.choose_dataset(spec)
    assert not failures


def test_held_out_share_is_shown_and_changeable(qtbot, window, tmp_path) -> None:
    ui = window.training
    assert not ui.panel.test_share_row.isVisible()  # digits has its own test split
    _load(qtbot, ui, f"folder:{_folder(tmp_path / 'shapes')}")
    panel, data = ui.panel, ui.controller.dataset
    assert (len(data.x_train), len(data.x_test)) == (16, 4)
    assert panel.test_share_row.isVisible() and panel.test_share.value() == 20
    assert "16 training / 4 test images" in panel.dataset_info.text()
    assert "20% of each class held out" in panel.dataset_info.text()
    with qtbot.waitSignal(ui.controller.datasetChanged, timeout=30_000):
        panel.test_share.setValue(50)  # as arrows or Enter do
    data = ui.controller.dataset
    assert np.bincount(data.y_test).tolist() == [5, 5]
    assert ui.controller.dataset_spec.endswith(",test=0.5")
    assert panel.test_share.value() == 50 and "50% of each class" in panel.dataset_info.text()


def test_folder_with_its_own_test_folder_has_no_share_to_set(qtbot, window, tmp_path) -> None:
    ui = window.training
    _folder(tmp_path / "data" / "train")
    _folder(tmp_path / "data" / "val", per_class=2)
    _load(qtbot, ui, f"folder:{tmp_path / 'data'}")
    assert len(ui.controller.dataset.x_test) == 4
    assert not ui.panel.test_share_row.isVisible()
    assert "the val/ folder" in ui.panel.dataset_info.text()

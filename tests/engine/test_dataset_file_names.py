"""Folder datasets remember which file each image came from, through resizing, so the window can
name a misclassified picture the user may want to find and fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnstudio.engine.datasets import DatasetError
from cnnstudio.engine.datasets.base import Dataset
from cnnstudio.engine.datasets.folder import load_folder
from cnnstudio.engine.datasets.specs import adapt_dataset

Image = pytest.importorskip("PIL.Image")


def _tree(root: Path) -> dict[str, int]:
    """Each image's grey level is unique, so an image can be matched to its file."""
    levels = {}
    for part in ("train", "test"):
        for cls in ("cats", "dogs"):
            for i in range(2 if part == "test" else 3):
                name = f"{part}/{cls}/{cls[0]}{i}.png"
                level = levels[name] = 20 * len(levels) + 5
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((4, 4), level, np.uint8)).save(path)
    return levels


def test_every_image_keeps_its_file_name_in_both_splits(tmp_path: Path) -> None:
    levels = _tree(tmp_path)
    ds = load_folder(tmp_path)
    for part, x in (("train", ds.x_train), ("test", ds.x_test)):
        names = ds.names_of(part)
        assert len(names) == len(x) > 0
        for image, name in zip(x, names, strict=True):
            assert name.startswith(f"{part}/")
            assert round(float(image[0, 0, 0]) * 255) == levels[name]


def test_resizing_to_the_model_keeps_the_names(tmp_path: Path) -> None:
    _tree(tmp_path)
    ds = load_folder(tmp_path)
    fitted = adapt_dataset(ds, 3, (8, 8))
    assert fitted.x_train.shape[1:] == (3, 8, 8)
    assert fitted.file_names == ds.file_names


def test_sources_without_files_have_no_names_and_a_wrong_count_is_refused() -> None:
    x, y = np.zeros((3, 1, 2, 2), np.float32), np.array([0, 1, 0], np.int64)
    plain = Dataset(x, y, x[:1], y[:1], ("a", "b"), "t", "built-in")
    assert plain.names_of("train") == () and plain.names_of("test") == ()
    with pytest.raises(DatasetError, match="3 file names for 4 images"):
        Dataset(x, y, x[:1], y[:1], ("a", "b"), "t", "built-in", file_names=("p", "q", "r"))

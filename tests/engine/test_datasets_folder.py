"""Class-per-folder image collections and the single-image decoder shared with prediction."""

from __future__ import annotations

import re
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.engine.datasets import DatasetError, load_image
from cnnstudio.engine.datasets.folder import load_folder

Image = pytest.importorskip("PIL.Image")


def _png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _grey_tree(root: Path, size: tuple[int, int] = (6, 5)) -> None:
    """cats/ hold dark images, dogs/ bright ones; plus files a loader must skip."""
    for i in range(3):
        _png(root / "cats" / f"c{i}.png", np.full(size, 10 * i, np.uint8))
        _png(root / "dogs" / f"d{i}.png", np.full(size, 200 + 10 * i, np.uint8))
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / "dogs" / "Thumbs.db").write_bytes(b"\x00\x01")
    (root / ".hidden").mkdir()


def test_grey_folder_loads_with_sorted_classes(tmp_path: Path) -> None:
    _grey_tree(tmp_path)
    ds = load_folder(tmp_path, test_fraction=0)  # all of it for training, in file order
    assert ds.class_names == ("cats", "dogs")
    assert ds.x_train.shape == (6, 1, 6, 5) and ds.x_test.shape == (0, 1, 6, 5)
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(ds.x_train[:3, 0, 0, 0], [0, 10 / 255, 20 / 255], atol=1e-6)
    assert ds.x_train[3:].min() >= 200 / 255 - 1e-6


def test_colour_images_make_three_channels_and_resize(tmp_path: Path) -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    _png(tmp_path / "red" / "a.png", red)
    _png(tmp_path / "red" / "b.jpg", red)
    _png(tmp_path / "grey" / "g.png", np.full((4, 4), 128, np.uint8))  # grey among colour
    ds = load_folder(tmp_path, image_size=(5, 7))
    assert ds.image_shape == (3, 5, 7)
    red_images = ds.x_train[ds.y_train == ds.class_names.index("red")]
    assert red_images[:, 0].min() > 0.9 and red_images[:, 1].max() < 0.1
    grey = ds.x_train[ds.y_train == ds.class_names.index("grey")][0]
    np.testing.assert_allclose(grey, 128 / 255, atol=1e-6)  # repeated into all three channels


def test_channels_argument_forces_grey_or_rgb(tmp_path: Path) -> None:
    _grey_tree(tmp_path)
    assert load_folder(tmp_path, channels=3).image_shape == (3, 6, 5)
    blue = np.zeros((4, 4, 3), np.uint8)
    blue[..., 2] = 255
    _png(tmp_path / "cats" / "blue.png", blue)
    grey = load_folder(tmp_path, channels=1, image_size=(4, 4))
    assert grey.image_shape == (1, 4, 4)
    blue_as_grey = grey.x_train[0]  # "blue.png" sorts first in cats/
    np.testing.assert_allclose(blue_as_grey, round(0.114 * 255) / 255, atol=1 / 255)


def test_default_size_is_first_image(tmp_path: Path) -> None:
    _png(tmp_path / "a" / "1.png", np.zeros((9, 4), np.uint8))
    _png(tmp_path / "b" / "1.png", np.zeros((3, 3), np.uint8))
    assert load_folder(tmp_path).image_shape == (1, 9, 4)


def test_train_and_test_subfolders_become_splits(tmp_path: Path) -> None:
    _grey_tree(tmp_path / "train")
    _png(tmp_path / "test" / "dogs" / "x.png", np.full((6, 5), 250, np.uint8))
    ds = load_folder(tmp_path)
    assert ds.class_names == ("cats", "dogs")
    assert len(ds.x_train) == 6 and ds.y_test.tolist() == [1]  # "dogs" keeps its train index
    _png(tmp_path / "test" / "emus" / "e.png", np.zeros((6, 5), np.uint8))
    with pytest.raises(DatasetError, match="class 'emus' is not in the train folder"):
        load_folder(tmp_path)


def _raises_naming(path: Path, problem: str) -> AbstractContextManager:
    return pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: [^\n]*{problem}[^\n]*$")


def test_corrupt_png_names_the_file(tmp_path: Path) -> None:
    _grey_tree(tmp_path)
    bad = tmp_path / "dogs" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with _raises_naming(bad, "not a readable image"):
        load_folder(tmp_path)
    good = tmp_path / "dogs" / "d0.png"
    good.write_bytes(good.read_bytes()[:40])  # truncated mid-stream
    bad.unlink()
    with _raises_naming(good, "not a readable image"):
        load_folder(tmp_path)


def test_empty_or_flat_folders_are_explained(tmp_path: Path) -> None:
    with _raises_naming(tmp_path, "no class folders"):
        load_folder(tmp_path)
    _png(tmp_path / "loose.png", np.zeros((2, 2), np.uint8))
    with _raises_naming(tmp_path, "holds images directly"):
        load_folder(tmp_path)
    _png(tmp_path / "only" / "a.png", np.zeros((2, 2), np.uint8))
    with _raises_naming(tmp_path, "only one class folder"):
        load_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with _raises_naming(tmp_path / "empty", "holds no PNG/JPEG images"):
        load_folder(tmp_path)
    with _raises_naming(tmp_path / "missing", "no such folder"):
        load_folder(tmp_path / "missing")


def test_load_image_for_prediction(tmp_path: Path) -> None:
    pixels = np.arange(12 * 10 * 3, dtype=np.uint8).reshape(12, 10, 3)
    path = _png(tmp_path / "p.png", pixels)
    rgb = load_image(path, 3)
    assert rgb.shape == (3, 12, 10) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb * 255, pixels.transpose(2, 0, 1), atol=1e-3)
    assert load_image(path, 1, (4, 5)).shape == (1, 4, 5)
    assert load_image(path).shape[0] == 3
    grey = _png(tmp_path / "g.png", np.zeros((3, 3), np.uint8))
    assert load_image(grey).shape == (1, 3, 3)
    wide = tmp_path / "w.png"  # 16-bit grey must be scaled, not clipped to white
    Image.fromarray(np.full((2, 2), 32768, np.uint16)).save(wide)
    assert load_image(wide, 1)[0, 0, 0] == pytest.approx(0.5, abs=0.01)
    with _raises_naming(tmp_path / "none.png", "not a readable image"):
        load_image(tmp_path / "none.png", 1)


def test_missing_pillow_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _grey_tree(tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes "from PIL import Image" fail
    with pytest.raises(DatasetError, match=r"pip install cnnstudio\[images\]"):
        load_folder(tmp_path)


def _coloured_tree(root: Path, counts: dict[str, int]) -> None:
    """One class per entry, each image a distinct grey level so it can be told apart."""
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            _png(root / name / f"{i:02d}.png", np.full((4, 4), 40 * k + i, np.uint8))


def _pixels(x: np.ndarray) -> set[int]:
    return {round(float(v) * 255) for v in x[:, 0, 0, 0]}


def test_folder_without_test_split_holds_out_a_stratified_seeded_fifth(tmp_path: Path) -> None:
    """Issue 13: "120 training / 0 test images" scored the training images; now 20% of each
    class is held out, the same way every time, and the description says so."""
    _coloured_tree(tmp_path, {"a": 10, "b": 20, "c": 5})
    ds = load_folder(tmp_path)
    assert np.bincount(ds.y_test).tolist() == [2, 4, 1]  # 20% of each class
    assert np.bincount(ds.y_train).tolist() == [8, 16, 4]
    assert not _pixels(ds.x_train) & _pixels(ds.x_test)  # no image in both
    assert _pixels(ds.x_train) | _pixels(ds.x_test) == _pixels(load_folder(
        tmp_path, test_fraction=0).x_train)
    again = load_folder(tmp_path)
    np.testing.assert_array_equal(again.x_test, ds.x_test)  # seeded: the same split
    other = load_folder(tmp_path, seed=1)
    assert _pixels(other.x_test) != _pixels(ds.x_test)
    assert "20% of each class held out" in ds.summary() and "seed 0" in ds.summary()
    assert "28 train / 7 test images" in ds.summary()


def test_held_out_share_is_changeable_and_every_class_keeps_a_training_image(tmp_path: Path
                                                                             ) -> None:
    _coloured_tree(tmp_path, {"a": 10, "b": 2})
    ds = load_folder(tmp_path, test_fraction=0.5)
    assert np.bincount(ds.y_test).tolist() == [5, 1]
    ds = load_folder(tmp_path, test_fraction=0.9)
    assert np.bincount(ds.y_train).tolist() == [1, 1]  # never a class with nothing to learn
    with pytest.raises(DatasetError, match="test share"):
        load_folder(tmp_path, test_fraction=1.0)


@pytest.mark.parametrize("test_name", ["test", "val", "VAL"])
def test_train_with_test_or_val_subfolder_is_used_as_is(tmp_path: Path, test_name: str) -> None:
    _coloured_tree(tmp_path / "train", {"a": 5, "b": 5})
    _coloured_tree(tmp_path / test_name, {"a": 2, "b": 1})
    ds = load_folder(tmp_path)
    assert len(ds.x_train) == 10 and np.bincount(ds.y_test).tolist() == [2, 1]
    assert f"the {test_name}/ folder" in ds.summary()


def test_train_folder_alone_gets_a_held_out_split(tmp_path: Path) -> None:
    _coloured_tree(tmp_path / "train", {"a": 5, "b": 5})
    ds = load_folder(tmp_path)
    assert ds.class_names == ("a", "b")
    assert np.bincount(ds.y_test).tolist() == [1, 1]


def test_folder_spec_options_set_the_share_and_seed(tmp_path: Path) -> None:
    from cnnstudio.engine.datasets import load_dataset

    root = tmp_path / "pics, 2024"  # a comma in the path is not an option
    _coloured_tree(root, {"a": 10, "b": 10})
    assert len(load_dataset(f"folder:{root}").x_test) == 4
    ds = load_dataset(f"folder:{root},test=0.3,seed=4")
    assert len(ds.x_test) == 6 and "30% of each class held out (seed 4" in ds.summary()
    assert len(load_dataset(f"folder:{root},test=0").x_test) == 0
    for bad in ("test=1", "test=-0.1", "test=abc", "seed=x"):
        with pytest.raises(DatasetError, match="test must be"):
            load_dataset(f"folder:{root},{bad}")


def test_cli_training_says_how_the_test_split_was_made(tmp_path: Path, capsys) -> None:
    from cnnstudio.cli import main
    from cnnstudio.core import modelfile
    from cnnstudio.core.graph import Graph

    _coloured_tree(tmp_path / "pics", {"a": 10, "b": 10})
    g = Graph("tiny")
    g.add_layer("Input", {"channels": 1, "height": 4, "width": 4}, layer_id="in")
    g.add_layer("Flatten", layer_id="f", inputs=["in"])
    g.add_layer("Dense", {"units": 2}, layer_id="out", inputs=["f"])
    modelfile.save(g, tmp_path / "m.json")
    assert main(["train", str(tmp_path / "m.json"), "--dataset",
                 f"folder:{tmp_path / 'pics'},test=0.3", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "14 train / 6 test images" in out and "30% of each class held out" in out
    assert "test: loss" in out and "(6 images)" in out  # scored on the held-out images only


def test_decoding_reports_progress_and_stops_when_asked(tmp_path: Path) -> None:
    """A folder of thousands of photos decodes for a while: the window shows how far it is
    and can stop it (closing, another dataset chosen) between images."""
    from cnnstudio.engine.datasets import folder
    from cnnstudio.engine.datasets.base import DatasetCancelled

    for i in range(3 * folder._REPORT_EVERY):
        _png(tmp_path / ("a" if i % 2 else "b") / f"{i}.png", np.full((4, 4), i, np.uint8))
    seen: list[tuple[int, int]] = []
    ds = load_folder(tmp_path, test_fraction=0.0, progress=lambda d, t: seen.append((d, t)))
    total = 3 * folder._REPORT_EVERY
    assert len(ds.x_train) == total and seen[-1][1] == total and len(seen) == 2
    seen.clear()
    with pytest.raises(DatasetCancelled, match="loading was stopped"):
        load_folder(tmp_path, stop=lambda: len(seen) >= 1,
                    progress=lambda d, t: seen.append((d, t)))
    assert len(seen) == 1

"""The common dataset pieces: the Dataset's own checks, validation splits, normalisation and the
shared array conversions every loader relies on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnstudio.engine.datasets import Dataset, DatasetError, Normalizer, split_validation
from cnnstudio.engine.datasets.arrays import (
    change_channels,
    labels_to_int64,
    pixels_to_unit,
    resize_images,
    to_nchw,
)


def _dataset(**overrides: object) -> Dataset:
    fields: dict[str, object] = {
        "x_train": np.zeros((4, 1, 3, 3), np.float32),
        "y_train": np.array([0, 1, 0, 1], np.int64),
        "x_test": np.zeros((0, 1, 3, 3), np.float32),
        "y_test": np.zeros(0, np.int64),
        "class_names": ("a", "b"),
        "name": "tiny",
        "source": "/data/tiny.npz",
    }
    fields.update(overrides)
    return Dataset(**fields)  # type: ignore[arg-type]


def test_dataset_properties() -> None:
    ds = _dataset(x_train=np.zeros((4, 3, 5, 7), np.float32), x_test=np.zeros((0, 3, 5, 7), "f4"))
    assert ds.image_shape == (3, 5, 7)
    assert ds.num_classes == 2
    assert "4 train / 0 test" in ds.summary()


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"y_train": np.array([0, 1, 0], np.int64)}, "4 train images but 3 train labels"),
        ({"y_train": np.array([0, 1, 2, 1], np.int64)}, "labels must be in 0..1"),
        ({"y_train": np.array([0, -1, 0, 1], np.int64)}, "labels must be in 0..1"),
        ({"x_train": np.zeros((4, 1, 3, 3), np.float64)}, "x_train must be a float32"),
        ({"y_train": np.zeros(4, np.int32)}, "y_train must be an int64"),
        ({"x_test": np.zeros((0, 3, 3, 3), np.float32)}, "test images are [3, 3, 3]"),
        ({"class_names": ()}, "no classes"),
    ],
)
def test_dataset_rejects_inconsistent_arrays(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(DatasetError, match="^/data/tiny.npz: ") as info:
        _dataset(**overrides)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_split_validation_is_a_deterministic_partition() -> None:
    x = np.arange(100, dtype=np.float32).reshape(100, 1, 1, 1)
    y = np.arange(100, dtype=np.int64) % 7
    parts = split_validation(x, y, 0.2, np.random.default_rng(5))
    x_tr, y_tr, x_val, y_val = parts
    assert (len(x_tr), len(x_val)) == (80, 20)
    ids = np.concatenate([x_tr.ravel(), x_val.ravel()])
    assert sorted(ids.tolist()) == list(range(100))  # nothing lost, nothing duplicated
    assert np.array_equal(y_tr, x_tr.ravel().astype(np.int64) % 7)  # labels follow images
    again = split_validation(x, y, 0.2, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = split_validation(x, y, 0.2, np.random.default_rng(6))
    assert not np.array_equal(x_val, other[2])


def test_split_validation_edges() -> None:
    x = np.zeros((3, 1, 2, 2), np.float32)
    y = np.zeros(3, np.int64)
    assert len(split_validation(x, y, 0.0, np.random.default_rng(0))[2]) == 0
    assert len(split_validation(x, y, 0.99, np.random.default_rng(0))[0]) == 1  # keeps one
    with pytest.raises(ValueError, match="fraction"):
        split_validation(x, y, 1.0, np.random.default_rng(0))


def test_normalizer_standardises_each_channel() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal([[[2.0]], [[-1.0]], [[0.5]]], [[[3.0]], [[0.5]], [[1.0]]], (200, 3, 4, 4))
    norm = Normalizer.fit(x.astype(np.float32))
    out = norm.apply(x.astype(np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    np.testing.assert_allclose(norm.invert(out), x, atol=1e-4)


def test_normalizer_uses_training_statistics_for_test_data() -> None:
    train = np.full((10, 1, 2, 2), 0.2, np.float32)
    train[::2] = 0.6  # mean 0.4, std 0.2
    test = np.full((3, 1, 2, 2), 0.8, np.float32)
    norm = Normalizer.fit(train)
    np.testing.assert_allclose(norm.apply(test), 2.0, atol=1e-5)  # (0.8 - 0.4) / 0.2


def test_normalizer_round_trips_through_json() -> None:
    x = np.random.default_rng(1).random((20, 3, 5, 5), dtype=np.float32)
    norm = Normalizer.fit(x)
    back = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert np.array_equal(back.mean, norm.mean) and np.array_equal(back.std, norm.std)
    assert np.array_equal(back.apply(x), norm.apply(x))
    assert norm.apply(x[0]).shape == (3, 5, 5)  # a single image, as in prediction


def test_normalizer_constant_channel_and_bad_input() -> None:
    norm = Normalizer.fit(np.ones((4, 1, 2, 2), np.float32))
    assert np.array_equal(norm.apply(np.ones((1, 1, 2, 2), np.float32)), np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="1-channel"):
        norm.apply(np.ones((1, 3, 2, 2), np.float32))
    for bad in ({"mean": [0.0]}, {"mean": [0.0], "std": [0.0]}, {"mean": ["x"], "std": [1]}):
        with pytest.raises(ValueError):
            Normalizer.from_dict(bad)


def test_pixels_to_unit_scales_by_bit_depth() -> None:
    assert pixels_to_unit(np.array([0, 255], np.uint8), "f").tolist() == [0.0, 1.0]
    assert pixels_to_unit(np.array([0, 51], np.int64), "f").tolist() == pytest.approx([0, 0.2])
    assert pixels_to_unit(np.array([0, 65535], np.uint16), "f").tolist() == [0.0, 1.0]
    assert pixels_to_unit(np.array([0.25], np.float64), "f").dtype == np.float32
    with pytest.raises(DatasetError, match="^f: .*-3..4"):
        pixels_to_unit(np.array([-3, 4]), "f")
    with pytest.raises(DatasetError, match="NaN"):
        pixels_to_unit(np.array([np.nan]), "f")


def test_labels_to_int64_checks_values() -> None:
    assert labels_to_int64(np.array([[1], [2]], np.uint8), "f").tolist() == [1, 2]
    assert labels_to_int64(np.array([1.0, 0.0]), "f").dtype == np.int64
    with pytest.raises(DatasetError, match="negative"):
        labels_to_int64(np.array([0, -2]), "f")
    with pytest.raises(DatasetError, match="whole numbers"):
        labels_to_int64(np.array([0.5]), "f")
    with pytest.raises(DatasetError, match="out of range for 3 classes"):
        labels_to_int64(np.array([0, 3]), "f", num_classes=3)


def test_to_nchw_detects_channels_last() -> None:
    assert to_nchw(np.zeros((2, 5, 6)), "f").shape == (2, 1, 5, 6)
    assert to_nchw(np.zeros((2, 5, 6, 3)), "f").shape == (2, 3, 5, 6)
    assert to_nchw(np.zeros((2, 3, 5, 6)), "f").shape == (2, 3, 5, 6)
    assert to_nchw(np.zeros((2, 1, 5, 1)), "f").shape == (2, 1, 5, 1)  # ambiguous: first wins
    x = np.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3)
    assert np.array_equal(to_nchw(x, "f")[1, 2], x[1, :, :, 2])
    with pytest.raises(DatasetError, match="got shape \\[5\\]"):
        to_nchw(np.zeros(5), "f")


def test_change_channels() -> None:
    grey = np.random.default_rng(0).random((2, 1, 3, 3), dtype=np.float32)
    rgb = change_channels(grey, 3, "f")
    assert rgb.shape == (2, 3, 3, 3) and np.array_equal(rgb[:, 2], grey[:, 0])
    np.testing.assert_allclose(change_channels(rgb, 1, "f"), grey, atol=1e-6)  # luma sums to 1
    red = np.zeros((1, 3, 1, 1), np.float32)
    red[0, 0] = 1.0
    assert change_channels(red, 1, "f")[0, 0, 0, 0] == pytest.approx(0.299)


def test_resize_images_matches_pillow_bilinear() -> None:
    image_module = pytest.importorskip("PIL.Image")
    x = np.random.default_rng(3).random((1, 1, 6, 8), dtype=np.float32)
    for size in ((12, 16), (9, 5), (6, 8)):
        ours = resize_images(x, size)[0, 0]
        img = image_module.fromarray(x[0, 0], mode="F")
        theirs = np.asarray(img.resize((size[1], size[0]), image_module.Resampling.BILINEAR))
        if size[0] >= 6 and size[1] >= 8:  # Pillow anti-aliases when shrinking; we do not
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
        assert ours.shape == size
    flat = np.full((2, 3, 4, 4), 0.3, np.float32)
    np.testing.assert_allclose(resize_images(flat, (7, 2)), 0.3, atol=1e-6)

"""Spec strings (what users type) map to the right loader, and results fit the model's input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnstudio.engine.datasets import (
    Dataset,
    DatasetError,
    adapt_dataset,
    describe_specs,
    load_dataset,
)


def test_shapes_defaults_and_options() -> None:
    ds = load_dataset("shapes")
    assert ds.name == "shapes" and ds.image_shape == (1, 32, 32) and ds.num_classes == 8
    custom = load_dataset("shapes: classes=circle+cross, size=20x24, channels=3, train=10, test=2")
    assert custom.class_names == ("circle", "cross")
    assert custom.image_shape == (3, 20, 24) and len(custom.x_train) == 10
    assert load_dataset("shapes:classes=3,train=6,test=0").class_names == (
        "circle",
        "square",
        "triangle",
    )


def test_shapes_follow_the_model_input_and_the_rng() -> None:
    ds = load_dataset("shapes:train=8,test=0", image_size=(28, 28), channels=3)
    assert ds.image_shape == (3, 28, 28)
    a = load_dataset("shapes:train=8,test=0", rng=np.random.default_rng(1))
    b = load_dataset("shapes:train=8,test=0", rng=np.random.default_rng(2))
    assert not np.array_equal(a.x_train, b.x_train)
    same = load_dataset("shapes:train=8,test=0")
    assert np.array_equal(same.x_train, load_dataset("shapes:train=8,test=0").x_train)
    seeded = [
        load_dataset("shapes:train=8,test=0,seed=5", rng=np.random.default_rng(s)) for s in (1, 2)
    ]
    assert np.array_equal(seeded[0].x_train, seeded[1].x_train)  # seed= in the spec wins


def test_digits_adapted_to_a_bigger_rgb_model() -> None:
    ds = load_dataset("digits", image_size=(16, 16), channels=3)
    assert ds.image_shape == (3, 16, 16) and ds.num_classes == 10
    assert np.array_equal(ds.x_train[:, 0], ds.x_train[:, 2])


def test_path_forms_dispatch(tmp_path: Path) -> None:
    npz = tmp_path / "d.npz"
    np.savez(npz, x_train=np.zeros((2, 4, 4), np.uint8), y_train=[0, 1])
    assert load_dataset(f"npz:{npz}").image_shape == (1, 4, 4)
    assert load_dataset(f"mnist:{npz}").class_names == tuple("0123456789")
    assert load_dataset(f"fashion-mnist:{npz}").class_names[0] == "T-shirt/top"
    pytest.importorskip("PIL.Image")
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "imgs" / name / "1.png")
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}", image_size=(3, 3), channels=3)
    assert ds.image_shape == (3, 3, 3)
    with pytest.raises(DatasetError, match="no CIFAR-10 binary batches"):
        load_dataset(f"cifar10:{tmp_path}")


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("imagenet", "unknown dataset; use one of: shapes"),
        ("mnist", "needs a path, as in mnist:PATH"),
        ("npz:  ", "needs a path"),
        ("digits:extra", "takes no argument"),
        ("shapes:size", "must look like key=value"),
        ("shapes:colour=red", "unknown option 'colour'"),
        ("shapes:train=many", "bad value for train"),
        ("shapes:classes=circle+star", "unknown shape 'star'"),
        ("shapes:size=4", "at least 16x16"),
    ],
)
def test_bad_specs(spec: str, problem: str) -> None:
    with pytest.raises(DatasetError, match=problem) as info:
        load_dataset(spec)
    assert "\n" not in str(info.value)


def test_missing_paths_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for form in ("mnist", "cifar10", "folder", "npz"):
        with pytest.raises(DatasetError, match=f"^{missing}"):
            load_dataset(f"{form}:{missing}")


def test_bad_channels_request() -> None:
    with pytest.raises(DatasetError, match="channels must be 1 or 3"):
        load_dataset("digits", channels=2)


def test_describe_specs_lists_every_accepted_form() -> None:
    forms = describe_specs()
    assert all(usage and description for usage, description in forms)
    for usage, _ in forms:
        name = usage.split(":")[0].split("[")[0]
        try:
            load_dataset(name)
        except DatasetError as exc:
            assert "unknown dataset" not in str(exc)
    assert {u.split(":")[0].split("[")[0] for u, _ in forms} >= {
        "shapes",
        "digits",
        "mnist",
        "cifar10",
        "folder",
        "npz",
    }


def test_adapt_dataset_keeps_labels_and_returns_same_when_nothing_to_do() -> None:
    ds = Dataset(
        x_train=np.random.default_rng(0).random((3, 3, 4, 4), dtype=np.float32),
        y_train=np.array([0, 1, 0]),
        x_test=np.zeros((0, 3, 4, 4), np.float32),
        y_test=np.zeros(0, np.int64),
        class_names=("x", "y"),
        name="t",
        source="t.npz",
    )
    assert adapt_dataset(ds, 3, (4, 4)) is ds
    small = adapt_dataset(ds, 1, (2, 2))
    assert small.image_shape == (1, 2, 2) and small.x_test.shape == (0, 1, 2, 2)
    assert np.array_equal(small.y_train, ds.y_train) and small.class_names == ds.class_names


def test_shapes_for_a_tiny_input_are_drawn_larger_and_resized():
    """An 8x8 Input (the digits template) can still train on generated shapes."""
    data = load_dataset("shapes:train=40,test=8", channels=1, image_size=(8, 8))
    assert data.image_shape == (1, 8, 8)
    assert data.x_train.shape == (40, 1, 8, 8)
    assert float(data.x_train.max()) > 0.0  # something was drawn

"""Knowing what a dataset spec would generate before generating it: how the window decides to
make a dataset at once or only when asked, and refuses one that would not fit in memory."""

from __future__ import annotations

import pytest

from cnnstudio.engine.datasets import DatasetError, load_dataset
from cnnstudio.engine.datasets.base import DatasetCancelled
from cnnstudio.engine.datasets.specs import planned_generation
from cnnstudio.engine.memory import LIMIT_ENV


def test_the_plan_is_what_loading_makes() -> None:
    spec = "shapes:train=20,test=4,seed=2"
    plan = planned_generation(spec, image_size=(40, 36), channels=3)
    data = load_dataset(spec, image_size=(40, 36), channels=3)
    assert plan is not None and plan.refusal is None
    assert plan.count == len(data.x_train) + len(data.x_test)
    assert plan.shape == data.image_shape
    assert plan.bytes == data.x_train.nbytes + data.x_test.nbytes
    assert "24 images of 3x40x36" in plan.describe()


def test_the_default_shapes_at_a_resnet_input_are_two_gigabytes() -> None:
    plan = planned_generation("shapes", image_size=(224, 224), channels=3)
    assert plan is not None
    assert (plan.count, plan.shape) == (3600, (3, 224, 224))
    assert plan.describe() == "3,600 images of 3x224x224 (2.0 GB)"


@pytest.mark.parametrize("spec", ["digits", "mnist:/nowhere", "shapes:bogus=1"])
def test_data_read_from_files_or_a_bad_spec_has_no_plan(spec: str) -> None:
    assert planned_generation(spec, image_size=(224, 224), channels=3) is None


def test_over_the_memory_budget_the_plan_and_the_load_refuse_in_the_same_words(monkeypatch
                                                                                ) -> None:
    monkeypatch.setenv(LIMIT_ENV, "100MB")
    plan = planned_generation("shapes", image_size=(224, 224), channels=3)
    assert plan is not None and plan.refusal is not None
    assert plan.refusal.startswith("shapes: generating 3x224x224 needs 2.0 GB for 3,600 images")
    with pytest.raises(DatasetError) as caught:
        load_dataset("shapes", image_size=(224, 224), channels=3)
    assert str(caught.value) == plan.refusal


def test_a_load_told_to_stop_ends_without_a_dataset() -> None:
    with pytest.raises(DatasetCancelled):
        load_dataset("shapes:train=40,test=0", stop=lambda: True)
    with pytest.raises(DatasetCancelled):  # a file's loader does not stop midway; after it, yes
        load_dataset("digits", channels=3, stop=lambda: True)


def test_resizing_a_chunk_at_a_time_gives_the_same_images_and_can_stop() -> None:
    from cnnstudio.engine.datasets.arrays import change_channels, resize_images
    from cnnstudio.engine.datasets.specs import adapt_dataset

    digits = load_dataset("digits")
    seen: list[tuple[int, int]] = []
    fitted = adapt_dataset(digits, 3, (64, 48), progress=lambda d, t: seen.append((d, t)))
    whole = resize_images(change_channels(digits.x_train, 3, "digits"), (64, 48))
    assert fitted.x_train.shape == (len(digits.x_train), 3, 64, 48)
    assert fitted.x_train.dtype == whole.dtype and (fitted.x_train == whole).all()
    assert len(seen) > 2 and seen[-1] == (1797, 1797)
    with pytest.raises(DatasetCancelled, match="resizing was stopped"):
        adapt_dataset(digits, 3, (64, 48), stop=lambda: True)

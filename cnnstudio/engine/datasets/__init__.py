"""Datasets for training and evaluation: every source becomes one ``Dataset`` of float32 NCHW
images in [0, 1] with int64 labels. Pick one with a spec string through ``load_dataset``.

One module per source (shapes, digits, mnist, cifar10, folder, npz); ``base`` holds the common
types, ``arrays`` the shared conversions, ``normalize`` the per-channel standardiser and
``specs`` the table of spec forms.
"""

from cnnstudio.engine.datasets.base import Dataset, DatasetError, split_validation
from cnnstudio.engine.datasets.folder import load_image
from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.datasets.shapes import SHAPE_KINDS, ShapesConfig, make_shapes
from cnnstudio.engine.datasets.specs import adapt_dataset, describe_specs, load_dataset

__all__ = [
    "SHAPE_KINDS",
    "Dataset",
    "DatasetError",
    "Normalizer",
    "ShapesConfig",
    "adapt_dataset",
    "describe_specs",
    "load_dataset",
    "load_image",
    "make_shapes",
    "split_validation",
]

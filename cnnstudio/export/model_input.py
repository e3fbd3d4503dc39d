"""What an exported model takes and gives: the normalisation and class names of its weights.

A model trained in cnnstudio expects standardised images, ``(x - mean[c]) / std[c]`` with the
training data's statistics (stored in the weights file's ``_meta/`` arrays). By default exports
put that step inside the model, so they take what ``cnnstudio predict`` takes: images in [0, 1].
Both exporters read the same description from here, so ONNX and PyTorch never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cnnstudio.engine.datasets.normalize import Normalizer
from cnnstudio.engine.weights import WeightsError, class_names_from_meta, normalizer_from_meta
from cnnstudio.export.registry import ExportError

__all__ = ["ModelInput", "model_input"]


@dataclass(frozen=True)
class ModelInput:
    """``normalizer``: the training standardisation, or None (the model takes raw pixels).
    ``inside``: whether the exported model applies it itself (the default) or leaves it to the
    caller. ``class_names``: one name per output, or None when the weights do not record them."""

    normalizer: Normalizer | None = None
    class_names: tuple[str, ...] | None = None
    inside: bool = True

    @property
    def standardises(self) -> bool:
        """True when the exported model starts with ``(x - mean) / std``."""
        return self.inside and self.normalizer is not None

    def check_channels(self, channels: int) -> None:
        """ExportError when the normalisation is for another number of channels than the
        model's Input takes (weights from a different model's training)."""
        if self.normalizer is not None and self.normalizer.channels != channels:
            raise ExportError([f"error: the weights' normalisation is for "
                               f"{self.normalizer.channels} channels, the model's Input takes "
                               f"{channels}"])

    def input_text(self) -> str:
        """One line saying what to feed the exported model."""
        if self.normalizer is None:
            return "images in [0, 1], channels first (the weights record no normalisation)"
        if self.inside:
            return ("images in [0, 1], channels first; the model standardises them itself "
                    "((x - norm_mean) / norm_std per channel)")
        mean = ", ".join(f"{v:.4g}" for v in self.normalizer.mean)
        std = ", ".join(f"{v:.4g}" for v in self.normalizer.std)
        return (f"images standardised as in training: (x - [{mean}]) / [{std}] per channel, "
                "x in [0, 1], channels first")

    def metadata(self) -> dict[str, str]:
        """String key/value pairs for ONNX ``metadata_props`` (JSON for the lists)."""
        meta = {"input": self.input_text(),
                "normalization_inside": json.dumps(self.standardises)}
        if self.normalizer is not None:
            meta["norm_mean"] = json.dumps([float(v) for v in self.normalizer.mean])
            meta["norm_std"] = json.dumps([float(v) for v in self.normalizer.std])
        if self.class_names is not None:
            meta["class_names"] = json.dumps(list(self.class_names))
        return meta


def model_input(meta: Mapping[str, np.ndarray], inside: bool = True,
                source: str = "weights file") -> ModelInput:
    """The ModelInput described by a weights file's meta arrays (any other keys are ignored);
    ExportError when the stored normalisation is unusable."""
    try:
        normalizer = normalizer_from_meta(meta, source)
    except WeightsError as exc:
        raise ExportError([f"error: {exc}"]) from None
    return ModelInput(normalizer=normalizer, class_names=class_names_from_meta(meta),
                      inside=inside)

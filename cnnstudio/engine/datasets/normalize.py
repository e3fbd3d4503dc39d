"""Per-channel standardisation, fitted on training data and replayed everywhere else.

A network trained on standardised inputs gives nonsense on raw ones, so the exact numbers used
in training must travel with the weights and be applied identically in evaluation and
prediction. Fitting on the training split only keeps test data from leaking into training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Normalizer"]

#: A channel whose spread is below this is constant; dividing by it would blow up noise.
_MIN_STD = 1e-6


@dataclass(frozen=True, eq=False)
class Normalizer:
    """``apply(x) = (x - mean[c]) / std[c]`` for each channel ``c`` of ``[N, C, H, W]`` images.

    Build it with ``Normalizer.fit(x_train)``; save it with ``to_dict()`` (plain JSON-ready
    lists) beside the weights and restore it with ``Normalizer.from_dict(d)``.
    """

    mean: np.ndarray  # float32 [C]
    std: np.ndarray  # float32 [C], every entry > 0

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if mean.shape != std.shape or mean.size == 0:
            raise ValueError(
                f"normaliser needs one mean and one std per channel, got {mean.size} means "
                f"and {std.size} stds"
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
            raise ValueError("normaliser means must be finite and stds finite and positive")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalizer:
        """Measure each channel's mean and standard deviation over all images and pixels.

        A constant channel gets std 1 so it maps to zero instead of dividing by zero.
        """
        if x.ndim != 4 or len(x) == 0:
            raise ValueError(f"fit needs a non-empty [N, C, H, W] array, got {list(x.shape)}")
        data = x.astype(np.float64, copy=False)
        mean = data.mean(axis=(0, 2, 3))
        std = data.std(axis=(0, 2, 3))
        std = np.where(std < _MIN_STD, 1.0, std)
        return cls(mean=mean, std=std)

    @classmethod
    def identity(cls, channels: int) -> Normalizer:
        """A normaliser that leaves pixels unchanged, for runs that switch normalisation off."""
        return cls(mean=np.zeros(channels), std=np.ones(channels))

    @property
    def channels(self) -> int:
        return int(self.mean.size)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Standardise ``[N, C, H, W]`` or one ``[C, H, W]`` image; returns a new float32 array."""
        if x.ndim not in (3, 4) or x.shape[-3] != self.channels:
            raise ValueError(
                f"normaliser was fitted on {self.channels}-channel images, got shape "
                f"{list(x.shape)}"
            )
        shape = (-1, 1, 1)
        out = (x.astype(np.float32) - self.mean.reshape(shape)) / self.std.reshape(shape)
        return out.astype(np.float32, copy=False)

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Undo ``apply``, e.g. to show a standardised image to a person."""
        shape = (-1, 1, 1)
        return (x * self.std.reshape(shape) + self.mean.reshape(shape)).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists (JSON and npz friendly); floats round-trip float32 values exactly."""
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Normalizer:
        """Rebuild from ``to_dict()`` output; raises ValueError on a malformed mapping."""
        if not isinstance(data, Mapping) or "mean" not in data or "std" not in data:
            raise ValueError("normaliser data needs 'mean' and 'std' lists")
        try:
            mean = np.asarray(data["mean"], dtype=np.float64)
            std = np.asarray(data["std"], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"normaliser 'mean'/'std' must be lists of numbers ({exc})") from None
        if mean.ndim != 1 or std.ndim != 1:
            raise ValueError("normaliser 'mean' and 'std' must be flat lists of numbers")
        return cls(mean=mean, std=std)

"""What part a layer type plays, for the checks that reason about how a model behaves.

The model-level warnings (two weight layers that collapse into one linear map) and the training
health figures (dead rectifiers, saturated squashing functions) need to know which types are
weighted linear maps, which are rectifiers, which saturate and which pass a signal on linearly.
They ask here, and only here, so when the catalogue carries these roles this one module reads
them from it. Unknown types (new activations) are in no set: the checks then say nothing rather
than something wrong.
"""

from __future__ import annotations

__all__ = ["LINEAR_PASS", "RECTIFIERS", "SATURATING", "WEIGHTED_LINEAR", "is_rectifier",
           "is_saturating"]

#: Layers whose output is a learned linear (affine) map of their input.
WEIGHTED_LINEAR = frozenset({"Conv2D", "Dense"})
#: Layers that pass a signal on through a fixed or per-channel affine map (BatchNorm is one at
#: inference), so a weighted layer on each side of them still collapses into one linear map.
LINEAR_PASS = frozenset({"Flatten", "Dropout", "SpatialDropout2D", "BatchNorm", "AvgPool2D",
                         "GlobalAvgPool2D"})
#: Activations whose units output zero (or a small slope) for negative inputs: they can "die".
RECTIFIERS = frozenset({"ReLU", "LeakyReLU"})
#: Squashing activations, with the output magnitude beyond which the derivative is under 1% of
#: its peak (sigmoid: s(1-s) < 0.0025 when s < 0.0025 or s > 0.9975; tanh: 1 - t^2 < 0.01).
SATURATING: dict[str, tuple[float, float]] = {"Sigmoid": (0.0025, 0.9975),
                                              "Tanh": (-0.995, 0.995)}


def is_rectifier(type_name: str) -> bool:
    return type_name in RECTIFIERS


def is_saturating(type_name: str) -> bool:
    return type_name in SATURATING

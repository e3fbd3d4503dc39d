"""Inference passes through a chain of layers, planned once per input shape.

A prediction of one image (the Why view, ``cnnstudio predict``, the feature-map views) does
little arithmetic: on LeNet-5 each layer's NumPy work takes a few microseconds, and the general
pass spent several times that per layer on Python -- checking arguments, padding into new
arrays, making strided views, planning chunks, the bookkeeping of which outputs a graph still
needs. A :class:`PreparedPass` does that work once for one input shape: each layer becomes a
step (:meth:`cnnstudio.engine.layers.LayerImpl.prepare`) with its buffers and views made, and a
pass is the steps called one after the other. The steps compute exactly what the layers'
forward passes compute, in the same order, so results are identical to the last bit.

Only chains (each layer reading the one before it) are prepared; a graph with branches up to the
requested layer takes the general pass. The steps' buffers are shared by every call, so a
network keeps one prepared pass per thread (see :meth:`cnnstudio.engine.network.Network`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnstudio.engine.layers import LayerImpl, Step


class PreparedPass:
    """The inference forward of a chain of layers for one input shape.

    ``steps``: (layer id, step) in order, the first reading the network's input. ``keep``: the
    ids whose outputs a call returns (the last layer's always is)."""

    def __init__(self, steps: Sequence[tuple[str, Step]], keep: frozenset[str]) -> None:
        self.steps = list(steps)
        self.keep = keep

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The kept layers' outputs for ``x`` (the kernels' layout)."""
        kept: dict[str, np.ndarray] = {}
        for lid, step in self.steps:
            x = step(x)
            if lid in self.keep:
                kept[lid] = x
        return kept


def prepare_chain(order: Sequence[str], inputs: dict[str, list[str]],
                  layers: dict[str, LayerImpl], stop_at: str, keep: frozenset[str],
                  batch: int, rng: np.random.Generator) -> PreparedPass | None:
    """The pass from ``order[0]`` (the Input layer) to ``stop_at``, or None when the layers on
    the way are not a chain.

    A step may overwrite its input in place (a ReLU after a convolution) when that input is a
    fresh array of the layer before (``output_reusable``), not the caller's image and not an
    output the caller keeps: the same rule as the general pass, which in a chain lets the only
    consumer of an output reuse it."""
    path = list(order[: order.index(stop_at) + 1])
    links = list(zip(path, path[1:], strict=False))
    if not links or any(inputs[lid] != [before] for before, lid in links):
        return None
    steps: list[tuple[str, Step]] = []
    for before, lid in links:
        inplace = (before != path[0] and before not in keep
                   and layers[before].output_reusable)
        steps.append((lid, layers[lid].prepare(batch, inplace, rng)))
    return PreparedPass(steps, keep | {stop_at})

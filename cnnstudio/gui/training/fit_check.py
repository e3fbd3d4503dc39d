"""Does the data fit the model? The Input block against the images, the last layer against the
classes, each with the one edit that would make them fit.

The engine refuses such a run too, but only as a message; here each mismatch names the block
and the parameter values to set, so the panel can offer it as a button (one undoable edit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnstudio.core.graph import Graph
from cnnstudio.core.validator import ValidationResult
from cnnstudio.engine.datasets.base import Dataset

__all__ = ["Mismatch", "data_mismatches", "logits_layer"]


@dataclass(frozen=True)
class Mismatch:
    """One disagreement; ``params`` set on ``layer_id`` fix it (None: no one-click fix)."""

    message: str
    layer_id: str | None = None
    params: dict[str, Any] | None = field(default=None)
    fix_label: str = ""


def logits_layer(graph: Graph, result: ValidationResult) -> str | None:
    """The layer whose outputs are the class scores: the output layer, or the input of a final
    Softmax (the engine trains it fused with the loss)."""
    out = result.output_id
    if out is None:
        return None
    layer = graph.layer(out)
    if layer.type == "Softmax" and layer.inputs:
        return layer.inputs[0]
    return out


def data_mismatches(graph: Graph, result: ValidationResult, dataset: Dataset) -> list[Mismatch]:
    """Every way ``dataset`` does not fit the model; empty when training can start."""
    found: list[Mismatch] = []
    c, h, w = dataset.image_shape
    shape_text = f"{c}x{h}x{w}"
    inputs = [lid for lid in result.input_ids if lid in graph]
    if len(inputs) == 1:
        lid = inputs[0]
        p = graph.layer(lid).params
        have = (p.get("channels"), p.get("height"), p.get("width"))
        if have != (c, h, w):
            found.append(Mismatch(
                f"The Input block '{lid}' takes {have[0]}x{have[1]}x{have[2]} images, but "
                f"{dataset.name} images are {shape_text}.",
                lid, {"channels": c, "height": h, "width": w},
                f"Set Input to {shape_text}"))
    logits = logits_layer(graph, result)
    report = result.layers.get(logits) if logits else None
    shape = report.output_shape if report is not None else None
    n = dataset.num_classes
    if logits is not None and shape is not None:
        layer = graph.layer(logits)
        if len(shape) != 1:
            found.append(Mismatch(
                f"The model ends with {'x'.join(map(str, shape))} feature maps; a classifier "
                f"needs one value per class ({n}): end it with Flatten and Dense {n}."))
        elif shape[0] != n:
            if "units" in layer.params:  # a layer whose outputs the user sets
                found.append(Mismatch(
                    f"The last Dense '{logits}' has {shape[0]} units, but {dataset.name} has "
                    f"{n} classes.", logits, {"units": n}, f"Set '{logits}' units to {n}"))
            else:
                found.append(Mismatch(
                    f"The model outputs {shape[0]} values, but {dataset.name} has {n} classes: "
                    f"end it with Dense {n}."))
    return found

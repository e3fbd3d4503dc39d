"""Which catalogue types each exporter can write, and the checks every export starts with.

Each exporter keeps its per-type table beside its code (``pytorch.LAYER_BUILDERS``,
``onnx_export.NODE_BUILDERS``); this module gathers them so a conformance test parameterised
over ``core.catalogue.LAYERS`` names any type an exporter cannot write. It also holds the one
refusal path: an invalid model is never exported, and the reason is the validator's own list of
errors, one line each, exactly as ``cnnstudio summary`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cnnstudio.core.atomic import atomic_write_bytes  # noqa: F401  (re-exported for exporters)
from cnnstudio.core.catalogue import LAYERS, ArraySpec
from cnnstudio.core.graph import Graph, Layer
from cnnstudio.core.validator import LayerReport, ValidationResult, validate

#: Formats ``cnnstudio export --to`` offers.
FORMATS = ("pytorch", "onnx", "svg", "png", "markdown", "json")

#: Weights-file array name (catalogue ``weights``/``buffers``) -> PyTorch state_dict name. The
#: file already uses PyTorch's layouts, so names are the only thing that differs.
TORCH_ARRAY_NAMES: dict[str, str] = {
    "weight": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_var": "running_var",
}


class ExportError(ValueError):
    """An export that cannot be done; ``lines`` are the reasons, one per line for the CLI."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """A valid model reduced to what runs: the layers the output depends on, in order."""

    graph: Graph
    result: ValidationResult
    order: list[str]
    input_id: str
    output_id: str


def layer_tables() -> dict[str, Mapping[str, object]]:
    """Per-format tables keyed by catalogue type (imported lazily: no circular imports)."""
    from cnnstudio.core.appearance import FAMILY_COLORS
    from cnnstudio.export import onnx_export, pytorch

    return {
        "pytorch": pytorch.LAYER_BUILDERS,
        "onnx": onnx_export.NODE_BUILDERS,
        "diagram": {name: FAMILY_COLORS.get(spec.family) for name, spec in LAYERS.items()
                    if spec.family in FAMILY_COLORS},
    }


def unsupported(table: Mapping[str, object]) -> list[str]:
    """Catalogue types a per-type table has no entry for."""
    return [name for name in LAYERS if name not in table]


def owned_arrays(layer: Layer, rep: LayerReport) -> tuple[ArraySpec, ...]:
    """The arrays the catalogue gives ``layer`` (a bias only when it has one), in file order."""
    return layer.spec.arrays(layer.params, rep.input_shapes)  # type: ignore[arg-type]


def has_bias(layer: Layer, rep: LayerReport) -> bool:
    return any(a.name == "bias" for a in owned_arrays(layer, rep))


def refuse_invalid(graph: Graph, strict: bool = False) -> ValidationResult:
    """Validate, or raise ExportError listing every validator error (``error [code] msg``)."""
    result = validate(graph, strict=strict)
    if not result.valid:
        raise ExportError([f"error [{p.code}] {p.message}" for p in result.errors])
    return result


def network_plan(graph: Graph, table: Mapping[str, object], what: str,
                 strict: bool = False) -> NetworkPlan:
    """Check a model can become runnable code/graph for ``what`` ("PyTorch", "ONNX").

    Layers not feeding the output (a disconnected sketch on the canvas) are left out, as the
    engine leaves them out, so exported and trained networks are the same network.
    """
    result = refuse_invalid(graph, strict)
    assert result.output_id is not None  # a valid model has exactly one output
    output_id = result.output_id
    needed = graph.ancestors(output_id) | {output_id}
    order = [lid for lid in result.order if lid in needed]
    inputs = [lid for lid in order if graph.layer(lid).type == "Input"]
    if len(inputs) != 1:
        raise ExportError([f"error: {what} export needs exactly one Input feeding the output, "
                           f"found {len(inputs)}"])
    missing = sorted({graph.layer(lid).type for lid in order} - set(table))
    if missing:
        raise ExportError([f"error: {what} export does not support layer type {t}"
                           for t in missing])
    return NetworkPlan(graph, result, order, inputs[0], output_id)

"""The validator: what every layer does to the tensor, and what is wrong, for the whole graph.

It runs on every edit in the GUI, so it is one linear pass in topological order over plain data.
A problem in one branch only blanks the shapes that depend on it: every other layer keeps its
numbers, so the user always sees as much as can be known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnstudio.core import rules
from cnnstudio.core.graph import Graph
from cnnstudio.core.layer_kinds import LINEAR_PASS, SATURATING, WEIGHTED_LINEAR, is_rectifier
from cnnstudio.core.receptive import Box, Field
from cnnstudio.core.rules import (
    FIX_CONNECT_PREVIOUS,
    FIX_INSERT_RELU,
    FIX_REMOVE_BRIDGED,
    Incoming,
    LayerProblem,
    RuleInput,
)
from cnnstudio.core.shapes import AxisWindow

ERROR, WARNING = "error", "warning"

#: Every diagnostic the validator can give, with its severity. Tests cover each one.
CODES: dict[str, str] = {
    "kernel_too_large": ERROR,
    "wrong_rank": ERROR,
    "shape_mismatch": ERROR,
    "concat_mismatch": ERROR,
    "groups_mismatch": ERROR,
    "wrong_input_count": ERROR,
    "input_not_connected": ERROR,
    "cycle": ERROR,
    "no_input": ERROR,
    "multiple_outputs": ERROR,
    "not_connected": WARNING,
    "fractional_tiling": WARNING,
    "softmax_not_last": WARNING,
    "linear_stack": WARNING,
    "activation_on_logits": WARNING,
}


@dataclass(frozen=True, slots=True)
class Problem:
    layer: str | None
    code: str
    message: str
    severity: str
    #: A repair the GUI can offer as one click (see rules.FIX_*), or None.
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "code": self.code, "message": self.message}


@dataclass(slots=True)
class LayerReport:
    """Everything the validator knows about one layer."""

    id: str
    type: str
    inputs: tuple[str, ...]
    input_shapes: tuple[tuple[int, ...] | None, ...]
    output_shape: tuple[int, ...] | None = None
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    #: Receptive field in input pixels: size, jump between neighbouring units, and the origin
    #: (input row, column of unit (0, 0)'s top-left corner, negative in padding).
    receptive_field: tuple[int, int] | None = None
    jump: tuple[int, int] | None = None
    origin: tuple[int, int] | None = None
    axes: tuple[AxisWindow, AxisWindow] | None = None
    fc_equivalent: int | None = None
    #: True when the layer is fed (through any path) by an Input layer.
    connected: bool = False
    #: "ok", "warning", "error", "blocked" (an upstream error hides its shape), "disconnected".
    status: str = "ok"

    @property
    def params_total(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def field(self) -> Field | None:
        if self.receptive_field is None or self.jump is None or self.origin is None:
            return None
        return Field(self.receptive_field, self.jump, self.origin)

    def unit_box(self, row: int, col: int) -> Box | None:
        """The input pixels unit ``(row, col)`` of a [C, H, W] output sees (padding included)."""
        field = self.field
        if field is None or self.output_shape is None or len(self.output_shape) != 3:
            return None
        return field.box(row, col)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": {"trainable": self.trainable, "non_trainable": self.non_trainable},
            "receptive_field": list(self.receptive_field) if self.receptive_field else None,
        }
        if self.output_shape is not None and len(self.output_shape) == 3 and self.field:
            doc["rf_jump"] = list(self.field.jump)
            doc["rf_origin"] = list(self.field.origin)
        doc["macs"] = self.macs
        return doc


@dataclass(slots=True)
class Totals:
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def to_json(self) -> dict[str, int]:
        return {"trainable": self.trainable, "non_trainable": self.non_trainable,
                "total": self.total, "macs": self.macs}


@dataclass(slots=True)
class ValidationResult:
    order: list[str]
    layers: dict[str, LayerReport]
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    #: Ids of the Input layers and the single output layer (None when there is not exactly one).
    input_ids: list[str] = field(default_factory=list)
    output_id: str | None = None

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def problems(self) -> list[Problem]:
        return self.errors + self.warnings

    def problems_for(self, layer_id: str) -> list[Problem]:
        return [p for p in self.problems if p.layer == layer_id]

    def to_json(self) -> dict[str, Any]:
        """The summary document of the model-format spec."""
        return {
            "valid": self.valid,
            "errors": [p.to_json() for p in self.errors],
            "warnings": [p.to_json() for p in self.warnings],
            "layers": [self.layers[lid].to_json() for lid in self.order],
            "totals": self.totals.to_json(),
        }


def validate(graph: Graph, strict: bool = False) -> ValidationResult:
    """Compute every layer's shape, counts and receptive field, and list the problems.

    ``strict`` turns warnings into errors (``cnnstudio summary --strict``).
    """
    order, stuck_ids = graph.topological_split()
    order = order + stuck_ids
    result = ValidationResult(order=order, layers={})
    problems: list[Problem] = []

    def report(layer_id: str | None, code: str, message: str, fix: str | None = None) -> None:
        problems.append(Problem(layer_id, code, message, CODES[code], fix))

    stuck = set(stuck_ids)
    on_cycle = {lid for lid in stuck if lid in graph.ancestors(lid)}
    result.input_ids = [lay.id for lay in graph if lay.type == "Input"]
    if not result.input_ids:
        report(None, "no_input", "the model has no Input layer: add one to say what image "
               "enters the network (channels x height x width)")

    layers = result.layers
    #: What each computed layer hands its consumers (one shared, immutable Incoming each).
    handed: dict[str, Incoming] = {}
    for lid in order:
        layer = graph.layer(lid)
        spec = layer.spec
        ins = tuple(layer.inputs)
        # One pass over the inputs: their shapes, whether any is fed by an Input, which are not.
        reports_in = [layers.get(src) for src in ins]
        connected = spec.type == "Input"
        loose = []
        for src, r in zip(ins, reports_in, strict=True):
            if r is not None and r.connected:
                connected = True
            else:
                loose.append(src)
        rep = LayerReport(lid, spec.type, ins,
                          tuple(r.output_shape if r else None for r in reports_in),
                          connected=connected)
        layers[lid] = rep
        if lid in on_cycle:
            report(lid, "cycle", f"{spec.type} {lid} is part of a cycle: follow its inputs and "
                   "you come back to it; a network must flow one way, so remove one of the "
                   "connections")
            rep.status = "error"
            continue
        if lid in stuck:
            rep.status = "blocked"
            continue
        if not connected:
            rep.status = "disconnected"
            report(lid, "not_connected",
                   f"{spec.type} {lid} is not connected to the Input"
                   + ("" if ins else ": drag from an output port to its input port"),
                   FIX_CONNECT_PREVIOUS if not ins else None)
            continue
        n = len(ins)
        if n < spec.min_inputs or (spec.max_inputs is not None and n > spec.max_inputs):
            want = (f"at least {spec.min_inputs}" if spec.max_inputs is None
                    else str(spec.max_inputs))
            report(lid, "wrong_input_count",
                   f"{spec.type} {lid} takes {want} input{'s' if want != '1' else ''} but has "
                   f"{n}" + ("; merge branches with Add or Concatenate" if n > 1 else ""))
            rep.status = "error"
            continue
        if loose:
            report(lid, "input_not_connected",
                   f"{spec.type} {lid}: its input {', '.join(loose)} is not connected to the "
                   "Input, so its shape is unknown")
            rep.status = "error"
            continue
        incoming = tuple(handed.get(src) for src in ins)
        if None in incoming:  # an input's shape is unknown (blanked by an error upstream)
            rep.status = "blocked"
            continue
        try:
            out = spec.apply(RuleInput(layer.params, incoming))  # type: ignore[arg-type]
        except LayerProblem as exc:
            report(lid, exc.code, f"{spec.type} {lid}: {exc.message}", exc.fix)
            rep.status = "error"
            continue
        rep.output_shape = out.shape
        rep.trainable, rep.non_trainable, rep.macs = out.trainable, out.non_trainable, out.macs
        if not layer.trainable:  # frozen for transfer learning: as in Keras
            rep.trainable, rep.non_trainable = 0, out.trainable + out.non_trainable
        rep.receptive_field, rep.jump, rep.origin = out.field.size, out.field.jump, \
            out.field.origin
        rep.axes, rep.fc_equivalent = out.axes, out.fc_equivalent
        handed[lid] = Incoming(out.shape, out.field)
        for code, message in out.warnings:
            report(lid, code, f"{spec.type} {lid}: {message}")
            rep.status = "warning"

    _check_outputs(graph, result, report)
    _check_design(graph, result, report)
    for rep in result.layers.values():
        if rep.connected and rep.output_shape is not None:
            result.totals.trainable += rep.trainable
            result.totals.non_trainable += rep.non_trainable
            result.totals.macs += rep.macs

    if strict:
        problems = [Problem(p.layer, p.code, p.message, ERROR, p.fix) for p in problems]
    result.errors = [p for p in problems if p.severity == ERROR]
    result.warnings = [p for p in problems if p.severity == WARNING]
    return result


def _check_outputs(graph: Graph, result: ValidationResult, report: Any) -> None:
    """Exactly one connected layer may end the network; Softmax belongs only there."""
    layers = result.layers
    fed = {src for rep in layers.values() if rep.connected for src in rep.inputs}
    sinks = [lid for lid in result.order if layers[lid].connected and lid not in fed]
    if len(sinks) == 1:
        result.output_id = sinks[0]
    elif len(sinks) > 1:
        names = ", ".join(sinks)
        # The sink with the most layers behind it is taken as the real output (a stray layer or
        # a second, unused Input is what gets flagged); ties go to the later one.
        main = max(sinks, key=lambda s: (len(graph.ancestors(s)), result.order.index(s)))
        for lid in (s for s in sinks if s != main):
            report(lid, "multiple_outputs",
                   f"{layers[lid].type} {lid} ends a branch that goes nowhere: the network "
                   f"has {len(sinks)} outputs ({names}) but must have one; connect this branch "
                   "on (Add, Concatenate) or delete it")
            layers[lid].status = "error"
    for lid in result.order:
        rep = layers[lid]
        if rep.type == "Softmax" and rep.connected and lid not in sinks:
            report(lid, "softmax_not_last",
                   f"Softmax {lid} is not the last layer: probabilities are meant for the "
                   "output; inside the network they squash the signal",
                   FIX_REMOVE_BRIDGED if len(rep.inputs) == 1 else None)
            if rep.status == "ok":
                rep.status = "warning"


def _check_design(graph: Graph, result: ValidationResult, report: Any) -> None:
    """Model-level mistakes that need no data: they train, but worse than the user thinks."""
    layers = result.layers
    for lid in result.order:
        rep = layers[lid]
        if rep.type not in WEIGHTED_LINEAR or rep.output_shape is None:
            continue
        between, src = [], rep.inputs[0] if len(rep.inputs) == 1 else None
        while src is not None and layers[src].type in LINEAR_PASS:
            between.append(src)
            ins = layers[src].inputs
            src = ins[0] if len(ins) == 1 else None
        if src is None or layers[src].type not in WEIGHTED_LINEAR:
            continue
        via = f" (only {', '.join(reversed(between))} between them)" if between else ""
        report(lid, "linear_stack",
               f"{rep.type} {lid} follows {layers[src].type} {src} with no activation "
               f"between them{via}: two linear maps in a row collapse into one, so {lid} adds "
               "weights but no power; insert ReLU between them", FIX_INSERT_RELU)
        if rep.status == "ok":
            rep.status = "warning"
    out = result.output_id
    if out is None:
        return
    # Only with a final Softmax is it certain the layer before it gives class scores (a model
    # still being built often ends with an activation for a moment).
    if layers[out].type != "Softmax" or len(layers[out].inputs) != 1:
        return
    scores = layers[out].inputs[0]
    rep = layers[scores]
    if is_rectifier(rep.type) or rep.type in SATURATING:
        report(scores, "activation_on_logits",
               f"{rep.type} {scores} acts on the class scores: the loss turns scores into "
               f"probabilities itself and needs them free to be any number, which {rep.type} "
               "forbids (so some classes can never win clearly); end with the Dense layer "
               "instead")
        if rep.status == "ok":
            rep.status = "warning"


def fmt_shape(shape: tuple[int, ...] | None) -> str:
    return rules.fmt_shape(shape)

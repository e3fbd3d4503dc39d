"""The validator: what every layer does to the tensor, and what is wrong, for the whole graph.

It runs on every edit in the GUI, so it is one linear pass in topological order over plain data.
A problem in one branch only blanks the shapes that depend on it: every other layer keeps its
numbers, so the user always sees as much as can be known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from cnnstudio.core import rules
from cnnstudio.core.graph import Graph, Layer
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


class Handoff(NamedTuple):
    """What one layer passes on to the layers it feeds, and all they read of it: whether it is
    fed by an Input, its output shape and the Incoming (shape and receptive field) it hands on
    (None when its shape is unknown). Two layers with equal handoffs on every input and equal
    definitions get equal outcomes, which is what lets an edit revalidate only what it can
    change (see core.incremental). (Tuples: one is made per layer per validation.)"""

    connected: bool
    output_shape: tuple[int, ...] | None
    incoming: Incoming | None


class LayerOutcome(NamedTuple):
    """One layer's part of a validation: its report (before the graph-level checks), the
    problems found in it alone, and what it hands on."""

    report: LayerReport
    problems: tuple[Problem, ...]
    handoff: Handoff


@dataclass(frozen=True, slots=True)
class Pass:
    """The order of the pass and which layers a cycle holds up: the only whole-graph facts a
    single layer's outcome depends on."""

    order: list[str]
    stuck: frozenset[str]
    on_cycle: frozenset[str]


def plan_pass(graph: Graph) -> Pass:
    """Topological order (layers on or after a cycle last, in file order), and the layers
    stuck behind a cycle and those on one."""
    order, stuck_ids = graph.topological_split()
    stuck = frozenset(stuck_ids)
    on_cycle = frozenset(lid for lid in stuck_ids if lid in graph.ancestors(lid))
    return Pass(order + stuck_ids, stuck, on_cycle)


def _problem(layer_id: str | None, code: str, message: str, fix: str | None = None) -> Problem:
    return Problem(layer_id, code, message, CODES[code], fix)


def _stopped(rep: LayerReport, status: str, problem: Problem | None = None) -> LayerOutcome:
    """The outcome of a layer whose shape cannot be computed."""
    rep.status = status
    return LayerOutcome(rep, (problem,) if problem else (), Handoff(rep.connected, None, None))


def fed_to(layer: Layer, done: Mapping[str, LayerOutcome]) -> tuple[Handoff | None, ...]:
    """What each input of ``layer`` hands it, from the outcomes of the layers before it in the
    pass (None for an input not among them: on a cycle, or naming no layer)."""
    return tuple([o.handoff if (o := done.get(src)) is not None else None
                  for src in layer.inputs])


def check_layer(layer: Layer, handoffs: Sequence[Handoff | None], cycle: bool, stuck: bool
                ) -> LayerOutcome:
    """One layer's outcome from its own definition and what its inputs hand it (``fed_to``),
    as the full and the incremental validator both compute it."""
    lid = layer.id
    spec = layer.spec
    ins = tuple(layer.inputs)
    connected = spec.type == "Input"
    loose = []
    for src, h in zip(ins, handoffs, strict=True):
        if h is not None and h.connected:
            connected = True
        else:
            loose.append(src)
    rep = LayerReport(lid, spec.type, ins, tuple([h.output_shape if h else None
                                                  for h in handoffs]), connected=connected)
    if cycle:
        return _stopped(rep, "error", _problem(
            lid, "cycle", f"{spec.type} {lid} is part of a cycle: follow its inputs and you come "
            "back to it; a network must flow one way, so remove one of the connections"))
    if stuck:
        return _stopped(rep, "blocked")
    if not connected:
        return _stopped(rep, "disconnected", _problem(
            lid, "not_connected", f"{spec.type} {lid} is not connected to the Input"
            + ("" if ins else ": drag from an output port to its input port"),
            FIX_CONNECT_PREVIOUS if not ins else None))
    n = len(ins)
    if n < spec.min_inputs or (spec.max_inputs is not None and n > spec.max_inputs):
        want = f"at least {spec.min_inputs}" if spec.max_inputs is None else str(spec.max_inputs)
        return _stopped(rep, "error", _problem(
            lid, "wrong_input_count",
            f"{spec.type} {lid} takes {want} input{'s' if want != '1' else ''} but has {n}"
            + ("; merge branches with Add or Concatenate" if n > 1 else "")))
    if loose:
        return _stopped(rep, "error", _problem(
            lid, "input_not_connected", f"{spec.type} {lid}: its input {', '.join(loose)} is "
            "not connected to the Input, so its shape is unknown"))
    incoming = tuple([h.incoming for h in handoffs])  # type: ignore[union-attr]
    if None in incoming:  # an input's shape is unknown (blanked by an error upstream)
        return _stopped(rep, "blocked")
    try:
        out = spec.apply(RuleInput(layer.params, incoming))  # type: ignore[arg-type]
    except LayerProblem as exc:
        return _stopped(rep, "error", _problem(lid, exc.code,
                                               f"{spec.type} {lid}: {exc.message}", exc.fix))
    rep.output_shape = out.shape
    rep.trainable, rep.non_trainable, rep.macs = out.trainable, out.non_trainable, out.macs
    if not layer.trainable:  # frozen for transfer learning: as in Keras
        rep.trainable, rep.non_trainable = 0, out.trainable + out.non_trainable
    field_ = out.field
    rep.receptive_field, rep.jump, rep.origin = field_.size, field_.jump, field_.origin
    rep.axes, rep.fc_equivalent = out.axes, out.fc_equivalent
    problems: tuple[Problem, ...] = ()
    if out.warnings:
        problems = tuple(_problem(lid, code, f"{spec.type} {lid}: {message}")
                         for code, message in out.warnings)
        rep.status = "warning"
    return LayerOutcome(rep, problems, Handoff(True, out.shape, Incoming(out.shape, field_)))


def validate(graph: Graph, strict: bool = False) -> ValidationResult:
    """Compute every layer's shape, counts and receptive field, and list the problems.

    ``strict`` turns warnings into errors (``cnnstudio summary --strict``).
    """
    plan = plan_pass(graph)
    done: dict[str, LayerOutcome] = {}
    for lid in plan.order:
        layer = graph.layer(lid)
        done[lid] = check_layer(layer, fed_to(layer, done), lid in plan.on_cycle,
                                lid in plan.stuck)
    return assemble(graph, plan, done, strict)


def assemble(graph: Graph, plan: Pass, outcomes: Mapping[str, LayerOutcome],
             strict: bool = False) -> ValidationResult:
    """The result from every layer's outcome, plus what depends on the whole graph: the Input
    and output checks, design warnings and totals. Linear in the size of the graph, with no
    shape arithmetic, so it is cheap enough to run in full after every edit."""
    order = plan.order
    result = ValidationResult(order=order, layers={lid: outcomes[lid].report for lid in order})
    problems: list[Problem] = []

    def report(layer_id: str | None, code: str, message: str, fix: str | None = None) -> None:
        problems.append(_problem(layer_id, code, message, fix))

    result.input_ids = [lay.id for lay in graph if lay.type == "Input"]
    if not result.input_ids:
        report(None, "no_input", "the model has no Input layer: add one to say what image "
               "enters the network (channels x height x width)")
    for lid in order:
        problems.extend(outcomes[lid].problems)
    _check_outputs(graph, result, report)
    _check_design(graph, result, report)
    totals = result.totals
    for rep in result.layers.values():
        if rep.connected and rep.output_shape is not None:
            totals.trainable += rep.trainable
            totals.non_trainable += rep.non_trainable
            totals.macs += rep.macs

    if strict:
        problems = [Problem(p.layer, p.code, p.message, ERROR, p.fix) for p in problems]
    result.errors = [p for p in problems if p.severity == ERROR]
    result.warnings = [p for p in problems if p.severity == WARNING]
    return result


def _set_status(result: ValidationResult, layer_id: str, status: str, only_if_ok: bool = False
                ) -> None:
    """Change a layer's status for a graph-level finding, on a copy: the report itself may be
    shared with earlier results (core.incremental), which must not change under their views."""
    rep = result.layers[layer_id]
    if not only_if_ok or rep.status == "ok":
        result.layers[layer_id] = replace(rep, status=status)


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
            _set_status(result, lid, "error")
    for lid in result.order:
        rep = layers[lid]
        if rep.type == "Softmax" and rep.connected and lid not in sinks:
            report(lid, "softmax_not_last",
                   f"Softmax {lid} is not the last layer: probabilities are meant for the "
                   "output; inside the network they squash the signal",
                   FIX_REMOVE_BRIDGED if len(rep.inputs) == 1 else None)
            _set_status(result, lid, "warning", only_if_ok=True)


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
        _set_status(result, lid, "warning", only_if_ok=True)
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
        _set_status(result, scores, "warning", only_if_ok=True)


def fmt_shape(shape: tuple[int, ...] | None) -> str:
    return rules.fmt_shape(shape)

"""How a collapsed unit reads, shared by the canvas and the SVG/PNG diagram: its name, the shapes
that enter and leave it, its parameter and MAC totals, and the worst state of its layers (so an
error inside a collapsed unit shows on the unit)."""

from __future__ import annotations

from dataclasses import dataclass

from cnnstudio.core.appearance import human_count
from cnnstudio.core.graph import Graph
from cnnstudio.core.rules import fmt_shape
from cnnstudio.core.validator import Totals, ValidationResult

#: Header colour of a unit block (a neutral slate, apart from every layer family's tint).
UNIT_COLOR = "#5c6f8f"
#: Worst first: the state a unit shows is the worst of its layers'.
_SEVERITY = ("error", "warning", "blocked", "disconnected", "ok")


@dataclass(frozen=True, slots=True)
class UnitText:
    title: str  # the unit's name
    shapes: str  # "16x32x32 -> 32x16x16"
    totals: str  # "4.7k p, 1.2M MACs"
    count: int  # layers inside
    status: str
    messages: tuple[str, ...]  # "layer: problem" for every problem inside
    exact: Totals  # the exact parameter and MAC counts behind ``totals`` (the inspector's)


def unit_text(graph: Graph, uid: str, result: ValidationResult) -> UnitText:
    layers = graph.units.layers(uid)
    sources, exits = graph.units.boundary(uid)

    def shapes(ids: list[str]) -> str:
        reps = [result.layers.get(lid) for lid in ids]
        return ", ".join(fmt_shape(r.output_shape if r else None) for r in reps) or "-"

    reps = [result.layers[lid] for lid in layers if lid in result.layers]
    shaped = [r for r in reps if r.output_shape is not None]
    exact = Totals(sum(r.trainable for r in shaped), sum(r.non_trainable for r in shaped),
                   sum(r.macs for r in reps))
    params, macs = exact.total, exact.macs
    states = {r.status for r in reps}
    status = next((s for s in _SEVERITY if s in states), "ok")
    held = set(layers)
    messages = tuple(f"{p.layer}: {p.message}" for p in result.problems if p.layer in held)
    totals = f"{human_count(params)} p, {human_count(macs)} MACs"
    return UnitText(graph.units.get(uid).name, f"{shapes(sources)} \u2192 {shapes(exits)}",
                    totals, len(layers), status, messages, exact)

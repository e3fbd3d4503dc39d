"""Incremental validation: after an edit, recompute only the layers the edit can change.

A layer's outcome (its shapes, counts, receptive field and own problems) depends only on its own
definition (id, type, params, freeze flag, inputs), whether a cycle holds it, and what each of
its inputs hands on (``validator.Handoff``). So the validator here keeps every layer's outcome with
what it was computed from, and on the next call reuses it when all of that is unchanged. A
layer whose recomputed handoff equals the previous one keeps the previous handoff *object*, so
the layers it feeds see an unchanged input and are not recomputed either: a param edit recomputes
the edited layer and only as far downstream as its output actually changed; a rename recomputes
the renamed layer and the layers it feeds (their messages name it); a move, a comment or a unit
edit recomputes nothing. The whole-graph part (topological order, the output and design checks,
totals) is cheap, with no shape arithmetic, and always runs in full through the same code as
``validator.validate``, so the result is equal to a full validation by construction.

The cache never trusts a caller to say what changed: every layer is compared with what its
outcome was computed from, so any edit path (undo, redo, replace, a plain graph mutation) is
covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnstudio.core.graph import Graph, Layer, copy_value
from cnnstudio.core.validator import (
    Handoff,
    LayerOutcome,
    ValidationResult,
    assemble,
    check_layer,
    fed_to,
    plan_pass,
)


@dataclass(slots=True)
class _Entry:
    """One layer's outcome and everything it was computed from."""

    type: str
    params: dict[str, Any]
    trainable: bool
    inputs: list[str]
    cycle: bool
    stuck: bool
    #: The inputs' handoffs as seen then (None: not computed before this layer).
    fed: tuple[Handoff | None, ...]
    outcome: LayerOutcome

    def still_holds(self, layer: Layer, fed: tuple[Handoff | None, ...], cycle: bool,
                    stuck: bool) -> bool:
        # What the inputs hand on first: the same objects mostly (see _keep_equal), else equal;
        # and what changes when an edit upstream changes everything below it.
        return (self.fed == fed and self.type == layer.type
                and self.trainable == layer.trainable and self.cycle == cycle
                and self.stuck == stuck and self.inputs == layer.inputs
                and self.params == layer.params)


class IncrementalValidator:
    """Validates successive states of a model, reusing what an edit did not change.

    ``validate(graph)`` returns a result equal to ``validator.validate(graph)`` (same reports,
    problems in the same order, same totals). Reports may be shared between successive results;
    they are never changed once returned.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        #: Ids of the layers whose outcome the last call computed (the rest were reused).
        self.recomputed: list[str] = []

    def validate(self, graph: Graph, strict: bool = False) -> ValidationResult:
        plan = plan_pass(graph)
        old = self._entries
        entries: dict[str, _Entry] = {}
        done: dict[str, LayerOutcome] = {}
        recomputed: list[str] = []
        for lid in plan.order:
            layer = graph.layer(lid)
            cycle, stuck = lid in plan.on_cycle, lid in plan.stuck
            fed = fed_to(layer, done)
            entry = old.get(lid)
            if entry is None or not entry.still_holds(layer, fed, cycle, stuck):
                outcome = check_layer(layer, fed, cycle, stuck)
                recomputed.append(lid)
                if entry is not None:
                    outcome = _keep_equal(entry.outcome, outcome)
                params = entry.params if entry is not None and entry.params == layer.params \
                    else copy_value(layer.params)
                entry = _Entry(layer.type, params, layer.trainable, list(layer.inputs), cycle,
                               stuck, fed, outcome)
            entries[lid] = entry
            done[lid] = entry.outcome
        self._entries = entries
        self.recomputed = recomputed
        return assemble(graph, plan, done, strict)

    def clear(self) -> None:
        """Forget every outcome (the next call validates in full)."""
        self._entries = {}


def _keep_equal(before: LayerOutcome, after: LayerOutcome) -> LayerOutcome:
    """``after``, holding ``before``'s handoff object when the two are equal, so that the
    layers fed by an unchanged output find the same object and are not recomputed."""
    if after.handoff == before.handoff and after.handoff is not before.handoff:
        return LayerOutcome(after.report, after.problems, before.handoff)
    return after

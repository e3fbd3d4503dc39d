"""One-click repairs for problems whose fix is plain (the validator names it in Problem.fix).

A repair is offered only when it helps: it is first tried on a copy of the graph, and the
validator must then find fewer problems than before (fewer errors, or as many errors and fewer
problems in all). "Connect dense_1 -> conv2d_2" for a pasted convolution fixed its warning but
created an error; such a repair is not offered (the next candidate source is tried instead).

Each fix is one Document edit, hence one undo step of its own: params are set with set_params,
which never merges with the user's previous edit of the same param (set_param would, and one Undo
would then also take back what the user typed). The arithmetic a fix needs (how large a pool
still fits) goes through core.shapes like every other size, so the repaired model is exactly what
the validator then accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from cnnstudio.core import rules
from cnnstudio.core.graph import Graph
from cnnstudio.core.incremental import IncrementalValidator
from cnnstudio.core.shapes import axis_padding, pair
from cnnstudio.core.validator import Problem, ValidationResult
from cnnstudio.gui.document import feedable_inputs

Fix = tuple[str, Callable[[], Any]]
#: Candidate sources tried for "connect the previous block" before giving up.
_MAX_TRIALS = 8
#: Validates the trials: a trial differs from the model (and from the previous trial) in a
#: layer or two, so only those and what they feed are checked again; the result equals a full
#: validation (core.incremental).
_TRIALS = IncrementalValidator()


@dataclass(frozen=True, slots=True)
class Repair:
    """A fix described twice over the same edit: on a plain graph (the trial) and through the
    Document (the undoable action)."""

    label: str
    on_graph: Callable[[Graph], Any]
    on_document: Callable[[], Any]


def fix_for(problem: Problem, document: Any) -> Fix | None:
    """The button label and action that repair ``problem``, or None when there is no plain fix
    that leaves the model with fewer problems."""
    for repair in islice(repairs_for(problem, document), _MAX_TRIALS):
        if improves(document.graph, document.result, repair):
            return repair.label, repair.on_document
    return None


def improves(graph: Graph, before: ValidationResult, repair: Repair) -> bool:
    """Does ``repair``, tried on a copy of ``graph``, leave fewer problems than ``before``?"""
    trial = graph.copy()
    try:
        repair.on_graph(trial)
    except (ValueError, KeyError):
        return False
    after = _TRIALS.validate(trial)
    return (len(after.errors), len(after.problems)) < (len(before.errors), len(before.problems))


def repairs_for(problem: Problem, document: Any) -> Iterator[Repair]:
    """The candidate repairs for ``problem``, best guess first."""
    lid = problem.layer
    if lid is None or problem.fix is None or lid not in document.graph:
        return
    if problem.fix == rules.FIX_INSERT_FLATTEN:
        yield Repair(f"Insert Flatten before {lid}", lambda g: _insert_before(g, "Flatten", lid),
                     lambda: document.insert_before("Flatten", lid))
    elif problem.fix == rules.FIX_PADDING_SAME:
        yield Repair("Set padding to same", lambda g: g.set_param(lid, "padding", "same"),
                     lambda: document.set_params(lid, {"padding": "same"}))
    elif problem.fix == rules.FIX_SHRINK_POOL:
        size = fitting_pool_size(document, lid)
        if size is not None:
            shown = f"{size}x{size}" if isinstance(size, int) else f"{size[0]}x{size[1]}"
            yield Repair(f"Shrink the pool to {shown}",
                         lambda g: g.set_param(lid, "pool_size", size),
                         lambda: document.set_params(lid, {"pool_size": size}))
    elif problem.fix == rules.FIX_INSERT_RELU:
        yield Repair(f"Insert ReLU before {lid}", lambda g: _insert_before(g, "ReLU", lid),
                     lambda: document.insert_before("ReLU", lid))
    elif problem.fix == rules.FIX_REMOVE_BRIDGED:
        yield Repair(f"Remove {lid}", lambda g: _remove_bridged(g, lid),
                     lambda: document.remove_bridged(lid))
    elif problem.fix == rules.FIX_CONNECT_PREVIOUS:
        for src in previous_blocks(document, lid):
            yield Repair(f"Connect {src} -> {lid}", lambda g, s=src: g.connect(s, lid),
                         lambda s=src: document.connect(s, lid))


def _insert_before(graph: Graph, type_name: str, layer_id: str) -> None:
    """What Document.insert_before does, on a plain graph."""
    target = graph.layer(layer_id)
    new = graph.add_layer(type_name, inputs=feedable_inputs(type_name, target.inputs),
                          index=graph.index_of(layer_id))
    graph.set_inputs(layer_id, [new])


def _remove_bridged(graph: Graph, layer_id: str) -> None:
    """What Document.remove_bridged does, on a plain graph."""
    (src,) = graph.layer(layer_id).inputs
    for cid in graph.consumers(layer_id):
        graph.set_inputs(cid, [src if s == layer_id else s for s in graph.layer(cid).inputs])
    graph.remove_layer(layer_id)


def fitting_pool_size(document: Any, layer_id: str) -> int | list[int] | None:
    """The largest pool window, per axis, that fits the (padded) input: min(F, N + P_total)."""
    report = document.result.layers.get(layer_id)
    if report is None or not report.input_shapes or report.input_shapes[0] is None:
        return None
    shape = report.input_shapes[0]
    if len(shape) != 3:
        return None
    layer = document.graph.layer(layer_id)
    params = layer.spec.effective(layer.params)
    sizes = []
    for axis, (n, f, s) in enumerate(zip(shape[1:], pair(params["pool_size"]),
                                         pair(params["stride"]), strict=True)):
        before, after, _ = axis_padding(params["padding"], axis, n, f, s)
        sizes.append(max(1, min(f, n + before + after)))
    h, w = sizes
    if (h, w) == pair(params["pool_size"]):
        return None  # it already fits: the problem is something else
    return h if h == w else [h, w]


def previous_blocks(document: Any, layer_id: str) -> Iterator[str]:
    """Blocks to feed ``layer_id`` from, nearest above it in file order first.

    File order is the order blocks were added, so "previous" is what the user placed just before.
    Layers already fed by the Input come first (connecting to another loose block would not fix
    anything); a candidate that would close a cycle is skipped.
    """
    graph = document.graph
    ids = graph.ids
    above = list(reversed(ids[: ids.index(layer_id)]))
    layers = document.result.layers

    def connected(src: str) -> bool:
        rep = layers.get(src)
        return rep is not None and rep.connected

    for first in (True, False):
        for src in above:
            if connected(src) == first and not graph.would_create_cycle(src, layer_id):
                yield src

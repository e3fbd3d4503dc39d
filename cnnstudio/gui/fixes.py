"""One-click repairs for problems whose fix is plain (the validator names it in Problem.fix).

Each fix is one Document edit, hence one undo step of its own: params are set with set_params,
which never merges with the user's previous edit of the same param (set_param would, and one Undo
would then also take back what the user typed). The arithmetic a fix needs (how large a pool
still fits) goes through core.shapes like every other size, so the repaired model is exactly what
the validator then accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnnstudio.core import rules
from cnnstudio.core.shapes import axis_padding, pair
from cnnstudio.core.validator import Problem

Fix = tuple[str, Callable[[], Any]]


def fix_for(problem: Problem, document: Any) -> Fix | None:
    """The button label and action that repair ``problem``, or None when there is no plain fix."""
    lid = problem.layer
    if lid is None or problem.fix is None or lid not in document.graph:
        return None
    if problem.fix == rules.FIX_INSERT_FLATTEN:
        return f"Insert Flatten before {lid}", lambda: document.insert_before("Flatten", lid)
    if problem.fix == rules.FIX_PADDING_SAME:
        return "Set padding to same", lambda: document.set_params(lid, {"padding": "same"})
    if problem.fix == rules.FIX_SHRINK_POOL:
        size = fitting_pool_size(document, lid)
        if size is None:
            return None
        shown = f"{size}x{size}" if isinstance(size, int) else f"{size[0]}x{size[1]}"
        return (f"Shrink the pool to {shown}",
                lambda: document.set_params(lid, {"pool_size": size}))
    if problem.fix == rules.FIX_CONNECT_PREVIOUS:
        src = previous_block(document, lid)
        if src is None:
            return None
        return f"Connect {src} -> {lid}", lambda: document.connect(src, lid)
    return None


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


def previous_block(document: Any, layer_id: str) -> str | None:
    """The block to feed ``layer_id`` from: the nearest one above it in file order.

    File order is the order blocks were added, so "previous" is what the user placed just before.
    Layers already fed by the Input are preferred (connecting to another loose block would not fix
    anything); a candidate that would close a cycle is skipped.
    """
    graph = document.graph
    ids = graph.ids
    above = list(reversed(ids[: ids.index(layer_id)]))
    layers = document.result.layers

    def usable(src: str) -> bool:
        return not graph.would_create_cycle(src, layer_id)

    for src in above:
        rep = layers.get(src)
        if rep is not None and rep.connected and usable(src):
            return src
    for src in above:
        if usable(src):
            return src
    return None

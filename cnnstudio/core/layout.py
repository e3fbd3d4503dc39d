"""Automatic canvas layout: the network flows top to bottom, branches stand side by side.

Pure and deterministic (no Qt), so a model file opened without a ``layout`` looks the same in the
GUI, in an exported diagram and in a test. A position is the top-left corner of a block, in the
canvas units of ``core.appearance``.

The method is the classic layered drawing, kept small: each layer goes one row below its deepest
input; an edge that skips rows reserves a narrow lane in every row it crosses, so a residual
shortcut runs beside the blocks it bypasses instead of through them; a few sweeps order each row
by the mean column of its inputs, which keeps a plain chain in one straight column.
"""

from __future__ import annotations

from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH, COLUMN_GAP_X, LAYER_GAP_Y
from cnnstudio.core.graph import Graph
from cnnstudio.core.units import layout_folded

#: Width reserved in a row for an edge passing through it (a fraction of a block's).
LANE_WIDTH = BLOCK_WIDTH * 0.35
_SWEEPS = 4


def layer_ranks(graph: Graph) -> dict[str, int]:
    """Row of each layer: one below its deepest input (layers on a cycle go after the rest)."""
    rank: dict[str, int] = {}
    for lid in graph.topological_order():
        srcs = [rank[s] for s in graph.layer(lid).inputs if s in rank]
        rank[lid] = max(srcs) + 1 if srcs else 0
    return rank


def auto_layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Top-left position of every layer, rows top to bottom, centred on x = 0; a collapsed unit
    is placed as one block (``core.units.layout_folded``)."""
    return layout_folded(graph, _layout_layers)


def _layout_layers(graph: Graph) -> dict[str, tuple[float, float]]:
    rank = layer_ranks(graph)
    if not rank:
        return {}
    order = {lid: i for i, lid in enumerate(graph.topological_order())}
    # Nodes per row: real layers, plus one lane per row an edge crosses without stopping.
    rows: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    parents: dict[str, list[str]] = {}
    for lid in sorted(rank, key=order.__getitem__):
        rows[rank[lid]].append(lid)
        parents.setdefault(lid, [])
    for src, dst in graph.edges():
        if src not in rank or dst not in rank or rank[dst] <= rank[src] + 1:
            continue
        prev = src
        for r in range(rank[src] + 1, rank[dst]):
            lane = f"\0lane:{src}>{dst}:{r}"
            rows[r].append(lane)
            parents[lane] = [prev]
            prev = lane
        parents[dst].append(prev)
    for src, dst in graph.edges():
        if src in rank and dst in rank and rank[dst] == rank[src] + 1:
            parents[dst].append(src)

    widths = {n: (LANE_WIDTH if n.startswith("\0") else BLOCK_WIDTH) for row in rows for n in row}
    centre: dict[str, float] = {}

    def place(row: list[str]) -> None:
        total = sum(widths[n] for n in row) + COLUMN_GAP_X * (len(row) - 1)
        x = -total / 2
        for n in row:
            centre[n] = x + widths[n] / 2
            x += widths[n] + COLUMN_GAP_X

    for row in rows:
        place(row)
    for _ in range(_SWEEPS):
        for row in rows[1:]:
            before = {n: i for i, n in enumerate(row)}

            def key(n: str, before: dict[str, int] = before) -> tuple[float, int]:
                ps = [centre[p] for p in _main_parents(parents, n) if p in centre]
                mean = sum(ps) / len(ps) if ps else centre[n]
                return (mean, before[n])
            row.sort(key=key)
            place(row)
            _pull_towards_parents(row, parents, centre, widths)

    step_y = BLOCK_HEIGHT + LAYER_GAP_Y
    return {
        lid: (round(centre[lid] - BLOCK_WIDTH / 2, 1), round(rank[lid] * step_y, 1))
        for lid in graph.ids if lid in rank
    }


def _pull_towards_parents(row: list[str], parents: dict[str, list[str]],
                          centre: dict[str, float], widths: dict[str, float]) -> None:
    """Shift a row sideways so its first real layer sits under its parents, when that does not
    make the row overlap itself (a row is placed as a whole, so shifting keeps the gaps)."""
    wanted = []
    for n in row:
        if n.startswith("\0") and any(not m.startswith("\0") for m in row):
            continue  # a lane follows the layers of its row, not the other way round
        ps = [centre[p] for p in _main_parents(parents, n) if p in centre]
        if ps:
            wanted.append(sum(ps) / len(ps) - centre[n])
    if wanted:
        shift = sorted(wanted)[(len(wanted) - 1) // 2]
        for n in row:
            centre[n] += shift


def _main_parents(parents: dict[str, list[str]], node: str) -> list[str]:
    """The parents a node lines up under: real layers when it has any, so a merge sits under
    the main branch and the shortcut's lane runs beside it (lanes only for lanes)."""
    ps = parents.get(node, [])
    real = [p for p in ps if not p.startswith("\0")]
    return real if real and not node.startswith("\0") else ps

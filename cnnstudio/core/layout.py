"""Automatic canvas layout: flow top to bottom, branches side by side, long chains in columns.

Pure and deterministic (no Qt), so a model file opened without a ``layout`` looks the same in the
GUI, in an exported diagram and in a test. A position is the top-left corner of a block, in the
canvas units of ``core.appearance``.

The method is the classic layered drawing, kept small:
1. each node goes one row below its deepest input;
2. an edge that skips rows reserves a narrow lane in every row it crosses, so a residual shortcut
   runs beside the blocks it bypasses instead of through them;
3. a few sweeps order each row by the mean column of its inputs, which keeps a plain chain in one
   straight column and puts parallel branches side by side;
4. the rows are folded into columns, cutting only where the whole flow passes through one block
   (between residual blocks, never inside one), so the drawing has the shape of the window it is
   shown in instead of being one thin tower.

Every step is bounded: the work is estimated before it is done and counted while it is done
(``LayoutReport.steps``). A graph whose lanes and sweeps would exceed the budget (say, 400 Adds
each taking every earlier layer: 10 million lanes) is placed the simpler way, rows without lanes
or ordering sweeps, which is linear in its size; its edges are then routed around the blocks by
``core.routing`` like any edge the user bends by moving blocks.

Layout works on *visible nodes* (``core.units``): a collapsed unit is laid out as one block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH, COLUMN_GAP_X, LAYER_GAP_Y
from cnnstudio.core.graph import Graph
from cnnstudio.core.units import layout_folded

#: Width reserved in a row for an edge passing through it (a fraction of a block's).
LANE_WIDTH = BLOCK_WIDTH * 0.35
#: Room between two folded columns: a gap plus a lane for the edge that climbs to the next one.
FOLD_GAP = COLUMN_GAP_X + 70.0
ROW_STEP = BLOCK_HEIGHT + LAYER_GAP_Y
#: The view a layout is shaped for when the caller does not say (pixels at zoom 1): the canvas
#: of the designer window at its default size.
DEFAULT_TARGET = (820.0, 540.0)
#: Units of work (a node, a lane or an edge visited once) the full method may spend; beyond it
#: the simpler placement is used. Measured: about a second per 300k units on a slow laptop.
LAYOUT_BUDGET = 150_000
_SWEEPS = 4
#: Column counts tried when folding (each try is linear in the number of rows).
_MAX_FOLD_TRIES = 48
#: Fold points considered at most (a longer list is thinned evenly).
_MAX_SEGMENTS = 400


@dataclass
class LayoutReport:
    """What the layout did, for tests and for the window to explain a simpler placement."""

    method: str = ""  # "layered" or "rows" (the simpler placement)
    nodes: int = 0
    lanes: int = 0
    sweeps: int = 0
    columns: int = 0
    steps: int = 0  # units of work actually spent
    budget: int = 0
    notes: list[str] = field(default_factory=list)


def layer_ranks(graph: Graph) -> dict[str, int]:
    """Row of each layer: one below its deepest input (layers on a cycle go after the rest)."""
    rank: dict[str, int] = {}
    for lid in graph.topological_order():
        srcs = [rank[s] for s in graph.layer(lid).inputs if s in rank]
        rank[lid] = max(srcs) + 1 if srcs else 0
    return rank


def _node_inputs(graph: Graph) -> tuple[list[str], dict[str, list[str]]]:
    """Layers in topological order and the distinct inputs of each that are in the graph."""
    order = graph.topological_order()
    inputs: dict[str, list[str]] = {}
    for lid in order:
        inputs[lid] = [s for s in dict.fromkeys(graph.layer(lid).inputs) if s in graph]
    return order, inputs


def auto_layout(graph: Graph, *, target: tuple[float, float] | None = None,
                budget: int = LAYOUT_BUDGET, report: LayoutReport | None = None
                ) -> dict[str, tuple[float, float]]:
    """Top-left position of every layer, shaped to fit ``target`` (view pixels).

    Rows run top to bottom and are folded into side-by-side columns when that lets the whole
    model show larger in ``target``; a collapsed unit is placed as one block
    (``core.units.layout_folded``). ``report`` (if given) says which method ran and its work.
    """
    rep = report if report is not None else LayoutReport()
    rep.budget = budget
    return layout_folded(graph, lambda g: _layout_nodes(g, target or DEFAULT_TARGET, rep))


def _layout_nodes(graph: Graph, target: tuple[float, float], rep: LayoutReport
                  ) -> dict[str, tuple[float, float]]:
    order, inputs = _node_inputs(graph)
    rep.nodes += len(order)
    if not order:
        rep.method = rep.method or "layered"
        return {}
    rank: dict[str, int] = {}
    for node in order:
        srcs = [rank[s] for s in inputs[node] if s in rank]
        rank[node] = max(srcs) + 1 if srcs else 0
    edges = [(s, d) for d in order for s in inputs[d] if s in rank]
    rep.steps += len(order) + len(edges)
    lanes = sum(max(0, rank[d] - rank[s] - 1) for s, d in edges)
    size = len(order) + lanes + len(edges)
    if size * 2 <= rep.budget:  # room for the lanes and at least one ordering sweep
        rep.method = rep.method or "layered"
        rep.lanes += lanes
        sweeps = min(_SWEEPS, rep.budget // size - 1)
        rep.sweeps = max(rep.sweeps, sweeps)
        rows, centre, widths = _layered(order, inputs, rank, edges, sweeps, lanes, rep)
    else:
        rep.method = "rows"
        rep.notes.append(f"{size:,} units of layout work is over the budget of {rep.budget:,}: "
                         "rows without lanes")
        rows, centre, widths = _rows(order, rank, rep)
    cuts = _fold_points(rows, rank, edges)
    rep.steps += len(rows) + len(edges)
    return _fold(rows, centre, widths, cuts, target, rep)


# --- the full method -------------------------------------------------------------------------
def _lane(src: str, dst: str, r: int) -> str:
    return f"\0lane:{src}>{dst}:{r}"


def _is_lane(node: str) -> bool:
    return node.startswith("\0")


def _layered(order: list[str], inputs: dict[str, list[str]], rank: dict[str, int],
             edges: list[tuple[str, str]], sweeps: int, lanes: int, rep: LayoutReport
             ) -> tuple[list[list[str]], dict[str, float], dict[str, float]]:
    rows: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    parents: dict[str, list[str]] = {}
    for node in order:
        rows[rank[node]].append(node)
        parents[node] = []
    for src, dst in edges:
        if rank[dst] <= rank[src] + 1:
            parents[dst].append(src)
            continue
        prev = src
        for r in range(rank[src] + 1, rank[dst]):
            lane = _lane(src, dst, r)
            rows[r].append(lane)
            parents[lane] = [prev]
            prev = lane
        parents[dst].append(prev)
    rep.steps += lanes
    widths = {n: (LANE_WIDTH if _is_lane(n) else BLOCK_WIDTH) for row in rows for n in row}
    centre: dict[str, float] = {}
    for row in rows:
        _place(row, widths, centre)
    main = {n: _main_parents(parents, n) for n in parents}
    first = {n: i for i, n in enumerate(order)}
    for _ in range(sweeps):
        for row in rows[1:]:
            before = {n: i for i, n in enumerate(row)}

            def key(n: str, before: dict[str, int] = before) -> tuple[float, int]:
                ps = [centre[p] for p in main[n]]
                return (sum(ps) / len(ps) if ps else centre[n], before[n])
            row.sort(key=key)
            _place(row, widths, centre)
            _pull_towards_parents(row, main, centre, first)
        rep.steps += len(widths) + len(edges) + lanes
    return rows, centre, widths


def _place(row: list[str], widths: dict[str, float], centre: dict[str, float]) -> None:
    """Put a row's nodes side by side, centred on x = 0."""
    total = sum(widths[n] for n in row) + COLUMN_GAP_X * (len(row) - 1)
    x = -total / 2
    for n in row:
        centre[n] = x + widths[n] / 2
        x += widths[n] + COLUMN_GAP_X


def _pull_towards_parents(row: list[str], main: dict[str, list[str]],
                          centre: dict[str, float], first: dict[str, int]) -> None:
    """Shift a row sideways so its main layer sits under its parents: the one listed first in
    the file (the main path of a residual block; its shortcut branch then stands beside it).
    A row moves as a whole, so its gaps are kept; a row of lanes follows its lanes."""
    only_lanes = all(_is_lane(m) for m in row)
    chosen = None
    for n in row:
        if (_is_lane(n) and not only_lanes) or not main[n]:
            continue  # a lane follows the layers of its row, not the other way round
        if chosen is None or first.get(n, 0) < first.get(chosen, 0):
            chosen = n
    if chosen is not None:
        ps = [centre[p] for p in main[chosen]]
        shift = sum(ps) / len(ps) - centre[chosen]
        for n in row:
            centre[n] += shift


def _main_parents(parents: dict[str, list[str]], node: str) -> list[str]:
    """The parents a node lines up under: real layers when it has any, so a merge sits under
    the main branch and the shortcut's lane runs beside it (lanes only for lanes)."""
    ps = parents.get(node, [])
    real = [p for p in ps if not _is_lane(p)]
    return real if real and not _is_lane(node) else ps


# --- the simpler placement -------------------------------------------------------------------
def _rows(order: list[str], rank: dict[str, int], rep: LayoutReport
          ) -> tuple[list[list[str]], dict[str, float], dict[str, float]]:
    """Rows in topological order, no lanes, no sweeps: linear in the number of nodes."""
    rows: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    for node in order:
        rows[rank[node]].append(node)
    widths = dict.fromkeys(order, BLOCK_WIDTH)
    centre: dict[str, float] = {}
    for row in rows:
        _place(row, widths, centre)
    rep.steps += len(order)
    return rows, centre, widths


# --- folding into columns --------------------------------------------------------------------
def _fold_points(rows: list[list[str]], rank: dict[str, int],
                 edges: list[tuple[str, str]]) -> list[int]:
    """Rows after which a column may end: one block in the row and no edge passing over it, so
    the flow between the two columns is a single wire."""
    over = [0] * (len(rows) + 1)  # edges crossing row r without stopping (difference array)
    for src, dst in edges:
        a, b = rank[src] + 1, rank[dst]
        if b > a:
            over[a] += 1
            over[b] -= 1
    cuts, passing = [], 0
    for r, row in enumerate(rows[:-1]):
        passing += over[r]
        real = [n for n in row if not _is_lane(n)]
        if len(row) == 1 and len(real) == 1 and passing == 0:
            cuts.append(r)
    return cuts


def _fold(rows: list[list[str]], centre: dict[str, float], widths: dict[str, float],
          cuts: list[int], target: tuple[float, float], rep: LayoutReport
          ) -> dict[str, tuple[float, float]]:
    """Pack the segments between fold points into columns so the drawing fits ``target`` as
    large as possible (never beyond 1:1; among equal fits, the fewest columns)."""
    bounds = [0, *[c + 1 for c in cuts], len(rows)]
    if len(bounds) > _MAX_SEGMENTS:  # a huge chain: fold at every n-th point only
        step = math.ceil(len(bounds) / _MAX_SEGMENTS)
        bounds = [*bounds[:-1:step], len(rows)]
    segments = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    left = [min(centre[n] - widths[n] / 2 for n in row) for row in rows]
    right = [max(centre[n] + widths[n] / 2 for n in row) for row in rows]
    seg_left = [min(left[a:b]) for a, b in segments]
    seg_right = [max(right[a:b]) for a, b in segments]
    tw, th = max(target[0], 1.0), max(target[1], 1.0)
    best: tuple[float, int] | None = None
    best_columns: list[list[int]] = [list(range(len(segments)))]
    tried: set[int] = set()
    for k in range(1, min(_MAX_FOLD_TRIES, len(segments)) + 1):
        most = _rows_for_columns(segments, k, rep)
        if most in tried:
            continue
        tried.add(most)
        columns = _pack(segments, most)
        width = sum(max(seg_right[i] for i in col) - min(seg_left[i] for i in col)
                    for col in columns) + FOLD_GAP * (len(columns) - 1)
        height = max(sum(segments[i][1] - segments[i][0] for i in col)
                     for col in columns) * ROW_STEP - LAYER_GAP_Y
        fit = min(1.0, tw / (width + 60), th / (height + 60))
        score = (round(fit, 3), -len(columns))
        if best is None or score > best:
            best, best_columns = score, columns
    rep.columns = max(rep.columns, len(best_columns))
    out: dict[str, tuple[float, float]] = {}
    x0 = 0.0
    for col in best_columns:
        col_left = min(seg_left[i] for i in col)
        row_in_column = 0
        for i in col:
            a, b = segments[i]
            for r in range(a, b):
                y = round(row_in_column * ROW_STEP, 1)
                for n in rows[r]:
                    if not _is_lane(n):
                        out[n] = (round(x0 + centre[n] - col_left - BLOCK_WIDTH / 2, 1), y)
                row_in_column += 1
        x0 += max(seg_right[i] for i in col) - col_left + FOLD_GAP
    # Centred on x = 0 (one column keeps the centring of its rows).
    shift = (x0 - FOLD_GAP) / 2 if len(best_columns) > 1 else -min(seg_left)
    return {n: (round(x - shift, 1), y) for n, (x, y) in out.items()}


def _rows_for_columns(segments: list[tuple[int, int]], k: int, rep: LayoutReport) -> int:
    """The fewest rows per column with which the segments fit in ``k`` columns (a binary
    search over the greedy packing, which is optimal for a given height)."""
    lo = max(b - a for a, b in segments)
    hi = segments[-1][1] - segments[0][0]
    while lo < hi:
        mid = (lo + hi) // 2
        rep.steps += len(segments)
        if len(_pack(segments, mid)) <= k:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _pack(segments: list[tuple[int, int]], most: int) -> list[list[int]]:
    """Consecutive segments into columns of at most ``most`` rows (a longer segment alone)."""
    columns: list[list[int]] = [[]]
    rows = 0
    for i, (a, b) in enumerate(segments):
        n = b - a
        if columns[-1] and rows + n > most:
            columns.append([])
            rows = 0
        columns[-1].append(i)
        rows += n
    return columns


# --- making room for new blocks --------------------------------------------------------------
def make_room(positions: dict[str, tuple[float, float]], placed: dict[str, tuple[float, float]]
              ) -> dict[str, tuple[float, float]]:
    """New positions for the blocks that would overlap the ``placed`` ones (new, pasted or
    inserted blocks, which stay where they are): each is pushed straight down to just below the
    block it collides with, and the blocks it then lands on are pushed in turn. Pushing only
    downwards ends the cascade; the work is bounded by a few passes over the blocks."""
    from cnnstudio.core.routing import BlockIndex, block_rect

    def padded(p: tuple[float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = block_rect(p)
        return (x0 - COLUMN_GAP_X / 4, y0 - LAYER_GAP_Y / 4, x1 + COLUMN_GAP_X / 4,
                y1 + LAYER_GAP_Y / 4)

    index = BlockIndex({lid: block_rect(p) for lid, p in positions.items() if lid not in placed})
    where = dict(positions)
    where.update(placed)
    moved: dict[str, tuple[float, float]] = {}
    queue = list(placed)
    budget = 8 * (len(positions) + len(placed)) + 16
    while queue and budget > 0:
        budget -= 1
        lid = queue.pop(0)
        x, y = where[lid]
        for hit in index.hits(padded((x, y)), skip=(lid,)):
            hx, hy = where[hit]
            below = y + BLOCK_HEIGHT + LAYER_GAP_Y
            if hy >= below:
                continue
            where[hit] = moved[hit] = (hx, round(below, 1))
            index.put(hit, block_rect(where[hit]))
            queue.append(hit)
    return moved


def free_offset(positions: dict[str, tuple[float, float]],
                piece: dict[str, tuple[float, float]], offset: tuple[float, float]
                ) -> tuple[float, float]:
    """Where pasted blocks go: shifted by ``offset`` if no block is there, else one step to the
    right at a time (the width of the pasted group plus a gap, keeping its rows) until they
    land on free canvas. After a bounded number of steps the last is taken (and the neighbours
    are then pushed aside by :func:`make_room`)."""
    from cnnstudio.core.routing import BlockIndex, block_rect

    if not piece:
        return offset
    index = BlockIndex({lid: block_rect(p) for lid, p in positions.items()})
    xs = [x for x, _ in piece.values()]
    step = max(xs) - min(xs) + BLOCK_WIDTH + COLUMN_GAP_X
    candidates = [offset] + [(k * step, 0.0) for k in range(1, 25)]
    for dx, dy in candidates:
        if not any(index.hits(block_rect((x + dx, y + dy))) for x, y in piece.values()):
            return (dx, dy)
    return candidates[-1]

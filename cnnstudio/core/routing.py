"""Where an edge runs: from a block's output port to an input port, never through a block.

Shared by the canvas and the SVG/PNG diagram (pure, no Qt), so the exported picture shows the
wires the user saw. An edge whose straight corridor is clear is the usual smooth S-curve; one with
blocks in the way (a residual shortcut beside the blocks it bypasses, the wire that climbs from the
bottom of one folded column to the top of the next, or any wire after the user moved blocks into
its path) turns out below its source, runs along the nearest free vertical lane and turns back in
above its target. Corners are drawn rounded, within the clearance kept from every block.

Blocks are looked up in a grid (``BlockIndex``), so routing one edge costs what lies near it, not
the size of the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass

from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH, PORT_RADIUS

Point = tuple[float, float]
Rect = tuple[float, float, float, float]  # left, top, right, bottom

#: Distance kept between a routed wire and any block (more than the rounded corner's radius).
CLEARANCE = 14.0
#: How far below its source (above its target) a detour turns sideways: mid-gap between rows.
TURN = 16.0
CORNER = 10.0
#: Vertical lanes examined per edge before settling for the best one seen.
_MAX_TRIES = 16
_CELL = 256.0


# --- ports -----------------------------------------------------------------------------------
def block_rect(position: Point) -> Rect:
    x, y = position
    return (x, y, x + BLOCK_WIDTH, y + BLOCK_HEIGHT)


def output_anchor(position: Point) -> Point:
    """Where edges leave a block: the middle of its bottom port."""
    return (position[0] + BLOCK_WIDTH / 2, position[1] + BLOCK_HEIGHT + PORT_RADIUS)


def input_anchor(position: Point, slot: int, count: int) -> Point:
    """Where the edge of input ``slot`` (of ``count``) ends; several spread along the top."""
    if count <= 1:
        x = BLOCK_WIDTH / 2
    else:
        span = min(BLOCK_WIDTH - 40, 44.0 + 30 * (count - 2))
        x = BLOCK_WIDTH / 2 - span / 2 + span * slot / (count - 1)
    return (position[0] + x, position[1] - PORT_RADIUS)


def input_slots(inputs: Iterable[str], positions: Mapping[str, Point]) -> dict[str, int]:
    """Slot of each drawn input along the top edge: left to right in the order of the sources'
    x (then file order), so the edges into a merge block do not cross."""
    listed = [s for s in inputs if s in positions]
    ordered = sorted(range(len(listed)), key=lambda i: (positions[listed[i]][0], i))
    return {listed[i]: slot for slot, i in enumerate(ordered)}


# --- the block index -------------------------------------------------------------------------
class BlockIndex:
    """Block rectangles by grid cell: which blocks touch a rectangle, in time that depends on
    the rectangle, not on the number of blocks."""

    def __init__(self, rects: Mapping[str, Rect] | None = None) -> None:
        self.rects: dict[str, Rect] = {}
        self._cells: dict[tuple[int, int], set[str]] = {}
        for key, rect in (rects or {}).items():
            self.put(key, rect)

    @staticmethod
    def _span(rect: Rect) -> Iterable[tuple[int, int]]:
        x0, y0 = math.floor(rect[0] / _CELL), math.floor(rect[1] / _CELL)
        x1, y1 = math.floor(rect[2] / _CELL), math.floor(rect[3] / _CELL)
        return ((i, j) for i in range(x0, x1 + 1) for j in range(y0, y1 + 1))

    def put(self, key: str, rect: Rect) -> None:
        self.remove(key)
        self.rects[key] = rect
        for cell in self._span(rect):
            self._cells.setdefault(cell, set()).add(key)

    def remove(self, key: str) -> None:
        old = self.rects.pop(key, None)
        if old is not None:
            for cell in self._span(old):
                keys = self._cells.get(cell)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._cells[cell]

    def extent(self) -> Rect | None:
        """The rectangle all blocks cover, or None when there are none."""
        if not self.rects:
            return None
        rects = self.rects.values()
        return (min(r[0] for r in rects), min(r[1] for r in rects),
                max(r[2] for r in rects), max(r[3] for r in rects))

    def hits(self, rect: Rect, skip: Container[str] = ()) -> list[str]:
        """Keys of the blocks overlapping ``rect`` (touching edges do not count)."""
        left, top, right, bottom = rect
        if right < left or bottom < top:
            return []
        span = (right - left) / _CELL + 1, (bottom - top) / _CELL + 1
        if not all(map(math.isfinite, span)) or span[0] * span[1] > len(self._cells):
            cells: Iterable[set[str]] = self._cells.values()  # a huge query: every cell
        else:
            cells = (self._cells.get(c, ()) for c in self._span(rect))  # type: ignore[misc]
        found: dict[str, None] = {}
        for keys in cells:
            for key in keys:
                if key in found or key in skip:
                    continue
                r = self.rects[key]
                if r[0] < right and left < r[2] and r[1] < bottom and top < r[3]:
                    found[key] = None
        return list(found)


# --- routes ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Route:
    """An edge's course: ``curved`` is the S-curve between the two end points; otherwise the
    points are a polyline drawn with rounded corners. ``label_at`` is where its shape label sits
    (the label's left end, vertically centred), None when there is no room for it."""

    points: tuple[Point, ...]
    curved: bool
    label_at: Point | None


def curve_controls(p1: Point, p2: Point) -> tuple[Point, Point]:
    """Control points of the S-curve: it leaves the output downwards and enters the input from
    above."""
    dy = max(40.0, abs(p2[1] - p1[1]) * 0.5)
    return (p1[0], p1[1] + dy), (p2[0], p2[1] - dy)


def _curve_box(p1: Point, p2: Point) -> Rect:
    c1, c2 = curve_controls(p1, p2)
    xs = (p1[0], p2[0])
    ys = (p1[1], p2[1], c1[1], c2[1])
    return (min(xs) - 3, min(ys) + PORT_RADIUS, max(xs) + 3, max(ys) - PORT_RADIUS)


def route(p1: Point, p2: Point, index: BlockIndex, ends: Container[str] = (),
          label_width: float = 60.0, labels: BlockIndex | None = None,
          label_key: str | None = None) -> Route:
    """The course of an edge from ``p1`` (an output anchor) to ``p2`` (an input anchor).

    ``ends`` names the edge's own blocks: the curve may touch them, a detour's long lane may not.
    The shape label (``label_width`` wide) goes beside the course where neither a block nor a
    label already placed in ``labels`` covers it (and is then added there, under
    ``label_key``); with no such room the edge has no label (``label_at`` is None).
    """
    if p2[1] > p1[1] + 2 * TURN and not index.hits(_curve_box(p1, p2), ends):
        controls = curve_controls(p1, p2)
        spots = [(_bezier(p1, *controls, p2, t), 0.0) for t in (0.5, 0.35, 0.65)]
        return Route((p1, p2), True,
                     _label_place(spots, index, label_width, labels, label_key))
    points = _detour(p1, p2, index)
    runs = sorted(((((a[0], (a[1] + b[1]) / 2)), abs(b[1] - a[1]))
                   for a, b in zip(points, points[1:], strict=False) if a[0] == b[0]),
                  key=lambda run: -run[1])
    return Route(points, False, _label_place(runs, index, label_width, labels, label_key))


def influence(course: Route, label_width: float) -> tuple[Rect, ...]:
    """Where :func:`route` looked to choose ``course`` and its label (``label_width`` wide):
    the rectangles in which a block or an earlier label appearing, going or moving could
    change either. Nothing outside them can, so a canvas re-routes only edges whose region
    such a change touches."""
    p1, p2 = course.points[0], course.points[-1]
    ya, yb = p1[1] + TURN, p2[1] - TURN
    regions: list[Rect] = []
    if p2[1] > p1[1] + 2 * TURN:
        regions.append(_curve_box(p1, p2))  # a block here decides curve or detour
    if course.curved:
        spots = [_bezier(p1, *curve_controls(p1, p2), p2, t) for t in (0.5, 0.35, 0.65)]
        xs, ys = [x for x, _ in spots], [y for _, y in spots]
        regions.append((min(xs) - 6 - label_width, min(ys) - 7,
                        max(xs) + 6 + label_width, max(ys) + 7))
    else:  # the lanes looked at, and the label beside any vertical run: the whole band
        ys = [p1[1], p2[1], ya, yb, *(y for _, y in course.points)]
        regions.append((-math.inf, min(ys) - 7, math.inf, max(ys) + 7))
    return tuple(regions)


def overlaps(a: Rect, b: Rect) -> bool:
    """Whether two rectangles share any point (touching counts)."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _label_place(spots: list[tuple[Point, float]], index: BlockIndex, width: float,
                 labels: BlockIndex | None, key: str | None) -> Point | None:
    """The left end of the label: beside the first spot (the longest vertical run first) with
    a free side, right before left."""
    for (x, y), _ in spots:
        for left in (x + 6, x - 6 - width):
            rect = (left, y - 7, left + width, y + 7)
            if not index.hits(rect) and (labels is None or not labels.hits(rect)):
                if labels is not None:
                    labels.put(key if key is not None else f"\0{len(labels.rects)}", rect)
                return (left, y)
    return None


def _free_lanes(blockers: list[Rect]) -> list[tuple[float, float]]:
    """The x intervals the blockers (grown by the clearance) cover, merged."""
    spans = sorted((r[0] - CLEARANCE, r[2] + CLEARANCE) for r in blockers)
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _detour(p1: Point, p2: Point, index: BlockIndex) -> tuple[Point, ...]:
    (x1, y1), (x2, y2) = p1, p2
    ya, yb = y1 + TURN, y2 - TURN
    lo, hi = min(ya, yb), max(ya, yb)
    span = BLOCK_WIDTH * 3
    window = (min(x1, x2) - span, lo, max(x1, x2) + span, hi)
    blockers = [index.rects[k] for k in index.hits(window)]
    covered = _free_lanes(blockers)
    if covered and (covered[0][0] <= window[0] or covered[-1][1] >= window[2]):
        # The blocked band reaches the window's sides: look at the whole band.
        blockers = [index.rects[k] for k in index.hits((-math.inf, lo, math.inf, hi))]
        covered = _free_lanes(blockers)
    candidates = {x1, x2}
    for a, b in covered:
        candidates.update((a, b))

    def free(x: float) -> bool:
        return not any(a < x < b for a, b in covered)

    def cost(x: float) -> tuple[float, float]:
        return (abs(x - x1) + abs(x - x2), -x)  # ties: the right side, where layout keeps lanes

    best: tuple[Point, ...] | None = None
    for tries, x in enumerate(sorted((c for c in candidates if free(c)), key=cost)):
        points = _lane_points(p1, p2, x, ya, yb)
        if best is None:
            best = points
        if tries >= _MAX_TRIES:
            break
        across = ((min(x1, x), ya - 1, max(x1, x), ya + 1),
                  (min(x, x2), yb - 1, max(x, x2), yb + 1))
        if not any(index.hits(r) for r in across):
            best = points
            break
    if best is None:  # cannot happen (the outermost boundary is always free); stay drawable
        best = _lane_points(p1, p2, x1, ya, yb)
    return best


def _lane_points(p1: Point, p2: Point, x: float, ya: float, yb: float) -> tuple[Point, ...]:
    (x1, _), (x2, _) = p1, p2
    pts = [p1, (x1, ya), (x, ya), (x, yb), (x2, yb), p2]
    out: list[Point] = []
    for p in pts:  # drop repeated points and the middle of straight runs
        if out and p == out[-1]:
            continue
        if len(out) >= 2 and _collinear(out[-2], out[-1], p):
            out[-1] = p
            continue
        out.append(p)
    return tuple(out)


def _collinear(a: Point, b: Point, c: Point) -> bool:
    return (a[0] == b[0] == c[0] and (b[1] - a[1]) * (c[1] - b[1]) >= 0) or (
        a[1] == b[1] == c[1] and (b[0] - a[0]) * (c[0] - b[0]) >= 0)


# --- drawing helpers (the canvas and the SVG draw the same shapes) ---------------------------
def _bezier(p0: Point, c1: Point, c2: Point, p3: Point, t: float) -> Point:
    u = 1 - t
    return (u * u * u * p0[0] + 3 * u * u * t * c1[0] + 3 * u * t * t * c2[0] + t * t * t * p3[0],
            u * u * u * p0[1] + 3 * u * u * t * c1[1] + 3 * u * t * t * c2[1] + t * t * t * p3[1])


def path_ops(r: Route) -> list[tuple[str, tuple[Point, ...]]]:
    """The route as drawing operations after a move to its first point: ``("C", (c1, c2, end))``,
    ``("L", (end,))`` and ``("Q", (corner, end))`` for a rounded corner."""
    pts = r.points
    if r.curved:
        c1, c2 = curve_controls(pts[0], pts[-1])
        return [("C", (c1, c2, pts[-1]))]
    ops: list[tuple[str, tuple[Point, ...]]] = []
    for i in range(1, len(pts) - 1):
        a, b, c = pts[i - 1], pts[i], pts[i + 1]
        ra = min(CORNER, _dist(a, b) / 2)
        rc = min(CORNER, _dist(b, c) / 2)
        rad = min(ra, rc)
        ops.append(("L", (_towards(b, a, rad),)))
        ops.append(("Q", (b, _towards(b, c, rad))))
    ops.append(("L", (pts[-1],)))
    return ops


def _dist(a: Point, b: Point) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


def _towards(frm: Point, to: Point, d: float) -> Point:
    length = _dist(frm, to)
    if length == 0:
        return frm
    return (frm[0] + (to[0] - frm[0]) * d / length, frm[1] + (to[1] - frm[1]) * d / length)


def sample(r: Route, step: float = 4.0) -> list[Point]:
    """Points along the drawn course, at most ``step`` apart (for hit tests and tests)."""
    out = [r.points[0]]
    cur = r.points[0]
    for kind, pts in path_ops(r):
        if kind == "L":
            (end,) = pts
            n = max(1, math.ceil(_dist(cur, end) / step))
            out += [(cur[0] + (end[0] - cur[0]) * i / n, cur[1] + (end[1] - cur[1]) * i / n)
                    for i in range(1, n + 1)]
        elif kind == "Q":
            c, end = pts
            n = max(2, math.ceil((_dist(cur, c) + _dist(c, end)) / step))
            for i in range(1, n + 1):
                t = i / n
                u = 1 - t
                out.append((u * u * cur[0] + 2 * u * t * c[0] + t * t * end[0],
                            u * u * cur[1] + 2 * u * t * c[1] + t * t * end[1]))
        else:
            c1, c2, end = pts
            n = max(4, math.ceil((_dist(cur, c1) + _dist(c1, c2) + _dist(c2, end)) / step))
            out += [_bezier(cur, c1, c2, end, i / n) for i in range(1, n + 1)]
        cur = pts[-1]
    return out


def edge_routes(graph_inputs: Mapping[str, list[str]], positions: Mapping[str, Point],
                label_width: Callable[[str], float] = lambda _src: 60.0
                ) -> dict[tuple[str, str], Route]:
    """Routes of every edge among placed nodes (``graph_inputs``: node -> its inputs);
    ``label_width(src)`` is the room the label of an edge from ``src`` needs."""
    index = BlockIndex({n: block_rect(p) for n, p in positions.items()})
    labels = BlockIndex()
    out: dict[tuple[str, str], Route] = {}
    for dst, inputs in graph_inputs.items():
        if dst not in positions:
            continue
        slots = input_slots(inputs, positions)
        for src, slot in slots.items():
            p1 = output_anchor(positions[src])
            p2 = input_anchor(positions[dst], slot, len(slots))
            out[(src, dst)] = route(p1, p2, index, (src, dst), label_width(src), labels)
    return out

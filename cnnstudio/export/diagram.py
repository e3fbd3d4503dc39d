"""The model as an SVG diagram, drawn the way the canvas draws it, for slides and papers.

Blocks carry the canvas's text (``core.appearance.block_text``: notation, id, output shape,
parameter count) and family colours, at the canvas positions (or the automatic layout when the
file has none); edges are curves labelled with the shape that flows along them. Plain SVG 1.1
with no scripts, fonts or external references, so it opens in browsers, Inkscape and LaTeX
tool chains alike. PNG is this SVG rasterised by Qt (``cnnstudio.gui.diagram_png``).

Every piece of text from the model file is XML-escaped (and stripped of characters XML cannot
hold), so a hostile id or name stays text and never becomes markup.
"""

from __future__ import annotations

import re

from cnnstudio.core import routing
from cnnstudio.core.appearance import (
    BLOCK_HEIGHT,
    BLOCK_WIDTH,
    ERROR_COLOR,
    WARNING_COLOR,
    block_text,
    header_color,
)
from cnnstudio.core.graph import Graph, Layer
from cnnstudio.core.layout import auto_layout
from cnnstudio.core.rules import fmt_shape
from cnnstudio.core.unit_text import UNIT_COLOR, UnitText, unit_text
from cnnstudio.core.units import visible_graph
from cnnstudio.core.validator import ValidationResult, validate

MARGIN = 30.0
#: The shape a diagram laid out for export is folded to: a portrait page's text block.
PAGE_TARGET = (520.0, 760.0)
TITLE_HEIGHT = 34.0
HEADER_HEIGHT = 22.0
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
#: Rough width of one character at the block font size, to shorten text that would overflow.
CHAR_WIDTH = 6.4
LABEL_CHAR_WIDTH = 6.0
STATUS_COLORS = {"error": ERROR_COLOR, "warning": WARNING_COLOR}

# XML 1.0 cannot hold these at all, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text safe as SVG element content or a double-quoted attribute value."""
    text = _NOT_XML.sub("?", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _fit(text: str, width: float, char_width: float = CHAR_WIDTH) -> str:
    most = max(int(width / char_width), 4)
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def positions_for(graph: Graph) -> dict[str, tuple[float, float]]:
    """Canvas positions when every layer has one, else the automatic layout (as on opening)."""
    if all(lid in graph.positions for lid in graph.ids):
        return dict(graph.positions)
    return auto_layout(graph, target=PAGE_TARGET)


def to_svg(graph: Graph, result: ValidationResult | None = None) -> str:
    """The diagram as an SVG document (a string); a collapsed unit is one block, as on the
    canvas."""
    result = result if result is not None else validate(graph)
    seen = visible_graph(graph)
    laid = positions_for(graph)
    anchors = {node: graph.units.entry(node) if seen.is_unit(node) else node
               for node in seen.nodes}  # a collapsed unit stands where its entry layer is
    pos = {node: laid[a] for node, a in anchors.items() if a in laid}
    # Each node's output label: a layer's shape, or the shape leaving a collapsed unit.
    outlet = {node: graph.units.boundary(node)[1][0] if seen.is_unit(node) else node
              for node in seen.nodes}
    labels = {node: fmt_shape(rep.output_shape if (rep := result.layers.get(lid)) else None)
              for node, lid in outlet.items()}
    node_inputs: dict[str, list[str]] = {node: [] for node in seen.nodes}
    for src, dst in seen.edges:
        node_inputs[dst].append(src)
    courses = routing.edge_routes(node_inputs, pos, lambda src: _label_width(labels[src]))
    # The drawing's extent: blocks, wires (a lane may pass beside or above every block) and
    # the wires' labels.
    xs, ys = [0.0], [0.0]
    if pos:
        xs = [x for x, _ in pos.values()] + [x + BLOCK_WIDTH for x, _ in pos.values()]
        ys = [y for _, y in pos.values()] + [y + BLOCK_HEIGHT for _, y in pos.values()]
    for (src, _dst), course in courses.items():
        xs += [p[0] for p in course.points]
        ys += [p[1] for p in course.points]
        if course.label_at is not None:
            xs += [course.label_at[0], course.label_at[0] + _label_width(labels[src])]
    left, top = min(xs), min(ys)
    width = max(xs) - left + 2 * MARGIN
    height = max(ys) - top + 2 * MARGIN + TITLE_HEIGHT
    t = result.totals
    subtitle = f"{t.trainable:,} trainable + {t.non_trainable:,} non-trainable parameters"
    width = max(width, len(subtitle) * LABEL_CHAR_WIDTH + 2 * MARGIN, BLOCK_WIDTH + 2 * MARGIN)
    dx, dy = MARGIN - left, MARGIN + TITLE_HEIGHT - top
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'font-family="{FONT}">',
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker>',
        "</defs>",
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    title = graph.name or "Model"
    out.append(f'<text x="{MARGIN:.0f}" y="{MARGIN + 6:.0f}" font-size="15" font-weight="bold" '
               f'fill="#222">{xml_text(_fit(title, width - 2 * MARGIN, 8.5))}</text>')
    out.append(f'<text x="{MARGIN:.0f}" y="{MARGIN + 24:.0f}" font-size="11" fill="#555">'
               f'{subtitle}</text>')
    out.append(f'<g transform="translate({dx:.1f},{dy:.1f})">')
    out += _edges(courses, labels)
    for node in seen.nodes:
        if node not in pos:
            continue
        if seen.is_unit(node):
            out += _unit_block(unit_text(graph, node, result), *pos[node])
        else:
            out += _block(graph.layer(node), result, *pos[node])
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _label_width(label: str) -> float:
    return len(label) * LABEL_CHAR_WIDTH + 6


def _edges(courses: dict[tuple[str, str], routing.Route], labels: dict[str, str]) -> list[str]:
    """Every edge along the course the canvas gives it (``core.routing``): around blocks."""
    out = []
    for (src, _dst), course in courses.items():
        d = [f"M{course.points[0][0]:.1f},{course.points[0][1]:.1f}"]
        for kind, pts in routing.path_ops(course):
            d.append(kind + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts))
        out.append(f'<path d="{" ".join(d)}" fill="none" stroke="#777" stroke-width="1.4" '
                   'marker-end="url(#arrow)"/>')
        if course.label_at is None:
            continue  # no room beside this wire: the shape shows on the source block anyway
        label = labels[src]
        # A plain backing box, not a text halo: Qt's SVG renderer ignores paint-order.
        mx, my = course.label_at
        mx += 3
        box = len(label) * LABEL_CHAR_WIDTH + 6
        out.append(f'<rect x="{mx - 3:.1f}" y="{my - 8:.1f}" width="{box:.1f}" height="12" '
                   'rx="3" fill="#ffffff" fill-opacity="0.85"/>')
        out.append(f'<text x="{mx:.1f}" y="{my + 1.5:.1f}" font-size="10" fill="#444">'
                   f'{xml_text(label)}</text>')
    return out


def _unit_block(text: UnitText, x: float, y: float) -> list[str]:
    """A collapsed unit: a stack of cards with its name, shapes in and out, and totals."""
    border = STATUS_COLORS.get(text.status, UNIT_COLOR)
    inner = BLOCK_WIDTH - 16
    w, h = BLOCK_WIDTH, BLOCK_HEIGHT
    out = ["<g>"]
    for k in (2, 1):
        out.append(f'<rect x="{x + 4 * k:.1f}" y="{y + 4 * k:.1f}" width="{w:.0f}" '
                   f'height="{h:.0f}" rx="6" fill="#ffffff" stroke="#999" stroke-width="1"/>')
    out += [
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.0f}" height="{h:.0f}" rx="6" '
        f'fill="#ffffff" stroke="{border}" stroke-width="1.6"/>',
        f'<path d="M{x:.1f},{y + HEADER_HEIGHT:.1f} v{-HEADER_HEIGHT + 6:.1f} '
        f'a6,6 0 0 1 6,-6 h{w - 12:.1f} a6,6 0 0 1 6,6 v{HEADER_HEIGHT - 6:.1f} z" '
        f'fill="{UNIT_COLOR}"/>',
        f'<text x="{x + 8:.1f}" y="{y + 15:.1f}" font-size="11.5" font-weight="bold" '
        f'fill="#ffffff">{xml_text(_fit(text.title, inner, 7.0))}</text>',
        f'<text x="{x + 8:.1f}" y="{y + 38:.1f}" font-size="10.5" fill="#222">'
        f'{xml_text(_fit(text.shapes, inner, 6.2))}</text>',
        f'<text x="{x + 8:.1f}" y="{y + 52:.1f}" font-size="10" fill="#666">'
        f'{xml_text(_fit(f"{text.count} layers, {text.totals}", inner, 5.8))}</text>',
        "</g>",
    ]
    return out


def _block(layer: Layer, result: ValidationResult, x: float, y: float) -> list[str]:
    rep = result.layers.get(layer.id)
    text = block_text(layer, rep)
    color = header_color(layer.spec.family)
    border = STATUS_COLORS.get(rep.status if rep else "", color)
    inner = BLOCK_WIDTH - 16
    w, h = BLOCK_WIDTH, BLOCK_HEIGHT
    out = [
        "<g>",
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.0f}" height="{h:.0f}" rx="6" '
        f'fill="#ffffff" stroke="{border}" stroke-width="1.6"/>',
        f'<path d="M{x:.1f},{y + HEADER_HEIGHT:.1f} v{-HEADER_HEIGHT + 6:.1f} '
        f'a6,6 0 0 1 6,-6 h{w - 12:.1f} a6,6 0 0 1 6,6 v{HEADER_HEIGHT - 6:.1f} z" '
        f'fill="{color}"/>',
        f'<text x="{x + 8:.1f}" y="{y + 15:.1f}" font-size="11.5" font-weight="bold" '
        f'fill="#ffffff">{xml_text(_fit(text.title, inner, 7.0))}</text>',
        f'<text x="{x + 8:.1f}" y="{y + 38:.1f}" font-size="10.5" fill="#555">'
        f'{xml_text(_fit(text.layer_id, inner * 0.55))}</text>',
        f'<text x="{x + w - 8:.1f}" y="{y + 38:.1f}" font-size="10.5" fill="#222" '
        f'text-anchor="end">{xml_text(_fit(text.shape, inner * 0.45))}</text>',
    ]
    if text.params:
        out.append(f'<text x="{x + w - 8:.1f}" y="{y + 52:.1f}" font-size="10" fill="#666" '
                   f'text-anchor="end">{xml_text(text.params)}</text>')
    if not layer.trainable:
        out.append(f'<text x="{x + 8:.1f}" y="{y + 52:.1f}" font-size="10" fill="#666">'
                   "frozen</text>")
    out.append("</g>")
    return out

"""How a layer block reads and looks, shared by the canvas and the SVG/PNG diagram exporter.

Kept in core (plain data, no Qt) so a diagram exported for a paper shows exactly the text and
family colours the user saw on the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnstudio.core.catalogue import ACTIVATION, CONV, DENSE, INPUT, MERGE, NORM, POOL
from cnnstudio.core.graph import Layer
from cnnstudio.core.rules import fmt_shape
from cnnstudio.core.validator import LayerReport

#: Muted family tints that read on light and dark backgrounds (header stripe / fill).
FAMILY_COLORS: dict[str, str] = {
    INPUT: "#6b8fb3",
    CONV: "#4f9a8a",
    POOL: "#7f9c4f",
    DENSE: "#a0776b",
    ACTIVATION: "#b39a4f",
    NORM: "#8a74a8",
    MERGE: "#a8688a",
}
ERROR_COLOR = "#d64541"
WARNING_COLOR = "#e0a030"
ACCENT_COLOR = "#3d7be0"

#: Canvas geometry in scene units; the auto-layout spaces blocks by these.
BLOCK_WIDTH = 190.0
BLOCK_HEIGHT = 58.0
LAYER_GAP_Y = 42.0
COLUMN_GAP_X = 40.0
#: Ports stick out this far above and below a block; edges start and end at their centres.
PORT_RADIUS = 5.0


def human_count(n: int) -> str:
    """Parameter counts as on diagrams: 448, 48.1k, 1.2M, 138M."""
    if n < 1000:
        return str(n)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div * 0.9995:  # so 999,999 reads 1M, not 1000k
            v = n / div
            return f"{v:.3g}{suffix}" if v < 100 else f"{v:.0f}{suffix}"
    return str(n)


@dataclass(frozen=True, slots=True)
class BlockText:
    title: str  # "Conv 16@3x3 s1 same"
    layer_id: str
    shape: str  # "16x32x32", "?" when unknown
    params: str  # "448 p" or "" for layers without weights


def block_text(layer: Layer, report: LayerReport | None) -> BlockText:
    """The lines a block shows: notation, id, output shape and parameter count."""
    title = layer.spec.notation(layer.params) or layer.type
    shape = fmt_shape(report.output_shape if report else None)
    total = report.params_total if report and report.output_shape is not None else 0
    params = f"{human_count(total)} p" if total else ""
    return BlockText(title, layer.id, shape, params)

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

RGB = tuple[float, float, float]  # each 0..1


def hex_rgb(color: str) -> RGB:
    """``"#rrggbb"`` as three fractions."""
    return tuple(int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def rgb_hex(rgb: RGB) -> str:
    return "#" + "".join(f"{round(min(max(v, 0.0), 1.0) * 255):02x}" for v in rgb)


def mix_rgb(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` moved a fraction ``t`` towards ``b``."""
    return tuple(x + (y - x) * t for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def luminance(rgb: RGB) -> float:
    """WCAG relative luminance of an opaque colour."""
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = rgb
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours, 1 (same) to 21 (black on white)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_rgb(fill: RGB, text: RGB, ratio: float = 4.5) -> RGB:
    """``fill`` moved away from ``text`` (towards black or white) just until ``text`` on it
    reaches ``ratio``, so a family tint keeps its hue but a title on it stays legible (the
    canvas headers and the exported diagram's alike)."""
    light_text = (max(text) + min(text)) / 2 >= 0.5  # HSL lightness
    away = (0.0, 0.0, 0.0) if light_text else (1.0, 1.0, 1.0)
    for step in range(21):
        # in whole 8-bit steps, so the shade still passes once written as #rrggbb
        shade = hex_rgb(rgb_hex(mix_rgb(fill, away, step * 0.05)))
        if contrast(shade, text) >= ratio:
            return shade
    return away


def header_color(family: str) -> str:
    """The family tint behind a block's white title: darkened just enough for WCAG's 4.5:1, as
    the canvas draws it."""
    return rgb_hex(readable_rgb(hex_rgb(FAMILY_COLORS.get(family, "#888888")), (1.0, 1.0, 1.0)))


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

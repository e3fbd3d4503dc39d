"""The SVG/PNG diagram draws a collapsed unit as one block, as the canvas does."""

from __future__ import annotations

from cnnstudio.core.templates import load_template
from cnnstudio.export.diagram import to_svg


def test_collapsed_units_are_one_block_with_their_totals() -> None:
    graph = load_template("cifar_vgg")
    svg = to_svg(graph)
    assert "Stage 1 (32 filters)" in svg and "3x32x32 \u2192 32x16x16" in svg
    assert "7 layers, 10.3k p" in svg
    assert ">bn1<" not in svg and ">c5<" not in svg  # hidden layers are not drawn
    assert svg.count("marker-end=") == 8  # 9 blocks in a chain: 8 edges
    graph.units.set_collapsed("stage1", False)
    expanded = to_svg(graph)
    assert ">bn1<" in expanded and expanded.count("marker-end=") == 14

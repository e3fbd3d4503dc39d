"""Small builders shared by the core tests: graphs made through the public Graph API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cnnstudio.core.graph import Graph

LayerDef = tuple[str, str, dict[str, Any]]


def chain(input_chw: Sequence[int], layers: Sequence[LayerDef], name: str = "") -> Graph:
    """``Input(c, h, w)`` with id "in", then each ``(id, type, params)`` fed by the one before."""
    c, h, w = input_chw
    g = Graph(name)
    prev = g.add_layer("Input", {"channels": c, "height": h, "width": w}, layer_id="in")
    for lid, type_name, params in layers:
        prev = g.add_layer(type_name, params, layer_id=lid, inputs=[prev])
    return g

"""Small builders shared by the core tests: graphs made through the public Graph API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from cnnstudio.core.graph import Graph

LayerDef = tuple[str, str, dict[str, Any]]


def chain(input_chw: Sequence[int], layers: Sequence[LayerDef], name: str = "") -> Graph:
    """``Input(c, h, w)`` then each ``(id, type, params)`` fed by the one before it."""
    c, h, w = input_chw
    g = Graph(name)
    prev = g.add_layer("Input", {"channels": c, "height": h, "width": w}, layer_id="in")
    for lid, type_name, params in layers:
        prev = g.add_layer(type_name, params, layer_id=lid, inputs=[prev])
    return g


@pytest.fixture
def make_chain() -> Callable[..., Graph]:
    return chain

"""What a block shows on the canvas and in exported diagrams."""

from __future__ import annotations

import pytest

from cnnstudio.core.appearance import FAMILY_COLORS, block_text, human_count
from cnnstudio.core.catalogue import FAMILY_TITLES
from cnnstudio.core.validator import validate

from .builders import chain


@pytest.mark.parametrize(("n", "text"), [
    (0, "0"), (448, "448"), (999, "999"), (1000, "1k"), (1500, "1.5k"), (48_120, "48.1k"),
    (999_499, "999k"), (999_999, "1M"), (61_706, "61.7k"), (11_689_512, "11.7M"),
    (138_357_544, "138M"), (1_814_073_344, "1.81G"),
])
def test_human_count(n: int, text: str) -> None:
    assert human_count(n) == text


def test_every_family_has_a_colour() -> None:
    assert set(FAMILY_COLORS) == set(FAMILY_TITLES)
    assert all(c.startswith("#") and len(c) == 7 for c in FAMILY_COLORS.values())


def test_block_text() -> None:
    g = chain((3, 32, 32), [("c1", "Conv2D", {"filters": 16, "padding": "same"}),
                            ("r", "ReLU", {}), ("bad", "Conv2D", {"kernel_size": 40})])
    r = validate(g)
    conv = block_text(g.layer("c1"), r.layers["c1"])
    assert (conv.title, conv.layer_id, conv.shape, conv.params) == \
        ("Conv 16@3x3 s1 same", "c1", "16x32x32", f"{3 * 3 * 3 * 16 + 16} p")
    assert block_text(g.layer("r"), r.layers["r"]).params == ""
    bad = block_text(g.layer("bad"), r.layers["bad"])
    assert bad.shape == "?" and bad.params == ""
    assert block_text(g.layer("c1"), None).shape == "?"

"""The palette: every catalogue type, search, drag payload and double-click insertion."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt

from cnnstudio.core.catalogue import LAYERS, PRESETS, layer_spec
from cnnstudio.gui.mime import LAYER_MIME
from cnnstudio.gui.palette import TYPE_ROLE, PaletteWidget, layer_mime_data


def _palette(qtbot, document, selection) -> PaletteWidget:
    widget = PaletteWidget(document, selection)
    qtbot.addWidget(widget)
    widget.resize(240, 600)
    widget.show()
    return widget


def _item(palette: PaletteWidget, type_name: str):
    return next(it for it in palette.type_items() if it.data(0, TYPE_ROLE) == type_name)


def _double_click(qtbot, palette: PaletteWidget, type_name: str) -> None:
    item = _item(palette, type_name)
    palette.tree.scrollToItem(item)
    pos = palette.tree.visualItemRect(item).center()
    # A real double-click is a click followed by a double-click event; QTest sends only the latter.
    qtbot.mouseClick(palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.mouseDClick(palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_lists_every_catalogue_type_under_its_family(qtbot, document, selection) -> None:
    palette = _palette(qtbot, document, selection)
    assert sorted(palette.visible_types()) == sorted([*LAYERS, *PRESETS])
    for item in palette.type_items():
        name = item.data(0, TYPE_ROLE)
        text = PRESETS[name].description if name in PRESETS else layer_spec(name).description
        assert item.parent().text(0).startswith(("Input", "Convolution", "Pooling", "Dense",
                                                 "Activations", "Normalisation", "Merge"))
        assert html.escape(text, quote=False) in item.toolTip(0)
        assert not item.icon(0).isNull()


def test_search_filters_by_name_and_by_teaching_text(qtbot, document, selection) -> None:
    palette = _palette(qtbot, document, selection)
    qtbot.keyClicks(palette.search, "pool")
    assert set(palette.visible_types()) == {"MaxPool2D", "AvgPool2D", "GlobalAvgPool2D",
                                            "GlobalMaxPool2D"}
    palette.search.clear()
    qtbot.keyClicks(palette.search, "residual")  # only in Add's description
    assert palette.visible_types() == ["Add"]
    palette.search.clear()
    assert sorted(palette.visible_types()) == sorted([*LAYERS, *PRESETS])
    qtbot.keyClicks(palette.search, "no such layer")
    assert palette.visible_types() == []


def test_drag_payload_carries_the_type_name() -> None:
    mime = layer_mime_data("Conv2D")
    assert mime.hasFormat(LAYER_MIME)
    assert bytes(mime.data(LAYER_MIME)).decode("utf-8") == "Conv2D"


def test_double_click_inserts_after_the_selection_and_wires_it_in(qtbot, document,
                                                                   selection) -> None:
    palette = _palette(qtbot, document, selection)
    before = document.graph.copy()
    selection.set(["c1"])
    _double_click(qtbot, palette, "BatchNorm")
    new = selection.current()
    assert new is not None and document.graph.layer(new).type == "BatchNorm"
    assert document.graph.layer(new).inputs == ["c1"]
    assert document.graph.layer("r1").inputs == [new]
    assert document.result.valid
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.graph == before


def test_double_click_with_nothing_selected_adds_an_unconnected_block(qtbot, document,
                                                                     selection) -> None:
    palette = _palette(qtbot, document, selection)
    count = len(document.graph)
    _double_click(qtbot, palette, "Dense")
    assert len(document.graph) == count + 1
    new = selection.current()
    assert document.graph.layer(new).inputs == []
    assert document.graph.consumers(new) == []


def test_enter_on_a_search_hit_adds_it(qtbot, document, selection) -> None:
    palette = _palette(qtbot, document, selection)
    selection.set(["out"])
    qtbot.keyClicks(palette.search, "softmax")
    palette.tree.setFocus()
    qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    new = selection.current()
    assert document.graph.layer(new).type == "Softmax"
    assert document.graph.layer(new).inputs == ["out"]


def test_depthwise_entry_adds_a_conv_with_one_group_per_input_channel(qtbot, document,
                                                                      selection) -> None:
    """The DepthwiseConv2D preset is a Conv2D (the file knows no such type) whose groups and
    filters match the channels of the layer it is added after; one undo removes it."""
    palette = _palette(qtbot, document, selection)
    g = document.graph
    feeding = next(lid for lid in document.result.order
                   if len(document.result.layers[lid].output_shape or ()) == 3
                   and lid != document.result.input_ids[0])
    channels = document.result.layers[feeding].output_shape[0]
    selection.set([feeding])
    _double_click(qtbot, palette, "DepthwiseConv2D")
    (new,) = selection.ids()
    layer = g.layer(new)
    assert layer.type == "Conv2D"
    assert layer.params["groups"] == layer.params["filters"] == channels
    assert layer.inputs == [feeding]
    assert document.result.layers[new].trainable == channels * 9  # one 3x3 filter per channel
    document.undo_stack.undo()
    assert new not in g

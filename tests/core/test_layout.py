"""Automatic layout: bounded work on any graph the reader accepts, and a drawing that fits.

Times are not asserted (``cnnstudio bench`` measures speed); the tests assert the work the
layout spends (its step counter) and which method it chose, on generated files of the shapes a
hostile-input run used: every Add taking all earlier layers, and a very long chain.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.core import modelfile
from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH
from cnnstudio.core.graph import Graph
from cnnstudio.core.layout import LAYOUT_BUDGET, LayoutReport, auto_layout
from cnnstudio.core.templates import list_templates, load_template
from cnnstudio.core.units import visible_graph


def dense_adds_document(n: int) -> dict:
    """Input, a ReLU, then ``n - 1`` Adds each taking every earlier layer (n**2 / 2 edges)."""
    layers = [{"id": "in", "type": "Input", "params": {"channels": 1, "height": 4, "width": 4}},
              {"id": "a0", "type": "ReLU", "inputs": ["in"]}]
    ids = ["in", "a0"]
    for i in range(1, n):
        layers.append({"id": f"a{i}", "type": "Add", "inputs": list(ids)})
        ids.append(f"a{i}")
    return {"format": "cnnstudio.model", "version": 1, "name": "dense adds", "layers": layers}


def chain_document(n: int) -> dict:
    layers = [{"id": "in", "type": "Input", "params": {"channels": 1, "height": 4, "width": 4}}]
    layers += [{"id": f"r{i}", "type": "ReLU"} for i in range(n - 1)]
    return {"format": "cnnstudio.model", "version": 1, "name": "chain", "layers": layers}


def read(tmp_path: Path, document: dict) -> Graph:
    """Through the real reader, as a user's file would come in."""
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    return modelfile.load(path)


def assert_no_overlap(pos: dict[str, tuple[float, float]]) -> None:
    cells: dict[tuple[int, int], list[str]] = {}
    for lid, (x, y) in pos.items():
        for cx in range(int(x // 400), int((x + BLOCK_WIDTH) // 400) + 1):
            for cy in range(int(y // 400), int((y + BLOCK_HEIGHT) // 400) + 1):
                cells.setdefault((cx, cy), []).append(lid)
    for ids in cells.values():
        for i, a in enumerate(ids):
            ax, ay = pos[a]
            for b in ids[i + 1:]:
                bx, by = pos[b]
                assert not (abs(ax - bx) < BLOCK_WIDTH and abs(ay - by) < BLOCK_HEIGHT), (a, b)


def work_bound(graph: Graph) -> int:
    """Linear in the file: nodes plus edges, times a small constant, plus the budget."""
    size = len(graph) + sum(len(layer.inputs) for layer in graph)
    return LAYOUT_BUDGET + 40 * size


@pytest.mark.parametrize("n", [100, 200, 400])  # 38 KB, 152 KB and 619 KB files
def test_every_add_taking_all_earlier_layers_gets_the_simpler_placement(tmp_path, n):
    graph = read(tmp_path, dense_adds_document(n))
    report = LayoutReport()
    pos = auto_layout(graph, report=report)
    # Lanes for every skipped row would be about n**3 / 6 nodes (10 million for n = 400).
    assert report.method == "rows"
    assert report.lanes == 0
    assert report.steps <= work_bound(graph)
    assert set(pos) == set(graph.ids)
    assert_no_overlap(pos)


def test_a_chain_at_the_reader_limit_is_laid_out_in_linear_work(tmp_path):
    graph = read(tmp_path, chain_document(30_000))
    report = LayoutReport()
    pos = auto_layout(graph, report=report)
    assert report.steps <= work_bound(graph)
    assert len(pos) == len(graph)
    assert report.columns > 1  # folded, not a 3-million-unit tower


def test_work_grows_linearly_with_the_dense_graph_not_cubically(tmp_path):
    steps = []
    for n in (100, 200):
        report = LayoutReport()
        auto_layout(read(tmp_path, dense_adds_document(n)), report=report)
        steps.append(report.steps)
    assert steps[1] <= 4.5 * steps[0]  # edges grow 4x; lanes would grow 8x


def test_a_moderate_skip_graph_keeps_the_full_method(tmp_path):
    graph = read(tmp_path, dense_adds_document(20))  # 1,300 lanes: well within the budget
    report = LayoutReport()
    pos = auto_layout(graph, report=report)
    assert report.method == "layered" and report.lanes > 0 and report.sweeps >= 1
    assert report.steps <= LAYOUT_BUDGET
    assert_no_overlap(pos)


@pytest.mark.parametrize("name", [t.key for t in list_templates()])
def test_templates_use_the_full_method_without_overlaps(name):
    graph = load_template(name)
    report = LayoutReport()
    pos = auto_layout(graph, report=report)
    assert report.method == "layered"
    assert set(pos) == set(graph.ids)
    # The blocks drawn: a collapsed unit stands at its entry layer; its other layers are hidden.
    seen = visible_graph(graph)
    assert_no_overlap({n: pos[graph.units.entry(n) if seen.is_unit(n) else n]
                       for n in seen.nodes})
    for uid in graph.units.ids:  # laid out with every unit expanded: no overlap either
        graph.units.set_collapsed(uid, False)
    assert_no_overlap(auto_layout(graph))


def test_resnet18_with_its_residual_blocks_collapsed_fits_one_screen_legibly():
    """Eight collapsed residual-block units: 15 visible blocks, laid out for the canvas of a
    1280x800 window (about 700x450 pixels), fit it whole at the legible zoom or better."""
    from cnnstudio.core.units import visible_graph
    from tests.core.test_real_architectures import resnet18

    graph = resnet18()
    for stage in (1, 2, 3, 4):
        for block in (0, 1):
            name = f"layer{stage}_{block}"
            members = [lid for lid in graph.ids if lid.startswith(name + "_")]
            graph.units.add(name, f"Residual block {stage}.{block}", members, collapsed=True)
    seen = visible_graph(graph)
    assert len(seen.nodes) == 15
    target = (700.0, 450.0)
    pos = auto_layout(graph, target=target)
    shown = {node: pos[graph.units.entry(node) if seen.is_unit(node) else node]
             for node in seen.nodes}
    assert_no_overlap(shown)
    xs = [x for x, _ in shown.values()]
    ys = [y for _, y in shown.values()]
    width = max(xs) - min(xs) + BLOCK_WIDTH + 60
    height = max(ys) - min(ys) + BLOCK_HEIGHT + 60
    assert min(target[0] / width, target[1] / height) >= 0.4  # LEGIBLE_ZOOM of the canvas

"""Edges never run through a block: every template and a ResNet-18, as laid out automatically
(for the window and for a page), routed by ``core.routing`` as the canvas and the SVG draw them."""

from __future__ import annotations

import pytest

from cnnstudio.core import routing
from cnnstudio.core.appearance import BLOCK_HEIGHT, BLOCK_WIDTH
from cnnstudio.core.graph import Graph
from cnnstudio.core.layout import auto_layout
from cnnstudio.core.templates import list_templates, load_template
from tests.core.test_real_architectures import resnet18

MODELS = {t.key: (lambda key=t.key: load_template(key)) for t in list_templates()}
MODELS["resnet18"] = resnet18
TARGETS = {"window": (820.0, 540.0), "page": (520.0, 760.0), "tall": (400.0, 3000.0)}


def crossings(graph: Graph, pos: dict[str, tuple[float, float]]) -> list[str]:
    """Edges with a drawn point strictly inside a block other than their own ends' ports."""
    courses = routing.edge_routes({lay.id: lay.inputs for lay in graph}, pos)
    index = routing.BlockIndex({lid: routing.block_rect(p) for lid, p in pos.items()})
    bad = []
    for (src, dst), course in courses.items():
        for x, y in routing.sample(course, step=2.0):
            hit = index.hits((x - 0.5, y - 0.5, x + 0.5, y + 0.5))
            if hit:
                bad.append(f"{src}->{dst} passes through {hit[0]} at ({x:.0f}, {y:.0f})")
                break
    return bad


@pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS.keys())
@pytest.mark.parametrize("name", MODELS)
def test_no_edge_runs_through_a_block(name, target):
    graph = MODELS[name]()
    pos = auto_layout(graph, target=target)
    assert crossings(graph, pos) == []


def test_a_skip_connection_runs_beside_the_blocks_it_bypasses():
    """The mini_resnet case that used to be drawn straight through four blocks."""
    graph = load_template("mini_resnet")
    pos = {lid: (0.0, 100.0 * i) for i, lid in enumerate(graph.topological_order())}  # a column
    courses = routing.edge_routes({lay.id: lay.inputs for lay in graph}, pos)
    skip = courses[("stem_relu", "b1_add")]
    assert not skip.curved
    (lane,) = {x for x, _ in skip.points[2:4]}  # the long vertical run
    assert lane >= BLOCK_WIDTH + routing.CLEARANCE or lane <= -routing.CLEARANCE
    assert crossings(graph, pos) == []


def test_a_wire_after_a_block_was_moved_into_its_way_goes_around_it():
    g = Graph()
    g.add_layer("Input", layer_id="a")
    g.add_layer("ReLU", layer_id="b", inputs=["a"])
    pos = {"a": (0.0, 0.0), "b": (0.0, 400.0), "c": (-20.0, 180.0)}  # c sits on the wire
    index = routing.BlockIndex({k: routing.block_rect(p) for k, p in pos.items()})
    course = routing.route(routing.output_anchor(pos["a"]),
                           routing.input_anchor(pos["b"], 0, 1), index, ("a", "b"))
    assert not course.curved
    for x, y in routing.sample(course):
        assert not index.hits((x - 0.5, y - 0.5, x + 0.5, y + 0.5)), (x, y)


def test_a_wire_to_a_block_above_climbs_beside_both():
    pos = {"a": (0.0, 500.0), "b": (0.0, 0.0)}
    index = routing.BlockIndex({k: routing.block_rect(p) for k, p in pos.items()})
    course = routing.route(routing.output_anchor(pos["a"]), routing.input_anchor(pos["b"], 0, 1),
                           index, ("a", "b"))
    xs = [x for x, _ in course.points]
    assert max(xs) >= BLOCK_WIDTH + routing.CLEARANCE or min(xs) <= -routing.CLEARANCE
    for x, y in routing.sample(course):
        assert not index.hits((x - 0.5, y - 0.5, x + 0.5, y + 0.5)), (x, y)
    assert course.points[-1][1] < BLOCK_HEIGHT  # it ends on b's top port, entering from above

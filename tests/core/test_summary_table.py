"""The Keras-style summary table shared by the CLI, the GUI panel and the Markdown export."""

from __future__ import annotations

from cnnstudio.core.templates import load_template
from cnnstudio.core.validator import validate
from cnnstudio.export.summary import HEADERS, format_markdown, format_text, summary_rows

from .builders import chain


def test_rows_follow_topological_order_with_notation_and_numbers() -> None:
    g = load_template("lenet5")
    r = validate(g)
    rows = summary_rows(g, r)
    assert [row.layer for row in rows] == r.order
    c1 = rows[1]
    assert c1.type == "Conv 6@5x5 s1 valid"
    assert (c1.shape, c1.params, c1.receptive_field, c1.macs) == \
        ("6x28x28", f"{5 * 5 * 6 + 6:,}", "5x5", f"{28 * 28 * 6 * 25:,}")
    fc1 = next(row for row in rows if row.layer == "fc1")
    assert fc1.shape == "120" and fc1.params == "48,120"


def test_unknown_values_show_a_question_mark_and_frozen_layers_are_marked() -> None:
    g = chain((1, 10, 10), [("c", "Conv2D", {"kernel_size": 12}), ("r", "ReLU", {})])
    g.set_trainable("c", False)
    rows = {row.layer: row for row in summary_rows(g, validate(g))}
    assert set(rows) == {"in", "c (frozen)", "r"}
    assert rows["r"].shape == rows["r"].params == rows["r"].macs == "?"
    assert rows["c (frozen)"].receptive_field == "?"


def test_text_table_lists_every_layer_totals_and_problems() -> None:
    g = chain((1, 10, 10), [("c", "Conv2D", {"stride": 2}), ("f", "Flatten", {}),
                            ("d", "Dense", {"units": 3})], name="Tiny")
    r = validate(g)
    text = format_text(g, r)
    lines = text.splitlines()
    assert lines[0] == 'Model: "Tiny"'
    assert all(h in text for h in HEADERS)
    for lid in ("in", "c", "f", "d"):
        assert any(line.startswith(lid + " ") for line in lines), lid
    params = (9 * 16 + 16) + (16 * 4 * 4 * 3 + 3)
    assert f"Trainable params: {params:,}" in lines
    assert "Non-trainable params: 0" in lines
    assert f"Total params: {params:,}" in lines
    assert any(line.startswith("warning [fractional_tiling] Conv2D c:") for line in lines)
    # Columns line up: every table row is as wide as the header row or narrower (rstrip).
    header = next(line for line in lines if line.startswith("Layer"))
    rule = lines[1]
    assert len(rule) == len(header)


def test_text_of_a_valid_model_says_so() -> None:
    g = load_template("lenet5")
    assert format_text(g, validate(g)).endswith("No problems: the model is valid.")


def test_markdown_table() -> None:
    g = chain((1, 8, 8), [("f|x", "Flatten", {}), ("d", "Dense", {"units": 2})], name="A|B")
    md = format_markdown(g, validate(g))
    lines = md.splitlines()
    assert lines[0] == "### A\\|B"
    assert lines[2] == "| " + " | ".join(HEADERS) + " |"
    assert lines[3].startswith("| :--- | :--- | ---:")
    assert any(line.startswith("| f\\|x |") for line in lines)
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 3
    assert "- Total params: 130" in lines  # 64*2 + 2

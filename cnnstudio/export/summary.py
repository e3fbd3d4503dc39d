"""Summary tables (Keras ``model.summary()`` style) as plain text and as Markdown.

One row builder serves the CLI, the GUI's summary panel (copy as text or Markdown) and
``cnnstudio export --to markdown``, so every place shows the same numbers the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnstudio.core.graph import Graph, Layer
from cnnstudio.core.rules import fmt_shape
from cnnstudio.core.validator import LayerReport, ValidationResult

HEADERS = ("Layer", "Type", "Output shape", "Params", "Receptive field", "MACs")
#: Columns holding numbers: right-aligned.
NUMERIC = (False, False, True, True, True, True)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    layer: str
    type: str
    shape: str
    params: str
    receptive_field: str
    macs: str

    def cells(self) -> tuple[str, ...]:
        return (self.layer, self.type, self.shape, self.params, self.receptive_field, self.macs)


def summary_rows(graph: Graph, result: ValidationResult) -> list[SummaryRow]:
    """One row per layer in topological order; unknown values shown as "?"."""
    return [summary_row(graph.layer(lid), result.layers[lid]) for lid in result.order]


def summary_row(layer: Layer, rep: LayerReport) -> SummaryRow:
    """The row of one layer, from its validation report."""
    known = rep.output_shape is not None
    notation = layer.spec.notation(layer.params) or layer.type
    rf = rep.receptive_field
    return SummaryRow(
        layer=layer.id + ("" if layer.trainable else " (frozen)"),
        type=notation,
        shape=fmt_shape(rep.output_shape),
        params=f"{rep.params_total:,}" if known else "?",
        receptive_field=f"{rf[0]}x{rf[1]}" if rf else "?",
        macs=f"{rep.macs:,}" if known else "?",
    )


def totals_lines(result: ValidationResult) -> list[str]:
    t = result.totals
    return [
        f"Trainable params: {t.trainable:,}",
        f"Non-trainable params: {t.non_trainable:,}",
        f"Total params: {t.total:,}",
        f"MACs per image: {t.macs:,}",
    ]


def problem_lines(result: ValidationResult) -> list[str]:
    return ([f"error [{p.code}] {p.message}" for p in result.errors]
            + [f"warning [{p.code}] {p.message}" for p in result.warnings])


def format_text(graph: Graph, result: ValidationResult) -> str:
    """The table, totals, then errors and warnings, as ``cnnstudio summary`` prints them."""
    rows = [HEADERS] + [r.cells() for r in summary_rows(graph, result)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, NUMERIC, strict=True)).rstrip()

    rule = "-" * len(line(HEADERS))
    title = f'Model: "{graph.name}"' if graph.name else "Model"
    out = [title, rule, line(HEADERS), rule, *(line(r) for r in rows[1:]), rule]
    out += totals_lines(result)
    out.append(rule)
    problems = problem_lines(result)
    out += problems if problems else ["No problems: the model is valid."]
    return "\n".join(out)


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def format_markdown(graph: Graph, result: ValidationResult) -> str:
    """The same table in GitHub Markdown, for READMEs, reports and issues."""
    align = ["---:" if num else ":---" for num in NUMERIC]
    out = []
    if graph.name:
        out += [f"### {_md_escape(graph.name)}", ""]
    out.append("| " + " | ".join(HEADERS) + " |")
    out.append("| " + " | ".join(align) + " |")
    for row in summary_rows(graph, result):
        out.append("| " + " | ".join(_md_escape(c) for c in row.cells()) + " |")
    out.append("")
    out += [f"- {line}" for line in totals_lines(result)]
    problems = problem_lines(result)
    if problems:
        out.append("")
        out += [f"- {_md_escape(p)}" for p in problems]
    return "\n".join(out) + "\n"

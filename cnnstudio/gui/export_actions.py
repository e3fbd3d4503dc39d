"""The Export menu: what ``cnnstudio export`` writes, from the model open in the window.

Every format is written by the export package's own function (the CLI calls the same ones), so
the window adds only what a window needs: a file dialog, a refusal dialog listing the validator's
errors, a dialog naming the optional package to install, and a status-bar line saying what was
written. Weights come from a callable the window supplies (``MainWindow.current_weights``): when
training has produced weights the PyTorch file is written with a ``.npz`` beside it and the ONNX
graph carries them; otherwise PyTorch code comes without weights and ONNX gets the engine's fresh
initialisation (seed 0, as ``cnnstudio export --to onnx`` without ``--weights``).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox

from cnnstudio.export.registry import ExportError, atomic_write_bytes, refuse_invalid
from cnnstudio.gui.document import Document, write_atomically

if TYPE_CHECKING:
    import numpy as np

    from cnnstudio.core.graph import Graph
    from cnnstudio.export.model_input import ModelInput
    from cnnstudio.gui.file_actions import FileActions

#: What the window's weights hook returns: a state dict (``"<id>/<name>"`` arrays, meta keys
#: such as the input normaliser allowed) or None when nothing has been trained or loaded.
WeightsSource = Callable[[], "Mapping[str, np.ndarray] | None"]

#: Seed of the initial weights an ONNX export gets when there are no trained weights.
FRESH_SEED = 0


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One Export menu entry; ``needs_valid`` formats are refused for a model with errors."""

    key: str
    label: str
    suffix: str
    file_filter: str
    needs_valid: bool
    tip: str


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("json", "Model as &JSON…", ".json", "cnnstudio models (*.json)", False,
                 "write a copy of the model file; the window keeps editing the current file"),
    ExportFormat("pytorch", "&PyTorch (.py)…", ".py", "Python files (*.py)", True,
                 "a runnable PyTorch module with build_model() and a training main"),
    ExportFormat("onnx", "&ONNX (.onnx)…", ".onnx", "ONNX models (*.onnx)", True,
                 "an ONNX graph (opset 17) with the current or freshly initialised weights"),
    ExportFormat("svg", "Diagram as &SVG…", ".svg", "SVG images (*.svg)", True,
                 "the graph as the canvas draws it, for slides and papers"),
    ExportFormat("png", "Diagram as P&NG…", ".png", "PNG images (*.png)", True,
                 "the diagram as a picture (2 pixels per unit)"),
    ExportFormat("markdown", "Summary as &Markdown…", ".md", "Markdown (*.md)", True,
                 "the Keras-style summary table"),
    ExportFormat("summary_json", "Summary as JSON…", ".json", "JSON (*.json)", False,
                 "shapes, parameters and problems as JSON (cnnstudio summary --json)"),
)
FORMATS_BY_KEY = {f.key: f for f in FORMATS}


def onnx_available() -> bool:
    """Whether the optional ``onnx`` package is installed (without importing it: it is slow)."""
    try:
        return importlib.util.find_spec("onnx") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


class ExportActions(QObject):
    """The Export menu's actions and the writing behind them."""

    #: The file just written (the status bar has already said so).
    exported = Signal(str)

    def __init__(self, window: QMainWindow, document: Document, files: FileActions,
                 weights: WeightsSource) -> None:
        super().__init__(window)
        self.window = window
        self.document = document
        self.files = files
        self._weights = weights
        self.actions: dict[str, QAction] = {}
        for fmt in FORMATS:
            action = QAction(fmt.label, self)
            action.setStatusTip(fmt.tip)
            action.setToolTip(fmt.tip)
            action.setObjectName(f"export_{fmt.key}")
            action.triggered.connect(lambda _=False, k=fmt.key: self.export(k))
            self.actions[fmt.key] = action
        self.normalization_inside = QAction("Exported Models Take Images in [0, 1]", self)
        self.normalization_inside.setCheckable(True)
        self.normalization_inside.setChecked(True)
        self.normalization_inside.setObjectName("export_normalization_inside")
        tip = ("on: PyTorch and ONNX exports standardise their input themselves, with the "
               "training mean and std, and take images in [0, 1] as Predict does; off: they "
               "expect inputs already standardised")
        self.normalization_inside.setStatusTip(tip)
        self.normalization_inside.setToolTip(tip)
        if not onnx_available():
            onnx = self.actions["onnx"]
            onnx.setStatusTip("needs the optional onnx package: pip install cnnstudio[onnx]")
            onnx.setText(onnx.text().replace("…", " (not installed)…"))

    def fill_menu(self, menu: QMenu) -> None:
        """Model copy first, then the formats a user carries elsewhere, then the summaries."""
        for key in ("json", None, "pytorch", "onnx", "inside", None, "svg", "png", None,
                    "markdown", "summary_json"):
            if key is None:
                menu.addSeparator()
            else:
                menu.addAction(self.normalization_inside if key == "inside"
                               else self.actions[key])

    # --- the user's path --------------------------------------------------------------------
    def export(self, key: str, path: str | Path | None = None) -> bool:
        """Check, ask where (unless ``path`` is given), write, and say so; True when written."""
        fmt = FORMATS_BY_KEY[key]
        if fmt.needs_valid and not self._check_valid(fmt):
            return False
        if key == "onnx" and not (self._check_onnx() and self._check_onnx_size()):
            return False
        if path is None:
            path = self._ask_path(fmt)
            if path is None:
                return False
        target = Path(path)
        if self.document.path is not None and _same_file(target, self.document.path):
            QMessageBox.warning(self.window, "Export",
                                f"{target.name} is the model's own file. Use Save to write it, "
                                "or choose another name for the copy.")
            return False
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            message = self.write(key, target)
        except ExportError as exc:
            QGuiApplication.restoreOverrideCursor()
            self._refused(exc)
            return False
        except (OSError, ValueError) as exc:
            QGuiApplication.restoreOverrideCursor()
            QMessageBox.critical(self.window, "Cannot export", f"{target}: {exc}")
            return False
        except MemoryError:
            QGuiApplication.restoreOverrideCursor()
            QMessageBox.critical(self.window, "Cannot export", f"{target}: not enough memory "
                                 "to build this model's weights; nothing was written")
            return False
        QGuiApplication.restoreOverrideCursor()
        self.window.statusBar().showMessage(message, 15000)
        self.exported.emit(str(target))
        return True

    def _check_valid(self, fmt: ExportFormat) -> bool:
        try:
            refuse_invalid(self.document.graph)
        except ExportError as exc:
            name = fmt.label.replace("&", "").rstrip("…")
            shown = exc.lines[:12] + ([f"… and {len(exc.lines) - 12} more"]
                                      if len(exc.lines) > 12 else [])
            QMessageBox.warning(self.window, "Cannot export",
                                f"{name}: the model has errors. Fix them first (the Problems "
                                "panel offers one-click fixes for many).\n\n" + "\n".join(shown))
            return False
        return True

    def _check_onnx(self) -> bool:
        from cnnstudio.export.onnx_export import INSTALL_HINT, OnnxMissing, require_onnx

        try:
            require_onnx()
        except OnnxMissing:
            QMessageBox.information(
                self.window, "ONNX export",
                "ONNX export needs the optional onnx package. Install it with\n\n"
                f"    {INSTALL_HINT}\n\nand restart cnnstudio.")
            return False
        return True

    def _check_onnx_size(self) -> bool:
        """Weights beyond what one ONNX file holds are refused before a file name is asked
        for and before the weights are built (the command line's check and words)."""
        from cnnstudio.export.onnx_export import refuse_oversized

        try:
            refuse_oversized(self.document.graph)
        except ExportError as exc:
            self._refused(exc)
            return False
        return True

    def _refused(self, exc: ExportError) -> None:
        QMessageBox.warning(self.window, "Cannot export", "\n".join(exc.lines))

    def _ask_path(self, fmt: ExportFormat) -> Path | None:
        suggested = self.files.suggested_path(
            "-summary.json" if fmt.key == "summary_json" else
            "-copy.json" if fmt.key == "json" else fmt.suffix)
        chosen, _ = QFileDialog.getSaveFileName(self.window, f"Export {fmt.label.replace('&', '')}"
                                                .rstrip("…"), str(suggested),
                                                f"{fmt.file_filter};;All files (*)")
        if not chosen:
            return None
        path = Path(chosen)
        if not path.suffix:
            path = path.with_name(path.name + fmt.suffix)
        self.files.remember_folder(path)
        return path

    # --- writing (no dialogs: tests and scripts call this directly) -------------------------
    def write(self, key: str, path: Path) -> str:
        """Write format ``key`` to ``path``; returns the status-bar line.

        Raises ExportError (the model cannot be exported: reasons, one per line), OSError or
        ValueError (the file cannot be written).
        """
        graph, result = self.document.graph, self.document.result
        if key == "json":
            write_atomically(path, self.document.to_json_text())
            return f"Exported a copy of the model to {path}"
        if key == "summary_json":
            write_atomically(path, json.dumps(result.to_json(), indent=2) + "\n")
            return f"Exported the summary (JSON) to {path}"
        refuse_invalid(graph)
        if key == "pytorch":
            return self._write_pytorch(graph, path)
        if key == "onnx":
            from cnnstudio.export.onnx_export import export_onnx, refuse_oversized

            refuse_oversized(graph)  # before the weights are built
            state, meta, note = self._state(graph)
            inputs = self._model_input(meta)
            export_onnx(graph, path, state, inputs=inputs)
            return f"Exported ONNX to {path} (input: {inputs.input_text()}; {note})"
        if key in ("svg", "png"):
            from cnnstudio.export.diagram import to_svg

            svg = to_svg(graph, result)
            if key == "svg":
                atomic_write_bytes(path, svg.encode("utf-8"))
            else:
                from cnnstudio.gui.diagram_png import svg_to_png

                atomic_write_bytes(path, svg_to_png(svg))
            return f"Exported the diagram to {path}"
        if key == "markdown":
            from cnnstudio.core.modelfile import atomic_write_text
            from cnnstudio.export.summary import format_markdown

            atomic_write_text(path, format_markdown(graph, result))
            return f"Exported the summary (Markdown) to {path}"
        raise KeyError(key)

    def _write_pytorch(self, graph: Graph, path: Path) -> str:
        """The module, plus ``<name>.npz`` beside it when there are trained weights."""
        from cnnstudio.export.pytorch import export_pytorch

        if not self._weights():
            export_pytorch(graph, path, inputs=self._model_input({}))
            return (f"Exported PyTorch to {path} (no trained weights: build_model() starts "
                    "from PyTorch's initialisation)")
        from cnnstudio.engine.weights import WeightsError, save_weights

        state, meta, note = self._state(graph)
        weights_path = path.with_suffix(".npz")
        try:
            save_weights(weights_path, {**state, **meta})
        except WeightsError as exc:
            raise OSError(str(exc)) from None
        inputs = self._model_input(meta)
        export_pytorch(graph, path, weights_file=weights_path, inputs=inputs)
        return (f"Exported PyTorch to {path} with {weights_path.name} (input: "
                f"{inputs.input_text()}; {note})")

    def _model_input(self, meta: Mapping[str, np.ndarray]) -> ModelInput:
        from cnnstudio.export.model_input import model_input

        return model_input(meta, inside=self.normalization_inside.isChecked())

    def _state(self, graph: Graph
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]:
        """``(state, meta, note)``: a complete state dict for ``graph`` (the window's weights
        where they fit, fresh engine weights elsewhere), the weights' meta arrays (the input
        normaliser travels with a PyTorch export), and a note for the status bar."""
        import numpy as np

        from cnnstudio.engine.errors import NetworkError
        from cnnstudio.engine.network import Network
        from cnnstudio.engine.weights import split_meta

        try:
            net = Network(graph.copy(), np.random.default_rng(FRESH_SEED))
        except NetworkError as exc:
            raise ExportError([f"error: {exc}"]) from None
        weights = self._weights()
        if not weights:
            return net.state_dict(), {}, f"fresh weights, seed {FRESH_SEED}"
        report = net.load_where_fits(weights)
        _, meta = split_meta(weights)
        note = "trained weights"
        if report.skipped:
            note += (f"; {len(report.skipped)} layer(s) that changed since got fresh weights: "
                     + ", ".join(lid for lid, _ in report.skipped))
        return net.state_dict(), meta, note


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False



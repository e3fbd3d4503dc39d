"""The inspector: the selected layer's id, flags and params, and what it computes; for a
selected unit, its name, what flows in and out, its totals and problems, and its actions.

It is a view of the Document like the canvas: edits go through Document methods (one undo step
each) and the form is refreshed from ``document.changed`` / ``selection.changed`` with signals
blocked, so showing a value never writes it back. The form is rebuilt only when another layer is
shown; otherwise values are updated in place so focus and typing survive an unrelated change.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QSignalBlocker, Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.appearance import ERROR_COLOR, WARNING_COLOR, human_count
from cnnstudio.core.catalogue import FAMILY_TITLES
from cnnstudio.core.explain import explain
from cnnstudio.core.graph import GraphError, Layer
from cnnstudio.core.unit_text import unit_text
from cnnstudio.core.validator import ERROR
from cnnstudio.gui.glyphs import family_icon
from cnnstudio.gui.inspector.computes import sections_paragraphs
from cnnstudio.gui.inspector.editors import ParamEditor, editor_for
from cnnstudio.gui.paragraph_label import ParagraphLabel
from cnnstudio.gui.steady_label import SteadyLabel, steady


def _wrapped(text: str = "", parent: QWidget | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


#: The totals a model page and a unit page show, in this order.
TOTALS_ROWS = ("Trainable params", "Non-trainable params", "Total params", "MACs per image")


def _totals_rows(form: QFormLayout, values: tuple[int, ...]) -> list[SteadyLabel]:
    """One right-aligned exact number per :data:`TOTALS_ROWS` entry (the rounded count as its
    tooltip), added to ``form``; returned so an edit can rewrite them in place."""
    numbers = []
    for label, value in zip(TOTALS_ROWS, values, strict=True):
        number = SteadyLabel(f"{value:,}")
        number.setAlignment(Qt.AlignmentFlag.AlignRight)
        number.setToolTip(human_count(value))
        form.addRow(label, steady(number))
        numbers.append(number)
    return numbers


class _IdEditor(QWidget):
    """The layer id: renamed on Enter / focus out; a refused name shows why and stays editable."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line = QLineEdit(self)
        self.line.setObjectName("layer_id")
        self.line.setToolTip("The layer's name: unique in the model, used in files, exported "
                             "code and weights files.")
        self.error = _wrapped(parent=self)
        self.error.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.line)
        layout.addWidget(self.error)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.line.setStyleSheet(f"border: 1px solid {ERROR_COLOR};")

    def clear_error(self) -> None:
        self.error.clear()
        self.error.hide()
        self.line.setStyleSheet("")


class InspectorWidget(QWidget):
    """Form for the current layer, or the model's totals when nothing is selected."""

    def __init__(self, document, selection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.selection = selection
        self.setObjectName("inspector")
        self._key: tuple[str, str] | None = None  # (layer id, type) the form was built for
        #: (name, description, several selected) the model page was built for, and its numbers.
        self._model_layout: tuple[object, ...] | None = None
        self._model_numbers: list[QLabel] = []
        self.editors: dict[str, ParamEditor] = {}
        self.id_editor: _IdEditor | None = None
        self.trainable: QCheckBox | None = None

        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        # Text wraps; only a dock narrower than the form itself scrolls sideways (never cuts).
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)

        self._suspended = False  # set while renaming: one refresh afterwards, not two
        document.changed.connect(self._refresh)
        selection.changed.connect(self._refresh)
        self._refresh()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        built = self._key is not None or self._model_layout is not None
        if event.type() == QEvent.Type.PaletteChange and built:
            # Another scheme: the muted texts took their colour from the palette when the page
            # was built, so the page is built again.
            self._key = self._model_layout = None
            self._refresh()

    # --- helpers --------------------------------------------------------------------------------
    def _muted(self) -> str:
        return self.palette().color(QPalette.ColorRole.PlaceholderText).name()

    def _new_page(self) -> QVBoxLayout:
        """A fresh content widget, filled before ``_install_page`` puts it on screen."""
        self.title = QLabel()
        self.notation = SteadyLabel()
        self.description = _wrapped()
        self.problems = _wrapped()
        self.problems.hide()
        self.computes = ParagraphLabel()
        self.computes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.computes.setObjectName("computes")
        page = QWidget()
        page.setObjectName("inspector_page")
        box = QVBoxLayout(page)
        box.setContentsMargins(10, 10, 10, 10)
        box.setSpacing(6)
        self._page = page
        self.editors = {}
        self.id_editor = None
        self.trainable = None
        self.offer: QFrame | None = None
        self._offer_param: str | None = None
        return box

    def _install_page(self) -> None:
        """Swap the filled page in; the old one is deleted later (we may be inside its signal)."""
        old = self.scroll.takeWidget()
        if old is not None:
            old.deleteLater()
        self.scroll.setWidget(self._page)
        self._page.show()

    def _heading(self, box: QVBoxLayout, title: str, family: str | None) -> None:
        row = QHBoxLayout()
        row.setSpacing(8)
        if family is not None:
            glyph = QLabel()
            glyph.setPixmap(family_icon(family).pixmap(28, 28))
            glyph.setToolTip(FAMILY_TITLES[family])
            row.addWidget(glyph)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setText(title)
        col = QVBoxLayout()
        col.setSpacing(0)
        col.addWidget(self.title)
        self.notation.setStyleSheet(f"color: {self._muted()};")
        col.addWidget(steady(self.notation))
        row.addLayout(col, 1)
        box.addLayout(row)

    # --- refresh ----------------------------------------------------------------------------
    def _refresh(self, *_args: object) -> None:
        if self._suspended:
            return
        lid = self.selection.current()
        graph = self.document.graph
        if lid is not None and lid in graph.units:
            self._show_unit(lid)
            return
        if lid is None or lid not in graph:
            self._show_model()
            return
        layer = graph.layer(lid)
        if self._key != (lid, layer.type):
            self._commit_pending()
            self._build(layer)
        self._update(layer)

    def _commit_pending(self) -> None:
        """Another layer is about to be shown while a field still holds typed text: apply it
        to the layer it was typed for, as Enter or leaving the field would have."""
        if self._key is None or self._key[0] not in self.document.graph:
            return
        for editor in list(self.editors.values()):
            editor.commit_pending()

    def _show_model(self) -> None:
        """Nothing selected: the model at a glance, and what to do next. An edit that keeps
        the page's layout (the same name, description and hint) only rewrites its numbers."""
        self._commit_pending()
        graph, result = self.document.graph, self.document.result
        t = result.totals
        state = ("valid" if result.valid
                 else f"{len(result.errors)} error{'s' if len(result.errors) != 1 else ''}")
        n = len(graph)
        notation = f"{n} layer{'s' if n != 1 else ''}, {state}"
        values = (t.trainable, t.non_trainable, t.total, t.macs)
        several = len(self.selection.ids()) > 1
        layout = (graph.name, graph.description, several)
        if self._key is None and self._model_layout == layout:
            self.notation.setText(notation)
            for number, value in zip(self._model_numbers, values, strict=True):
                number.setText(f"{value:,}")
                if number.toolTip() != (tip := human_count(value)):  # else an event for nothing
                    number.setToolTip(tip)
            return
        self._key = None
        self._model_layout = layout
        box = self._new_page()
        self._heading(box, graph.name or "Untitled model", None)
        self.notation.setText(notation)
        self.description.setText(graph.description or "")
        self.description.setVisible(bool(graph.description))
        box.addWidget(self.description)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self._model_numbers = _totals_rows(form, values)
        box.addLayout(form)
        hint = _wrapped("Select a block on the canvas to see and edit its settings and what it "
                        "computes." if not several else "")
        hint.setStyleSheet(f"color: {self._muted()};")
        box.addWidget(hint)
        box.addStretch(1)
        self._install_page()

    def _show_unit(self, uid: str) -> None:
        """A unit selected (its block or frame): what a collapsed block summarises, exactly,
        with its name to edit and the actions a unit has. Rebuilt on every change while shown:
        a unit page is small and units change rarely."""
        self._commit_pending()
        graph, result = self.document.graph, self.document.result
        unit = graph.units.get(uid)
        text = unit_text(graph, uid, result)
        self._key = (uid, "unit")
        self._model_layout = None
        box = self._new_page()
        self._heading(box, text.title, None)
        state = "collapsed" if unit.collapsed else "expanded"
        self.notation.setText(f"unit of {text.count} layer{'s' if text.count != 1 else ''}, "
                              f"{state}")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.unit_name = QLineEdit(text.title)
        self.unit_name.setObjectName("unit_name")
        self.unit_name.editingFinished.connect(lambda: self._rename_unit(uid))
        form.addRow("name", self.unit_name)
        flow = _wrapped(text.shapes)
        flow.setToolTip("the shapes that enter the unit and leave it")
        form.addRow("shapes", flow)
        t = text.exact
        numbers = _totals_rows(form, (t.trainable, t.non_trainable, t.total, t.macs))
        self.unit_numbers = dict(zip(TOTALS_ROWS, numbers, strict=True))
        box.addLayout(form)
        members = graph.units.layers(uid)
        held = set(members)
        self._show_problems([p for p in result.problems if p.layer in held], name_layers=True)
        box.addWidget(self.problems)
        row = QHBoxLayout()
        self.unit_toggle = QPushButton("Expand" if unit.collapsed else "Collapse")
        self.unit_toggle.setToolTip("show the unit's layers in place" if unit.collapsed
                                    else "fold the unit's layers into one block")
        self.unit_toggle.clicked.connect(
            lambda: self._unit_action(lambda: self.document.set_collapsed(uid, not unit.collapsed)))
        self.unit_ungroup = QPushButton("Ungroup")
        self.unit_ungroup.setToolTip("remove the unit; its layers stay where they are")
        self.unit_ungroup.clicked.connect(
            lambda: self._unit_action(lambda: self.document.ungroup(uid)))
        row.addWidget(self.unit_toggle)
        row.addWidget(self.unit_ungroup)
        row.addStretch(1)
        box.addLayout(row)
        shown = ", ".join(members[:12]) + (f", \u2026 ({len(members)} in all)"
                                            if len(members) > 12 else "")
        listing = _wrapped(f"Layers: {shown}")
        listing.setStyleSheet(f"color: {self._muted()};")
        box.addWidget(listing)
        box.addStretch(1)
        self._install_page()

    def _show_problems(self, problems: list, name_layers: bool = False) -> None:
        """The problems in their severity's colour (each after its layer's id on a unit's
        page), or nothing shown when there are none."""
        self.problems.setText("<br>".join(
            f'<span style="color:{ERROR_COLOR if p.severity == ERROR else WARNING_COLOR}">'
            f"{html.escape(p.layer) + ': ' if name_layers else ''}{html.escape(p.message)}"
            "</span>" for p in problems))
        self.problems.setVisible(bool(problems))

    def _rename_unit(self, uid: str) -> None:
        name = self.unit_name.text()
        if uid in self.document.graph.units and name.strip():
            self._unit_action(lambda: self.document.rename_unit(uid, name))

    def _unit_action(self, action) -> None:  # noqa: ANN001 - a Document unit edit
        """Run a unit edit; a refusal (GraphError) is said on the page, never raised."""
        try:
            action()
        except GraphError as exc:
            self.problems.setText(html.escape(str(exc)))
            self.problems.setVisible(True)

    def _build(self, layer: Layer) -> None:
        self._key = (layer.id, layer.type)
        spec = layer.spec
        box = self._new_page()
        self._heading(box, spec.title, spec.family)
        self.description.setText(spec.description)
        box.addWidget(self.description)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.id_editor = _IdEditor()
        self.id_editor.line.editingFinished.connect(self._rename)
        form.addRow("id", self.id_editor)
        if spec.weights:
            self.trainable = QCheckBox("update in training")
            self.trainable.setObjectName("trainable")
            self.trainable.setToolTip("Untick to freeze this layer: its weights stay as they are "
                                      "(transfer learning).")
            self.trainable.toggled.connect(self._set_trainable)
            form.addRow("trainable", self.trainable)
        for pspec in spec.params:
            editor = editor_for(pspec)
            editor.committed.connect(lambda value, name=pspec.name: self._set_param(name, value))
            label = QLabel(pspec.label)
            label.setToolTip(editor.toolTip())
            label.setBuddy(editor.field)
            form.addRow(label, editor)
            self.editors[pspec.name] = editor
        box.addLayout(form)
        box.addWidget(self._copies_offer())
        box.addWidget(self.problems)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        box.addWidget(line)
        heading = QLabel("What this layer computes")
        bold = QFont(self.font())
        bold.setBold(True)
        heading.setFont(bold)
        box.addWidget(heading)
        self.computes.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        box.addWidget(self.computes)
        box.addStretch(1)
        self._install_page()

    def _update(self, layer: Layer) -> None:
        """Show the layer's current values with every signal blocked (no feedback loop)."""
        report = self.document.result.layers.get(layer.id)
        self.notation.setText(layer.spec.notation(layer.params) or layer.type)
        if self.id_editor is not None and not (self.id_editor.line.hasFocus()
                                               and self.id_editor.line.isModified()):
            with QSignalBlocker(self.id_editor.line):
                self.id_editor.line.setText(layer.id)
                self.id_editor.line.setModified(False)
            self.id_editor.clear_error()
        if self.trainable is not None:
            with QSignalBlocker(self.trainable):
                self.trainable.setChecked(layer.trainable)
        for name, editor in self.editors.items():
            with QSignalBlocker(editor):
                editor.set_value(layer.params[name])
        self._show_problems(self.document.result.problems_for(layer.id))
        self.computes.set_paragraphs(sections_paragraphs(explain(layer, report), self._muted()))
        self._show_copies_offer(layer)

    # --- "apply to all copies" (a layer of a unit that was repeated) -------------------------
    def _copies_offer(self) -> QFrame:
        """A bar shown after a param edit when the layer's unit has copies that differ."""
        self.offer = QFrame()
        self.offer.setObjectName("copies_offer")
        self.offer.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(self.offer)
        row.setContentsMargins(6, 4, 6, 4)
        self.offer_text = _wrapped()
        self.offer_text.setTextFormat(Qt.TextFormat.PlainText)
        self.offer_button = QPushButton("Apply to all copies")
        self.offer_button.setObjectName("apply_to_copies")
        self.offer_button.clicked.connect(self._apply_to_copies)
        row.addWidget(self.offer_text, 1)
        row.addWidget(self.offer_button)
        self.offer.hide()
        return self.offer

    def _show_copies_offer(self, layer: Layer) -> None:
        if self.offer is None:
            return
        name = self._offer_param
        value = layer.params.get(name) if name else None
        differ = [c for c in self.document.copies_of(layer.id, name)  # (no param: no offer)
                  if self.document.graph.layer(c).params.get(name) != value] if name else []
        if differ:
            unit = self.document.graph.units.get(self.document.graph.units.unit_of(layer.id))
            n = len(differ)
            self.offer_text.setText(
                f"{unit.name!r} has {n} other cop{'ies' if n > 1 else 'y'} "
                f"({', '.join(differ)}): set {name} there too?")
        self.offer.setVisible(bool(differ))

    def _apply_to_copies(self) -> None:
        if self._key is None or self._offer_param is None:
            return
        try:
            self.document.apply_to_copies(self._key[0], self._offer_param)
        except GraphError:
            pass  # the document reported why
        self._offer_param = None
        if self.offer is not None:
            self.offer.hide()

    # --- edits ------------------------------------------------------------------------------
    def _set_param(self, name: str, value: object) -> None:
        if self._key is None:
            return
        try:
            self._offer_param = name
            self.document.set_param(self._key[0], name, value)
        except GraphError as exc:
            editor = self.editors.get(name)
            if editor is not None:  # show the value the model really has, and why
                with QSignalBlocker(editor):
                    editor.set_value(self.document.graph.layer(self._key[0]).params[name])
                editor.show_error(str(exc))

    def _set_trainable(self, flag: bool) -> None:
        if self._key is None:
            return
        try:
            self.document.set_trainable(self._key[0], flag)
        except GraphError:
            self._refresh()  # the document reported why; show the real state again

    def _rename(self) -> None:
        if self._key is None or self.id_editor is None:
            return
        old, type_name = self._key
        new = self.id_editor.line.text().strip()
        if new == old:
            self.id_editor.clear_error()
            return
        self._suspended = True  # the selection still names the old id until it is updated
        try:
            self.document.rename(old, new)
        except GraphError as exc:
            self.id_editor.show_error(str(exc))
            return
        else:
            self._key = (new, type_name)  # the same form keeps showing the renamed layer
            self.id_editor.line.setModified(False)
            self.selection.set([new if i == old else i for i in self.selection.ids()])
        finally:
            self._suspended = False
        self._refresh()

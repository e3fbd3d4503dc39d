"""The inspector dock: the selected layer's settings and what it computes."""

from cnnstudio.gui.inspector.widget import InspectorWidget

__all__ = ["InspectorWidget"]

"""The model canvas: blocks, edges, gestures and the view that shows them."""

from cnnstudio.gui.canvas.scene import CanvasScene
from cnnstudio.gui.canvas.view import CanvasView

__all__ = ["CanvasScene", "CanvasView"]

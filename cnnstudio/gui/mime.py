"""Drag-and-drop mime types shared by the palette (drag source) and the canvas (drop target)."""

LAYER_MIME = "application/x-cnnstudio-layer-type"

"""An image file as the sample the training views explain (feature maps, Why).

One place reads it, so both views fit it to the Input block the same way and refuse a broken
file with the same one-line message naming it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from cnnstudio.engine.datasets import DatasetError
from cnnstudio.gui.training.controller import TrainingController
from cnnstudio.gui.training.dialogs import show_problem

__all__ = ["IMAGE_FILTER", "ask_sample_image", "load_sample_image"]

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif)"


def ask_sample_image(parent: QWidget, controller: TrainingController, title: str) -> bool:
    """Let the user pick an image file and make it the sample; False when cancelled or bad."""
    path, _ = QFileDialog.getOpenFileName(parent, title, "", IMAGE_FILTER)
    return bool(path) and load_sample_image(parent, controller, path)


def load_sample_image(parent: QWidget, controller: TrainingController, path: str) -> bool:
    """Make an image file the sample (fitted to the Input block); False with a dialog if it
    cannot be read."""
    try:
        image = controller.read_image(path)
    except DatasetError as exc:
        show_problem(parent, "Cannot open the image", str(exc),
                     "Use a PNG, JPEG, BMP or GIF file.")
        return False
    controller.set_sample(image, Path(path).name)
    return True

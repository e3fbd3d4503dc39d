"""Training in the window: data, hyperparameters, a worker thread, live curves, feature maps,
filters, confusion matrix and weights files.

``install_training(window)`` adds all of it to the designer window. Inside, one
:class:`~.controller.TrainingController` owns the dataset, the current weights and the run; the
views (panel, curves, feature maps, filters, confusion, weights actions) only talk to it.
"""

from cnnstudio.gui.training.integration import TrainingUI, install_training

__all__ = ["TrainingUI", "install_training"]

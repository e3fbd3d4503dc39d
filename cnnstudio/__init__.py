"""cnnstudio: design, understand, train and export convolutional neural networks."""

__version__ = "0.1.0"

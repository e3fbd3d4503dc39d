"""cnnstudio: design, understand, train and export convolutional neural networks."""

__version__ = "0.1.0"

#: Set (to anything) to see tracebacks instead of the one-line messages that stand in for
#: unexpected errors (the CLI's last resort, a view that fails to redraw); the test suite sets
#: it so that a bug fails loudly.
DEBUG_ENV = "CNNSTUDIO_DEBUG"

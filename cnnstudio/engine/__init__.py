"""The NumPy engine: layer kernels, networks built from a model graph, training, datasets and
weights files. No Qt here: the GUI drives it from a worker thread."""

"""The model core: layer catalogue, graph, shape arithmetic, validator and model files.

Standard library only, so the CLI, the engine, notebooks and tests can use it without Qt or NumPy.
"""

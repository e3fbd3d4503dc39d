"""Subcommands of the ``cnnstudio`` command line, one module each (see ``cnnstudio.cli``)."""

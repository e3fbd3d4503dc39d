"""The ``cnnstudio`` command. Thin: each subcommand lives in ``cnnstudio.commands.<name>``.

A command module offers ``register(subparsers)`` (adds its parser, with help on every option, and
sets ``func``) and imports its heavy dependencies (NumPy, Qt) only when it runs, so ``cnnstudio
summary`` answers at once and ``cnnstudio`` alone opens the window without loading the engine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from cnnstudio import DEBUG_ENV

#: Subcommand modules, in the order ``cnnstudio --help`` lists them.
COMMAND_MODULES = (
    "gui",
    "summary",
    "templates",
    "datasets",
    "train",
    "check",
    "predict",
    "export",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnstudio",
        description="Design, understand, train and export convolutional neural networks. "
        "With no command, opens the designer window.",
    )
    from cnnstudio import __version__

    parser.add_argument("--version", action="version", version=f"cnnstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"cnnstudio.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cnnstudio.commands.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if "gui" in parser._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
            args = parser.parse_args(["gui"])
        else:
            parser.print_help()
            return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 (the last resort; MemoryError included)
        if os.environ.get(DEBUG_ENV):
            raise
        return _last_resort(exc)


def _last_resort(exc: BaseException) -> int:
    """One line and a hint for an error no command caught: a user never sees a traceback."""
    if isinstance(exc, MemoryError):
        print("error: out of memory: the model or the data is too large for this machine "
              "(make it smaller, or lower CNNSTUDIO_MEMORY_LIMIT so cnnstudio refuses earlier)",
              file=sys.stderr)
        return 1
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
    print(f"error: unexpected failure ({detail}); this is a bug in cnnstudio, please report "
          f"it (run with {DEBUG_ENV}=1 to see the traceback)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

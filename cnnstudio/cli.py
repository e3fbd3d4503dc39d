"""The ``cnnstudio`` command. Thin: each subcommand lives in ``cnnstudio.commands.<name>``.

A command module offers ``register(subparsers)`` (adds its parser, with help on every option, and
sets ``func``) and imports its heavy dependencies (NumPy, Qt) only when it runs, so ``cnnstudio
summary`` answers at once and ``cnnstudio`` alone opens the window without loading the engine.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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


if __name__ == "__main__":
    sys.exit(main())

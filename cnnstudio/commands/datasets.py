"""``cnnstudio datasets``: what is built in and every SPEC form ``--dataset`` accepts."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list the built-in datasets and the dataset SPEC forms",
                       description="List the dataset SPEC forms that 'cnnstudio train --dataset' "
                       "accepts (built-in data first, then files from your disk).")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnstudio.engine.datasets import describe_specs

    forms = describe_specs()
    width = max(len(usage) for usage, _ in forms)
    print("Dataset SPEC forms (built-in ones need no path):")
    for usage, description in forms:
        print(f"  {usage.ljust(width)}  {description}")
    print("\nImages are converted to the model Input's channels and size when needed.")
    return 0

"""``cnnstudio templates`` and ``cnnstudio new``: the shipped example models."""

from __future__ import annotations

import argparse
import sys
import textwrap


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("templates", help="list the built-in model templates",
                       description="List the built-in templates with their descriptions.")
    p.set_defaults(func=run_list)
    n = sub.add_parser("new", help="write a new model file from a template",
                       description="Write a template to a model file you can open and edit.")
    n.add_argument("--template", "-t", required=True, metavar="NAME",
                   help="template name, as listed by `cnnstudio templates`")
    n.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="model file to write (.json)")
    n.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    n.set_defaults(func=run_new)


def run_list(args: argparse.Namespace) -> int:
    from cnnstudio.core.templates import list_templates, load_template
    from cnnstudio.core.validator import validate

    for info in list_templates():
        totals = validate(load_template(info.key)).totals
        print(f"{info.key:16} {info.title}  ({totals.total:,} params)")
        for line in textwrap.wrap(info.description, 80):
            print(f"{'':16} {line}")
    return 0


def run_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnnstudio.core import modelfile
    from cnnstudio.core.templates import load_template

    try:
        graph = load_template(args.template)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    out = Path(args.output)
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    try:
        modelfile.save(graph, out)
    except OSError as exc:
        print(f"error: {out}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 2
    print(f"wrote {out} ({graph.name})")
    return 0

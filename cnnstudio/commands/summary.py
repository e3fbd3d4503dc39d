"""``cnnstudio summary FILE``: the Keras-style table, or the spec's JSON, for a model file."""

from __future__ import annotations

import argparse
import json
import sys

#: Exit codes of the model-format spec.
EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="show every layer's shape, parameters, receptive field "
                       "and MACs, and the model's problems",
                       description="Validate a model file and print its summary. Exit status: "
                       "0 valid, 1 the model has errors, 2 the file cannot be read.")
    p.add_argument("file", metavar="FILE", help="model file (.json)")
    p.add_argument("--json", action="store_true",
                   help="print the machine-readable summary document instead of the table")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings (e.g. fractional tiling) as errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnstudio.core import modelfile
    from cnnstudio.core.validator import validate
    from cnnstudio.export.summary import format_text

    try:
        graph = modelfile.load(args.file)
    except modelfile.ModelFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    result = validate(graph, strict=args.strict)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(format_text(graph, result))
    return EXIT_VALID if result.valid else EXIT_INVALID

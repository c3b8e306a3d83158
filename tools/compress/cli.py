"""`l4 compress RECIPE.yaml --out DIR`: compress a model into variants (torch: the [train] extra)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compress",
        help="compress a model by a recipe: variants (ONNX + card) and a Pareto report",
        description="Run a compression recipe (tools/compress/recipe.py): each variant is written "
        "as OUT/NAME/NAME.onnx + NAME.yaml (model card with FLOPs, sparsity, held-out AP, "
        "latency); OUT/report.json and OUT/pareto.png compare them with the dense model.",
    )
    p.add_argument("recipe", type=Path, help="recipe YAML")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (required unless --widths)"
    )
    p.add_argument(
        "--widths", action="store_true",
        help="method prune: prune each variant without fine-tuning and time it against the dense "
        "model (ONNX Runtime CPU, interleaved); prints the table as JSON, writes nothing",
    )  # fmt: skip
    p.add_argument(
        "--against", type=Path, default=None, metavar="CARD",
        help="with --widths: also time this model (card) in the same run and give each variant's "
        "latency as a ratio to it (e.g. the shipped model, when the recipe's model is a teacher)",
    )  # fmt: skip
    p.add_argument(
        "--int8", action="store_true",
        help="with --widths: also quantize the dense model and each variant to INT8 Q/DQ "
        "(TensorRT layout, as shipped) and time those copies in the same run",
    )  # fmt: skip
    p.add_argument(
        "--data", type=Path, default=None, metavar="DIR",
        help="keep / reuse the scenario bags here (overrides the recipe's data.dir)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stack.cli.errors import CliError, require_modules

    require_modules("compression", "torch", "torch_pruning")
    from tools.compress.recipe import load_recipe
    from tools.compress.run import compress

    recipe = load_recipe(args.recipe)
    if args.against is not None and not args.widths:
        raise CliError("l4 compress: --against CARD only goes with --widths")
    if args.int8 and not args.widths:
        raise CliError("l4 compress: --int8 only goes with --widths")
    if args.widths:
        from tools.compress.widths import width_latency

        table = width_latency(recipe, against=args.against, int8=args.int8)
        print(json.dumps(table, indent=2))
        return 0
    if args.out is None:
        raise CliError("l4 compress: --out DIR is required (unless --widths)")
    if args.data is not None:
        import dataclasses

        recipe = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, dir=args.data))
    report = compress(recipe, args.out)
    print(json.dumps({"out": str(args.out), "summary": report["summary"],
                      "wall_seconds": report["wall_seconds"]}, indent=2))  # fmt: skip
    return 0

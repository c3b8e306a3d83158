"""`l4 train detector --out DIR`: train the demo camera detector on scenario data (torch, CPU).

Torch is imported only when the command runs, from tools.train (the ``[train]`` extra).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stack.cli import argtypes

DEFAULT_OUT = Path("perception/models")
MAX_EPOCHS = 10_000
MAX_EVERY = 1_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a demo model (needs the [train] extra: torch)")
    models = p.add_subparsers(dest="model", metavar="MODEL")
    d = models.add_parser(
        "detector",
        help="the tiny camera detector: scenario bags -> ONNX + model card + MODEL_CARD.md",
        description="Generate scenario bags, train the tiny camera detector on CPU, export it to "
        "ONNX with its model card and evaluate it on held-out scenario seeds.",
    )
    d.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)"
    )
    d.add_argument(
        "--seeds",
        default=None,
        help="training scenarios, SEED[:WEATHER[:TRAFFIC[:lights]]] comma list, seeds may be "
        "ranges A-B (weather day|night|fog|rain, traffic dense|light, :lights for drives with "
        "signalised crossings; default: 1-9:day:dense,...)",
    )
    d.add_argument("--eval-seeds", default=None, help="held-out scenarios, same form")
    seconds = argtypes.duration
    d.add_argument("--seconds", type=seconds, default=None, help="seconds per training scenario")
    d.add_argument("--eval-seconds", type=seconds, help="seconds per held-out scenario")
    d.add_argument(
        "--epochs", type=argtypes.bounded_int(1, MAX_EPOCHS), default=None, help="training epochs"
    )
    d.add_argument(
        "--every",
        type=argtypes.bounded_int(1, MAX_EVERY),
        default=None,
        help="use every N-th camera frame",
    )
    d.add_argument("--batch-size", type=argtypes.bounded_int(1, 65536), default=None)
    d.add_argument(
        "--threads", type=argtypes.bounded_int(1, 1024), default=None,
        help="torch threads (default 2)",
    )  # fmt: skip
    d.add_argument("--max-train-seconds", type=seconds, help="stop training after S s")
    d.add_argument(
        "--widths",
        type=widths_arg,
        default=None,
        help="channels of the stem and the stride-4, 8, 16, 32 stages, comma list of 5 "
        "(default 16,32,48,64,96; the teacher: 24,48,72,96,144)",
    )
    d.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="save the training state here after every epoch; a run that finds it resumes",
    )
    d.add_argument("--data", type=Path, default=None, help="keep / reuse scenario bags here")
    d.add_argument("--name", default="camera_detector", help="file stem of the outputs")
    d.set_defaults(func=run_detector)
    p.set_defaults(func=lambda args: _no_model(p))


def widths_arg(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--widths {text!r}: not a comma list of integers"
        ) from None
    if len(widths) != 5 or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"--widths {text!r}: give 5 channel counts >= 1")
    return widths


def _no_model(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def recipe_from_args(args: argparse.Namespace):  # -> DetectorRecipe
    import dataclasses

    from tools.train.detector import DetectorRecipe
    from tools.train.scenarios import parse_scenarios

    recipe = DetectorRecipe(
        out=args.out, name=args.name, data_dir=args.data, checkpoint=args.checkpoint
    )
    changes: dict = {}
    if args.seeds is not None:
        changes["train"] = tuple(parse_scenarios(args.seeds))
    if args.eval_seeds is not None:
        changes["eval"] = tuple(parse_scenarios(args.eval_seeds))
    for key in ("seconds", "eval_seconds", "every"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    cfg_changes = {
        k: v
        for k, v in (
            ("epochs", args.epochs),
            ("batch_size", args.batch_size),
            ("threads", args.threads),
            ("max_seconds", args.max_train_seconds),
            ("widths", args.widths),
        )
        if v is not None
    }
    return dataclasses.replace(
        recipe, config=dataclasses.replace(recipe.config, **cfg_changes), **changes
    )


def run_detector(args: argparse.Namespace) -> int:
    from stack.cli.errors import require_modules

    require_modules("training", "torch")
    from tools.train.detector import run

    report = run(recipe_from_args(args))
    summary = {
        name: {"vehicle_ap50": r["classes"]["vehicle"]["ap50"], "map50": r["map50"]}
        for name, r in report["heldout"].items()
    }
    print(json.dumps({"out": str(args.out), "heldout": summary, "model": report["stats"],
                      "wall_seconds": report["wall_seconds"]}, indent=2))  # fmt: skip
    return 0

"""`l4 vit train`: the traffic-light ViT and its token-pruned variants (needs torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stack.cli import argtypes
from tools.vit.names import RecipeName

DEFAULT_OUT = Path("perception/models")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vit", help="the traffic-light ViT (token pruning; needs torch)")
    actions = p.add_subparsers(dest="vit_command", metavar="ACTION", required=True)
    t = actions.add_parser(
        "train",
        help="render crops, train the dense ViT and SPViT-style token-pruned variants, export "
        "ONNX + model cards",
    )
    t.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (%(default)s)")
    t.add_argument(
        "--cache", type=Path, default=Path("runs/vit-crops"), help="crop cache (%(default)s)"
    )
    t.add_argument(
        "--recipe",
        choices=[r.value for r in RecipeName],
        default=RecipeName.SHIPPED.value,
        help="pruning stages, training knobs and keep ratios (%(default)s; stage0: selectors "
        "before blocks 0, 2, 4; early: one selector before block 0 keeping 16 of 64 tokens, the shipped "
        "r25); the options below override it",
    )
    t.add_argument(
        "--stages", help="blocks a selector precedes, one to three, e.g. 0,2,4 (the recipe's)"
    )
    t.add_argument("--epochs", type=argtypes.bounded_int(1, 1000))
    t.add_argument("--prune-epochs", type=argtypes.bounded_int(1, 1000))
    t.add_argument("--max-crops", type=argtypes.bounded_int(100, 10**7), default=4000)
    t.add_argument("--reuse-dense", action="store_true", help="the dense ViT of the last run")
    t.add_argument("--threads", type=argtypes.bounded_int(1, 64), default=1)
    t.add_argument(
        "--rhos",
        help="keep ratios rho (the stages keep rho, rho^2, rho^3 of the tokens; the recipe's)",
    )
    t.set_defaults(func=run_train)


def _rhos(text: str) -> tuple[float, ...]:
    from tools.vit.errors import VitError

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise VitError(f"--rhos {text!r}: not a comma list of numbers") from exc
    if not values or any(not 0.0 < v < 1.0 for v in values):
        raise VitError(f"--rhos {text!r}: every keep ratio must lie in (0, 1)")
    return values


def _stages(text: str, depth: int) -> tuple[int, ...]:
    from tools.vit.errors import VitError

    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise VitError(f"--stages {text!r}: not a comma list of block indices") from exc
    if (
        not 1 <= len(values) <= 3
        or list(values) != sorted(set(values))
        or not 0 <= values[0] <= values[-1] < depth
    ):
        raise VitError(f"--stages {text!r}: one to three increasing block indices in [0, {depth})")
    return values


def run_train(args: argparse.Namespace) -> int:
    from stack.cli.errors import require_modules

    require_modules("ViT training", "torch")
    from dataclasses import replace

    from tools.vit.pipeline import VitJob, run
    from tools.vit.recipes import RECIPES

    recipe = RECIPES[RecipeName(args.recipe)]
    vit = recipe.vit
    if args.stages is not None:
        vit = replace(vit, stages=_stages(args.stages, vit.depth))
    train = replace(recipe.train, threads=args.threads)
    if args.epochs is not None:
        train = replace(train, epochs=args.epochs)
    if args.prune_epochs is not None:
        train = replace(train, prune_epochs=args.prune_epochs)
    job = VitJob(
        out=args.out,
        cache=args.cache,
        rhos=recipe.rhos if args.rhos is None else _rhos(args.rhos),
        max_crops=args.max_crops,
        reuse_dense=args.reuse_dense,
        train=train,
        vit=vit,
        recipe=args.recipe,
    )
    run(job, lambda line: print(line, flush=True))
    return 0

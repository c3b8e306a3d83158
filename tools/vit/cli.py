"""`l4 vit train`: the traffic-light ViT and its token-pruned variants (needs torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stack.cli import argtypes

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
    t.add_argument("--epochs", type=argtypes.bounded_int(1, 1000), default=5)
    t.add_argument("--prune-epochs", type=argtypes.bounded_int(1, 1000), default=3)
    t.add_argument("--max-crops", type=argtypes.bounded_int(100, 10**7), default=4000)
    t.add_argument("--reuse-dense", action="store_true", help="the dense ViT of the last run")
    t.add_argument("--threads", type=argtypes.bounded_int(1, 64), default=1)
    t.add_argument(
        "--rhos", default="0.7,0.5", help="keep ratios rho (stages keep rho, rho^2, rho^3)"
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


def run_train(args: argparse.Namespace) -> int:
    from stack.cli.errors import require_modules

    require_modules("ViT training", "torch")
    from tools.vit.pipeline import VitJob, run
    from tools.vit.train import TrainConfig

    job = VitJob(
        out=args.out,
        cache=args.cache,
        rhos=_rhos(args.rhos),
        max_crops=args.max_crops,
        reuse_dense=args.reuse_dense,
        train=TrainConfig(epochs=args.epochs, prune_epochs=args.prune_epochs, threads=args.threads),
    )
    run(job, lambda line: print(line, flush=True))
    return 0

"""`l4 sparse train` (MEST) and `l4 sparse continual` (SparCL, DER++, ER, fine-tuning).

Torch is imported only when a command runs (the ``[train]`` extra). Each run writes
``summary.json``, ``model.pt`` (state dict) and, per epoch, ``checkpoint.pt`` into ``--out``;
``--resume`` continues from the checkpoint there.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from stack.cli import argtypes
from tools.sparse.config import DOMAINS, Allocation, MESTConfig, Scheme, SparseModel, Strategy
from tools.train.cli import widths_arg  # the same check as `l4 train --widths`

MAX_EPOCHS = 10_000
MAX_SEEDS = 1_000
SPARCL_DENSITY = 0.1  # SparCL's default density: 90 % sparse weights ...
SPARCL_CHANNEL_DENSITY = 0.3  # ... or 30 % of the channels (trained physically slimmed)


def density(text: str) -> float:
    value = float(argtypes.finite_float(text))
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"density must lie in (0, 1], got {text!r}")
    return value


def domains(text: str) -> tuple[str, ...]:
    from tools.sparse.config import check_domains
    from tools.sparse.errors import SparseError

    try:
        return check_domains(tuple(p.strip() for p in text.split(",") if p.strip()))
    except SparseError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(p: argparse.ArgumentParser, default_domains: str) -> None:
    p.add_argument("--out", type=Path, required=True, help="output and checkpoint folder")
    p.add_argument("--domains", type=domains, default=domains(default_domains),
                   help=f"comma list of {','.join(DOMAINS)} (default: {default_domains})")  # fmt: skip
    p.add_argument("--density", type=density, default=None,
                   help="weight density in (0, 1] (continual SparCL: 0.1, channel scheme 0.3)")  # fmt: skip
    p.add_argument("--scheme", choices=[s.value for s in Scheme], default=Scheme.UNSTRUCTURED.value)
    p.add_argument("--allocation", choices=[a.value for a in Allocation], default=None,
                   help="spread of the density over layers (default: uniform; erk for --inner)")  # fmt: skip
    p.add_argument("--epochs", type=argtypes.bounded_int(1, MAX_EPOCHS), default=12)
    p.add_argument("--train-seeds", type=argtypes.bounded_int(1, MAX_SEEDS), default=6,
                   help="training drives per domain")  # fmt: skip
    p.add_argument("--eval-seeds", type=argtypes.bounded_int(1, MAX_SEEDS), default=2,
                   help="held-out drives per domain")  # fmt: skip
    p.add_argument("--seconds", type=argtypes.duration, default=4.0, help="seconds per drive")
    p.add_argument("--data", type=Path, default=None, help="keep / reuse scenario bags here")
    p.add_argument("--threads", type=argtypes.bounded_int(1, 1024), default=1,
                   help="torch threads (default 1: on a shared 2-core host 2 threads ran 7x slower)")  # fmt: skip
    p.add_argument("--seed", type=argtypes.bounded_int(0, argtypes.MAX_SEED), default=0)
    p.add_argument("--widths", type=widths_arg, default=None,
                   help="detector channels, comma list of 5 (default 8,16,24,32,48; the bench's "
                   "MEST runs the shipped 16,32,48,64,96)")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=[m.value for m in SparseModel], default="detector",
                   help="detector (default) or vit: the traffic-light ViT on its card's crops, "
                   "--domains as weathers (--data: crop cache; --*-seeds and --seconds are the "
                   "detector's)")  # fmt: skip
    p.add_argument("--max-crops", type=argtypes.bounded_int(1, 10**7), default=4000,
                   help="--model vit: training crops (a seeded subset, as the ViT card's 4000)")  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sparse", help="sparse (MEST) and continual (SparCL) training, torch on CPU")
    cmds = p.add_subparsers(dest="sparse_cmd", metavar="CMD")
    t = cmds.add_parser("train", help="MEST: sparse from scratch at a fixed density budget")
    _common(t, "day")
    t.add_argument("--soft-bound", type=argtypes.bounded_float(0.0, 1.0), default=0.0,
                   help="train this much denser, prune back at each mutation and at the end")  # fmt: skip
    t.add_argument("--mutate-every", type=argtypes.bounded_int(1, MAX_EPOCHS), default=2)
    t.add_argument("--mutation-ratio", type=argtypes.bounded_float(0.0, 0.99), default=0.1)
    t.add_argument("--grad-weight", type=argtypes.non_negative_float, default=1.0,
                   help="lambda in the mutation score |w| + lambda |grad|")  # fmt: skip
    t.add_argument("--remove", type=argtypes.bounded_float(0.0, 0.9), default=0.0,
                   help="fraction of least-forgotten examples removed once, mid-training")  # fmt: skip
    _model_options(t)
    t.set_defaults(func=run_train)
    c = cmds.add_parser("continual", help="a domain sequence: SparCL, DER++, ER or fine-tuning")
    _common(c, ",".join(DOMAINS))
    c.add_argument("--method", choices=[s.value for s in Strategy], default=Strategy.SPARCL.value)
    c.add_argument("--removal", type=argtypes.bounded_float(0.0, 0.9), default=0.3,
                   help="SparCL DDR: fraction of each task's data removed (in three steps, after 10, 20 and 30 %% of its epochs)")  # fmt: skip
    c.add_argument("--grad-keep", type=density, default=0.2, help="SparCL DGM: gradients kept")
    c.add_argument("--inner", type=density, default=None,
                   help="SparCL hybrid (channel scheme): unstructured weight density inside the "
                   "kept channels")  # fmt: skip
    c.add_argument("--buffer", type=argtypes.bounded_int(1, 100_000), default=120)
    c.add_argument("--init", type=Path, default=None,
                   help="start from this trained model (model.pt of l4 sparse train, e.g. dense "
                   "on day); SparCL's masks then keep its largest weights")  # fmt: skip
    _model_options(c)
    c.set_defaults(func=run_continual)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _setup(args: argparse.Namespace):
    import dataclasses

    from stack.cli.errors import require_modules

    require_modules("sparse training", "torch", "torch_pruning")
    from tools.sparse.data import DataSpec, load_domains
    from tools.sparse.trainer import LearnerConfig

    spec = DataSpec(domains=args.domains, train_seeds=args.train_seeds,
                    eval_seeds=args.eval_seeds, seconds=args.seconds)  # fmt: skip
    data_dir = args.data or args.out / "data"
    data = load_domains(spec, data_dir)
    base = LearnerConfig()
    widths = args.widths or base.train.widths
    train = dataclasses.replace(base.train, threads=args.threads, seed=args.seed, widths=widths)
    base = dataclasses.replace(base, train=train)
    return spec, data, base


def _finish(args: argparse.Namespace, result: dict) -> int:
    import torch

    learner = result.pop("learner")
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(learner.model.state_dict(), args.out / "model.pt")
    if learner.mest and learner.mest.cfg.scheme is Scheme.CHANNEL:
        from tools.sparse.slim import param_count, slim_channels

        t = learner.cfg.train
        slim = slim_channels(learner.model, learner.mest.masks,
                             torch.zeros(1, 3, t.input_height, t.input_width))  # fmt: skip
        torch.save(slim, args.out / "model_slim.pt")
        result["slim"] = {
            "params_dense": param_count(learner.model),
            "params_slim": param_count(slim),
        }
    text = json.dumps(result, indent=2)
    (args.out / "summary.json").write_text(text + "\n")
    print(text)
    return 0


def _progress(args: argparse.Namespace, total: int):
    from contextlib import nullcontext

    if args.no_progress:
        return nullcontext(None)
    from rich.progress import Progress

    from stack.console import make_console

    return Progress(console=make_console(stderr=True), transient=True)


def run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from tools.sparse.runs import RunConfig, train_mest

    if args.model == SparseModel.VIT.value:
        return _run_vit(args, continual=False)
    mest = _mest_config(args)  # bad MEST options refused before any data work
    spec, data, base = _setup(args)
    lc = dataclasses.replace(base, mest=mest)
    steps = args.epochs * max(
        1, sum(len(data.train[d]) for d in spec.domains) // lc.train.batch_size
    )
    with _progress(args, steps) as bar:
        tick = _ticker(bar, "MEST" if mest else "dense", steps)
        result = train_mest(
            RunConfig(lc, spec.domains, args.epochs, args.out, args.resume), data, tick
        )
    return _finish(args, result)


def _mest_config(args: argparse.Namespace) -> MESTConfig | None:
    """`l4 sparse train`'s MEST options (either model), checked, or None for a dense run."""
    if args.density is None or args.density >= 1:
        return None
    mest = MESTConfig(density=args.density, scheme=Scheme(args.scheme), soft_bound=args.soft_bound,
                      mutate_every=args.mutate_every, mutation_ratio=args.mutation_ratio,
                      grad_weight=args.grad_weight, remove_fraction=args.remove,
                      allocation=_allocation(args))  # fmt: skip
    mest.validate()
    return mest


def _run_vit(args: argparse.Namespace, continual: bool) -> int:
    """`--model vit`: the job from the options (detector-only ones refused before any data
    work), run with a progress bar over its steps, its summary printed."""
    from stack.cli.errors import require_modules

    require_modules("sparse training", "torch")
    from tools.sparse import vitrun

    if continual:
        cfg = vitrun.continual_from_args(args)
        label, batch = f"{cfg.strategy.value} vit", cfg.train.batch
        run = partial(vitrun.run_continual, cfg, args)
    else:
        job = vitrun.job_from_args(args, _mest_config(args))
        label, batch = ("MEST vit" if job.mest else "dense vit"), job.train.batch
        run = partial(vitrun.run, job)
    steps = args.epochs * -(-args.max_crops // batch)
    with _progress(args, steps) as bar:
        log = bar.console.print if bar is not None else lambda line: print(line, file=sys.stderr)
        summary = run(log, _ticker(bar, label, steps))
    print(json.dumps(summary, indent=2))
    return 0


def run_continual(args: argparse.Namespace) -> int:
    import dataclasses

    from tools.sparse.errors import SparseError
    from tools.sparse.runs import RunConfig, sparcl_config
    from tools.sparse.runs import run_continual as run

    if args.model == SparseModel.VIT.value:
        return _run_vit(args, continual=True)
    if args.inner is not None and args.scheme != Scheme.CHANNEL.value:  # before any data work
        raise SparseError(f"--inner {args.inner} needs --scheme channel, got {args.scheme!r}")
    if args.init is not None and not args.init.is_file():
        raise SparseError(f"--init {args.init}: no such file")
    spec, data, base = _setup(args)
    method = Strategy(args.method)
    base = dataclasses.replace(base, buffer=args.buffer)
    if method is Strategy.SPARCL:
        scheme = Scheme(args.scheme)
        default = SPARCL_CHANNEL_DENSITY if scheme is Scheme.CHANNEL else SPARCL_DENSITY
        lc = sparcl_config(base, args.density or default, scheme, args.removal, args.grad_keep,
                           args.inner, _allocation(args))  # fmt: skip
    else:
        lc = dataclasses.replace(base, strategy=method)
    steps = args.epochs * sum(
        max(1, len(data.train[d]) // lc.train.batch_size) for d in spec.domains
    )
    with _progress(args, steps) as bar:
        tick = _ticker(bar, method.value, steps)
        cfg = RunConfig(lc, spec.domains, args.epochs, args.out, args.resume, args.init)
        result = run(cfg, data, tick)
    return _finish(args, result)


def _allocation(args: argparse.Namespace) -> Allocation:
    """SparCL's inner (hybrid) masks default to ERK, as the benchmark runs them; every other
    mask to uniform (MEST at 80 %: uniform 0.236 against ERK 0.211 day AP in the benchmark)."""
    if args.allocation is not None:
        return Allocation(args.allocation)
    return Allocation.ERK if getattr(args, "inner", None) else Allocation.UNIFORM


def _ticker(bar, label: str, total: int):
    if bar is None:
        return None
    task = bar.add_task(label, total=total)
    return lambda: bar.advance(task)

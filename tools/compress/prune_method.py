"""``method: prune``: structured channel pruning, iterative prune + fine-tune with distillation.

Recipe ``options`` (each checked, errors name ``options.KEY``)::

    options:
      importance: magnitude          # magnitude | taylor | bn_scale
      scope: global                  # global | layer
      round_to: 8                    # kept channels: multiples of this
      iterative_steps: 2             # prune a part, fine-tune, prune more, ...
      max_layer_ratio: 0.9
      ignore: []                     # layers kept whole (the output convs always are)
      variants:                      # one variant each; keys above may be overridden per variant
        - {name: p50, ratio: 0.5}
        - {name: p60, ratio: 0.6, layer_ratios: {fuse4: 0.7}}
        - {name: l16, channels: {stem.1: 16, fuse4: 16, heat_head: 16}}  # exact widths
        - {name: s8, channels: {fuse4: 16, fuse8: 16}, stride: 8}  # heads at stride 8

A variant gives either ``ratio`` (Torch-Pruning's ratios, kept counts rounded down) or
``channels`` (exact widths per coupled group, tools.compress.channels; groups not named keep
theirs). ``stride: 8`` also prunes the stride-4 branch after the channels (tools.compress.restride;
one prune step), the fine-tune then trains on stride-8 targets; ``stride: 4`` keeps the branch.

Each variant starts from the dense teacher; the fine-tuning epochs are split over the steps.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from stack.params import parse_enum
from tools.compress.errors import RecipeError
from tools.compress.finetune import (
    BatchSource,
    checkpoint_path,
    drop_checkpoints,
    finetune,
    student_loss,
)
from tools.compress.prune import (
    ImportanceKind,
    PruneSpec,
    Scope,
    conv_shapes,
    layer_sparsity,
    make_pruner,
    prune_step,
)
from tools.compress.recipe import Recipe, Section
from tools.compress.restride import STRIDES, to_stride8
from tools.compress.session import Session, open_session
from tools.compress.variant import VariantResult, write_variant

log = logging.getLogger(__name__)

COMMON = frozenset(
    {"importance", "scope", "round_to", "iterative_steps", "max_layer_ratio", "ignore"}
)
OPTIONS = COMMON | {"variants"}
VARIANT = COMMON | {"name", "ratio", "layer_ratios", "channels", "epochs", "stride"}


@dataclass(frozen=True)
class PruneTarget:
    name: str
    spec: PruneSpec
    steps: int
    epochs: int | None = None  # fine-tuning epochs of this variant (None: the recipe's)
    stride: int | None = None  # 8: prune the stride-4 branch too (None: the teacher's stride)
    where: str = ""  # the variant's recipe key, for errors


def _common(s: Section, base: Mapping[str, Any]) -> dict[str, Any]:
    """The keys a variant may inherit, checked where they are written (``s``), over ``base``."""
    where = s.prefix.rstrip(".")
    return {  # "ignore" first: checked before the others, as it was
        "ignore": s.layer_names("ignore", base["ignore"]),
        "importance": parse_enum(ImportanceKind, s.raw("importance", base["importance"]),
                                 f"{where}.importance", RecipeError),
        "scope": parse_enum(Scope, s.raw("scope", base["scope"]), f"{where}.scope", RecipeError),
        "round_to": s.integer("round_to", base["round_to"], high=256),
        "iterative_steps": s.integer("iterative_steps", base["iterative_steps"], high=100),
        "max_layer_ratio": s.number("max_layer_ratio", base["max_layer_ratio"], open_low=True,
                                    high=1.0),
    }  # fmt: skip


BASE = {"importance": "magnitude", "scope": "global", "round_to": 8, "iterative_steps": 1,
        "max_layer_ratio": 0.9, "ignore": ()}  # fmt: skip


def _channels(s: Section) -> dict[str, int]:
    """``channels: {layer: width}``; a variant gives it or ``ratio``, not both."""
    value = s.raw("channels", None)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not value:
        raise s.error("channels", value, "must map layer names to channel counts")
    for layer, n in value.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise s.error(f"channels.{layer}", n, "must be a positive integer")
    for key in ("ratio", "layer_ratios"):
        if s.raw(key, None) is not None:
            raise s.error(key, s.raw(key), "cannot be given with channels (exact widths)")
    return {str(k): int(v) for k, v in value.items()}


def _target(s: Section, defaults: Mapping[str, Any]) -> PruneTarget:
    common = _common(s, defaults)
    ratios = s.raw("layer_ratios", {}) or {}
    if not isinstance(ratios, Mapping):
        raise s.error("layer_ratios", ratios, "must map layer names to ratios")
    for layer, r in ratios.items():
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1:
            raise s.error(f"layer_ratios.{layer}", r, "must lie in [0, 1)")
    name = s.variant_name("name")
    steps = common.pop("iterative_steps")
    channels = _channels(s)
    ratio = 0.0 if channels else s.number("ratio", high=0.95, open_low=True)
    spec = PruneSpec(ratio=ratio, layer_ratios=dict(ratios), channels=channels, **common)
    epochs = None if s.raw("epochs", None) is None else s.integer("epochs", low=0, high=10_000)
    return PruneTarget(name, spec, steps, epochs, _stride(s, steps), f"{s.prefix}stride")


def _stride(s: Section, steps: int) -> int | None:
    """``stride``: the output stride (4 or 8), 8 in one prune step only."""
    stride = s.raw("stride", None)
    if stride is None:
        return None
    if stride not in STRIDES or isinstance(stride, bool):
        raise s.error("stride", stride, f"must be one of {list(STRIDES)}")
    if stride == 8 and steps != 1:
        raise s.error("iterative_steps", steps, "must be 1 with stride: 8 (layers are removed)")
    return int(stride)


def parse_options(recipe: Recipe) -> list[PruneTarget]:
    top = Section(recipe.source, "options.", recipe.options, OPTIONS)
    variants = top.raw("variants")
    if not isinstance(variants, list) or not variants:
        raise top.error("variants", variants, "must be a non-empty list of {name, ratio, ...}")
    defaults = _common(top, BASE)
    targets = [
        _target(Section(recipe.source, f"options.variants[{i}].", v, VARIANT), defaults)
        for i, v in enumerate(variants)
    ]
    names = [t.name for t in targets]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise top.error("variants", names, f"repeat the name {dup!r}")
    return targets


def prune_variant(
    session: Session, target: PruneTarget, out_dir: Path | None = None
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Prune a copy of the teacher to ``target`` in steps, fine-tuning after each; with
    ``out_dir``, each fine-tune is checkpointed there and a rerun resumes. Returns the student
    and its fine-tuning history (for the card)."""
    recipe, teacher = session.recipe, session.teacher
    torch.manual_seed(recipe.seed)
    student = copy.deepcopy(teacher)
    source = BatchSource(session.frames, session.train_cfg, recipe.seed)
    pruner = make_pruner(student, session.example(), target.spec, target.steps)
    where = f"{recipe.source}: {target.where}"

    def taylor_loss() -> torch.Tensor:
        idx = source.epoch(recipe.finetune.batch_size)[0]
        return student_loss(student, None, source.batch(idx), session.train_cfg, 0.0)

    epochs = recipe.finetune.epochs if target.epochs is None else target.epochs
    per_step = [
        epochs // target.steps + (1 if i < epochs % target.steps else 0)
        for i in range(target.steps)
    ]
    history: list[dict[str, float]] = []
    for step, n in enumerate(per_step):
        student.train()  # Taylor gradients with batch statistics, as in training
        prune_step(pruner, target.spec, taylor_loss)
        student.eval()
        if target.stride == 8 and student.stride != 8:
            to_stride8(student, where)
            cfg = replace(session.train_cfg, stride=student.stride)
            source = BatchSource(session.frames, cfg, recipe.seed)
        if n:
            ckpt = (
                None
                if out_dir is None
                else checkpoint_path(out_dir, f"{recipe.name}_{target.name}", f"step{step + 1}")
            )
            result = finetune(student, teacher, source, recipe.finetune,
                              f"{target.name}: step {step + 1}/{target.steps} fine-tune", epochs=n,
                              checkpoint=ckpt)  # fmt: skip
            history += [{"prune_step": step + 1, **h} for h in result.history]
            history[-1]["steps"] = result.steps
    return student, history


def run(recipe: Recipe, out_dir: Path) -> list[VariantResult]:
    targets = parse_options(recipe)
    session = open_session(recipe)
    dense_shapes = conv_shapes(session.teacher)
    results = []
    for target in targets:
        student, history = prune_variant(session, target, out_dir)
        spec = target.spec
        provenance = {
            **session.provenance(),
            "method": "prune",
            "library": f"torch-pruning {session.library_version('torch-pruning')}",
            "parameters": {"ratio": spec.ratio, "importance": spec.importance.value,
                           "scope": spec.scope.value, "round_to": spec.round_to,
                           "iterative_steps": target.steps, "layer_ratios": dict(spec.layer_ratios),
                           "channels": dict(spec.channels),
                           "max_layer_ratio": spec.max_layer_ratio, "ignore": list(spec.ignore),
                           "stride": student.stride},
            "sparsity": layer_sparsity(dense_shapes, conv_shapes(student)),
            "finetune_epochs": target.epochs if target.epochs is not None else recipe.finetune.epochs,
            "finetune_history": history,
            "speedup_runtime": "any (dense convs with fewer channels: ONNX Runtime, TensorRT)",
        }  # fmt: skip
        name = f"{recipe.name}_{target.name}"
        results.append(write_variant(student, out_dir, name, session.input_size, session.evals,
                                     provenance, recipe.latency_threads))  # fmt: skip
        drop_checkpoints(out_dir, name)
        log.info("%s: %s", name, results[-1].accuracy)
    return results

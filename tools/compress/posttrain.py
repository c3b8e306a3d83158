"""``method: int8`` and ``method: fuse`` of ``l4 compress``: the post-training rewrites of
:mod:`tools.compress.quantize` and :mod:`tools.compress.fusion` run on the recipe's model, each
result written atomically into its own variant folder and measured as every variant is
(accuracy per condition on the recipe's held-out scenarios, ONNX Runtime latency), so it joins
the run's report and Pareto plot.

The recipe's ``options:`` are the method's keys (``target``, ``calibration`` for int8;
``cleanup``, ``siblings``, ``preprocess``, ``postprocess``, ``nms``, ``gather``, ``top_k`` for
fuse); ``model`` and ``card`` come from the recipe's start (``start:``, else ``model:``; in a
chain the variant the step before wrote), ``name`` from the recipe's ``name``. Calibration
scenarios are generated into the run's data folder (``data.dir``), never into a variant's
folder; without ``calibration:`` int8 calibrates on the recipe's training scenarios
(``data.train``, every ``data.every``-th frame).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from perception.detector.card import load_card, write_card
from tools.compress.errors import RecipeError
from tools.compress.output import atomic_folder
from tools.compress.recipe import Recipe
from tools.compress.variant import VariantResult, measure_written, open_evals

RESERVED = frozenset({"model", "card", "name"})  # set from the recipe, not from options


def _doc(recipe: Recipe, suffix: str) -> tuple[str, dict[str, Any]]:
    clash = sorted(RESERVED & set(recipe.options))
    if clash:
        raise RecipeError(f"{recipe.source}: options.{clash[0]}: set by the recipe itself")
    card = load_card(recipe.start_card)
    name = f"{recipe.name}_{suffix}"
    return name, {**recipe.options, "model": str(card.model_path()),
                  "card": str(recipe.start_card), "name": name}  # fmt: skip


def _variant(
    recipe: Recipe, out_dir: Path, suffix: str, rewrite: Callable[[dict[str, Any], Path], Any]
) -> list[VariantResult]:
    name, doc = _doc(recipe, suffix)
    evals = open_evals(recipe)
    with atomic_folder(out_dir, name) as tmp:
        result = rewrite(doc, tmp)
        onnx_path, card_path = Path(result.model), Path(result.card)
        stats, acc, lat, figures = measure_written(
            onnx_path, card_path, evals, recipe.latency_threads
        )
        final = out_dir / name
        rewrite_doc = {
            **result.to_dict(),
            "model": str(final / onnx_path.name),
            "card": str(final / card_path.name),
        }  # the folder's name once renamed
        prov = {"method": recipe.method, "start": str(recipe.start_card),
                "options": dict(recipe.options), "rewrite": rewrite_doc, **figures,
                "speedup_runtime": "onnxruntime CPUExecutionProvider"}  # fmt: skip
        write_card(dataclasses.replace(load_card(card_path), provenance=prov), card_path)
    return [VariantResult(name, final / card_path.name, final / onnx_path.name, stats, acc, lat,
                          prov)]  # fmt: skip


def int8(recipe: Recipe, out_dir: Path) -> list[VariantResult]:
    """Post-training INT8 Q/DQ (float biases) of the recipe's start model."""
    from tools.compress.quantize import Calibration, run_method

    data = recipe.data
    default = None
    if "calibration" not in recipe.options:
        from tools.train.scenarios import ensure_bags

        assert data.dir is not None  # set by the runner
        default = Calibration(scenario_bags=tuple(ensure_bags(data.train, data.seconds, data.dir)),
                              every=data.every)  # fmt: skip

    def rewrite(doc: dict[str, Any], tmp: Path) -> Any:
        return run_method(doc, tmp, data_dir=data.dir, calibration=default)

    return _variant(recipe, out_dir, "int8", rewrite)


def fuse(recipe: Recipe, out_dir: Path) -> list[VariantResult]:
    """Pre-processing folded in, top-K (+ NMS) head, cleanup: the fused variant."""
    from tools.compress.fusion.fuse import run_method

    return _variant(recipe, out_dir, "fused", run_method)

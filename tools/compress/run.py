"""One compression run: recipe -> method(s) -> variants (ONNX + cards) -> report.

A chain (``method: [int8, fuse]``) runs each method on every variant the one before it wrote;
every variant of every step is kept and reported.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.compress.methods import Method, load_method
from tools.compress.output import clean_stale
from tools.compress.recipe import Recipe
from tools.compress.report import write_report
from tools.compress.variant import VariantResult, dense_result, open_evals, with_data_dir

log = logging.getLogger(__name__)


def run_chain(
    recipe: Recipe, methods: list[tuple[str, Method]], out_dir: Path
) -> list[VariantResult]:
    """Each method on the recipe's start, then on every variant of the step before."""
    made: list[VariantResult] = []
    starts: list[Recipe] = [recipe.step(methods[0][0])]
    for i, (name, method) in enumerate(methods):
        step_made = [v for r in starts for v in method(r, out_dir)]
        made += step_made
        if i + 1 < len(methods):
            nxt = methods[i + 1][0]
            starts = [recipe.step(nxt, start=v.card, name=v.name) for v in step_made]
            log.info("%s wrote %d variant(s); %s runs on each", name, len(step_made), nxt)
    return made


def compress(recipe: Recipe, out_dir: Path) -> dict[str, Any]:
    """Run ``recipe`` into ``out_dir``; returns the report (also ``out_dir/report.json``)."""
    methods = [(m, load_method(m)) for m in recipe.methods]  # unknown methods fail before work
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in clean_stale(out_dir):
        log.warning("removed %s left by an interrupted run", stale)
    with tempfile.TemporaryDirectory(prefix="l4-compress-") as tmp:
        recipe = with_data_dir(recipe, Path(tmp))
        dense = dense_result(recipe.model, open_evals(recipe), recipe.latency_threads)
        variants = run_chain(recipe, methods, out_dir)
    return write_report(out_dir, recipe, dense, variants, time.perf_counter() - started)

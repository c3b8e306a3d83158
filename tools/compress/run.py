"""One compression run: recipe -> method -> variants (ONNX + cards) -> report."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.compress.methods import load_method
from tools.compress.output import clean_stale
from tools.compress.recipe import Recipe
from tools.compress.report import write_report
from tools.compress.session import open_session, with_data_dir
from tools.compress.variant import dense_result

log = logging.getLogger(__name__)


def compress(recipe: Recipe, out_dir: Path) -> dict[str, Any]:
    """Run ``recipe`` into ``out_dir``; returns the report (also ``out_dir/report.json``)."""
    method = load_method(recipe.method)  # an unknown method fails before any work
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in clean_stale(out_dir):
        log.warning("removed %s left by an interrupted run", stale)
    with tempfile.TemporaryDirectory(prefix="l4-compress-") as tmp:
        recipe = with_data_dir(recipe, Path(tmp))
        session = open_session(recipe)
        dense = dense_result(recipe.model, session.evals, recipe.latency_threads)
        variants = method(recipe, out_dir)
    return write_report(out_dir, recipe, dense, variants, time.perf_counter() - started)

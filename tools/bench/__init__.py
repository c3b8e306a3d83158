"""Benchmark registry for `l4 bench NAME`.

Each entry maps a name to ``module:function``; the function takes ``quick: bool`` and returns a
JSON-able dict (with ``"ok": bool`` where the benchmark has a target). Imports are lazy so a
benchmark's heavy dependencies load only when it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

BENCHMARKS: dict[str, str] = {
    "executor": "tools.bench.executor:run",
    "replay": "tools.bench.replay:run",
    "engine": "tools.bench.engine:run",
    "trace": "tools.bench.trace:run",
    "perception": "tools.bench.perception:run",
    "detector": "tools.bench.detector:run",
    "planning": "tools.bench.planning:run",
    "scenario": "tools.bench.scenario:run",
    "overload": "tools.bench.overload:run",
    "sim": "tools.bench.sim:run",
    "compress": "tools.bench.compress:run",
    "blocksparse": "tools.bench.blocksparse:run",
    "int8fuse": "tools.bench.quantfuse:run",
    "lidar_structure": "tools.bench.lidar_structure:run",
    "sparse": "tools.bench.sparse:run",
    "vit": "tools.bench.vit:run",
}


def load_benchmark(name: str) -> Callable[..., dict[str, Any]]:
    module, func = BENCHMARKS[name].split(":")
    return getattr(importlib.import_module(module), func)

"""The run directory: launch file used, trace, platform facts."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any


def write_run_dir(run_dir: Path, graph: Any, runtime: Any, mode: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "launch.yaml").write_text(graph.text)
    facts = {"mode": mode, "python": sys.version.split()[0], "machine": platform.machine()}
    (run_dir / "platform.json").write_text(json.dumps(facts, indent=2))

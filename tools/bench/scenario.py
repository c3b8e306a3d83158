"""`l4 bench scenario`: how much faster than real time a scenario is generated.

Generates a day / light-traffic drive into a temporary directory (30 s, or 5 s with --quick) and
reports seconds simulated per second of wall time. Target: >= 2x real time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_FACTOR = 2.0


def run(quick: bool = False) -> dict[str, Any]:
    from tools.scenario import make_scenario

    seconds = 5.0 if quick else 30.0
    with tempfile.TemporaryDirectory(prefix="l4-bench-scenario-") as tmp:
        cpu = time.process_time()
        info = make_scenario(Path(tmp) / "bag", seconds, seed=0, progress=False)
        cpu = time.process_time() - cpu
    factor = info.realtime_factor
    return {
        "seconds": info.duration,
        "wall_time_s": round(info.wall_time, 3),
        "cpu_time_s": round(cpu, 3),
        # What the generator needs from one core; the wall factor also counts other load.
        "cpu_realtime_factor": round(info.duration / cpu, 3) if cpu > 0 else None,
        "realtime_factor": round(factor, 3),
        "messages": sum(info.message_counts.values()),
        "target": TARGET_FACTOR,
        "ok": factor >= TARGET_FACTOR,
    }

"""How long tasks waited for a CPU during a run: Linux pressure stall information (PSI).

``/proc/pressure/cpu``'s ``some`` line counts, in microseconds, the time in which at least one
runnable task had to wait for a CPU. Its share of a run's wall time says whether the CPUs were
taken -- by the graph's own threads or by anything else on the host -- which the speed meter
(tools.bench.meter: a loop timed in thread CPU time) does not see by design. In the previous
steady overload try, two 0.2-0.4 s stalls slowed callbacks in two of the graph's processes at
the same instants (the CPUs, not a collection or the interpreter lock) while the meter read no
spell; this reading shows such a host. It is reported beside each run, never judged.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PSI_CPU = Path("/proc/pressure/cpu")


def some_total_us(path: Path = PSI_CPU) -> int | None:
    """The cumulative ``some`` stall time in us, or None where PSI is not available."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some "):
            fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
            try:
                return int(fields["total"])
            except (KeyError, ValueError):
                return None
    return None


@dataclass
class CpuPressure:
    """Use as a context manager around a run; ``to_json`` afterwards."""

    path: Path = PSI_CPU
    _start: tuple[int | None, int] = (None, 0)
    _stop: tuple[int | None, int] = (None, 0)

    def __enter__(self) -> CpuPressure:
        self._start = (some_total_us(self.path), time.monotonic_ns())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = (some_total_us(self.path), time.monotonic_ns())

    def share(self) -> float | None:
        """Share of the run's wall time some task waited for a CPU (None without PSI)."""
        (a, t0), (b, t1) = self._start, self._stop
        if a is None or b is None or t1 <= t0:
            return None
        return round(min(1.0, (b - a) * 1e3 / (t1 - t0)), 4)

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu_wait_share": self.share(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }

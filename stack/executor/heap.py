"""The garbage collector and latency.

CPython's full collection scans every container object the process holds, with the
interpreter lock held: with the demo graph loaded (ONNX Runtime, scipy, the maps) that is about
90k objects and a 50 ms stall of every thread, a few times a minute -- half a chain budget at a
random instant. Almost all of them were made at start-up (modules, models, maps) and live as
long as the process. Freezing them once the graph is built (``gc.freeze``, as pre-fork servers
do) leaves the collector only what the run itself allocates; a full collection then takes well
under a millisecond. Objects still die by reference counting; only cycles among the frozen ones
would outlive their use, and start-up leaves none behind after the collection that precedes
the freeze.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive now out of the collector's sight."""
    gc.collect()
    gc.freeze()


def thaw_heap() -> None:
    """Give the frozen objects back to the collector (when the graph is torn down)."""
    gc.unfreeze()

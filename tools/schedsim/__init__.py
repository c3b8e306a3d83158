"""Schedulability simulation: a discrete-event model of a launch graph on a target, driven by
per-callback latency profiles measured in a real run (`l4 report RUN --json`).

    runtime = build_runtime(load_graph("launch/demo.yaml"))
    prediction = predict(runtime, load_profile("report.json"), policy="l4", speeds={"cpu": 0.5})
    prediction.chains["camera_to_objects"].p99_ms

The names below load on first use, so that `l4 --help` (which imports this package's command
module and launch check) stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.lazy import lazy_exports

if TYPE_CHECKING:
    from tools.schedsim.build import (
        Prediction,
        build_runtime,
        predict,
        sim_graph,
        speed_scale,
        unschedulable_chains,
    )
    from tools.schedsim.errors import SimError
    from tools.schedsim.model import (
        Service,
        SimCallback,
        SimGraph,
        SimSource,
        SimSubscription,
        SimTimer,
    )
    from tools.schedsim.profile import (
        Profile,
        SourceProfile,
        load_profile,
        parse_profile,
        profile_from_records,
    )
    from tools.schedsim.results import ChainStats, chain_stats, sim_chain_stats
    from tools.schedsim.simulator import CpuModel, SimRun, Simulator

_EXPORTS = {
    "ChainStats": "tools.schedsim.results",
    "CpuModel": "tools.schedsim.simulator",
    "Prediction": "tools.schedsim.build",
    "Profile": "tools.schedsim.profile",
    "Service": "tools.schedsim.model",
    "SimCallback": "tools.schedsim.model",
    "SimError": "tools.schedsim.errors",
    "SimGraph": "tools.schedsim.model",
    "SimRun": "tools.schedsim.simulator",
    "SimSource": "tools.schedsim.model",
    "SimSubscription": "tools.schedsim.model",
    "SimTimer": "tools.schedsim.model",
    "Simulator": "tools.schedsim.simulator",
    "SourceProfile": "tools.schedsim.profile",
    "build_runtime": "tools.schedsim.build",
    "chain_stats": "tools.schedsim.results",
    "load_profile": "tools.schedsim.profile",
    "parse_profile": "tools.schedsim.profile",
    "predict": "tools.schedsim.build",
    "profile_from_records": "tools.schedsim.profile",
    "sim_chain_stats": "tools.schedsim.results",
    "sim_graph": "tools.schedsim.build",
    "speed_scale": "tools.schedsim.build",
    "unschedulable_chains": "tools.schedsim.build",
}
__all__ = [
    "ChainStats",
    "CpuModel",
    "Prediction",
    "Profile",
    "Service",
    "SimCallback",
    "SimError",
    "SimGraph",
    "SimRun",
    "SimSource",
    "SimSubscription",
    "SimTimer",
    "Simulator",
    "SourceProfile",
    "build_runtime",
    "chain_stats",
    "load_profile",
    "parse_profile",
    "predict",
    "profile_from_records",
    "sim_chain_stats",
    "sim_graph",
    "speed_scale",
    "unschedulable_chains",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)

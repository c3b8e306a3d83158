"""Schedulability simulation: a discrete-event model of a launch graph on a target, driven by
per-callback latency profiles measured in a real run (`l4 report RUN --json`).

    runtime = build_runtime(load_graph("launch/demo.yaml"))
    prediction = predict(runtime, load_profile("report.json"), policy="l4", speeds={"cpu": 0.5})
    prediction.chains["camera_to_objects"].p99_ms
"""

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

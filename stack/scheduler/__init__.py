"""The budget scheduler: chain-priority/EDF ordering, stale-input drops, per-device priority
gates for engine runs, and model-variant degrade/recover driven by chain slack."""

from stack.scheduler.config import DegradeConfig, SchedulerConfig, parse_scheduler
from stack.scheduler.degrade import DegradeController, Thresholds
from stack.scheduler.errors import SchedulerError
from stack.scheduler.gate import DeviceGates, PriorityGate, device_kind
from stack.scheduler.policy import ChainPolicy, FifoPolicy, Policy, PolicyKind, make_policy
from stack.scheduler.variants import VariantSet

__all__ = [
    "ChainPolicy",
    "DegradeConfig",
    "DegradeController",
    "DeviceGates",
    "FifoPolicy",
    "Policy",
    "PolicyKind",
    "PriorityGate",
    "SchedulerConfig",
    "SchedulerError",
    "Thresholds",
    "VariantSet",
    "device_kind",
    "make_policy",
    "parse_scheduler",
]

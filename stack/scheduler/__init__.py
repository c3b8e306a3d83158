"""Budget scheduling policy: how ready callbacks are ordered and when inputs are dropped."""

from stack.scheduler.policy import ChainPolicy, FifoPolicy, Policy, PolicyKind, make_policy

__all__ = ["ChainPolicy", "FifoPolicy", "Policy", "PolicyKind", "make_policy"]

"""The launch file's per-topic QoS (stack.graph_qos) as rclpy QoSProfiles."""

from __future__ import annotations

from typing import Any

from stack.graph_qos import Durability, History, Qos, Reliability


def to_rclpy(rclpy_qos: Any, qos: Qos) -> Any:
    """A ``rclpy.qos.QoSProfile`` with every policy set (none left to rmw defaults)."""
    reliability = {
        Reliability.RELIABLE: rclpy_qos.ReliabilityPolicy.RELIABLE,
        Reliability.BEST_EFFORT: rclpy_qos.ReliabilityPolicy.BEST_EFFORT,
    }[qos.reliability]
    durability = {
        Durability.VOLATILE: rclpy_qos.DurabilityPolicy.VOLATILE,
        Durability.TRANSIENT_LOCAL: rclpy_qos.DurabilityPolicy.TRANSIENT_LOCAL,
    }[qos.durability]
    history = {
        History.KEEP_LAST: rclpy_qos.HistoryPolicy.KEEP_LAST,
        History.KEEP_ALL: rclpy_qos.HistoryPolicy.KEEP_ALL,
    }[qos.history]
    return rclpy_qos.QoSProfile(
        history=history, depth=qos.depth, reliability=reliability, durability=durability
    )

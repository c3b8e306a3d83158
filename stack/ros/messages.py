"""rosidl message classes by ROS type name, for the message factory under rclpy."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from stack.msgs.errors import MessageError
from stack.msgs.factory import normalize_typename


@cache
def rosidl_class(typename: str) -> type:
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image (from the ROS install)."""
    pkg, kind, name = normalize_typename(typename).split("/")
    try:
        module = importlib.import_module(f"{pkg}.{kind}")
    except ImportError as exc:
        raise MessageError(
            f"message package {pkg!r} is not built in this ROS install (needed for {typename}); "
            "build the l4stack interface package on the vehicle"
        ) from exc
    cls = getattr(module, name, None)
    if cls is None:
        raise MessageError(f"{pkg}.{kind} has no message {name!r}")
    return cls


def new_rosidl(typename: str, **fields: Any) -> Any:
    """Build a rosidl message; rosidl constructors take fields as keyword arguments."""
    cls = rosidl_class(typename)
    try:
        return cls(**fields)
    except (TypeError, AssertionError) as exc:  # rosidl validates with asserts
        raise MessageError(f"{typename}: bad field value: {exc}") from exc

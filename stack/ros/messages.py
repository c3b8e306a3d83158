"""rosidl message classes by ROS type name, for the message factory under rclpy.

rosidl's generated setters check types (rosidl_python humble,
rosidl_generator_py/resource/_msg.py.em, the ``@@(member.name).setter`` template): an unbounded
or bounded sequence of a numeric type (``uint8[]``, ``float32[]``, ...) takes an ``array.array``
of the matching type code, or a ``collections.abc.Sequence`` of Python ints/floats -- a numpy
array is neither and fails the assert; a fixed-size array (``float64[36]``) takes a numpy array
of exactly that dtype and size; an ``int`` field takes an ``int``, a ``float32`` field a
``float``, and numpy scalars such as ``np.float32`` or ``np.int64`` are neither. Nodes build
their messages with numpy, so ``new_rosidl`` converts what they give into what rosidl takes.
"""

from __future__ import annotations

import array
import importlib
import re
from functools import cache
from typing import Any

import numpy as np

from stack.msgs.errors import MessageError
from stack.msgs.factory import normalize_typename

# rosidl_generator_py's SPECIAL_NESTED_BASIC_TYPES: the array.array type code and numpy dtype
# rosidl uses for each numeric element type (generate_py_impl.py).
ROSIDL_NUMERIC: dict[str, tuple[str, type]] = {
    "float": ("f", np.float32),
    "double": ("d", np.float64),
    "int8": ("b", np.int8),
    "uint8": ("B", np.uint8),
    "int16": ("h", np.int16),
    "uint16": ("H", np.uint16),
    "int32": ("i", np.int32),
    "uint32": ("I", np.uint32),
    "int64": ("q", np.int64),
    "uint64": ("Q", np.uint64),
}
_SEQUENCE = re.compile(r"^sequence<(\w+)(?:, \d+)?>$")
_ARRAY = re.compile(r"^(\w+)\[(\d+)\]$")


@cache
def rosidl_class(typename: str) -> type:
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image (from the ROS install)."""
    pkg, kind, name = normalize_typename(typename).split("/")
    try:
        module = importlib.import_module(f"{pkg}.{kind}")
    except ImportError as exc:
        raise MessageError(
            f"message package {pkg!r} is not built in this ROS install (needed for {typename}); "
            f"install it (rosdep key {pkg}, e.g. apt install ros-humble-{pkg.replace('_', '-')})"
        ) from exc
    cls = getattr(module, name, None)
    if cls is None:
        raise MessageError(f"{pkg}.{kind} has no message {name!r}")
    return cls


@cache
def field_types(cls: type) -> dict[str, str]:
    """rosidl's field -> type string ('sequence<uint8>', 'double[9]', 'float', ...)."""
    getter = getattr(cls, "get_fields_and_field_types", None)
    return dict(getter()) if getter is not None else {}


def to_rosidl_value(rosidl_type: str | None, value: Any) -> Any:
    """``value`` as rosidl's setter for a field of ``rosidl_type`` accepts it."""
    if isinstance(value, np.generic):
        return value.item()
    if not isinstance(value, np.ndarray) or rosidl_type is None:
        return value
    seq = _SEQUENCE.match(rosidl_type)
    if seq and seq.group(1) in ROSIDL_NUMERIC:
        code, dtype = ROSIDL_NUMERIC[seq.group(1)]
        return array.array(code, np.ascontiguousarray(value, dtype=dtype).tobytes())
    fixed = _ARRAY.match(rosidl_type)
    if fixed and fixed.group(1) in ROSIDL_NUMERIC:
        return np.ascontiguousarray(value, dtype=ROSIDL_NUMERIC[fixed.group(1)][1]).reshape(-1)
    return value.tolist()  # a sequence of strings, booleans or messages


def new_rosidl(typename: str, **fields: Any) -> Any:
    """Build a rosidl message; rosidl constructors take fields as keyword arguments."""
    cls = rosidl_class(typename)
    types = field_types(cls)
    values = {name: to_rosidl_value(types.get(name), value) for name, value in fields.items()}
    try:
        return cls(**values)
    except (TypeError, AssertionError) as exc:  # rosidl validates with asserts
        raise MessageError(f"{typename}: bad field value: {exc}") from exc

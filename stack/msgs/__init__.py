"""Message types: the ROS 2 Humble typestore plus l4stack's own .msg definitions.

Node code builds every message through :func:`new` and reads fields by their ROS names, so the
same code runs on rosbags dataclasses (embedded, replay) and on rosidl classes (rclpy).
"""

from stack.msgs.errors import MessageError
from stack.msgs.factory import deserialize, maker, msgtype_of, new, serialize, typestore
from stack.msgs.stamps import ns_to_stamp, ns_to_time, stamp_of, stamp_to_ns

__all__ = [
    "MessageError",
    "deserialize",
    "maker",
    "msgtype_of",
    "new",
    "ns_to_stamp",
    "ns_to_time",
    "serialize",
    "stamp_of",
    "stamp_to_ns",
    "typestore",
]

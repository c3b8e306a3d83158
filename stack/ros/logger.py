"""The node logger under rclpy: ``logging.Logger``'s calling convention over rclpy's logger.

Node code logs as with the standard library (``self.log.warning("x=%s", x)``,
``exc_info=True``); rclpy's ``RcutilsLogger`` methods take exactly one message string
(ros2/rclpy humble, rclpy/impl/rcutils_logger.py, ``RcutilsLogger.info(self, message,
**kwargs)``: any keyword that is not a logging filter is a TypeError). This facade formats the
message first and hands rclpy one string.

Each level calls its rclpy method from its own line on purpose: rclpy keys a call site's
context by the caller's frame and refuses a second severity from the same site
(``RcutilsLogger.log``: "Logger severity cannot be changed between calls").
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rclpy.impl.rcutils_logger import RcutilsLogger


def _text(msg: object, args: tuple[Any, ...], exc_info: Any = None) -> str:
    text = str(msg)
    if args:
        try:
            text = text % args
        except (TypeError, ValueError) as exc:  # a bad format must not cost the message
            text = f"{text} {args!r} (format error: {exc})"
    if exc_info:
        text += "\n" + traceback.format_exc().rstrip()
    return text


class RosLogger:
    """What node code sees as ``ctx.logger`` / ``self.log`` under rclpy."""

    def __init__(self, ros_logger: RcutilsLogger) -> None:
        self.ros = ros_logger
        self.name = str(getattr(ros_logger, "name", ""))

    def debug(self, msg: object, *args: Any, exc_info: Any = None, **_: Any) -> None:
        self.ros.debug(_text(msg, args, exc_info))

    def info(self, msg: object, *args: Any, exc_info: Any = None, **_: Any) -> None:
        self.ros.info(_text(msg, args, exc_info))

    def warning(self, msg: object, *args: Any, exc_info: Any = None, **_: Any) -> None:
        self.ros.warning(_text(msg, args, exc_info))

    warn = warning

    def error(self, msg: object, *args: Any, exc_info: Any = None, **_: Any) -> None:
        self.ros.error(_text(msg, args, exc_info))

    def exception(self, msg: object, *args: Any, exc_info: Any = True, **_: Any) -> None:
        self.ros.error(_text(msg, args, exc_info))

    def critical(self, msg: object, *args: Any, exc_info: Any = None, **_: Any) -> None:
        self.ros.fatal(_text(msg, args, exc_info))

    fatal = critical

    def isEnabledFor(self, level: int) -> bool:
        return True

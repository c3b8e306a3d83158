"""Checks for node parameters and option records: each failure names the field and its value.

    @dataclass
    class LocalizerParams:
        gnss_std: float = 1.5

        def validate(self) -> None:
            positive("gnss_std", self.gnss_std)   # ParamError: gnss_std must be > 0 (got -1.0)

The launch layer (stack.graph) adds the file and the node's key path around the message. One
check per field, so a message never lists fields that are fine. ``parse_enum`` is the one way a
string option becomes an enum member, in nodes, engines and tools alike.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import Any, NoReturn, TypeVar

from stack.errors import L4Error, ParamError

E = TypeVar("E", bound=enum.Enum)

#: How a 6-DoF extrinsic parameter is spelled in messages.
EXTRINSIC = "[x, y, z, roll, pitch, yaw]"


def fail(field: str, value: Any, what: str, error: type[L4Error] = ParamError) -> NoReturn:
    """Raise ``error`` saying ``field`` ``what`` and showing the value it got."""
    raise error(f"{field} {what} (got {value!r})")


def require(ok: bool, field: str, value: Any, what: str) -> None:
    """ParamError ``"{field} {what} (got {value!r})"`` unless ``ok``."""
    if not ok:
        fail(field, value, what)


def _finite(field: str, value: float) -> None:
    if not math.isfinite(value):
        fail(field, value, "must be a finite number")


def positive(field: str, value: float) -> None:
    """``value`` is a finite number > 0."""
    _finite(field, value)
    require(value > 0, field, value, "must be > 0")


def non_negative(field: str, value: float) -> None:
    """``value`` is a finite number >= 0."""
    _finite(field, value)
    require(value >= 0, field, value, "must be >= 0")


def at_least(field: str, value: float, low: float) -> None:
    """``value`` is a finite number >= ``low`` (counts, queue depths)."""
    _finite(field, value)
    require(value >= low, field, value, f"must be >= {low}")


def in_range(field: str, value: float, low: float, high: float, *, high_open: bool = False) -> None:
    """``low <= value <= high`` (``< high`` with ``high_open``)."""
    _finite(field, value)
    ok = low <= value < high if high_open else low <= value <= high
    require(ok, field, value, f"must lie in [{low}, {high}{')' if high_open else ']'}")


def interval(field: str, value: Sequence[float]) -> None:
    """``value`` is a (low, high) pair of finite numbers with low < high."""
    if len(value) != 2:
        fail(field, value, "must be (low, high)")
    for bound in value:
        _finite(field, bound)
    require(value[0] < value[1], field, tuple(value), "must be (low, high) with low < high")


def length(field: str, value: Sequence[Any], n: int, shape: str) -> None:
    """``value`` holds ``n`` items (``shape`` spells them, e.g. "[x, y, yaw]")."""
    require(len(value) == n, field, value, f"must be {shape}")


def parse_enum(kind: type[E], value: object, name: str, error: type[L4Error] = ParamError) -> E:
    """``value`` as a member of ``kind``; ``error`` naming the option, the value and the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        raise error(f"{name}={value!r} is not one of {choices}") from None

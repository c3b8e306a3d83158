"""Typed value checks for launch-file keys: booleans are YAML booleans, integers are not
booleans, numbers are finite and in range. ``where`` is ``"FILE: key.path"``; the error class
is the caller's subsystem error (GraphError, SchedulerError)."""

from __future__ import annotations

import math
from typing import Any

from stack.errors import L4Error
from stack.graph_errors import GraphError

BOOL_HINT = "true or false"
STRING_NOT_BOOL = (
    "; a string is not a boolean: write true or false unquoted (a value that is exactly "
    "`$(arg NAME)` becomes a boolean when the argument reads true or false)"
)


def describe(value: Any) -> str:
    """The value as written; a boolean says so (`yes` in YAML 1.1 reads as true)."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    return repr(value)


def expect_bool(where: str, value: Any, error: type[L4Error] = GraphError) -> bool:
    if not isinstance(value, bool):
        hint = STRING_NOT_BOOL if isinstance(value, str) else ""
        raise error(f"{where}: expected {BOOL_HINT}, got {describe(value)}{hint}")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float, never a boolean (True is an int in Python, not a number in a file)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def expect_int(
    where: str,
    value: Any,
    low: int | None = None,
    high: int | None = None,
    error: type[L4Error] = GraphError,
) -> int:
    ok = is_int(value) and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        raise error(f"{where}: expected {_int_range(low, high)}, got {describe(value)}")
    return value


def _int_range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an integer in {low}..{high}"
    if low is not None:
        return f"an integer >= {low}"
    if high is not None:
        return f"an integer <= {high}"
    return "an integer"


def expect_number(
    where: str,
    value: Any,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    error: type[L4Error] = GraphError,
) -> float:
    """A finite number (nan and inf are refused) with optional bounds: ``> above``,
    ``>= at_least``, ``<= at_most``."""
    ok = (
        is_number(value)
        and math.isfinite(value)
        and (above is None or value > above)
        and (at_least is None or value >= at_least)
        and (at_most is None or value <= at_most)
    )
    if not ok:
        raise error(
            f"{where}: expected a number{_bounds(above, at_least, at_most)}, got {describe(value)}"
        )
    return float(value)


def _bounds(above: float | None, at_least: float | None, at_most: float | None) -> str:
    if at_most is not None and (above is not None or at_least is not None):
        low = f"({above:g}" if above is not None else f"{at_least:g}"
        return f" in {low}, {at_most:g}]" if above is not None else f" in {low}..{at_most:g}"
    if above is not None:
        return f" > {above:g}"
    if at_least is not None:
        return f" >= {at_least:g}"
    if at_most is not None:
        return f" <= {at_most:g}"
    return ""

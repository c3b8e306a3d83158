"""argparse ``type=`` checks for the numbers a user types in `l4` arguments.

Every numeric option of every subcommand goes through one of these, so that ``inf``, ``nan``,
negatives, zero where it makes no sense and values too large for the run's nanosecond clock
are refused as usage errors (``l4 CMD: error: argument --opt: ...``, exit 2), never a traceback
deep in the run.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

# Seconds of bag or wall time: int64 nanoseconds hold ~292 years; stay well inside.
MAX_SECONDS = 1e9
# A pace against the wall clock; beyond these a replay would never end or never sleep.
MIN_RATE, MAX_RATE = 1e-3, 1e6
MAX_SEED = 2**32 - 1  # numpy's legacy seeding and most generators take 32 bits


def _number(text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        name = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None


def bounded_float(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    unit: str = "",
) -> Callable[[str], float]:
    """A finite float in [low, high] (or (low, high] with ``low_open``)."""

    def parse(text: str) -> float:
        value = float(_number(text, float))
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if low is not None and (value <= low if low_open else value < low):
            sign = ">" if low_open else ">="
            raise argparse.ArgumentTypeError(f"must be {sign} {low:g}{unit}, got {text!r}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high:g}{unit}, got {text!r}")
        return value

    return parse


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An integer in [low, high]. Every count has an upper bound: a mistyped huge one would
    otherwise run (or allocate) until killed."""

    def parse(text: str) -> int:
        value = int(_number(text, int))
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text!r}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {text!r}")
        return value

    return parse


# The ones the subcommands use.
finite_float = bounded_float()
non_negative_float = bounded_float(0.0)
positive_float = bounded_float(0.0, low_open=True)
duration = bounded_float(0.0, MAX_SECONDS, low_open=True, unit=" s")
offset = bounded_float(0.0, MAX_SECONDS, unit=" s")
rate = bounded_float(MIN_RATE, MAX_RATE)
seed = bounded_int(0, MAX_SEED)

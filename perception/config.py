"""Small helpers for the nodes' parameter dataclasses."""

from __future__ import annotations

import enum
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)


def parse_enum(kind: type[E], value: object, name: str) -> E:
    """``value`` as a member of ``kind``; ValueError naming the parameter and the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in kind)
        raise ValueError(f"{name}={value!r} is not one of: {choices}") from None

"""A node's typed parameters from a launch file's ``params:`` mapping.

The mapping is checked against the node's ``Params`` dataclass: unknown names, wrong types
(a boolean is neither an int nor a float; a string is not a boolean) and the dataclass's own
``validate()`` are refused, naming the file, the key path and the value.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

from stack.graph_errors import GraphError
from stack.graph_values import describe, expect_bool, is_int, is_number
from stack.node import Node


def _mapping(source: str, keypath: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise GraphError(f"{source}: {keypath}: expected a mapping, got {value!r}")
    return value


def build_params(source: str, keypath: str, cls: type[Node], raw: Any) -> Any:
    """Instantiate the node's Params dataclass from the YAML mapping, checking names and types."""
    return _build_dataclass(source, keypath, cls.Params, raw, cls.__name__)


def _build_dataclass(source: str, keypath: str, params_cls: type, raw: Any, owner: str) -> Any:
    raw = _mapping(source, keypath, raw)
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    hints = typing.get_type_hints(params_cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise GraphError(
                f"{source}: {keypath}.{key}: unknown parameter of {owner}; "
                f"parameters: {sorted(fields)}"
            )
        hint = hints.get(key, Any)
        nested = _dataclass_of(hint) if isinstance(value, dict) else None
        if nested is not None:  # a nested group of parameters (e.g. a tracker's Kalman settings)
            values[key] = _build_dataclass(
                source, f"{keypath}.{key}", nested, value, nested.__name__
            )
            continue
        if not _type_ok(value, hint):
            where = f"{source}: {keypath}.{key}"
            if hint is bool:
                expect_bool(where, value)
            raise GraphError(f"{where}: expected {_type_name(hint)}, got {describe(value)}")
        values[key] = value
    try:
        params = params_cls(**values)
    except (TypeError, ValueError) as exc:  # a required parameter is missing, or a bad value
        raise GraphError(f"{source}: {keypath}: {exc}") from exc
    validate = getattr(params, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as exc:
            raise GraphError(f"{source}: {keypath}: {exc}") from exc
    return params


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a type hint names (also inside Optional), else None."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                return arg
    return None


def _type_name(hint: Any) -> str:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _type_ok(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return is_number(value)
    if hint is int:
        return is_int(value)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        # YAML spells a member by its value; the dataclass parses it (parse_enum names the
        # choices when it is not one of them)
        return isinstance(value, hint) or any(value == m.value for m in hint)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True

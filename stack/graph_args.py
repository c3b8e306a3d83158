"""Launch arguments: declared defaults, values given on the command line, `$(arg NAME)`.

A substitution yields text. A value that is exactly one `$(arg NAME)` and nothing else, and
whose text reads ``true`` or ``false`` (also ``True``/``TRUE``/``False``/``FALSE``, YAML 1.2's
booleans), becomes that YAML boolean, as ros2 launch types a substituted parameter value; so
``allow_external_modules: $(arg ext)`` with ``--arg ext:=true`` sets the switch. Any other text
(``no``, ``0``, ``"false "``) stays a string, which a boolean key refuses, naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stack.graph_errors import GraphError

ARG_PATTERN = re.compile(r"\$\(arg ([A-Za-z_][A-Za-z0-9_]*)\)")
WHOLE_ARG = re.compile(r"\A\$\(arg [A-Za-z_][A-Za-z0-9_]*\)\Z")
BOOLEAN_TEXT = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}


def launch_args(
    source: str, declared: Any, given: Mapping[str, str], provided: Mapping[str, str]
) -> dict[str, str]:
    """Declared defaults, then what the command provides, then ``given`` (`name:=value`)."""
    if not isinstance(declared, dict):
        raise GraphError(f"{source}: args: expected a mapping, got {declared!r}")
    for name, default in declared.items():
        if isinstance(default, (dict, list)):
            raise GraphError(
                f"{source}: args.{name}: expected a string, number or boolean default, "
                f"got a {type(default).__name__}"
            )
    unknown = set(given) - set(declared)
    if unknown:
        raise GraphError(
            f"{source}: args: unknown launch argument(s) {sorted(unknown)}; "
            f"declared: {sorted(declared)}"
        )
    values = {str(k): "" if v is None else str(v) for k, v in declared.items()}
    values.update({k: str(v) for k, v in provided.items()})
    values.update({k: str(v) for k, v in given.items()})
    return values


def substitute(source: str, where: str, value: Any, args: Mapping[str, str]) -> Any:
    """Replace `$(arg NAME)` in every string below the top-level ``args`` key."""
    if isinstance(value, dict):
        return {
            k: v
            if (not where and k == "args")
            else substitute(source, f"{where}.{k}".lstrip("."), v, args)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(source, f"{where}[{i}]", v, args) for i, v in enumerate(value)]
    if isinstance(value, str) and "$(" in value:

        def arg(match: re.Match) -> str:
            name = match.group(1)
            if name not in args:
                raise GraphError(
                    f"{source}: {where}: unknown launch argument {name!r} in {value!r}; "
                    f"declared: {sorted(args)}"
                )
            return args[name]

        text = ARG_PATTERN.sub(arg, value)
        if WHOLE_ARG.match(value) and text in BOOLEAN_TEXT:
            return BOOLEAN_TEXT[text]
        return text
    return value

"""Package exports that load on first use (PEP 562), so that importing a package stays cheap.

`l4 --help` imports every command module, and a command module imports its package: a package
whose ``__init__`` imported torch, OpenCV or the simulator would make the help take a second.

    _EXPORTS = {"make_scenario": "tools.scenario.generator", ...}
    __getattr__ = lazy_exports(__name__, _EXPORTS)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) on first use."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    return __getattr__

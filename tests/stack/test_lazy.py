"""Package exports that load on first use."""

from __future__ import annotations

import sys
import types

import pytest

from stack.lazy import lazy_exports


def test_an_export_loads_on_first_use_and_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = types.ModuleType("fake_pkg")
    monkeypatch.setitem(sys.modules, "fake_pkg", pkg)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    pkg.__getattr__ = lazy_exports("fake_pkg", {"rgb_to_hsv": "colorsys"})
    assert "colorsys" not in sys.modules  # nothing imported yet
    func = pkg.__getattr__("rgb_to_hsv")
    assert func(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules and vars(pkg)["rgb_to_hsv"] is func


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    getter = lazy_exports("fake_pkg", {})
    with pytest.raises(AttributeError, match="'fake_pkg' has no attribute 'nothing'"):
        getter("nothing")

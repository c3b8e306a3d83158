"""Shared fixtures of the planning tests: the same fake Context as the perception tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_FAKE_CTX = Path(__file__).resolve().parents[1] / "perception" / "fake_ctx.py"


@pytest.fixture
def fake():
    """The fake_ctx module: make_node(NodeCls, **params) -> (node, ctx), header(ns, frame)."""
    name = "l4_tests_fake_ctx"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _FAKE_CTX)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]

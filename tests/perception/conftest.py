"""Shared fixtures of the perception tests (loads fake_ctx.py by path: works in any import mode)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_fake_ctx():
    name = "l4_tests_fake_ctx"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("fake_ctx.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def fake():
    """The fake_ctx module: make_node(NodeCls, **params) -> (node, ctx), header(ns, frame)."""
    return _load_fake_ctx()

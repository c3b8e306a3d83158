"""Tool commands say which optional package is missing and which extra brings it."""

from __future__ import annotations

import sys

import pytest

from stack.cli.errors import CliError, require_modules


def test_installed_modules_pass_without_being_imported():
    assert "colorsys" not in sys.modules or sys.modules.pop("colorsys")
    require_modules("anything", "json", "colorsys")
    assert "colorsys" not in sys.modules  # found, not imported


def test_the_first_missing_module_is_named_with_its_extra():
    with pytest.raises(CliError) as err:
        require_modules("compression", "json", "l4stack_no_such_module", "torch")
    text = str(err.value)
    assert "compression needs l4stack_no_such_module" in text
    assert "pip install 'l4stack[train]'" in text


def test_the_train_command_refuses_cleanly_without_torch(monkeypatch):
    import importlib.util

    from tools.train import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    with pytest.raises(CliError, match="training needs torch"):
        cli.run_detector(None)

"""`l4 eval` refusals through the real CLI entry point (a full scoring runs in tests/tools/demo)."""

from __future__ import annotations

from pathlib import Path

from stack.cli.main import main


def test_eval_refuses_a_directory_without_outputs(tmp_path: Path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "no outputs/ bag" in capsys.readouterr().err


def test_eval_needs_the_scenario_bag(tmp_path: Path, capsys):
    (tmp_path / "outputs").mkdir()
    assert main(["eval", str(tmp_path)]) == 2
    assert "no replay.json" in capsys.readouterr().err

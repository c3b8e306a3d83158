"""`l4` subcommands and launch checks come from entry points; errors are handled in one place.

These tests read the installed metadata: install the tree (``pip install -e .``) first.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points
from types import SimpleNamespace

import pytest

from stack.cli import plugins
from stack.cli.main import main
from stack.errors import L4Error

RUNTIME_COMMANDS = {"bag", "engine", "graph", "launch", "replay", "report", "ros"}
TOOL_COMMANDS = {
    "bench": "tools.bench",
    "compress": "tools.compress",
    "demo": "tools.demo",
    "eval": "tools.eval",
    "scenario": "tools.scenario",
    "sim": "tools.schedsim",
    "sparse": "tools.sparse",
    "train": "tools.train",
    "vit": "tools.vit",
}
LAUNCH = """
name: tiny
nodes:
  camera:
    class: stack.nodes.synthetic:SyntheticCamera
    params: {topic: /cam, rate_hz: 50.0, width: 8, height: 8}
"""


class ToolError(L4Error):
    """Some subsystem's error, as a plugin raises it."""


def register_hello(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hello", help="a test command")
    p.add_argument("--fail", choices=["l4", "oserror"])
    p.set_defaults(func=_hello)


def _hello(args: argparse.Namespace) -> int:
    if args.fail == "l4":
        raise ToolError("hello.yaml: key greeting: not a string (got 3)")
    if args.fail == "oserror":
        open("/nonexistent/dir/out.json", "w")  # noqa: SIM115
    print("hello")
    return 0


def register_raises(sub: argparse._SubParsersAction) -> None:
    raise RuntimeError("boom while registering")


refusing_check = SimpleNamespace(
    add_arguments=lambda p: p.add_argument("--refuse", action="store_true"),
    check=lambda runtime, args: _refuse(runtime, args),
)


def _refuse(runtime, args) -> None:
    assert runtime.graph.name == "tiny"
    if args.refuse:
        raise ToolError("--refuse: the check refuses this run")


@pytest.fixture
def extra_entry_points(monkeypatch):
    """Add entry points to a group, beside the installed ones."""
    added: list[EntryPoint] = []

    def fake(group: str):
        return [*entry_points(group=group), *(ep for ep in added if ep.group == group)]

    monkeypatch.setattr(plugins, "entry_points", fake)

    def add(name: str, value: str, group: str = plugins.COMMANDS_GROUP) -> None:
        added.append(EntryPoint(name, value, group))

    return add


def test_the_installed_registry_is_this_tree_s() -> None:
    names = set(plugins.registered(plugins.COMMANDS_GROUP))
    assert names == RUNTIME_COMMANDS | set(TOOL_COMMANDS), "reinstall: pip install -e ."
    targets = {ep.name: ep.value for ep in entry_points(group=plugins.COMMANDS_GROUP)}
    for name in RUNTIME_COMMANDS:
        assert targets[name].startswith("stack.cli.")
    for name, package in TOOL_COMMANDS.items():  # each lives in the package it drives
        assert targets[name].startswith(package + ".")
    assert plugins.registered(plugins.LAUNCH_CHECKS_GROUP) == ["schedulability"]


def test_help_lists_the_commands_in_name_order_and_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from stack.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'scipy', 'cv2', 'rosbags', 'onnx', 'torch') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("    ")]
    listed = [name for name in listed if name in RUNTIME_COMMANDS | set(TOOL_COMMANDS)]
    assert listed == sorted(RUNTIME_COMMANDS | set(TOOL_COMMANDS))


def test_a_plugin_command_runs(extra_entry_points, capsys) -> None:
    extra_entry_points("hello", f"{__name__}:register_hello")
    assert main(["hello"]) == 0
    assert capsys.readouterr().out == "hello\n"


def test_any_l4_error_is_reported_once_without_a_traceback(extra_entry_points, capsys) -> None:
    extra_entry_points("hello", f"{__name__}:register_hello")
    assert main(["hello", "--fail", "l4"]) == 2
    err = capsys.readouterr().err
    assert err == "l4 hello: error: hello.yaml: key greeting: not a string (got 3)\n"


def test_an_os_error_names_the_file(extra_entry_points, capsys) -> None:
    extra_entry_points("hello", f"{__name__}:register_hello")
    assert main(["hello", "--fail", "oserror"]) == 2
    err = capsys.readouterr().err
    assert err == "l4 hello: error: /nonexistent/dir/out.json: No such file or directory\n"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("no_such_module_xyz:register", "ModuleNotFoundError"),
        (f"{__name__}:no_such_function", "AttributeError"),
        (f"{__name__}:register_raises", "RuntimeError: boom while registering"),
    ],
)
def test_a_broken_plugin_is_one_warning(extra_entry_points, capsys, value, why) -> None:
    extra_entry_points("broken", value)
    extra_entry_points("hello", f"{__name__}:register_hello")
    assert main(["hello"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith(
        f"l4: warning: l4stack.commands entry point 'broken' ({value}) skipped: "
    )
    assert why in lines[0]
    assert captured.out == "hello\n"


def test_no_registered_command_is_a_clear_error(monkeypatch, capsys) -> None:
    monkeypatch.setattr(plugins, "entry_points", lambda group: [])
    assert main(["launch"]) == 2
    err = capsys.readouterr().err
    assert "no subcommands are registered under the entry-point group 'l4stack.commands'" in err
    assert "pip install -e ." in err


def test_launch_checks_come_from_entry_points(extra_entry_points, write_launch, capsys) -> None:
    extra_entry_points("refuse", f"{__name__}:refusing_check", plugins.LAUNCH_CHECKS_GROUP)
    launch = str(write_launch(LAUNCH))
    assert main(["launch", launch, "--duration", "0.05"]) == 0
    assert main(["launch", launch, "--duration", "0.05", "--refuse"]) == 2
    assert "l4 launch: error: --refuse: the check refuses this run" in capsys.readouterr().err


def test_the_schedulability_check_is_a_plugin(write_launch, tmp_path, capsys) -> None:
    """`l4 launch --profile` comes from tools.schedsim's launch check, not from stack."""
    bad = tmp_path / "profile.json"
    bad.write_text("{")
    launch = str(write_launch(LAUNCH))
    assert main(["launch", launch, "--duration", "0.05", "--profile", str(bad)]) == 2
    assert "l4 launch: error: --profile: " in capsys.readouterr().err

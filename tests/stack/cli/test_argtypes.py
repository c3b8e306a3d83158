"""Defect 8: no value a user can type in a numeric `l4` option ends in a traceback.

Every numeric option of every registered subcommand (the moved ones too) goes through
stack.cli.argtypes; inf, nan, negatives and overflowing values give a usage error, exit 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from stack.cli import argtypes
from stack.cli.main import build_parser, main

BAD_VALUES = ("inf", "-inf", "nan", "-1", "1e999", "x")
HUGE = "99999999999999999999999"


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse._SubParsersAction]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield action


def numeric_options(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.Action]]:
    """(subcommand path, action) of every option or argument taking a number."""
    for action in parser._actions:
        if (
            action.type in (int, float)
            or getattr(action.type, "__module__", "") == argtypes.__name__
        ):
            yield path, action
    for sub in _subparsers(parser):
        for name, child in sub.choices.items():
            yield from numeric_options(child, (*path, name))


def _cases() -> list[tuple[tuple[str, ...], str]]:
    found = [(path, action.option_strings[-1]) for path, action in numeric_options(build_parser())]
    return sorted(set(found))


def _action(path: tuple[str, ...], option: str) -> argparse.Action:
    for p, action in numeric_options(build_parser()):
        if p == path and option in action.option_strings:
            return action
    raise LookupError(option)


CASES = _cases()


def test_every_subcommand_with_numbers_is_covered() -> None:
    commands = {path[0] for path, _ in CASES}
    # The runtime's own commands and the moved ones, each with numeric options.
    assert commands >= {
        "demo",
        "launch",
        "replay",
        "ros",
        "bench",
        "engine",
        "sim",
        "scenario",
        "train",
    }
    assert len(CASES) >= 30


def test_no_numeric_option_takes_a_bare_int_or_float() -> None:
    bare = [
        " ".join(path) + " " + action.option_strings[-1]
        for path, action in numeric_options(build_parser())
        if action.type in (int, float)
    ]
    assert not bare, f"use a stack.cli.argtypes check: {bare}"


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize(
    ("path", "option"), CASES, ids=lambda c: "-".join(c) if isinstance(c, tuple) else c
)
def test_bad_numbers_are_usage_errors(path, option, value, capsys) -> None:
    # Checked on the type first, so that a check that lets the value through fails here
    # instead of running the command (a training run, a benchmark).
    with pytest.raises(argparse.ArgumentTypeError):
        _action(path, option).type(value)
    assert main([*path, f"{option}={value}"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"argument {option}" in err


@pytest.mark.parametrize(
    ("path", "option"), CASES, ids=lambda c: "-".join(c) if isinstance(c, tuple) else c
)
def test_every_count_has_an_upper_bound(path, option) -> None:
    action = _action(path, option)
    try:
        value = action.type("7")
    except argparse.ArgumentTypeError:
        return  # not a count that takes 7 (a rate, a DLA core)
    if isinstance(value, int):
        with pytest.raises(argparse.ArgumentTypeError, match="must be <="):
            action.type(HUGE)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "bag", "--run-dir", "r", "--duration", "inf"], "must be a finite number"),
        (["replay", "bag", "--run-dir", "r", "--start", "inf"], "must be a finite number"),
        (["replay", "bag", "--run-dir", "r", "--start", "1e300"], "must be <= 1e+09 s"),
        (["replay", "bag", "--run-dir", "r", "--rate", "0"], "must be >= 0.001"),
        (["replay", "bag", "--run-dir", "r", "--rate", "nan"], "must be a finite number"),
        (["launch", "f.yaml", "--duration", "-1"], "must be > 0 s"),
        (["engine", "info", "m.onnx", "--batch", "-1"], "must be >= 1"),
        (["engine", "info", "m.onnx", "--batch", "0"], "must be >= 1"),
        (["sim", "f.yaml", "--profile", "p", "--repeats", "0"], "must be >= 1"),
    ],
)
def test_the_issue_s_cases(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_sim_pairs_refuse_non_finite_and_non_positive(tmp_path, capsys) -> None:
    from tools.schedsim.cli import parse_pairs

    assert parse_pairs(["cpu=0.5", "a=b=2"], "--speed") == {"cpu": 0.5, "a=b": 2.0}
    for bad in ("cpu=nan", "cpu=inf", "cpu=0", "cpu=-1"):
        with pytest.raises(Exception, match=rf"--speed '{bad}': the number must be > 0"):
            parse_pairs([bad], "--speed")


def test_checks_accept_what_they_should() -> None:
    assert argtypes.duration("0.5") == 0.5
    assert argtypes.offset("0") == 0.0
    assert argtypes.rate("1") == 1.0
    assert argtypes.seed("0") == 0 and argtypes.seed(str(2**32 - 1)) == 2**32 - 1
    assert argtypes.bounded_int(1, 5)("3") == 3
    assert argtypes.non_negative_float("0") == 0.0
    assert argtypes.bounded_float(-1.0, 1.0)("-1") == -1.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be > 0 s, got '0'"):
        argtypes.duration("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer, got '1.5'"):
        argtypes.bounded_int(1, 5)("1.5")
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be <= 4294967295"):
        argtypes.seed(str(2**32))

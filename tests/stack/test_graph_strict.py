"""Launch files are strict: YAML booleans only, no booleans as numbers, no duplicate keys,
no alias bombs, no oversized or over-deep documents; each error names the file and key."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.graph import GraphError, load_graph, parse_graph
from stack.graph_params import build_params
from stack.graph_yaml import MAX_BYTES
from stack.node import Node
from stack.scheduler.config import parse_scheduler
from stack.scheduler.errors import SchedulerError

REC = "tests.stack.executor.nodes:Recorder"
SUBPROCESS = "subprocess:Popen"


def launch(head: str = "", node_class: str = REC, chain: str = "") -> str:
    return (
        f"{head}\nnodes:\n  a: {{class: '{node_class}', params: {{input: /in, output: /out}}}}\n"
        + (f"chains:\n  c: {{path: [/in, /out], {chain}}}\n" if chain else "")
    )


@pytest.mark.parametrize("value", ['"false"', '"no"', "'true'", '"0"', "0", "1", "null"])
def test_allow_external_modules_must_be_a_yaml_boolean(value):
    text = launch(f"allow_external_modules: {value}", SUBPROCESS)
    with pytest.raises(GraphError, match=r"g\.yaml: allow_external_modules: expected true or"):
        parse_graph(text, "g.yaml")


@pytest.mark.parametrize("given", ["no", "false ", "0", "yes", "off"])
def test_an_arg_that_does_not_read_true_or_false_is_refused_as_a_boolean(given):
    text = launch("args: {ext: ''}\nallow_external_modules: $(arg ext)", SUBPROCESS)
    with pytest.raises(GraphError, match=r"allow_external_modules: expected true or false"):
        parse_graph(text, "g.yaml", {"ext": given})


def test_a_whole_value_arg_reading_true_or_false_becomes_a_boolean():
    text = launch("args: {ext: false}\nallow_external_modules: $(arg ext)")
    assert parse_graph(text, "g.yaml", {"ext": "true"}).nodes["a"].class_path == REC
    with pytest.raises(GraphError, match="outside this project's packages"):
        parse_graph(text, "g.yaml")  # the default, false (str(False) == 'False')
    with pytest.raises(GraphError, match="outside this project's packages"):
        parse_graph(text, "g.yaml", {"ext": "false"})
    partial = launch("args: {ext: ''}\nallow_external_modules: $(arg ext)x")
    with pytest.raises(GraphError, match="allow_external_modules: expected true or false"):
        parse_graph(partial, "g.yaml", {"ext": "true"})  # 'truex': only a whole value is typed


def test_a_string_arg_inside_a_string_stays_text():
    text = launch("args: {out: 'true'}\nallow_external_modules: true").replace(
        "output: /out", "output: /x/$(arg out)"
    )
    assert parse_graph(text, "g.yaml").nodes["a"].params.output == "/x/true"


@pytest.mark.parametrize(
    ("head", "pattern"),
    [
        (
            "executors:\n  e: {threads: true}",
            r"executors\.e\.threads: expected an integer >= 1, got true",
        ),
        ("executors:\n  e: {cores: [true]}", r"executors\.e\.cores\[0\]: expected an integer"),
        (
            "executors:\n  e: {priority: yes}",
            r"executors\.e\.priority: expected an integer in 0\.\.99",
        ),
        ("executors:\n  e: {process: 'true'}", r"executors\.e\.process: expected true or false"),
    ],
)
def test_executor_integers_refuse_booleans(head, pattern):
    with pytest.raises(GraphError, match=r"g\.yaml: " + pattern):
        parse_graph(launch("allow_external_modules: true\n" + head), "g.yaml")


@pytest.mark.parametrize(
    ("chain", "pattern"),
    [
        (
            "budget_ms: 20, percentile: yes",
            r"percentile: expected a number in \(0, 100\], got true",
        ),
        ("budget_ms: 20, percentile: true", r"percentile: expected a number in \(0, 100\]"),
        ("budget_ms: 20, percentile: 0", r"percentile: expected a number in \(0, 100\], got 0"),
        ("budget_ms: 20, percentile: 100.5", r"percentile: .*got 100\.5"),
        ("budget_ms: 20, percentile: .nan", r"percentile: .*got nan"),
        ("budget_ms: .inf", r"budget_ms: expected a number > 0, got inf"),
        ("budget_ms: 20, priority: on", r"priority: expected an integer, got true"),
    ],
)
def test_chain_numbers_refuse_booleans_and_out_of_range(chain, pattern):
    text = launch("allow_external_modules: true", chain=chain)
    with pytest.raises(GraphError, match=r"g\.yaml: chains\.c\." + pattern):
        parse_graph(text, "g.yaml")


def test_percentile_100_is_allowed():
    text = launch("allow_external_modules: true", chain="budget_ms: 20, percentile: 100")
    assert parse_graph(text, "g.yaml").chains["c"].percentile == 100.0


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            "name: a\nname: b\n",
            r"g\.yaml: name: duplicate key 'name' \(line 2; first at line 1\)",
        ),
        (
            launch("allow_external_modules: true").replace("input: /in,", "input: /in, input: /x,"),
            r"g\.yaml: nodes\.a\.params\.input: duplicate key 'input' \(line 3; first at line 3\)",
        ),
        (
            "allow_external_modules: true\nscheduler:\n  stale_drop: true\n  stale_drop: false\n",
            r"scheduler\.stale_drop: duplicate key 'stale_drop' \(line 4; first at line 3\)",
        ),
        ("chains: {1: x, 1.0: y}", r"chains\.1\.0: duplicate key 1\.0"),
    ],
)
def test_duplicate_keys_are_refused_with_key_path_and_lines(text, pattern):
    with pytest.raises(GraphError, match=pattern):
        parse_graph(text, "g.yaml")


def test_merge_keys_may_override_what_they_merge():
    text = launch("allow_external_modules: true\nbase: &b {threads: 1, priority: 0}\n").replace(
        "base:", "executors:\n  e:\n    <<: {threads: 1}\n    priority: 3\n_unused:"
    )
    with pytest.raises(GraphError, match=r"_unused: unknown key"):
        parse_graph(text, "g.yaml")  # the merge itself is accepted; the stray key is not


def _bomb(section: str, levels: int = 9, fan: int = 9) -> str:
    lines = [f"  a0: &a0 [{', '.join(['lol'] * fan)}]"]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return f"{section}:\n" + "\n".join(lines) + "\n" + launch("allow_external_modules: true")


@pytest.mark.parametrize("section", ["scheduler", "args"])
def test_an_alias_bomb_is_refused_in_well_under_a_second(section):
    t0 = time.perf_counter()
    with pytest.raises(GraphError, match=rf"g\.yaml: {section}\.a\d.*expands .* YAML nodes"):
        parse_graph(_bomb(section), "g.yaml")
    assert time.perf_counter() - t0 < 1.0


def test_a_few_aliases_are_fine():
    text = launch("allow_external_modules: true\nexecutors:\n  e: &e {threads: 2}\n  f: *e")
    assert parse_graph(text, "g.yaml").executors["f"].threads == 2


def test_oversized_documents_are_refused_before_reading(tmp_path: Path):
    big = launch("allow_external_modules: true") + "#" * MAX_BYTES + "\n"
    with pytest.raises(GraphError, match=r"g\.yaml: the launch file is \d+ bytes; .* limited"):
        parse_graph(big, "g.yaml")
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(GraphError, match=r"big\.yaml: the launch file is"):
        load_graph(path)


@pytest.mark.parametrize("depth", [100, 5000])
def test_deep_nesting_is_refused_without_a_traceback(depth):
    text = "name: x\nscheduler: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(GraphError, match=r"g\.yaml: .*(nested|deep)"):
        parse_graph(text, "g.yaml")


def test_args_defaults_must_be_scalars():
    text = launch("args: {m: {a: 1}}\nallow_external_modules: true")
    with pytest.raises(GraphError, match=r"g\.yaml: args\.m: expected a string, number or boolean"):
        parse_graph(text, "g.yaml")


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ({"degrade": {"min_slack_ms": float("nan")}}, r"degrade\.min_slack_ms: .*got nan"),
        ({"degrade": {"hold_s": float("inf")}}, r"degrade\.hold_s: .*got inf"),
        ({"degrade": {"window": True}}, r"degrade\.window: expected an integer >= 1, got true"),
        ({"gc_freeze": "false"}, r"gc_freeze: expected true or false, got 'false'"),
        ({"switch_interval_ms": True}, r"switch_interval_ms: .*got true"),
    ],
)
def test_scheduler_section_is_strict(raw, pattern):
    with pytest.raises(SchedulerError, match=r"f\.yaml: scheduler\." + pattern):
        parse_scheduler(raw, "f.yaml")


class _Shape(str, enum.Enum):
    ROUND = "round"
    SQUARE = "square"


@dataclass
class _FlagParams:
    enabled: bool = True
    count: int = 1
    gain: float = 1.0
    shape: _Shape = _Shape.ROUND

    def __post_init__(self) -> None:
        self.shape = _Shape(self.shape)


class _FlagNode(Node):
    Params = _FlagParams


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ({"enabled": "false"}, r"enabled: expected true or false, got 'false'; a string"),
        ({"count": True}, r"count: expected int, got true \(a boolean\)"),
        ({"gain": False}, r"gain: expected float, got false \(a boolean\)"),
    ],
)
def test_node_parameters_refuse_strings_as_booleans_and_booleans_as_numbers(raw, pattern):
    with pytest.raises(GraphError, match=r"g\.yaml: p\." + pattern):
        build_params("g.yaml", "p", _FlagNode, raw)
    assert build_params("g.yaml", "p", _FlagNode, {"enabled": False}).enabled is False


def test_enum_parameters_take_their_values_from_yaml_and_name_the_choices():
    assert build_params("g.yaml", "p", _FlagNode, {"shape": "square"}).shape is _Shape.SQUARE
    with pytest.raises(GraphError, match=r"p\.shape: expected one of 'round', 'square', got"):
        build_params("g.yaml", "p", _FlagNode, {"shape": "oval"})

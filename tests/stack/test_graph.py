from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack.executor import Runtime, SimClock
from stack.graph import GraphError, load_graph, parse_graph

ROOT = Path(__file__).resolve().parents[2]
REC = "tests.stack.executor.nodes:Recorder"

GOOD = f"""
name: t
allow_external_modules: true
executors:
  main: {{cores: [0], threads: 1, priority: 0}}
nodes:
  a: {{class: "{REC}", params: {{input: /in, output: /mid}}}}
  b: {{class: "{REC}", params: {{input: /mid, output: /out}}}}
chains:
  c: {{path: [/in, /mid, /out], budget_ms: 20, percentile: 99, priority: 5}}
"""


def _build(text: str, external=("/in",)) -> Runtime:
    return Runtime(parse_graph(text, "g.yaml"), SimClock(), lockstep=True, external_topics=external)


def test_good_file_loads_with_typed_fields():
    graph = parse_graph(GOOD, "g.yaml")
    assert graph.name == "t"
    assert graph.executors["main"].cores == (0,)
    assert graph.executors["main"].nice == 0
    niced = parse_graph(GOOD.replace("priority: 0}", "nice: -5}"), "g.yaml")
    assert niced.executors["main"].nice == -5
    assert not graph.executors["main"].process
    apart = parse_graph(GOOD.replace("priority: 0}", "process: true}"), "g.yaml")
    assert apart.executors["main"].process
    assert graph.nodes["a"].params.output == "/mid"
    chain = graph.chains["c"]
    assert chain.path == ("/in", "/mid", "/out") and chain.budget_ns == 20_000_000
    rt = _build(GOOD)
    topo = rt.topology()
    assert topo.publishers["/mid"] == ("a",)
    assert topo.subscribers["/mid"] == ("b",)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (GOOD.replace("Recorder", "Nope"), r"g\.yaml: nodes\.a\.class: unknown class 'Nope'"),
        (
            GOOD.replace("tests.stack.executor.nodes:Recorder", "no.such.mod:X"),
            r"nodes\.a\.class: cannot import module 'no\.such\.mod'",
        ),
        (GOOD.replace("Recorder", "NotANode"), r"nodes\.a\.class: .* is not a stack\.node\.Node"),
        (GOOD.replace("Recorder", "Recorder:x"), r"nodes\.a\.class: expected 'module:Class'"),
        (
            GOOD.replace("input: /in, output: /mid", "input: /in, colour: red"),
            r"nodes\.a\.params\.colour: unknown parameter of Recorder",
        ),
        (
            GOOD.replace("input: /in, output: /mid", "input: /in, depth: many"),
            r"nodes\.a\.params\.depth: expected int, got 'many'",
        ),
        (GOOD.replace("budget_ms: 20", "budget_ms: -1"), r"chains\.c\.budget_ms: .* got -1"),
        (GOOD.replace("percentile: 99", "percentile: 150"), r"chains\.c\.percentile: .* got 150"),
        (GOOD.replace("[/in, /mid, /out]", "[/in]"), r"chains\.c\.path: expected a list of >= 2"),
        (GOOD.replace("cores: [0]", "cores: [zero]"), r"executors\.main\.cores\[0\]: .*'zero'"),
        (GOOD.replace("priority: 0}", "priority: 300}"), r"executors\.main\.priority: .* 300"),
        (
            GOOD.replace("priority: 0}", "nice: -30}"),
            r"executors\.main\.nice: expected an integer in -20\.\.19, got -30",
        ),
        (GOOD.replace("priority: 0}", "nice: low}"), r"executors\.main\.nice: .*'low'"),
        (
            GOOD.replace("priority: 0}", "process: yes please}"),
            r"executors\.main\.process: expected true or false, got 'yes please'",
        ),
        (GOOD.replace("name: t", "nmae: t"), r"nmae: unknown key 'nmae'"),
        (
            GOOD.replace("params: {input: /mid", "executor: gpu, params: {input: /mid"),
            r"nodes\.b\.executor: unknown executor 'gpu'",
        ),
        ("nodes: [1, 2", r"g\.yaml: not valid YAML"),
        ("- 1\n- 2\n", r"expected a mapping at the top level"),
        ("name: x\n", r"nodes: the launch file declares no nodes"),
    ],
)
def test_invalid_files_name_file_key_and_value(text, pattern):
    with pytest.raises(GraphError, match=pattern):
        parse_graph(text, "g.yaml")


def test_external_module_refused_unless_allowed():
    text = GOOD.replace("allow_external_modules: true\n", "")
    with pytest.raises(GraphError, match=r"nodes\.a\.class: module 'tests\.stack.*outside"):
        parse_graph(text, "g.yaml")


def test_chain_through_topic_nobody_publishes():
    text = GOOD.replace("[/in, /mid, /out]", "[/in, /mid, /nowhere]")
    with pytest.raises(
        GraphError, match=r"chains\.c\.path\[2\]: no node publishes topic '/nowhere'"
    ):
        _build(text)


def test_chain_with_broken_hop():
    text = GOOD.replace("[/in, /mid, /out]", "[/in, /out]")
    with pytest.raises(
        GraphError, match=r"chains\.c\.path\[1\]: no node subscribes '/in' and publishes '/out'"
    ):
        _build(text)


def test_chain_start_without_external_feed_is_an_error():
    with pytest.raises(GraphError, match=r"chains\.c\.path\[0\]: no node publishes topic '/in'"):
        _build(GOOD, external=())


def test_unfed_subscription_is_a_warning(caplog):
    text = GOOD.replace(
        "chains:\n  c: {path: [/in, /mid, /out], budget_ms: 20, percentile: 99, priority: 5}\n", ""
    )
    rt = _build(text, external=())
    assert any("'/in'" in w and "no publisher" in w for w in rt.graph.warnings)


def test_missing_file(tmp_path: Path):
    with pytest.raises(GraphError, match=r"missing\.yaml: cannot read launch file"):
        load_graph(tmp_path / "missing.yaml")


def test_cli_graph_exit_codes(write_launch):
    good = write_launch(GOOD, "good.yaml")
    bad = write_launch(GOOD.replace("Recorder", "Nope"), "bad.yaml")
    env_cmd = [sys.executable, "-m", "stack.cli", "graph"]
    ok = subprocess.run(
        [*env_cmd, str(good), "--external", "/in"], capture_output=True, text=True, cwd=ROOT
    )
    assert ok.returncode == 0, ok.stderr
    assert "/mid" in ok.stdout and "c" in ok.stdout
    res = subprocess.run([*env_cmd, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2
    assert "bad.yaml: nodes.a.class: unknown class 'Nope'" in res.stderr


def test_shipped_launch_files_are_valid():
    for path in sorted((ROOT / "launch").glob("*.yaml")):
        graph = load_graph(path)
        assert graph.nodes, path


ARGS = f"""
allow_external_modules: true
args:
  out_topic: /mid
nodes:
  a: {{class: "{REC}", params: {{input: $(arg bag_dir)/in, output: "$(arg out_topic)"}}}}
"""


def test_launch_args_defaults_overrides_and_provided():
    graph = parse_graph(ARGS, "g.yaml", provided={"bag_dir": "/data"})
    assert graph.nodes["a"].params.input == "/data/in"
    assert graph.nodes["a"].params.output == "/mid"
    graph = parse_graph(ARGS, "g.yaml", {"out_topic": "/other"}, {"bag_dir": ""})
    assert graph.nodes["a"].params.output == "/other"


def test_launch_args_errors_name_the_argument():
    with pytest.raises(GraphError, match=r"args: unknown launch argument\(s\) \['colour'\]"):
        parse_graph(ARGS, "g.yaml", {"colour": "red"}, {"bag_dir": ""})
    with pytest.raises(
        GraphError, match=r"nodes\.a\.params\.input: unknown launch argument 'bag_dir'"
    ):
        parse_graph(ARGS, "g.yaml")


def test_provided_args_override_declared_defaults_and_cli_overrides_both():
    text = ARGS.replace("  out_topic: /mid\n", "  out_topic: /mid\n  bag_dir: /default\n")
    assert parse_graph(text, "g.yaml").nodes["a"].params.input == "/default/in"
    graph = parse_graph(text, "g.yaml", provided={"bag_dir": "/bag"})
    assert graph.nodes["a"].params.input == "/bag/in"
    graph = parse_graph(text, "g.yaml", {"bag_dir": "/cli"}, {"bag_dir": "/bag"})
    assert graph.nodes["a"].params.input == "/cli/in"


def test_nested_parameter_groups_are_built_and_checked():
    base = "allow_external_modules: true\nnodes:\n  t:\n    class: perception.tracking.node:ObjectTracker\n"
    graph = parse_graph(base + "    params: {fusion: {keep_camera_only: false}}\n", "g.yaml")
    assert graph.nodes["t"].params.fusion.keep_camera_only is False
    with pytest.raises(
        GraphError, match=r"nodes\.t\.params\.fusion\.colour: unknown parameter of FusionConfig"
    ):
        parse_graph(base + "    params: {fusion: {colour: 1}}\n", "g.yaml")

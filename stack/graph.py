"""The launch file model: nodes, executors and chains with budgets; load and validate.

One YAML file drives the embedded run, the replay, the ros2 launch and the scheduling
simulation. Every error names the file, the key path and the bad value.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.graph_args import launch_args, substitute
from stack.graph_errors import GraphError
from stack.graph_params import build_params
from stack.graph_qos import QosOverride, parse_qos
from stack.graph_values import expect_bool, expect_int, expect_number
from stack.graph_yaml import check_size, load_strict
from stack.node import Node

log = logging.getLogger(__name__)

# Node classes may come only from these packages unless the file sets allow_external_modules.
PROJECT_PACKAGES = ("stack", "perception", "planning", "tools")
TOP_LEVEL_KEYS = {
    "name",
    "args",
    "executors",
    "nodes",
    "chains",
    "allow_external_modules",
    "scheduler",
    "qos",
}
NODE_KEYS = {"class", "params", "remap", "executor"}
EXECUTOR_KEYS = {"cores", "threads", "priority", "nice", "process"}
CHAIN_KEYS = {"path", "budget_ms", "percentile", "priority"}
DEFAULT_EXECUTOR = "default"


@dataclass(frozen=True)
class ExecutorSpec:
    name: str
    cores: tuple[int, ...] = ()
    threads: int = 1
    priority: int = 0  # SCHED_FIFO priority; 0 means the normal scheduler
    nice: int = 0  # the threads' nice value under the normal scheduler (-20..19); 0 leaves it
    process: bool = False  # run in a process of its own (threaded runs; stack.executor.process)


@dataclass(frozen=True)
class NodeSpec:
    name: str
    class_path: str
    node_class: type[Node]
    params: Any
    remap: Mapping[str, str]
    executor: str


@dataclass(frozen=True)
class ChainSpec:
    name: str
    path: tuple[str, ...]
    budget_ms: float
    percentile: float = 99.0
    priority: int = 0

    @property
    def start(self) -> str:
        return self.path[0]

    @property
    def end(self) -> str:
        return self.path[-1]

    @property
    def budget_ns(self) -> int:
        return int(self.budget_ms * 1e6)


@dataclass
class LaunchGraph:
    """A loaded launch file. ``source`` is the file path (or '<string>')."""

    source: str
    name: str
    executors: dict[str, ExecutorSpec]
    nodes: dict[str, NodeSpec]
    chains: dict[str, ChainSpec]
    scheduler: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    warnings: list[str] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)
    qos: dict[str, QosOverride] = field(default_factory=dict)  # per-topic ROS 2 QoS (rclpy)

    def error(self, key: str, message: str) -> GraphError:
        return GraphError(f"{self.source}: {key}: {message}")


def resolve_path(source: str, path: str | Path) -> Path:
    """A relative path in a launch file means beside that file when it exists there."""
    path = Path(path)
    if path.is_absolute() or source in ("", "<string>"):
        return path
    beside = Path(source).parent / path
    return beside if beside.exists() else path


def resolve_topic(name: str) -> str:
    """Absolute topic name: relative names resolve in the root namespace."""
    return name if name.startswith("/") else "/" + name


def load_graph(
    path: str | Path,
    args: Mapping[str, str] | None = None,
    provided: Mapping[str, str] | None = None,
) -> LaunchGraph:
    """Load and validate a launch YAML file.

    ``args`` override the defaults declared under ``args:``; ``provided`` are set by the
    command itself (e.g. ``bag_dir`` in a replay) and need no declaration.
    """
    path = Path(path)
    try:
        check_size(str(path), path.stat().st_size)
        text = path.read_text()
    except OSError as exc:
        raise GraphError(f"{path}: cannot read launch file: {exc.strerror}") from exc
    return parse_graph(text, str(path), args, provided)


def parse_graph(
    text: str,
    source: str = "<string>",
    args: Mapping[str, str] | None = None,
    provided: Mapping[str, str] | None = None,
) -> LaunchGraph:
    doc = load_strict(text, source)
    if not isinstance(doc, dict):
        raise GraphError(f"{source}: expected a mapping at the top level, got {type(doc).__name__}")
    _check_keys(source, "", doc, TOP_LEVEL_KEYS)
    values = launch_args(source, doc.get("args") or {}, args or {}, provided or {})
    doc = substitute(source, "", doc, values)
    allow_external = expect_bool(
        f"{source}: allow_external_modules", doc.get("allow_external_modules", False)
    )
    executors = _parse_executors(source, doc.get("executors") or {})
    nodes = _parse_nodes(source, doc.get("nodes"), executors, allow_external)
    chains = _parse_chains(source, doc.get("chains") or {})
    scheduler = doc.get("scheduler") or {}
    if not isinstance(scheduler, dict):
        raise GraphError(f"{source}: scheduler: expected a mapping, got {scheduler!r}")
    name = str(doc.get("name") or Path(source).stem)
    graph = LaunchGraph(source, name, executors, nodes, chains, scheduler, text)
    graph.args = values
    graph.qos = parse_qos(source, doc.get("qos"))
    return graph


def _check_keys(source: str, where: str, mapping: Mapping, known: set[str]) -> None:
    for key in mapping:
        if key not in known:
            keypath = f"{where}.{key}" if where else str(key)
            raise GraphError(
                f"{source}: {keypath}: unknown key {key!r}; known keys: {sorted(known)}"
            )


def _mapping(source: str, keypath: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise GraphError(f"{source}: {keypath}: expected a mapping, got {value!r}")
    return value


def _parse_executors(source: str, raw: Any) -> dict[str, ExecutorSpec]:
    raw = _mapping(source, "executors", raw)
    out: dict[str, ExecutorSpec] = {}
    for name, body in raw.items():
        where = f"executors.{name}"
        body = _mapping(source, where, body or {})
        _check_keys(source, where, body, EXECUTOR_KEYS)
        at = f"{source}: {where}"
        cores = body.get("cores", [])
        if not isinstance(cores, list):
            raise GraphError(f"{at}.cores: expected a list of core ids, got {cores!r}")
        for i, core in enumerate(cores):
            expect_int(f"{at}.cores[{i}]", core, low=0)
        threads = expect_int(f"{at}.threads", body.get("threads", max(1, len(cores))), low=1)
        prio = expect_int(f"{at}.priority", body.get("priority", 0), low=0, high=99)
        nice = expect_int(f"{at}.nice", body.get("nice", 0), low=-20, high=19)
        process = expect_bool(f"{at}.process", body.get("process", False))
        out[str(name)] = ExecutorSpec(str(name), tuple(cores), threads, prio, nice, process)
    if not out:
        out[DEFAULT_EXECUTOR] = ExecutorSpec(DEFAULT_EXECUTOR, (), 1, 0)
    return out


def _parse_nodes(
    source: str, raw: Any, executors: dict[str, ExecutorSpec], allow_external: bool
) -> dict[str, NodeSpec]:
    if not raw:
        raise GraphError(f"{source}: nodes: the launch file declares no nodes")
    raw = _mapping(source, "nodes", raw)
    out: dict[str, NodeSpec] = {}
    for name, body in raw.items():
        where = f"nodes.{name}"
        body = _mapping(source, where, body)
        _check_keys(source, where, body, NODE_KEYS)
        if "class" not in body:
            raise GraphError(f"{source}: {where}.class: missing (expected 'module:Class')")
        cls = import_node_class(source, f"{where}.class", body["class"], allow_external)
        params = build_params(source, f"{where}.params", cls, body.get("params") or {})
        remap = _mapping(source, f"{where}.remap", body.get("remap") or {})
        remap = {resolve_topic(str(k)): resolve_topic(str(v)) for k, v in remap.items()}
        executor = str(body.get("executor", next(iter(executors))))
        if executor not in executors:
            raise GraphError(
                f"{source}: {where}.executor: unknown executor {executor!r}; "
                f"declared: {sorted(executors)}"
            )
        out[str(name)] = NodeSpec(str(name), body["class"], cls, params, remap, executor)
    return out


def import_node_class(source: str, keypath: str, spec: Any, allow_external: bool) -> type[Node]:
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise GraphError(f"{source}: {keypath}: expected 'module:Class', got {spec!r}")
    module_name, _, class_name = spec.partition(":")
    if not allow_external and module_name.split(".")[0] not in PROJECT_PACKAGES:
        raise GraphError(
            f"{source}: {keypath}: module {module_name!r} is outside this project's packages "
            f"{list(PROJECT_PACKAGES)} (set allow_external_modules: true to allow it)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GraphError(
            f"{source}: {keypath}: cannot import module {module_name!r}: {exc}"
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise GraphError(f"{source}: {keypath}: unknown class {class_name!r} in {module_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        raise GraphError(f"{source}: {keypath}: {spec!r} is not a stack.node.Node subclass")
    return cls


def _parse_chains(source: str, raw: Any) -> dict[str, ChainSpec]:
    raw = _mapping(source, "chains", raw)
    out: dict[str, ChainSpec] = {}
    for name, body in raw.items():
        where = f"chains.{name}"
        body = _mapping(source, where, body)
        _check_keys(source, where, body, CHAIN_KEYS)
        path = body.get("path")
        if not isinstance(path, list) or len(path) < 2 or not all(isinstance(t, str) for t in path):
            raise GraphError(
                f"{source}: {where}.path: expected a list of >= 2 topics, got {path!r}"
            )
        at = f"{source}: {where}"
        budget = expect_number(f"{at}.budget_ms", body.get("budget_ms"), above=0)
        pct = expect_number(f"{at}.percentile", body.get("percentile", 99.0), above=0, at_most=100)
        prio = expect_int(f"{at}.priority", body.get("priority", 0))
        topics = tuple(resolve_topic(t) for t in path)
        out[str(name)] = ChainSpec(str(name), topics, float(budget), float(pct), prio)
    return out


@dataclass(frozen=True)
class Topology:
    """Who publishes and who subscribes each topic, as the constructed nodes declared it."""

    publishers: Mapping[str, tuple[str, ...]]
    subscribers: Mapping[str, tuple[str, ...]]


def check_topology(
    graph: LaunchGraph, topo: Topology, external: frozenset[str] = frozenset()
) -> None:
    """Check chains against the declared topics; warn on subscriptions that nothing feeds.

    ``external`` holds topics fed from outside the graph (the bag in a replay).
    """
    fed = set(topo.publishers) | set(external)
    for chain in graph.chains.values():
        where = f"chains.{chain.name}.path"
        for i, topic in enumerate(chain.path):
            if topic not in fed:
                raise graph.error(
                    f"{where}[{i}]", f"no node publishes topic {topic!r} (published: {sorted(fed)})"
                )
        for i, (a, b) in enumerate(zip(chain.path, chain.path[1:])):
            hop = set(topo.subscribers.get(a, ())) & set(topo.publishers.get(b, ()))
            if not hop:
                raise graph.error(
                    f"{where}[{i + 1}]",
                    f"no node subscribes {a!r} and publishes {b!r}, so the chain is broken there",
                )
    for topic, nodes in sorted(topo.subscribers.items()):
        if topic not in fed:
            msg = f"{graph.source}: topic {topic!r} subscribed by {list(nodes)} has no publisher"
            graph.warnings.append(msg)
            log.warning(msg)

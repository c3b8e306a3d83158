"""The launch file model: nodes, executors and chains with budgets; load and validate.

One YAML file drives the embedded run, the replay, the ros2 launch and the scheduling
simulation. Every error names the file, the key path and the bad value.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stack.errors import L4Error
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
}
ARG_PATTERN = re.compile(r"\$\(arg ([A-Za-z_][A-Za-z0-9_]*)\)")
NODE_KEYS = {"class", "params", "remap", "executor"}
EXECUTOR_KEYS = {"cores", "threads", "priority", "nice", "process"}
CHAIN_KEYS = {"path", "budget_ms", "percentile", "priority"}
DEFAULT_EXECUTOR = "default"


class GraphError(L4Error):
    """An invalid launch file; the message names the file, the key path and the bad value."""


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
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GraphError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise GraphError(f"{source}: expected a mapping at the top level, got {type(doc).__name__}")
    _check_keys(source, "", doc, TOP_LEVEL_KEYS)
    values = _launch_args(source, doc.get("args") or {}, args or {}, provided or {})
    doc = _substitute(source, "", doc, values)
    allow_external = bool(doc.get("allow_external_modules", False))
    executors = _parse_executors(source, doc.get("executors") or {})
    nodes = _parse_nodes(source, doc.get("nodes"), executors, allow_external)
    chains = _parse_chains(source, doc.get("chains") or {})
    scheduler = doc.get("scheduler") or {}
    if not isinstance(scheduler, dict):
        raise GraphError(f"{source}: scheduler: expected a mapping, got {scheduler!r}")
    name = str(doc.get("name") or Path(source).stem)
    graph = LaunchGraph(source, name, executors, nodes, chains, scheduler, text)
    graph.args = values
    return graph


def _launch_args(
    source: str, declared: Any, given: Mapping[str, str], provided: Mapping[str, str]
) -> dict[str, str]:
    """Declared defaults, then what the command provides, then ``given`` (`name:=value`)."""
    declared = _mapping(source, "args", declared)
    unknown = set(given) - set(declared)
    if unknown:
        raise GraphError(
            f"{source}: args: unknown launch argument(s) {sorted(unknown)}; "
            f"declared: {sorted(declared)}"
        )
    values = {str(k): "" if v is None else str(v) for k, v in declared.items()}
    values.update({k: str(v) for k, v in provided.items()})
    values.update({k: str(v) for k, v in given.items()})
    return values


def _substitute(source: str, where: str, value: Any, args: Mapping[str, str]) -> Any:
    """Replace `$(arg NAME)` in every string below the top-level ``args`` key."""
    if isinstance(value, dict):
        return {
            k: v
            if (not where and k == "args")
            else _substitute(source, f"{where}.{k}".lstrip("."), v, args)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute(source, f"{where}[{i}]", v, args) for i, v in enumerate(value)]
    if isinstance(value, str) and "$(" in value:

        def arg(match: re.Match) -> str:
            name = match.group(1)
            if name not in args:
                raise GraphError(
                    f"{source}: {where}: unknown launch argument {name!r} in {value!r}; "
                    f"declared: {sorted(args)}"
                )
            return args[name]

        return ARG_PATTERN.sub(arg, value)
    return value


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
        cores = body.get("cores", [])
        if not isinstance(cores, list) or not all(isinstance(c, int) and c >= 0 for c in cores):
            raise GraphError(f"{source}: {where}.cores: expected a list of core ids, got {cores!r}")
        threads = body.get("threads", max(1, len(cores)))
        if not isinstance(threads, int) or threads < 1:
            raise GraphError(
                f"{source}: {where}.threads: expected an integer >= 1, got {threads!r}"
            )
        prio = body.get("priority", 0)
        if not isinstance(prio, int) or not 0 <= prio <= 99:
            raise GraphError(f"{source}: {where}.priority: expected 0..99, got {prio!r}")
        nice = body.get("nice", 0)
        if not isinstance(nice, int) or isinstance(nice, bool) or not -20 <= nice <= 19:
            raise GraphError(f"{source}: {where}.nice: expected -20..19, got {nice!r}")
        process = body.get("process", False)
        if not isinstance(process, bool):
            raise GraphError(f"{source}: {where}.process: expected true or false, got {process!r}")
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


def build_params(source: str, keypath: str, cls: type[Node], raw: Any) -> Any:
    """Instantiate the node's Params dataclass from the YAML mapping, checking names and types."""
    return _build_dataclass(source, keypath, cls.Params, raw, cls.__name__)


def _build_dataclass(source: str, keypath: str, params_cls: type, raw: Any, owner: str) -> Any:
    raw = _mapping(source, keypath, raw)
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    hints = typing.get_type_hints(params_cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise GraphError(
                f"{source}: {keypath}.{key}: unknown parameter of {owner}; "
                f"parameters: {sorted(fields)}"
            )
        hint = hints.get(key, Any)
        if isinstance(value, dict) and _dataclass_of(hint) is not None:
            # A nested group of parameters (e.g. a tracker's Kalman settings).
            nested = _dataclass_of(hint)
            values[key] = _build_dataclass(
                source, f"{keypath}.{key}", nested, value, nested.__name__
            )
            continue
        if not _type_ok(value, hint):
            raise GraphError(
                f"{source}: {keypath}.{key}: expected {_type_name(hint)}, got {value!r}"
            )
        values[key] = value
    try:
        params = params_cls(**values)
    except (TypeError, ValueError) as exc:  # a required parameter is missing, or a bad value
        raise GraphError(f"{source}: {keypath}: {exc}") from exc
    validate = getattr(params, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as exc:
            raise GraphError(f"{source}: {keypath}: {exc}") from exc
    return params


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a type hint names (also inside Optional), else None."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                return arg
    return None


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _type_ok(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


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
        budget = body.get("budget_ms")
        if not isinstance(budget, (int, float)) or isinstance(budget, bool) or budget <= 0:
            raise GraphError(f"{source}: {where}.budget_ms: expected a number > 0, got {budget!r}")
        pct = body.get("percentile", 99.0)
        if not isinstance(pct, (int, float)) or not 0 < pct <= 100:
            raise GraphError(f"{source}: {where}.percentile: expected 0 < p <= 100, got {pct!r}")
        prio = body.get("priority", 0)
        if not isinstance(prio, int) or isinstance(prio, bool):
            raise GraphError(f"{source}: {where}.priority: expected an integer, got {prio!r}")
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

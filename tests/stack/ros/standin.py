"""A stand-in for ROS 2 Humble's rclpy and rosidl message classes (neither installs here).

Only the behaviour l4stack depends on, each piece following the Humble source it names:

- Loggers: ros2/rclpy humble, rclpy/impl/rcutils_logger.py, ``RcutilsLogger``: ``info(self,
  message, **kwargs)`` and its siblings take one message (a second positional argument is a
  TypeError), a keyword that is not a logging filter is a TypeError
  (``get_filters_from_kwargs``), and one call site may not change severity between calls
  (``RcutilsLogger.log``: "Logger severity cannot be changed between calls.").
- Executors: rclpy/executors.py, ``SingleThreadedExecutor._spin_once_impl``: ``handler()``
  then ``if handler.exception() is not None: raise handler.exception()`` -- a callback's
  exception leaves ``spin_once`` and so ``spin`` (``while self._context.ok() ...:
  self.spin_once()``).
- QoS matching (rclpy/qos.py policies; DDS request/offered rules): a RELIABLE subscription
  never matches a BEST_EFFORT publisher, a TRANSIENT_LOCAL subscription never matches a
  VOLATILE publisher; a TRANSIENT_LOCAL publisher hands its last ``depth`` messages to a
  subscription that joins later. ``create_publisher(..., 10)`` is reliable, volatile, keep 10
  (rclpy/qos.py, ``QoSProfile`` from a depth).
- Messages: rosidl_python humble, rosidl_generator_py/resource/_msg.py.em: ``__init__`` builds
  a numeric sequence as ``array.array(TYPECODE, kwargs.get(NAME, []))``; the setters accept an
  ``array.array`` of the right type code or a ``collections.abc.Sequence`` of ints/floats (not a
  numpy array) for a sequence, a numpy array of the exact dtype and size (or a sequence of that
  length) for a fixed array, ``isinstance(value, int)`` / ``float`` / ``bool`` / ``str`` for
  basic fields (numpy scalars other than float64 fail), and an instance of the class for a
  nested message.
- Parameters: ``-p NAME:=VALUE`` after ``--ros-args`` in ``rclpy.init(args=...)`` overrides a
  declared parameter of every node; ``use_sim_time`` makes ``get_clock()`` follow /clock.
"""

from __future__ import annotations

import array
import collections.abc
import enum
import inspect
import sys
import types
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from stack import msgs

# --------------------------------------------------------------------------------- messages
_BASE_NAMES = {"float32": "float", "float64": "double", "bool": "boolean", "byte": "octet"}
_CODES = {
    "float": ("f", np.float32), "double": ("d", np.float64), "int8": ("b", np.int8),
    "uint8": ("B", np.uint8), "int16": ("h", np.int16), "uint16": ("H", np.uint16),
    "int32": ("i", np.int32), "uint32": ("I", np.uint32), "int64": ("q", np.int64),
    "uint64": ("Q", np.uint64),
}  # fmt: skip
_INTS = {"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "byte", "char"}


def _rosidl_type(desc: tuple) -> str:
    kind, rest = desc
    if kind == 1:  # base
        return _BASE_NAMES.get(rest[0], rest[0])
    if kind == 2:  # nested: 'pkg/msg/Name' -> 'pkg/Name' as rosidl writes it
        pkg, _, name = rest.split("/")
        return f"{pkg}/{name}"
    sub, count = rest
    inner = _rosidl_type(sub)
    return f"{inner}[{count}]" if kind == 3 else f"sequence<{inner}>"


def _check(cls_name: str, field: str, rtype: str, value: Any) -> Any:
    """The setter of one field, as _msg.py.em generates it; returns what it stores."""
    where = f"The '{field}' field of {cls_name}"
    if rtype.startswith("sequence<"):
        inner = rtype[len("sequence<") : -1]
        if inner in _CODES:
            code = _CODES[inner][0]
            if isinstance(value, array.array):
                assert value.typecode == code, f"{where} array.array() must have type code {code}"
                return value
            assert isinstance(value, collections.abc.Sequence) and not isinstance(value, str), (
                f"{where} must be a set or sequence and each value of type "
                f"'{'int' if inner in _INTS else 'float'}'"
            )
            want = int if inner in _INTS else float
            assert all(isinstance(v, want) for v in value), f"{where}: values must be {want}"
            return array.array(code, value)
        assert isinstance(value, collections.abc.Sequence) and not isinstance(value, str), (
            f"{where} must be a set or sequence"
        )
        for v in value:
            _check(cls_name, field, inner, v)
        return list(value)
    if rtype.endswith("]"):
        inner, size = rtype[:-1].split("[")
        if inner in _CODES and isinstance(value, np.ndarray):
            assert value.dtype == _CODES[inner][1], f"{where} numpy.ndarray() must have dtype"
            assert value.size == int(size), f"{where} numpy.ndarray() must have size {size}"
            return value
        assert isinstance(value, collections.abc.Sequence) and len(value) == int(size), (
            f"{where} must be a set or sequence with length {size}"
        )
        return np.array(value, dtype=_CODES[inner][1]) if inner in _CODES else list(value)
    if "/" in rtype:
        cls = message_class(rtype.replace("/", "/msg/"))
        assert isinstance(value, cls), f"{where} must be a sub message of type '{rtype}'"
        return value
    if rtype in _INTS:
        assert isinstance(value, int), f"{where} must be of type 'int'"
    elif rtype in ("float", "double"):
        assert isinstance(value, float), f"{where} must be of type 'float'"
    elif rtype == "boolean":
        assert isinstance(value, bool), f"{where} must be of type 'bool'"
    elif rtype == "string":
        assert isinstance(value, str), f"{where} must be of type 'str'"
    elif rtype == "octet":  # byte: one bytes object of length 1
        assert isinstance(value, bytes) and len(value) == 1, f"{where} must be of type 'bytes'"
    return value


def _default(rtype: str) -> Any:
    if rtype.startswith("sequence<"):
        inner = rtype[len("sequence<") : -1]
        return array.array(_CODES[inner][0]) if inner in _CODES else []
    if rtype.endswith("]"):
        inner, size = rtype[:-1].split("[")
        if inner in _CODES:
            return np.zeros(int(size), _CODES[inner][1])
        return [_default(inner) for _ in range(int(size))]
    if "/" in rtype:
        return message_class(rtype.replace("/", "/msg/"))()
    if rtype == "octet":
        return bytes([0])
    return {"boolean": False, "string": "", "float": 0.0, "double": 0.0}.get(rtype, 0)


_CLASSES: dict[str, type] = {}


def message_class(typename: str) -> type:
    """A rosidl-like class for ``pkg/msg/Name``, fields from the Humble typestore."""
    if typename in _CLASSES:
        return _CLASSES[typename]
    consts, defs = msgs.typestore().fielddefs[typename]
    fields = {name: _rosidl_type(desc) for name, desc in defs}
    short = typename.rsplit("/", 1)[-1]

    def __init__(self: Any, **kwargs: Any) -> None:
        assert all(k in fields for k in kwargs), f"{short}: invalid arguments {sorted(kwargs)}"
        for name, rtype in fields.items():
            if name not in kwargs:
                setattr(self, name, _default(rtype))
                continue
            value = kwargs[name]
            inner = rtype[len("sequence<") : -1] if rtype.startswith("sequence<") else None
            if inner in _CODES:  # __init__: array.array(TYPECODE, kwargs.get(NAME, []))
                value = array.array(_CODES[inner][0], value)
            setattr(self, name, value)

    def prop(name: str, rtype: str) -> property:
        def get(self: Any) -> Any:
            return getattr(self, "_" + name)

        def put(self: Any, value: Any) -> None:
            setattr(self, "_" + name, _check(short, name, rtype, value))

        return property(get, put)

    body: dict[str, Any] = {"__init__": __init__, "_fields_and_field_types": dict(fields)}
    body["get_fields_and_field_types"] = classmethod(lambda cls: dict(cls._fields_and_field_types))
    body.update({name: prop(name, rtype) for name, rtype in fields.items()})
    # Constants are class attributes; a byte constant is bytes (rosidl: 'ERROR': b'\\x02').
    body.update({n: bytes([v]) if t == "byte" else v for n, t, v in consts})
    cls = type(short, (), body)
    cls.__module__ = typename.split("/")[0] + ".msg"
    _CLASSES[typename] = cls
    return cls


def message_module(pkg: str) -> types.ModuleType:
    mod = types.ModuleType(f"{pkg}.msg")

    def __getattr__(name: str) -> type:
        typename = f"{pkg}/msg/{name}"
        if typename not in msgs.typestore().fielddefs:
            raise AttributeError(name)
        return message_class(typename)

    mod.__getattr__ = __getattr__  # type: ignore[method-assign]
    return mod


# ------------------------------------------------------------------------------------ logging
class LoggingSeverity(enum.IntEnum):
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40
    FATAL = 50


class RcutilsLogger:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.contexts: dict[tuple, LoggingSeverity] = {}
        self.records: list[tuple[LoggingSeverity, str]] = []

    def log(self, message: str, severity: LoggingSeverity, **kwargs: Any) -> bool:
        for key in kwargs:
            if key not in ("throttle_duration_sec", "skip_first", "once", "name"):
                raise TypeError(f'parameter "{key}" is not one of the recognized logging options')
        frame = inspect.currentframe().f_back.f_back  # the caller of info()/warning()/...
        caller = (frame.f_code.co_filename, frame.f_lineno, frame.f_lasti)
        if self.contexts.setdefault(caller, severity) != severity:
            raise ValueError("Logger severity cannot be changed between calls.")
        self.records.append((severity, message))
        return True

    def debug(self, message: str, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.DEBUG, **kwargs)

    def info(self, message: str, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.INFO, **kwargs)

    def warning(self, message: str, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.WARN, **kwargs)

    def error(self, message: str, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.ERROR, **kwargs)

    def fatal(self, message: str, **kwargs: Any) -> bool:
        return self.log(message, LoggingSeverity.FATAL, **kwargs)


# ---------------------------------------------------------------------------------------- QoS
class ReliabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2


class DurabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2


class HistoryPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2


@dataclass
class QoSProfile:
    history: HistoryPolicy = HistoryPolicy.KEEP_LAST
    depth: int = 10
    reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE
    durability: DurabilityPolicy = DurabilityPolicy.VOLATILE


qos_profile_sensor_data = QoSProfile(
    depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE
)


def _profile(qos: Any) -> QoSProfile:
    return QoSProfile(depth=qos) if isinstance(qos, int) else qos


def compatible(pub: QoSProfile, sub: QoSProfile) -> bool:
    """DDS request vs offered: the subscription may not ask for more than is offered."""
    if sub.reliability == ReliabilityPolicy.RELIABLE and pub.reliability != sub.reliability:
        return False
    return not (
        sub.durability == DurabilityPolicy.TRANSIENT_LOCAL
        and pub.durability != DurabilityPolicy.TRANSIENT_LOCAL
    )


# ------------------------------------------------------------------------ graph and executors
class Bus:
    """The ROS graph of one test: endpoints by topic, messages waiting per subscription."""

    def __init__(self, args: list[str]) -> None:
        self.pubs: dict[str, list[Publisher]] = {}
        self.subs: dict[str, list[Subscription]] = {}
        self.ok = True
        self.overrides: dict[str, Any] = {}
        self.remaps: dict[str, str] = {}
        self.clock_ns = 0  # /clock under use_sim_time
        if args and "--ros-args" in args:
            it = iter(args[args.index("--ros-args") + 1 :])
            for token in it:
                if token == "-p":
                    name, value = next(it).split(":=", 1)
                    self.overrides[name] = _parse_value(value)
                elif token == "-r":
                    old, new = next(it).split(":=", 1)
                    self.remaps[old] = new


def _parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


BUS = Bus([])


class Publisher:
    def __init__(self, cls: type, topic: str, qos: QoSProfile) -> None:
        self.cls, self.topic, self.qos = cls, topic, qos
        self.kept: deque = deque(maxlen=qos.depth)

    def publish(self, msg: Any) -> None:
        assert isinstance(msg, (self.cls, bytes)), f"{self.topic}: published {type(msg)}"
        if self.qos.durability == DurabilityPolicy.TRANSIENT_LOCAL:
            self.kept.append(msg)
        for sub in BUS.subs.get(self.topic, []):
            if compatible(self.qos, sub.qos):
                sub.deliver(msg)


class Subscription:
    def __init__(self, cls: type, topic: str, callback: Any, qos: QoSProfile, raw: bool) -> None:
        self.cls, self.topic, self.callback, self.qos, self.raw = cls, topic, callback, qos, raw
        self.waiting: deque = deque(maxlen=qos.depth)

    def deliver(self, msg: Any) -> None:
        if self.raw and not isinstance(msg, bytes):
            msg = msgs.serialize(_to_rosbags(msg), _typename(self.cls))
        elif not self.raw and isinstance(msg, bytes):
            msg = msgs.deserialize(msg, _typename(self.cls))
        self.waiting.append(msg)


def _typename(cls: type) -> str:
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


def _to_rosbags(msg: Any) -> Any:
    raise NotImplementedError("the stand-in carries rosidl messages to raw subscribers unused")


class Timer:
    def __init__(self, period_s: float, callback: Any) -> None:
        self.period_ns, self.callback, self.due = int(period_s * 1e9), callback, 0


class Node:
    def __init__(self, name: str, **_: Any) -> None:
        self.name = name
        self.params: dict[str, Any] = {"use_sim_time": BUS.overrides.get("use_sim_time", False)}
        self.logger = RcutilsLogger(name)
        self.subscriptions: list[Subscription] = []
        self.timers: list[Timer] = []
        self.publishers: list[Publisher] = []

    def _resolve(self, topic: str) -> str:
        return BUS.remaps.get(topic, topic)

    def create_publisher(self, cls: type, topic: str, qos: Any) -> Publisher:
        pub = Publisher(cls, self._resolve(topic), _profile(qos))
        BUS.pubs.setdefault(pub.topic, []).append(pub)
        self.publishers.append(pub)
        return pub

    def create_subscription(
        self, cls: type, topic: str, callback: Any, qos: Any, *, raw: bool = False
    ) -> Subscription:
        sub = Subscription(cls, self._resolve(topic), callback, _profile(qos), raw)
        BUS.subs.setdefault(sub.topic, []).append(sub)
        self.subscriptions.append(sub)
        for pub in BUS.pubs.get(sub.topic, []):  # late joiner: transient local history
            if compatible(pub.qos, sub.qos):
                for msg in pub.kept:
                    sub.deliver(msg)
        return sub

    def create_timer(self, period_s: float, callback: Any) -> Timer:
        timer = Timer(period_s, callback)
        self.timers.append(timer)
        return timer

    def declare_parameter(self, name: str, value: Any) -> Any:
        self.params[name] = BUS.overrides.get(name, value)

    def get_parameter(self, name: str) -> Any:
        return types.SimpleNamespace(value=self.params[name])

    def get_logger(self) -> RcutilsLogger:
        return self.logger

    def get_clock(self) -> Any:
        now = BUS.clock_ns if self.params.get("use_sim_time") else 1_000
        return types.SimpleNamespace(now=lambda: types.SimpleNamespace(nanoseconds=now))

    def destroy_node(self) -> None:
        pass


class ShutdownException(Exception):
    pass


class ExternalShutdownException(Exception):
    pass


class SingleThreadedExecutor:
    def __init__(self, **_: Any) -> None:
        self.nodes: list[Node] = []

    def add_node(self, node: Node) -> None:
        self.nodes.append(node)

    def _ready(self) -> Any:
        for node in self.nodes:
            for sub in node.subscriptions:
                if sub.waiting:
                    msg = sub.waiting.popleft()
                    return lambda sub=sub, msg=msg: sub.callback(msg)
            for timer in node.timers:
                if timer.due <= BUS.clock_ns:
                    timer.due = BUS.clock_ns + timer.period_ns
                    return timer.callback
        return None

    def spin_once(self, timeout_sec: float | None = None) -> None:
        handler = self._ready()
        if handler is None:
            return
        handler()  # a callback's exception leaves spin_once, as in Humble

    def spin(self) -> None:
        while BUS.ok:
            self.spin_once()

    def shutdown(self) -> None:
        pass


class MultiThreadedExecutor(SingleThreadedExecutor):
    def __init__(self, num_threads: int | None = None, **_: Any) -> None:
        super().__init__()


def install(monkeypatch: Any, args: list[str] | None = None) -> types.ModuleType:
    """Put the stand-in in sys.modules as rclpy and the message packages; returns rclpy."""
    global BUS
    BUS = Bus(args or [])
    rclpy = types.ModuleType("rclpy")
    state = {"args": None}

    def init(args: list[str] | None = None) -> None:
        global BUS
        BUS = Bus(list(args or []))
        state["args"] = args

    def try_shutdown() -> None:
        BUS.ok = False

    rclpy.init, rclpy.try_shutdown, rclpy.shutdown = init, try_shutdown, try_shutdown
    rclpy.ok = lambda: BUS.ok
    rclpy.state = state
    node_mod = types.ModuleType("rclpy.node")
    node_mod.Node = Node
    qos = types.ModuleType("rclpy.qos")
    for name in ("ReliabilityPolicy", "DurabilityPolicy", "HistoryPolicy", "QoSProfile"):
        setattr(qos, name, globals()[name])
    qos.qos_profile_sensor_data = qos_profile_sensor_data
    ex = types.ModuleType("rclpy.executors")
    for name in ("SingleThreadedExecutor", "MultiThreadedExecutor", "ShutdownException",
                 "ExternalShutdownException"):  # fmt: skip
        setattr(ex, name, globals()[name])
    rclpy.node, rclpy.qos, rclpy.executors = node_mod, qos, ex
    modules = {"rclpy": rclpy, "rclpy.node": node_mod, "rclpy.qos": qos, "rclpy.executors": ex}
    for pkg in {t.split("/")[0] for t in msgs.typestore().fielddefs}:
        modules[pkg] = types.ModuleType(pkg)
        modules[f"{pkg}.msg"] = message_module(pkg)
    for name, mod in modules.items():
        monkeypatch.setitem(sys.modules, name, mod)
    from stack.ros import messages

    for cached in ("rosidl_class", "field_types"):
        if hasattr(messages, cached):
            getattr(messages, cached).cache_clear()
    return rclpy


def bus() -> Bus:
    return BUS

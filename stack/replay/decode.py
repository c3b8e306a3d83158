"""Turn a bag's raw messages into the message classes that stack.msgs builds.

Types come from the process-wide typestore (ROS 2 Humble + l4stack's definitions); definitions a
bag carries for types the typestore lacks are registered into it, so nodes get the same classes
that ``stack.msgs.new`` builds. ROS 1 messages are converted to CDR first (the ROS 1 header's
``seq`` has no ROS 2 counterpart). A topic whose type cannot be resolved is skipped, with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rosbags.interfaces import MessageDefinition, MessageDefinitionFormat
from rosbags.typesys import get_types_from_idl, get_types_from_msg
from rosbags.typesys.store import Typestore

from stack import msgs
from stack.replay.bag import BagTopic, Encoding

Decoder = Callable[[bytes], Any]
HEADER = "std_msgs/msg/Header"  # ROS 1's carries `seq`; the conversion to CDR drops it
_IDL_SEPARATOR = "=" * 80 + "\n"
EMPTY_PLACEHOLDER = "structure_needs_at_least_one_member"


@dataclass(frozen=True)
class Skipped:
    """A topic that cannot be replayed, and why."""

    topic: str
    msgtype: str
    reason: str

    def __str__(self) -> str:
        return f"{self.topic} ({self.msgtype}): {self.reason}"


def parse_definition(definition: MessageDefinition, msgtype: str) -> dict:
    """The types a bag-carried definition declares (msg or IDL text), as rosbags parses them."""
    if definition.format == MessageDefinitionFormat.MSG:
        return get_types_from_msg(definition.data, msgtype)
    types: dict = {}
    if definition.data.startswith(f"{_IDL_SEPARATOR}IDL: "):
        for part in definition.data.split(_IDL_SEPARATOR)[1:]:
            types.update(get_types_from_idl(part.split("\n", 1)[1]))
    else:
        types.update(get_types_from_idl(definition.data))
    return types


def _fields(fields: list) -> list:
    # rosbags gives a message without fields a placeholder member (CDR needs one byte).
    return [(n.lower(), d) for n, d in fields if n != EMPTY_PLACEHOLDER]


def _same_fields(a: list, b: list) -> bool:
    return _fields(a) == _fields(b)


def register_definition(store: Typestore, topic: BagTopic) -> tuple[list[str], str | None]:
    """Register what the topic's definition adds to ``store``.

    Returns the names the bag defines differently from the typestore (the typestore's stay), and
    why the topic cannot be used, or None.
    """
    try:
        types = parse_definition(topic.definition, topic.msgtype)
    except Exception as exc:  # rosbags' parsers raise several kinds
        if topic.msgtype in store.types:
            return [], None  # the typestore's own definition will do
        return [], f"cannot parse the message definition stored in the bag: {exc}"
    differ = [
        name
        for name, (_consts, fields) in types.items()
        if name in store.fielddefs
        and not (topic.encoding is Encoding.ROS1 and name == HEADER)
        and not _same_fields(store.fielddefs[name][1], fields)
    ]
    new = {name: value for name, value in types.items() if name not in store.fielddefs}
    if new:
        try:
            store.register(new)
        except Exception as exc:
            return differ, f"cannot register the bag's definition: {exc}"
    return differ, None


def make_decoder(store: Typestore, topic: BagTopic) -> Decoder:
    typename = topic.msgtype
    store.get_msgdef(typename)  # generate the (de)serializers now: fail here, not per message
    deserialize = store.deserialize_cdr
    if topic.encoding is Encoding.ROS1:
        to_cdr = store.ros1_to_cdr
        return lambda raw: deserialize(to_cdr(raw, typename), typename)
    # A memoryview spares rosbags a copy of the payload (it slices off the CDR header); arrays
    # in the message then view the bag's bytes, read-only as before.
    return lambda raw: deserialize(memoryview(raw), typename)


Sampler = Callable[[str], "bytes | None"]  # the first raw message of a topic, None if none


@dataclass
class Resolution:
    decoders: dict[str, Decoder] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # choices worth a warning


def resolve(
    topics: Iterable[BagTopic], store: Typestore | None = None, sample: Sampler | None = None
) -> Resolution:
    """A decoder per resolvable topic, the topics that cannot be decoded, and notes.

    Where the bag defines a type differently from the typestore (another ROS version, or a wrong
    definition stored by the recorder), the typestore's definition is kept if the topic's first
    message decodes with it; otherwise the topic is skipped.
    """
    store = store if store is not None else msgs.typestore()
    out = Resolution()
    for topic in topics:
        try:
            reason = _resolve(store, topic, sample, out.notes)
            if reason is None:
                out.decoders[topic.name] = make_decoder(store, topic)
        except Exception as exc:
            reason = f"cannot build a deserializer: {exc}"
        if reason is not None:
            out.skipped.append(Skipped(topic.name, topic.msgtype, reason))
    return out


def _resolve(
    store: Typestore, topic: BagTopic, sample: Sampler | None, notes: list[str]
) -> str | None:
    if "," in topic.msgtype:
        return "several message types on one topic"
    differ: list[str] = []
    if topic.definition.format != MessageDefinitionFormat.NONE:
        differ, reason = register_definition(store, topic)
        if reason is not None:
            return reason
    if topic.msgtype not in store.types:
        return "the bag carries no definition and the typestore (ROS 2 Humble + l4stack) lacks it"
    if differ:
        return _check_conflict(store, topic, differ, sample, notes)
    return None


def _check_conflict(
    store: Typestore, topic: BagTopic, differ: list[str], sample: Sampler | None, notes: list[str]
) -> str | None:
    raw = sample(topic.name) if sample is not None else None
    if raw is not None:
        try:
            make_decoder(store, topic)(raw)
        except Exception as exc:
            return (
                f"the bag defines {differ} differently from the typestore (ROS 2 Humble + "
                f"l4stack), and its messages do not decode with the typestore's: {exc}"
            )
    checked = "its first message decodes with" if raw is not None else "no message to check;"
    notes.append(
        f"{topic.name}: the bag's definition of {differ} differs from the typestore's; "
        f"{checked} the typestore's definition, which is used"
    )
    return None

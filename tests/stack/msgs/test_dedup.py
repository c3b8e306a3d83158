"""Repeated (topic, header.stamp) inputs are dropped and counted (stack.msgs.dedup)."""

from __future__ import annotations

from stack import msgs
from stack.msgs.dedup import DuplicateFilter


def _stamped(ns: int):
    return msgs.new("std_msgs/msg/Header", stamp=msgs.ns_to_stamp(ns))


def _imu(ns: int):
    return msgs.new("sensor_msgs/msg/Imu", header=_stamped(ns))


def test_a_repeat_of_the_one_before_on_the_same_topic_is_dropped_and_counted():
    f = DuplicateFilter()
    assert not f.repeated("/a", _imu(5))
    assert f.repeated("/a", _imu(5))
    assert f.repeated("/a", _imu(5))
    assert not f.repeated("/b", _imu(5))  # another topic
    assert not f.repeated("/a", _imu(6))
    assert not f.repeated("/a", _imu(5))  # not the one before: a stamp going back is kept
    assert f.counts == {"/a": 2} and f.dropped == 2


def test_messages_without_header_or_with_a_zero_stamp_are_never_dropped():
    f = DuplicateFilter()
    tf = msgs.new("tf2_msgs/msg/TFMessage", transforms=[])
    assert not any(f.repeated("/tf_static", tf) for _ in range(3))
    assert not any(f.repeated("/a", _imu(0)) for _ in range(3))
    assert f.dropped == 0

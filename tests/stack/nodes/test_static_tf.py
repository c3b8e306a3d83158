"""StaticTransformPublisher: tf2_ros static_transform_publisher's job from parameters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from stack import topics
from stack.errors import ParamError
from stack.executor import Runtime, SimClock
from stack.graph import parse_graph
from stack.nodes.static_tf import StaticTransformParams, quaternion_from_rpy
from stack.trace.records import Tracer


@pytest.mark.parametrize("rpy", [(0.0, 0.0, 0.0), (1.5708, 0.0, -1.5708), (0.1, -0.4, 2.5)])
def test_rpy_is_tf2s_fixed_axis_convention(rpy):
    expected = Rotation.from_euler("xyz", rpy).as_quat()  # extrinsic x, y, z = setRPY
    got = np.array(quaternion_from_rpy(*rpy))
    assert np.allclose(got, expected, atol=1e-12) or np.allclose(got, -expected, atol=1e-12)


@pytest.mark.parametrize(
    "params, needle",
    [
        ({}, r"child must name the child frame"),
        ({"child": "base_link"}, r"child must differ from parent"),
        ({"child": "imu", "rpy": [0, 0]}, r"rpy must be \[roll, pitch, yaw\] \(got \[0, 0\]\)"),
        ({"child": "imu", "rpy": [0, 0, 0], "quaternion": [0, 0, 0, 1]}, r"not both"),
        ({"child": "imu", "quaternion": [0, 0, 0, 0]}, r"quaternion must have a rotation"),
        ({"child": "imu", "translation": [0, 0]}, r"translation must be \[x, y, z\]"),
        ({"child": "imu", "delay_s": 0}, r"delay_s must be > 0"),
    ],
)
def test_bad_params_are_named(params, needle):
    with pytest.raises(ParamError, match=needle):
        StaticTransformParams(**params).validate()


def _run(republish_s: float, seconds: float = 1.0) -> tuple[int, int | None]:
    """(messages the sink got, the stamp of the last publish)."""
    text = f"""name: t
nodes:
  imu_mount:
    class: stack.nodes.static_tf:StaticTransformPublisher
    params: {{child: imu_link, translation: [0.2, 0, 0.5], quaternion: [0, 0, 2, 2],
              republish_s: {republish_s}}}
  sink:
    class: stack.nodes.synthetic:Sink
    params: {{input: /tf_static, msgtype: tf2_msgs/msg/TFMessage}}
"""
    rt = Runtime(parse_graph(text, "t.yaml"), SimClock(10**9), lockstep=True, tracer=Tracer())
    rt.start_timers()
    rt.advance_to(10**9 + int(seconds * 1e9))
    return rt.nodes["sink"].instance.received, rt.nodes["imu_mount"].instance.published_ns


def test_publishes_once_by_default_and_repeats_when_asked():
    assert _run(0.0) == (1, 10**9 + 50_000_000)  # delay_s after the start, then never again
    assert _run(0.2)[0] == 5  # at 0.05, 0.25, 0.45, 0.65, 0.85 s


def test_message_carries_the_transform():
    from stack.nodes.static_tf import StaticTransformPublisher
    from tests.perception.conftest import _load_fake_ctx

    fake = _load_fake_ctx()
    _, ctx = fake.make_node(StaticTransformPublisher, child="/gps", rpy=[0.0, 0.0, 1.0])
    ctx.timers[0][1]()
    ctx.timers[0][1]()
    (msg,) = ctx.sent(topics.TF_STATIC)
    (ts,) = msg.transforms
    assert (ts.header.frame_id, ts.child_frame_id) == ("base_link", "gps")
    q = ts.transform.rotation
    assert np.allclose([q.x, q.y, q.z, q.w], Rotation.from_euler("z", 1.0).as_quat())

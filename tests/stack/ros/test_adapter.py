"""The rclpy adapter (`l4 ros --executors rclpy`) against a stand-in that behaves as Humble's
rclpy and rosidl classes do (tests/stack/ros/standin.py names the sources it follows)."""

from __future__ import annotations

import numpy as np
import pytest

from stack import msgs
from stack.graph import parse_graph
from tests.stack.ros import standin

REC = "tests.stack.executor.nodes:Recorder"
WATCHDOG = "stack.nodes.watchdog:ControlWatchdog"
SAFE_STOP = "ackermann_msgs/msg/AckermannDriveStamped"


@pytest.fixture
def rclpy(monkeypatch):
    mod = standin.install(monkeypatch)
    yield mod
    msgs.factory.set_backend(None)


def graph_of(body: str):
    return parse_graph("allow_external_modules: true\n" + body, "v.yaml")


def listener(topic: str, cls_name: str, qos=None):
    """Another node on the ROS graph, subscribing reliably (as a vehicle interface would)."""
    node = standin.Node("listener")
    cls = standin.message_class(cls_name)
    return node.create_subscription(cls, topic, lambda m: None, qos or standin.QoSProfile())


def test_nodes_run_unchanged_on_rclpy(rclpy):
    from stack.ros.launch import build_nodes

    graph = graph_of(
        f"""
nodes:
  a: {{class: "{REC}", params: {{input: /in, output: /mid}}}}
  b: {{class: "{REC}", params: {{input: /mid, depth: 5}}}}
"""
    )
    built = build_nodes(graph, rclpy)
    ros_a, node_a = built["a"]
    _ros_b, node_b = built["b"]
    assert ros_a.params["input"] == "/in" and ros_a.params["output"] == "/mid"
    header = msgs.new("std_msgs/msg/Header", frame_id="f1")  # a rosidl class now
    assert type(header).__module__ == "std_msgs.msg"
    pub = standin.Node("driver").create_publisher(type(header), "/in", standin.QoSProfile())
    pub.publish(header)
    ex = rclpy.executors.SingleThreadedExecutor()
    for ros_node, _ in built.values():
        ex.add_node(ros_node)
    for _ in range(3):
        ex.spin_once()
    assert node_a.seen == ["f1"] and node_b.seen == ["f1"]


def test_missing_message_package_is_named(rclpy, monkeypatch):
    import sys

    from stack.msgs import MessageError
    from stack.ros.messages import new_rosidl, rosidl_class

    monkeypatch.setitem(sys.modules, "autoware_perception_msgs.msg", None)
    rosidl_class.cache_clear()
    with pytest.raises(MessageError, match=r"'autoware_perception_msgs' is not built.*rosdep key"):
        new_rosidl("autoware_perception_msgs/msg/DetectedObjects")


def _watchdog_graph(extra: str = ""):
    return graph_of(
        f"""
nodes:
  watchdog: {{class: "{WATCHDOG}", params: {{deadline_ms: 100.0, check_rate_hz: 10.0}}}}
{extra}"""
    )


def test_watchdog_logs_with_format_arguments_and_publishes_its_safe_stop(monkeypatch):
    """Item 1: rclpy's logger takes one string; node code passes %-style arguments."""
    rclpy = standin.install(monkeypatch, ["l4", "--ros-args", "-p", "use_sim_time:=true"])
    from stack.ros.launch import build_nodes

    stops = listener("/control/safe_stop", SAFE_STOP)
    built = build_nodes(_watchdog_graph(), rclpy)
    ros_node, watchdog = built["watchdog"]
    ex = rclpy.executors.SingleThreadedExecutor()
    ex.add_node(ros_node)
    standin.bus().clock_ns = 1_000_000_000  # 1 s of ROS time without a control command
    ex.spin_once()
    msgs.factory.set_backend(None)
    assert watchdog.safe_stops == 1 and len(stops.waiting) == 1
    assert stops.waiting[0].drive.acceleration == -6.0
    errors = [m for sev, m in ros_node.logger.records if sev == standin.LoggingSeverity.ERROR]
    assert any("no fresh control command for 1000 ms (deadline 100 ms)" in m for m in errors)


def test_a_raising_callback_is_logged_counted_and_the_watchdog_still_stops(monkeypatch):
    """Item 2: Humble's spin_once re-raises; the executor thread must not die with it."""
    rclpy = standin.install(monkeypatch, ["l4", "--ros-args", "-p", "use_sim_time:=true"])
    from stack.ros.guard import CallbackErrors, spin_until_stopped
    from stack.ros.launch import build_nodes, make_executors

    graph = _watchdog_graph(f'  rec: {{class: "{REC}", params: {{input: /in, fail_on: 0}}}}')
    stops = listener("/control/safe_stop", SAFE_STOP)
    errors = CallbackErrors()
    built = build_nodes(graph, rclpy, errors)
    header_cls = standin.message_class("std_msgs/msg/Header")
    pub = standin.Node("driver").create_publisher(header_cls, "/in", standin.QoSProfile())
    pub.publish(header_cls(frame_id="boom"))
    pub.publish(header_cls(frame_id="fine"))
    (executor,) = make_executors(graph, built, rclpy).values()
    turns = iter(range(6))
    standin.bus().clock_ns = 1_000_000_000
    spin_until_stopped(executor, "default", lambda: next(turns, None) is not None, errors)
    msgs.factory.set_backend(None)
    assert built["rec"][1].seen == ["boom", "fine"]
    assert errors.counts == {("rec", "on_msg"): 1} and errors.total == 1
    logged = [m for _s, m in built["rec"][0].logger.records]
    assert any("rec.on_msg: callback raised RuntimeError: boom on input 0" in m for m in logged)
    assert built["watchdog"][1].safe_stops >= 1 and len(stops.waiting) >= 1


def test_spin_outlives_an_exception_from_spin_once(rclpy):
    from stack.ros.guard import CallbackErrors, spin_until_stopped

    class Flaky:
        calls = 0

        def spin_once(self, timeout_sec=None):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("rmw hiccup")

    errors, flaky, turns = CallbackErrors(), Flaky(), iter(range(3))
    spin_until_stopped(flaky, "ex", lambda: next(turns, None) is not None, errors)
    assert flaky.calls == 3 and errors.spin_errors == 1
    assert "executor: 1" in errors.summary()


def test_numpy_values_become_what_rosidl_setters_take(rclpy):
    """Item 3: rosidl sequences take array.array or a sequence, never a numpy array; basic
    fields take int/float, never numpy scalars."""
    from stack.ros.messages import new_rosidl

    img = new_rosidl(
        "sensor_msgs/msg/Image", height=np.uint32(2), width=2, step=6, encoding="bgr8",
        data=np.arange(12, dtype=np.uint8).reshape(2, 6),
    )  # fmt: skip
    assert img.data.typecode == "B" and list(img.data) == list(range(12)) and img.height == 2
    drive = new_rosidl("ackermann_msgs/msg/AckermannDrive", speed=np.float32(1.5))
    assert drive.speed == 1.5 and type(drive.speed) is float
    nav = new_rosidl("sensor_msgs/msg/NavSatFix", position_covariance=np.eye(3).astype(np.float32))
    assert nav.position_covariance.dtype == np.float64 and nav.position_covariance[4] == 1.0
    img.data = np.zeros(3, np.uint8).tolist()  # a setter takes a list...
    with pytest.raises(AssertionError):
        img.data = np.zeros(3, np.uint8)  # ...never a numpy array: the stand-in is strict


def test_image_and_cloud_producers_publish_under_rclpy(monkeypatch):
    """The synthetic camera, the image logger and the map recorder's point cloud build their
    messages from numpy arrays (2-D pixels, float32 points viewed as bytes)."""
    rclpy = standin.install(monkeypatch)
    from perception.lidar.pointcloud import make_pointcloud2
    from stack.ros.launch import build_nodes

    images = listener("/cam", "sensor_msgs/msg/Image", standin.qos_profile_sensor_data)
    packed = listener("/cam/compressed", "sensor_msgs/msg/CompressedImage")
    graph = graph_of(
        """
nodes:
  camera: {class: "stack.nodes.synthetic:SyntheticCamera", params: {topic: /cam, width: 8, height: 4}}
  logger: {class: "stack.nodes.image_compressor:ImageCompressor", params: {input: /cam, output: /cam/compressed}}
"""
    )
    built = build_nodes(graph, rclpy)
    ex = rclpy.executors.SingleThreadedExecutor()
    for ros_node, _ in built.values():
        ex.add_node(ros_node)
    for _ in range(3):
        ex.spin_once()
    header = msgs.new("std_msgs/msg/Header", frame_id="map")
    cloud = make_pointcloud2(msgs.new, header, np.ones((5, 3), np.float32), names=("x", "y", "z"))
    msgs.factory.set_backend(None)
    assert len(images.waiting) == 1 and len(images.waiting[0].data) == 8 * 4 * 3
    assert len(packed.waiting) == 1 and bytes(packed.waiting[0].data[:4]) == b"\x89PNG"
    assert cloud.data.typecode == "B" and len(cloud.data) == 5 * 12


def test_tf_static_is_transient_local_and_sensor_inputs_best_effort(rclpy):
    """Item 4: a static transform published before start still arrives; a depth-2 sensor
    input connects to a best-effort driver."""
    from stack.ros.launch import build_nodes

    tf_cls = standin.message_class("tf2_msgs/msg/TFMessage")
    static = standin.QoSProfile(depth=1, durability=standin.DurabilityPolicy.TRANSIENT_LOCAL)
    standin.Node("static_tf").create_publisher(tf_cls, "/tf_static", static).publish(tf_cls())
    driver = standin.Node("lidar_driver").create_publisher(
        standin.message_class("std_msgs/msg/Header"), "/in", standin.qos_profile_sensor_data
    )
    graph = graph_of(
        f"""
nodes:
  rec: {{class: "{REC}", params: {{input: /in, depth: 2}}}}
  mapper: {{class: "perception.mapping.node:MapRecorder"}}
"""
    )
    built = build_nodes(graph, rclpy)
    mapper_subs = {s.topic: s for s in built["mapper"][0].subscriptions}
    tf_sub = mapper_subs["/tf_static"]
    assert tf_sub.qos.durability == standin.DurabilityPolicy.TRANSIENT_LOCAL
    assert len(tf_sub.waiting) == 1  # the late joiner got the latched transforms
    driver.publish(standin.message_class("std_msgs/msg/Header")(frame_id="scan"))
    (rec_sub,) = built["rec"][0].subscriptions
    assert rec_sub.qos.reliability == standin.ReliabilityPolicy.BEST_EFFORT
    assert rec_sub.qos.depth == 5 and len(rec_sub.waiting) == 1


def test_launch_file_qos_overrides_the_default(rclpy):
    from stack.ros.launch import build_nodes

    graph = graph_of(
        f"""
qos:
  /in: {{reliability: reliable, durability: transient_local, history: keep_last, depth: 3}}
nodes:
  rec: {{class: "{REC}", params: {{input: /in, output: /out}}}}
"""
    )
    built = build_nodes(graph, rclpy)
    (sub,) = built["rec"][0].subscriptions
    assert sub.qos == standin.QoSProfile(
        history=standin.HistoryPolicy.KEEP_LAST, depth=3,
        reliability=standin.ReliabilityPolicy.RELIABLE,
        durability=standin.DurabilityPolicy.TRANSIENT_LOCAL,
    )  # fmt: skip
    (pub,) = built["rec"][0].publishers
    assert pub.qos.reliability == standin.ReliabilityPolicy.RELIABLE and pub.qos.depth == 10
    msgs.factory.set_backend(None)

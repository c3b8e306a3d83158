"""TrafficLightRecognizer: idle without a light map; a rendered red head read as RED; a head in
range outside the image skipped, counted and published UNKNOWN."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from perception.models import MODELS_DIR
from perception.traffic_light.lightmap import LightState
from perception.traffic_light.node import SHIPPED, TrafficLightRecognizer
from stack import topics
from stack.engine import EngineOptions, load_engine
from stack.events import EventKind
from tests.perception.fake_ctx import FakeContext, odometry

NS = 1_700_000_000 * 10**9


class _EngineContext(FakeContext):
    def engine(self, model: str, **options):
        options.pop("variant", None)
        return load_engine(model, EngineOptions.of(**options))


def _node(**params):
    ctx = _EngineContext(TrafficLightRecognizer.Params(**params), name="traffic_light")
    return TrafficLightRecognizer(ctx), ctx


def test_no_light_map_idles_with_one_warning(tmp_path, caplog):
    plain = tmp_path / "map.npz"
    np.savez(plain, points=np.zeros((2, 3)))
    with caplog.at_level(logging.WARNING):
        node, ctx = _node(map_path=str(plain))
    assert node.lights is None
    assert [r for r in caplog.records if "idle" in r.getMessage()]
    # Still on the graph, so a launch file's light chain holds on a bag without signals: each
    # frame gets an empty state array (planning reads it as "no signal"), with the frame's stamp.
    stamp = {"sec": 1_700_000_000, "nanosec": 5}
    img = ctx.new("sensor_msgs/msg/Image", header=ctx.new("std_msgs/msg/Header", stamp=ctx.new(
        "builtin_interfaces/msg/Time", **stamp)))  # fmt: skip
    ctx.deliver(topics.CAMERA_IMAGE, img)
    (out,) = ctx.sent(topics.TRAFFIC_SIGNALS)
    assert out.traffic_light_groups == [] and out.stamp.nanosec == 5


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A straight crossing 40 m ahead, rendered red, with its light map and messages."""
    from tools.scenario import messages as msg
    from tools.scenario.camera import CameraRenderer, Pose2D
    from tools.scenario.config import Rig, Weather
    from tools.scenario.signals import Signals, light_map_arrays
    from tools.scenario.world import make_world, with_signals

    if not all((MODELS_DIR / name).exists() for name in SHIPPED):
        pytest.skip("shipped traffic-light models missing")
    world = make_world(np.random.default_rng(3), 500.0)
    signals = Signals(crossing_s=np.array([60.0]), offset=np.array([0.0]))
    world = with_signals(world, signals)
    rig = Rig()
    cam = CameraRenderer(rig.camera, Weather.DAY, world, np.random.default_rng(0))
    x, y = world.road.point(15.0, -5.25)
    yaw = float(world.road.heading_at(15.0))
    states = np.array([LightState.RED, LightState.RED])
    img, _ = cam.render(Pose2D(x, y, yaw), np.zeros(0, int), [], np.zeros((0, 3)), states)
    path = tmp_path_factory.mktemp("lights") / "map.npz"
    np.savez(path, **light_map_arrays(signals, world.road))
    return {
        "map": path,
        "tf": msg.tf_static(rig, NS),
        "info": msg.camera_info(rig.camera, NS),
        "image": msg.image(img, NS),
        "pose": (float(x), float(y), yaw),
    }


def _feed(ctx, scene, pose):
    ctx.deliver(topics.TF_STATIC, scene["tf"])
    ctx.deliver(topics.CAMERA_INFO, scene["info"])
    ctx.deliver(topics.LOCALIZATION_ODOMETRY, odometry(NS, *pose, v=8.0))
    ctx.deliver(topics.CAMERA_IMAGE, scene["image"])


def test_a_red_head_ahead_is_published_red_with_confidence(scene):
    node, ctx = _node(map_path=str(scene["map"]))
    _feed(ctx, scene, scene["pose"])
    (out,) = ctx.sent(topics.TRAFFIC_SIGNALS)
    assert out.stamp.sec == NS // 10**9
    (group,) = out.traffic_light_groups
    assert group.traffic_light_group_id == 1
    (element,) = group.elements
    assert element.color == LightState.RED and element.confidence > 0.5
    assert node.skipped == 0


def test_a_head_outside_the_image_is_skipped_counted_and_unknown(scene):
    node, ctx = _node(map_path=str(scene["map"]))
    x, y, yaw = scene["pose"]
    # Turned 50 degrees left: the head is in range and faces the camera, but off the image.
    _feed(ctx, scene, (x, y, yaw + 0.87))
    assert ctx.event_counts[EventKind.ROI_SKIPPED.value] == 1 and node.skipped == 1
    (out,) = ctx.sent(topics.TRAFFIC_SIGNALS)
    (group,) = out.traffic_light_groups
    assert group.elements[0].color == LightState.UNKNOWN


def test_cards_name_shipped_variants_like_the_detectors():
    from perception.models import MODELS_DIR
    from perception.traffic_light.node import SHIPPED, _card_paths

    assert _card_paths(object(), []) == [MODELS_DIR / name for name in SHIPPED]
    (path,) = _card_paths(object(), ["models:traffic_light_vit_r25.yaml"])
    assert path == MODELS_DIR / "traffic_light_vit_r25.yaml" and path.is_file()

"""Generated bags read back with plain rosbags: topics, counts, rates, frames, formats, files."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from stack.msgs import stamp_to_ns
from tests.tools.scenario.conftest import SECONDS, SEED, read_bag
from tools.scenario import make_scenario, topics
from tools.scenario.config import START_NS

RATES_HZ = {
    topics.CAMERA_IMAGE: 10,
    topics.CAMERA_INFO: 10,
    topics.LIDAR_POINTS: 10,
    topics.IMU: 100,
    topics.GNSS_FIX: 10,
    topics.ODOMETRY: 50,
    topics.GT_OBJECTS: 10,
    topics.GT_CAMERA_BOXES: 10,
    topics.GT_EGO_POSE: 50,
}
FRAMES = {
    topics.CAMERA_IMAGE: topics.FRAME_CAMERA,
    topics.CAMERA_INFO: topics.FRAME_CAMERA,
    topics.LIDAR_POINTS: topics.FRAME_LIDAR,
    topics.IMU: topics.FRAME_IMU,
    topics.GNSS_FIX: topics.FRAME_GNSS,
    topics.ODOMETRY: topics.FRAME_ODOM,
    topics.GT_OBJECTS: topics.FRAME_MAP,
    topics.GT_CAMERA_BOXES: topics.FRAME_CAMERA,
    topics.GT_EGO_POSE: topics.FRAME_MAP,
}


def test_bag_has_every_topic_with_its_type(mcap_bag):
    with Reader(mcap_bag) as reader:
        found = {c.topic: c.msgtype for c in reader.connections}
        assert reader.duration == int(SECONDS * 1e9) + 1
    assert found == topics.MSGTYPES


@pytest.mark.parametrize("topic", sorted(RATES_HZ))
def test_rate_count_and_stamps(mcap_messages, topic):
    stamped = mcap_messages[topic]
    hz = RATES_HZ[topic]
    assert len(stamped) == int(SECONDS * hz) + 1
    bag_times = np.array([t for t, _ in stamped])
    stamps = np.array([stamp_to_ns(m.header.stamp) for _, m in stamped])
    assert np.array_equal(bag_times, stamps), "bag time must equal header.stamp"
    assert stamps[0] == START_NS
    assert np.all(np.diff(stamps) == 1_000_000_000 // hz)


@pytest.mark.parametrize("topic", sorted(FRAMES))
def test_frames(mcap_messages, topic):
    assert {m.header.frame_id for _, m in mcap_messages[topic]} == {FRAMES[topic]}


def test_static_tf_has_the_sensor_extrinsics(mcap_messages):
    [(t, tf)] = mcap_messages[topics.TF_STATIC]
    assert t == START_NS
    by_child = {x.child_frame_id: x for x in tf.transforms}
    assert set(by_child) == {
        topics.FRAME_CAMERA,
        topics.FRAME_LIDAR,
        topics.FRAME_IMU,
        topics.FRAME_GNSS,
    }
    assert {x.header.frame_id for x in tf.transforms} == {topics.FRAME_BASE}
    cam = by_child[topics.FRAME_CAMERA].transform
    assert 1.3 < cam.translation.z < 1.7  # ~1.5 m high
    # Optical frame: camera z (forward) is base_link x.
    from scipy.spatial.transform import Rotation

    r = Rotation.from_quat([cam.rotation.x, cam.rotation.y, cam.rotation.z, cam.rotation.w])
    assert np.allclose(r.apply([0, 0, 1]), [1, 0, 0], atol=1e-9)
    assert np.allclose(r.apply([1, 0, 0]), [0, -1, 0], atol=1e-9)


def test_image_and_camera_info(mcap_messages):
    _, img = mcap_messages[topics.CAMERA_IMAGE][0]
    _, info = mcap_messages[topics.CAMERA_INFO][0]
    assert img.encoding == "bgr8"
    assert (img.width, img.height, img.step) == (info.width, info.height, info.width * 3)
    assert len(img.data) == img.height * img.step
    fx, cx = info.k[0], info.k[2]
    hfov = np.degrees(2 * np.arctan(info.width / 2 / fx))
    assert 60 < hfov < 80 and cx == info.width / 2
    assert info.distortion_model == "plumb_bob"


def test_pointcloud_layout_and_ground(mcap_messages):
    _, cloud = mcap_messages[topics.LIDAR_POINTS][0]
    assert [(f.name, f.offset, f.datatype) for f in cloud.fields] == [
        ("x", 0, 7),
        ("y", 4, 7),
        ("z", 8, 7),
        ("intensity", 12, 7),
    ]
    assert cloud.point_step == 16 and cloud.height == 1
    pts = np.frombuffer(cloud.data, np.float32).reshape(-1, 4)
    assert len(pts) == cloud.width > 10_000
    assert np.all(np.isfinite(pts))
    near = np.hypot(pts[:, 0], pts[:, 1]) < 15
    # Points are in the lidar frame: the flat ground lies ~1.95 m below the sensor.
    ground_z = np.median(pts[near, 2])
    assert -2.05 < ground_z < -1.85
    assert pts[:, 3].min() >= 0 and pts[:, 3].max() <= 255


def test_navsat_imu_odometry_values(mcap_messages):
    _, fix = mcap_messages[topics.GNSS_FIX][0]
    assert fix.status.status == 0 and fix.position_covariance_type == 2
    assert abs(fix.latitude - 48.1351) < 0.01 and abs(fix.longitude - 11.582) < 0.01
    accel_z = [m.linear_acceleration.z for _, m in mcap_messages[topics.IMU]]
    assert abs(np.mean(accel_z) - 9.81) < 0.1
    assert mcap_messages[topics.IMU][0][1].orientation_covariance[0] == -1
    _, odom = mcap_messages[topics.ODOMETRY][-1]
    assert odom.child_frame_id == topics.FRAME_BASE
    assert 0 <= odom.twist.twist.linear.x < 20


def test_extra_files_beside_the_bag(mcap_bag, mcap_messages):
    doc = yaml.safe_load((mcap_bag / "scenario.yaml").read_text())
    assert (doc["seed"], doc["seconds"], doc["weather"], doc["traffic"]) == (
        SEED,
        SECONDS,
        "day",
        "light",
    )
    assert doc["actors"] and {"id", "kind", "roles", "dimensions"} <= set(doc["actors"][0])
    kinds = {a["kind"] for a in doc["actors"]}
    assert {"car", "pedestrian"} <= kinds
    with np.load(mcap_bag / "map.npz") as m:
        assert m["points"].dtype == np.float32 and m["points"].shape[1] == 3
        assert m["lane_centerlines"].shape[0] == 4 and m["lane_centerlines"].shape[2] == 2
        lat, lon, _ = m["enu_origin_lat_lon_alt"]
    assert (lat, lon) == (doc["enu_origin"]["latitude"], doc["enu_origin"]["longitude"])


def test_sqlite3_storage_reads_back(sqlite_bag):
    messages = read_bag(sqlite_bag)
    assert (sqlite_bag / "metadata.yaml").exists() and list(sqlite_bag.glob("*.db3"))
    assert set(messages) == set(topics.MSGTYPES)
    assert len(messages[topics.CAMERA_IMAGE]) == 11
    assert len(messages[topics.IMU]) == 101


def test_same_seed_same_messages_other_seed_differs(tmp_path):
    def raw(path):
        with Reader(path) as reader:
            return [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]

    make_scenario(tmp_path / "a", 0.3, 21, progress=False)
    make_scenario(tmp_path / "b", 0.3, 21, progress=False)
    make_scenario(tmp_path / "c", 0.3, 22, progress=False)
    a, b, c = raw(tmp_path / "a"), raw(tmp_path / "b"), raw(tmp_path / "c")
    assert a == b
    images = [d for topic, _, d in a if topic == topics.CAMERA_IMAGE]
    other = [d for topic, _, d in c if topic == topics.CAMERA_IMAGE]
    assert images != other

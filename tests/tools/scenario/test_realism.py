"""Realism knobs: each does what it says on the bag; off, the bag is what the seed always gave."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from stack.cli.main import main
from stack.msgs import stamp_to_ns
from tests.tools.scenario.conftest import SECONDS, SEED, read_bag
from tools.scenario import ScenarioError, make_scenario, topics
from tools.scenario.realism import Realism

KNOBS = {
    "imu_mount_rpy_deg": [90.0, 0.0, -90.0],
    "imu_on_tf": False,
    "gyro_bias_rad_s": [0.0, 0.0, 0.05],
    "gnss_first_fix_offset_m": [0.0, 500.0],
    "gnss_bad_first_fixes": 3,
    "gnss_dropouts": [[1.0, 0.5]],
    "gnss_decimate": 2,
    "imu_time_offset_s": 0.02,
}


@pytest.fixture(scope="module")
def real_messages(tmp_path_factory):
    path = tmp_path_factory.mktemp("realism") / "bag"
    make_scenario(path, SECONDS, SEED, progress=False, realism=Realism.from_mapping(KNOBS))
    return read_bag(path), path


def test_knobs_change_what_they_say(real_messages, mcap_messages):
    got, path = real_messages
    frames = [t.child_frame_id for t in got[topics.TF_STATIC][0][1].transforms]
    assert topics.FRAME_IMU not in frames and topics.FRAME_LIDAR in frames
    # the IMU reads gravity along R^T z of base_link: its own axes, not base_link's
    imu = got[topics.IMU][0][1]
    up_in_imu = (
        Rotation.from_euler("xyz", KNOBS["imu_mount_rpy_deg"], degrees=True)
        .inv()
        .apply([0.0, 0.0, 9.8])
    )
    acc = imu.linear_acceleration
    assert np.allclose([acc.x, acc.y, acc.z], up_in_imu, atol=0.5)
    # header stamps carry the IMU's clock offset; bag times stay true
    log_time, msg = got[topics.IMU][5]
    assert stamp_to_ns(msg.header.stamp) - log_time == 20_000_000
    # GNSS: every second fix, none in the 1.0-1.5 s dropout, the first three 500 m north
    plain = mcap_messages[topics.GNSS_FIX]
    fixes = got[topics.GNSS_FIX]
    stamps = [t for t, _ in fixes]
    assert len(fixes) < len(plain) / 2
    assert not any(1.0e9 <= t - stamps[0] < 1.5e9 for t in stamps)
    lat = np.array([m.latitude for _, m in fixes])
    plain_lat = {t: m.latitude for t, m in plain}
    north_m = (lat - np.array([plain_lat[t] for t in stamps])) * 111_200.0
    assert np.allclose(north_m[:3], 500.0, atol=5.0) and np.all(np.abs(north_m[3:]) < 1.0)
    assert "realism:" in (path / "scenario.yaml").read_text()


def test_off_knobs_keep_the_seed_bytes(tmp_path, mcap_bag):
    path = tmp_path / "day_light"
    make_scenario(path, SECONDS, SEED, progress=False, realism=Realism())
    for name in ("day_light.mcap", "scenario.yaml", "map.npz"):
        assert (path / name).read_bytes() == (mcap_bag / name).read_bytes(), name


@pytest.mark.parametrize(
    "doc, needle",
    [
        ({"imu_mount_rpy_deg": [1.0]}, r"realism.imu_mount_rpy_deg must be 3 finite numbers"),
        ({"gnss_decimate": 0}, r"realism.gnss_decimate must be an integer >= 1 \(got 0\)"),
        ({"skid_slip": 2.0}, r"realism.skid_slip must be in \[0, 1\] \(got 2.0\)"),
        ({"gnss_jumps": [[1, 2, 3]]}, r"realism.gnss_jumps\[\] must be 4 finite numbers"),
        ({"imu_mount": 1}, r"unknown realism knob\(s\) \['imu_mount'\]"),
        ([1, 2], r"must be a mapping of realism knobs"),
    ],
)
def test_bad_knobs_are_named(doc, needle):
    with pytest.raises(ScenarioError, match=needle):
        Realism.from_mapping(doc)


def test_skid_slip_over_reads_in_turns():
    from tools.scenario.motion_sensors import OdomSamples

    steps = np.arange(100)
    odom = OdomSamples(steps, np.zeros((100, 3)), np.full(100, 2.0), np.full(100, 0.5))
    out = Realism(skid_slip=0.5).odometry(odom, np.full(100, 0.5), np.random.default_rng(0))
    assert out.speed.mean() == pytest.approx(2.0 + 0.5 * 0.5 * 0.8, abs=0.05)
    assert out.yaw_rate[0] == pytest.approx(1.0)


def test_cli_reads_a_realism_file(tmp_path, capsys):
    knobs = tmp_path / "real.yaml"
    knobs.write_text("gnss_decimate: 4\nimu_on_tf: false\n")
    out = tmp_path / "bag"
    assert main(["scenario", "make", "--out", str(out), "--seconds", "0.5", "--seed", "3",
                 "--realism", str(knobs), "--json"]) == 0  # fmt: skip
    assert '"/sensing/gnss/fix": 2' in capsys.readouterr().out
    knobs.write_text("gnss_decimat: 4\n")
    assert main(["scenario", "make", "--out", str(tmp_path / "b2"), "--seconds", "0.5",
                 "--seed", "3", "--realism", str(knobs)]) == 2  # fmt: skip
    assert "unknown realism knob(s) ['gnss_decimat']" in capsys.readouterr().err

"""Map-based regions: projection with pose and extrinsics, facing, range, outside the image."""

from __future__ import annotations

import numpy as np

from perception.geometry import Pose2D, RigidTransform
from perception.traffic_light.lightmap import LightMap
from perception.traffic_light.roi import RoiConfig, camera_in_map, crop, project_heads

K = np.array([[457.0, 0.0, 320.0], [0.0, 457.0, 192.0], [0.0, 0.0, 1.0]])
SIZE = (640, 384)
# base_link -> optical frame (z forward, x right, y down), 1.5 m up, 1.9 m ahead.
EXTRINSIC = RigidTransform(
    np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]), np.array([1.9, 0.0, 1.5])
)


def _lights(xyz, yaw) -> LightMap:
    n = len(xyz)
    return LightMap(
        head_xyz=np.array(xyz, float),
        head_yaw=np.array(yaw, float),
        head_size=np.tile([0.3, 0.45, 1.3], (n, 1)),
        head_group=np.arange(n) + 1,
        stop_line=np.zeros((n, 2, 2)),
        lanes=np.ones((n, 4), bool),
    )


def test_a_head_ahead_projects_to_its_pixel_with_a_margin_that_shrinks_with_distance():
    lights = _lights([[31.9, 0.0, 1.5], [61.9, 0.0, 1.5]], [np.pi, np.pi])
    proj = project_heads(lights, camera_in_map(Pose2D(), EXTRINSIC), K, SIZE)
    assert proj.outside == 0 and [r.group for r in proj.rois] == [1, 2]
    near, far = proj.rois
    for roi in proj.rois:
        x0, y0, x1, y1 = roi.box
        assert abs((x0 + x1) / 2 - 320) <= 1 and abs((y0 + y1) / 2 - 192) <= 1
    assert near.box[2] - near.box[0] > far.box[2] - far.box[0]
    # 30 m ahead: (0.65 m half height + 0.6 m margin) * 457 / 30 = 19 px half side.
    assert abs((near.box[2] - near.box[0]) / 2 - 1.25 * 457 / 30) <= 1.5


def test_the_ego_pose_moves_the_region_and_heads_facing_away_or_far_are_not_projected():
    lights = _lights([[31.9, 0.0, 1.5], [31.9, 2.0, 1.5], [150.0, 0.0, 1.5]], [np.pi, 0.0, np.pi])
    shifted = project_heads(lights, camera_in_map(Pose2D(0.0, 1.0, 0.0), EXTRINSIC), K, SIZE)
    (roi,) = shifted.rois  # the head facing away and the one 150 m off give no region
    assert roi.group == 1 and (roi.box[0] + roi.box[2]) / 2 > 330  # ego 1 m left: head right


def test_a_head_in_range_outside_the_image_is_counted_not_projected():
    lights = _lights([[10.0, 15.0, 1.5], [-5.0, 0.0, 1.5]], [np.pi, 0.0])
    proj = project_heads(lights, camera_in_map(Pose2D(), EXTRINSIC), K, SIZE, RoiConfig())
    assert proj.rois == [] and proj.outside == 2 and proj.in_range == 2


def test_crop_pads_past_the_image_edge_with_black():
    img = np.full((40, 40, 3), 200, np.uint8)
    out = crop(img, (-10, -10, 10, 10), 8)
    assert out.shape == (8, 8, 3)
    assert out[0, 0].max() == 0 and out[-1, -1].min() == 200

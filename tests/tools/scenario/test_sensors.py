"""Camera and lidar on hand-made scenes: what they see matches the geometry."""

from __future__ import annotations

import numpy as np
import pytest

from tools.scenario.actors import Kind, make_shape, posed_parts
from tools.scenario.boxes import Boxes
from tools.scenario.camera import CameraRenderer, Pose2D, clip_near
from tools.scenario.config import CameraModel, LidarModel, Weather
from tools.scenario.lidar import LidarSimulator, _slab
from tools.scenario.road import make_road
from tools.scenario.world import World

EGO = Pose2D(100.0, -5.25, 0.0)  # first 150 m of every road are straight, heading east


@pytest.fixture(scope="module")
def empty_world() -> World:
    road = make_road(np.random.default_rng(0), 600.0)
    return World(road, Boxes.empty(), np.zeros((0, 3), np.float32), np.zeros(0, np.uint8))


def _actor(kind: Kind, seed: int = 0):
    return make_shape(kind, np.random.default_rng(seed))


def _render(world, weather, actors):
    cam = CameraRenderer(CameraModel(), weather, world, np.random.default_rng(1))
    ids = np.arange(len(actors))
    shapes = [a for a, _ in actors]
    poses = np.array([p for _, p in actors]).reshape(-1, 3)
    return cam.render(EGO, ids, shapes, poses)


def test_lone_car_ahead_is_fully_visible_at_the_image_centre(empty_world):
    car = _actor(Kind.CAR)
    _, [box] = _render(empty_world, Weather.DAY, [(car, (125.0, -5.25, 0.0))])
    assert box.kind is Kind.CAR and box.visible_fraction > 0.95
    assert box.center[0] == pytest.approx(320, abs=12)
    assert box.center[1] > 192  # below the horizon: the camera is higher than the car's centre
    # Width in pixels matches the car width at its distance (pinhole).
    distance = 125.0 - car.length / 2 - (EGO.x + CameraModel().mount.xyz[0])
    assert box.size[0] == pytest.approx(CameraModel().fx * car.width / distance, rel=0.15)
    assert box.position[2] == pytest.approx(125.0 - EGO.x - 1.9, abs=0.01)


def test_a_nearer_truck_occludes_the_car(empty_world):
    car, truck = _actor(Kind.CAR), _actor(Kind.TRUCK)
    _, boxes = _render(
        empty_world, Weather.DAY, [(car, (140.0, -5.25, 0.0)), (truck, (120.0, -5.25, 0.0))]
    )
    by_kind = {b.kind: b for b in boxes}
    assert by_kind[Kind.TRUCK].visible_fraction > 0.95
    assert Kind.CAR not in by_kind or by_kind[Kind.CAR].visible_fraction < 0.2


def test_actor_pixels_are_inside_its_box(empty_world):
    ped = _actor(Kind.PEDESTRIAN)
    with_ped, [box] = _render(empty_world, Weather.DAY, [(ped, (115.0, -3.0, np.pi / 2))])
    without, _ = _render(empty_world, Weather.DAY, [])
    changed = np.abs(with_ped.astype(int) - without.astype(int)).sum(axis=2) > 30
    v, u = np.nonzero(changed)
    x0, x1 = box.center[0] - box.size[0] / 2, box.center[0] + box.size[0] / 2
    y0, y1 = box.center[1] - box.size[1] / 2, box.center[1] + box.size[1] / 2
    inside = (u >= x0 - 1) & (u <= x1 + 1) & (v >= y0 - 1) & (v <= y1 + 1)
    assert inside.mean() > 0.98
    assert changed.sum() > 0.4 * box.size[0] * box.size[1]
    assert box.size[1] > 2 * box.size[0]  # people are tall and narrow


def test_actors_behind_or_beside_the_camera_are_not_boxed(empty_world):
    car = _actor(Kind.CAR)
    _, boxes = _render(
        empty_world, Weather.DAY, [(car, (90.0, -5.25, 0.0)), (car, (101.0, 5.0, 0.0))]
    )
    assert boxes == []


def test_weather_changes_the_pixels(empty_world):
    scene = [(_actor(Kind.CAR), (130.0, -1.75, 0.0))]
    day, _ = _render(empty_world, Weather.DAY, scene)
    night, _ = _render(empty_world, Weather.NIGHT, scene)
    fog, _ = _render(empty_world, Weather.FOG, scene)
    rain, _ = _render(empty_world, Weather.RAIN, scene)
    assert night.mean() < 0.5 * day.mean()
    assert fog[:192].std() < 0.5 * day[:192].std() or fog.std() < day.std()
    assert np.abs(rain.astype(int) - day.astype(int)).mean() > 10


def test_clip_near_keeps_the_front_part():
    quad = np.array([[0, 0, -1.0], [1, 0, -1.0], [1, 0, 3.0], [0, 0, 3.0]])
    clipped = clip_near(quad)
    assert clipped[:, 2].min() == pytest.approx(0.5)
    assert len(clipped) == 4
    assert len(clip_near(quad - [0, 0, 10])) == 0


def test_slab_distance_to_a_box():
    dirs = np.array([[1.0, 0, 0], [0, 1.0, 0], [np.sqrt(0.5), np.sqrt(0.5), 0]])
    center = np.array([[10.0, 0, 0]] * 3)
    half = np.array([[1.0, 1.0, 1.0]] * 3)
    t = _slab(dirs, center, half, np.zeros(3))
    assert t[0] == pytest.approx(9.0) and np.isinf(t[1]) and np.isinf(t[2])
    # Rotated 45 degrees the box shows a corner at 10 - sqrt(2).
    t = _slab(dirs[:1], center[:1], half[:1], np.array([np.pi / 4]))
    assert t[0] == pytest.approx(10 - np.sqrt(2))


def _lidar(world, weather=Weather.DAY, **model):
    return LidarSimulator(LidarModel(**model), weather, world, np.random.default_rng(2))


def test_lidar_sees_flat_ground_in_its_frame(empty_world):
    scan = _lidar(empty_world).scan(np.array([EGO.x + 1.0, EGO.y]), 0.0, Boxes.empty())
    assert len(scan.points) > 10_000 and np.all(scan.owner == -1)
    assert np.abs(scan.points[:, 2] + 1.95).max() < 0.15


def test_lidar_hits_an_actor_and_shadows_the_ground_behind_it(empty_world):
    truck = _actor(Kind.TRUCK)
    parts = posed_parts([truck], np.array([7]), np.array([[EGO.x + 1.0 + 20.0, EGO.y, 0.0]]))
    scan = _lidar(empty_world, dropout=0.0).scan(np.array([EGO.x + 1.0, EGO.y]), 0.0, parts)
    hit = scan.points[scan.owner == 7]
    assert len(hit) > 100
    assert hit[:, 0].min() == pytest.approx(20.0 - truck.length / 2, abs=0.1)
    assert np.abs(hit[:, 1]).max() <= truck.width / 2 + 0.05
    behind = (scan.points[:, 0] > 20.0 + truck.length / 2 + 1) & (np.abs(scan.points[:, 1]) < 0.5)
    assert not behind.any(), "nothing returns from the truck's shadow"


def test_fog_and_rain_change_the_scan(empty_world):
    origin = np.array([EGO.x + 1.0, EGO.y])
    day = _lidar(empty_world).scan(origin, 0.0, Boxes.empty()).points
    fog = _lidar(empty_world, Weather.FOG).scan(origin, 0.0, Boxes.empty()).points
    rain = _lidar(empty_world, Weather.RAIN).scan(origin, 0.0, Boxes.empty()).points
    assert len(fog) < 0.9 * len(day)
    # Rain drops: returns in the air near the sensor.
    airborne = lambda p: ((p[:, 2] > -1.5) & (np.linalg.norm(p[:, :3], axis=1) < 12)).sum()  # noqa: E731
    assert airborne(rain) > 50 and airborne(day) == 0

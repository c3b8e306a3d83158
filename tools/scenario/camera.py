"""Front camera: a pinhole renderer with OpenCV and the 2D ground truth of what it sees.

Ground (road, sidewalks, markings, kerbs) is drawn first as projected quads; then static boxes and
actors as shaded boxes in painter's order (far to near), which gives occlusion. The same draws fill
an id buffer, so each actor's visible pixels are counted exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tools.scenario import road as rd
from tools.scenario.actors import ActorShape, Kind, posed_parts
from tools.scenario.boxes import FACE_NORMALS, FACES, Boxes
from tools.scenario.config import CameraModel, Weather
from tools.scenario.looks import LOOKS, Look
from tools.scenario.signals import LAMP_BGR, LAMP_RADIUS, LAMP_Z, SIGNAL_OWNER
from tools.scenario.world import World

NEAR = 0.5  # near clipping plane, metres
FAR = 160.0
SHIFT = 4  # fixed-point bits for cv2 polygon vertices
STATIC_ID = 0xFFFF
SUN = np.array([0.45, -0.35, 0.82]) / np.linalg.norm([0.45, -0.35, 0.82])
KERB_HEIGHT = rd.KERB_HEIGHT
# Ground sample offsets ahead of the camera: fine near, coarse far.
_GROUND_AHEAD = np.concatenate(
    [np.arange(1.0, 20.0, 1.0), np.arange(20.0, 60.0, 2.5), np.arange(60.0, FAR, 6.0)]
)
MIN_BOX_PIXELS = 2.0
# 5x5x5 points through a unit box, for the in-view share of an actor.
_GRID = np.stack(np.meshgrid(*[np.linspace(-0.5, 0.5, 5)] * 3, indexing="ij"), -1).reshape(-1, 3)


@dataclass(frozen=True)
class CameraBox:
    """One actor as the camera sees it."""

    actor_id: int
    kind: Kind
    center: tuple[float, float]  # pixels
    size: tuple[float, float]
    visible_fraction: float
    position: tuple[float, float, float]  # actor centre in the camera frame


@dataclass(frozen=True)
class HeadView:
    """A signal head as the camera sees it: its lit lamp's pixel and how much of it shows."""

    head: int
    visible_fraction: float  # of the housing's whole silhouette that shows in the image
    lamp_visible: bool  # the lit lamp's centre is in the image and unoccluded
    box: tuple[float, float, float, float]  # u0, v0, u1, v1 of the housing, clipped
    distance: float  # camera to housing centre, metres


@dataclass(frozen=True)
class Pose2D:
    x: float
    y: float
    yaw: float


def _rotz(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def clip_near(poly: np.ndarray) -> np.ndarray:
    """Clip a camera-frame polygon (n,3) to z >= NEAR (Sutherland-Hodgman, one plane)."""
    out = []
    for a, b in zip(poly, np.roll(poly, -1, axis=0)):
        if a[2] >= NEAR:
            out.append(a)
        if (a[2] >= NEAR) != (b[2] >= NEAR):
            out.append(a + (NEAR - a[2]) / (b[2] - a[2]) * (b - a))
    return np.array(out).reshape(-1, 3)


class CameraRenderer:
    def __init__(
        self, model: CameraModel, weather: Weather, world: World, rng: np.random.Generator
    ):
        self.model, self.world, self.rng = model, world, rng
        self.look: Look = LOOKS[weather]
        self.k = model.k
        self.r_bc = model.mount.rotation.as_matrix()
        self.t_bc = np.array(model.mount.xyz)
        self.size = (model.width, model.height)
        self.horizon = int(np.ceil(self.k[1, 2]))
        self._ground_depth = self._ground_depth_map()
        self._light = self._ground_light_maps()
        self._background = self._make_background()
        self._noise = self._noise_bank(rng)
        self._streaks = self._streak_bank(rng) if self.look.rain else None
        signals = world.signals
        self._heads = signals.head_boxes(world.road) if signals is not None else None
        self.head_views: list[HeadView] = []  # of the last render with light states

    # -- per-weather constants ------------------------------------------------------------

    def _ground_depth_map(self) -> np.ndarray:
        """Distance (m) to the flat ground for every pixel below the horizon (inf above)."""
        w, h = self.size
        f, cx, cy = self.k[0, 0], self.k[0, 2], self.k[1, 2]
        v = np.arange(h)[:, None] + 0.5 - cy
        u = np.arange(w)[None, :] + 0.5 - cx
        height = self.t_bc[2]
        with np.errstate(divide="ignore"):
            z = np.where(v > 0, f * height / v, np.inf)
        return z * np.sqrt(1.0 + (u / f) ** 2)

    def _make_background(self) -> np.ndarray:
        """Sky gradient above the horizon, grass below, with fog and night light applied."""
        w, h = self.size
        look = self.look
        img = np.empty((h, w, 3), np.float32)
        t = np.linspace(0.0, 1.0, self.horizon)[:, None, None]
        img[: self.horizon] = (1 - t) * np.array(look.sky_top) + t * np.array(look.sky_horizon)
        img[self.horizon :] = look.grass
        # The ground rows stay unlit here: they are lit with the road on every frame.
        return img.astype(np.uint8)

    def _ground_light_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel gain and additive fog colour for the ground rows: lit = img * a + b."""
        depth = self._ground_depth[self.horizon :]
        fog = (1.0 - np.exp(-depth / self.look.visibility))[:, :, None]
        gain = np.ones_like(depth)
        if self.look.headlights:
            cx, f = self.k[0, 2], self.k[0, 0]
            near = np.minimum(depth, 1e3)
            lateral = (np.arange(self.size[0])[None, :] + 0.5 - cx) * near / f
            gain = self.look.ambient + self._headlight(near, lateral)
        a = (gain[:, :, None] * (1.0 - fog)).astype(np.float32)
        b = (np.array(self.look.fog) * fog).astype(np.float32)
        return a, b

    def _ground_light(self, img: np.ndarray) -> None:
        """Apply headlights and fog to the rows below the horizon, in place."""
        a, b = self._light
        ground = img[self.horizon :].astype(np.float32)
        ground *= a
        ground += b
        np.clip(ground, 0, 255, out=ground)
        img[self.horizon :] = ground.astype(np.uint8)

    @staticmethod
    def _headlight(depth: np.ndarray, lateral: np.ndarray) -> np.ndarray:
        return (
            1.2 * np.exp(-((depth / 32.0) ** 2)) * np.exp(-((lateral / (0.35 * depth + 1.5)) ** 2))
        )

    def _noise_bank(self, rng: np.random.Generator) -> list[np.ndarray]:
        w, h = self.size
        sigma = self.look.noise
        return [
            np.clip(rng.normal(0.0, sigma, (h, w, 3)), -127, 127).astype(np.int16) for _ in range(3)
        ]

    def _streak_bank(self, rng: np.random.Generator) -> list[np.ndarray]:
        w, h = self.size
        bank = []
        for _ in range(3):
            layer = np.zeros((h, w), np.uint8)
            n = 350
            x0, y0 = rng.uniform(0, w, n), rng.uniform(0, h, n)
            length = rng.uniform(8, 25, n)
            for x, y, ln in zip(x0, y0, length):
                end = (int(x + 0.15 * ln), int(y + ln))
                cv2.line(layer, (int(x), int(y)), end, int(rng.integers(25, 60)), 1, cv2.LINE_AA)
            bank.append(layer)
        return bank

    # -- per frame --------------------------------------------------------------------------

    def camera_pose(self, ego: Pose2D) -> tuple[np.ndarray, np.ndarray]:
        """(R world-from-camera, camera position in world)."""
        r_wb = _rotz(ego.yaw)
        return r_wb @ self.r_bc, np.array([ego.x, ego.y, 0.0]) + r_wb @ self.t_bc

    def render(
        self,
        ego: Pose2D,
        ids: np.ndarray,
        shapes: list[ActorShape],
        poses: np.ndarray,
        lights: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[CameraBox]]:
        """The BGR image and the camera boxes of the given actors (poses: (N,3) x, y, yaw).

        ``lights``: the LightState of every signal head (world.signals); their views go to
        ``self.head_views``."""
        rot, pos = self.camera_pose(ego)
        img = self._background.copy()
        ids_img = np.zeros(img.shape[:2], np.uint16)
        self._draw_ground(img, rot, pos)
        actors = posed_parts(shapes, ids, poses)
        layers = np.concatenate([s.layers for s in shapes]) if shapes else np.zeros(0, int)
        if self._heads is not None and lights is not None:
            actors = Boxes.concat([actors, self._heads])
            layers = np.concatenate([layers, np.zeros(len(self._heads), int)])
        drawn = self._draw_boxes(img, ids_img, rot, pos, actors, layers)
        heads = {k: v for k, v in drawn.items() if k >= SIGNAL_OWNER}
        drawn = {k: v for k, v in drawn.items() if k < SIGNAL_OWNER}
        boxes = self._camera_boxes(ids_img, drawn, ids, shapes, poses, rot, pos)
        if self.look.headlights:
            self._draw_lamps(img, ids_img, drawn, ids, shapes, poses, rot, pos)
        if self._heads is not None and lights is not None:
            self.head_views = self._signal_lamps(img, ids_img, heads, lights, rot, pos)
        return self._finish(img), boxes

    def _signal_lamps(self, img, ids_img, drawn, lights, rot, pos) -> list[HeadView]:
        """Light each drawn head's lit lamp where its centre shows; the views of the heads."""
        views = []
        w, h = self.size
        heads = self._heads
        for owner, polys in sorted(drawn.items()):
            k = owner - SIGNAL_OWNER
            verts = np.concatenate(polys).astype(np.float64) / (1 << SHIFT)
            u0, v0 = np.maximum(verts.min(axis=0), 0.0)
            u1, v1 = np.minimum(verts.max(axis=0), (w, h))
            if u1 - u0 < 1 or v1 - v0 < 1:
                continue
            visible = int(np.count_nonzero(ids_img == owner + 1))
            # The whole housing, past the image edge too: a head leaving the top of the image
            # as the ego nears its line is out of view as much as one hidden behind a truck.
            alone = self._silhouette_pixels(polys, *verts.min(axis=0), *verts.max(axis=0))
            yaw = heads.yaw[k]
            facing = np.array([np.cos(yaw), np.sin(yaw), 0.0])
            front = heads.center[k] + facing * heads.size[k, 0] / 2
            lamp_ok = False
            state = int(lights[k])
            if state in LAMP_Z and float((pos - front) @ facing) > 0:
                pc = self._to_camera(front + np.array([0, 0, LAMP_Z[state]]), rot, pos)
                if pc[2] >= NEAR:
                    u, v = self._project(pc)
                    if 0 <= u < w and 0 <= v < h and ids_img[int(v), int(u)] == owner + 1:
                        lamp_ok = True
                        radius = max(0.7, self.k[0, 0] * LAMP_RADIUS / pc[2])
                        center = (int(u * 16), int(v * 16))
                        glow = [c * 0.4 for c in LAMP_BGR[state]]
                        cv2.circle(
                            img, center, int(radius * 1.8 * 16), glow, -1, cv2.LINE_AA, SHIFT
                        )
                        cv2.circle(
                            img, center, int(radius * 16), LAMP_BGR[state], -1, cv2.LINE_AA, SHIFT
                        )
            views.append(
                HeadView(
                    head=k,
                    visible_fraction=min(1.0, visible / max(alone, 1)),
                    lamp_visible=lamp_ok,
                    box=(float(u0), float(v0), float(u1), float(v1)),
                    distance=float(np.linalg.norm(heads.center[k] - pos)),
                )
            )
        return views

    def _to_camera(self, pts: np.ndarray, rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return (pts - pos) @ rot

    def _project(self, pc: np.ndarray) -> np.ndarray:
        uv = pc[..., :2] / pc[..., 2:3] * self.k[0, 0] + self.k[:2, 2]
        return uv

    def _fixed(self, uv: np.ndarray) -> np.ndarray:
        return np.round(uv * (1 << SHIFT)).astype(np.int32)

    # -- ground -------------------------------------------------------------------------------

    def _surface_colors(self) -> list[tuple[int, int, int]]:
        look = self.look
        return [look.sidewalk, look.asphalt, (150, 150, 150), look.white, look.yellow]

    def _draw_ground(self, img: np.ndarray, rot: np.ndarray, pos: np.ndarray) -> None:
        road = self.world.road
        s_cam = float(road.to_frenet(pos[None, :2])[0][0])
        quads, height, surface = road.surface_quads(s_cam, s_cam + FAR, _GROUND_AHEAD)
        quads = np.concatenate([quads, np.repeat(height[:, None, None], 4, axis=1)], axis=2)
        pc = self._to_camera(quads.reshape(-1, 3), rot, pos).reshape(-1, 4, 3)
        zmin, zmax = pc[:, :, 2].min(axis=1), pc[:, :, 2].max(axis=1)
        polys: list[list[np.ndarray]] = [[] for _ in rd.Surface]
        front = np.flatnonzero(zmin >= NEAR)
        pts = self._fixed(self._project(pc[front]))
        for k, quad in zip(surface[front].tolist(), pts):
            polys[k].append(quad)
        for q in np.flatnonzero((zmin < NEAR) & (zmax >= NEAR)):
            clipped = clip_near(pc[q])
            if len(clipped) >= 3:
                polys[surface[q]].append(self._fixed(self._project(clipped)))
        # One fill per surface, in Surface order: markings land on the asphalt.
        if self.world.signals is not None:
            self._signal_markings(polys, rot, pos, s_cam)
        for rgb, group in zip(self._surface_colors(), polys):
            if group:
                cv2.fillPoly(img, group, rgb, cv2.LINE_AA, SHIFT)
        self._ground_light(img)

    def _signal_markings(self, polys, rot, pos, s_cam: float) -> None:
        """Stop lines and zebra stripes of the crossings ahead, as white ground quads."""
        quads = self.world.signals.ground_quads(self.world.road, s_cam, s_cam + FAR)
        if not len(quads):
            return
        quads = np.concatenate([quads, np.zeros((*quads.shape[:2], 1))], axis=2)
        pc = self._to_camera(quads.reshape(-1, 3), rot, pos).reshape(-1, 4, 3)
        for quad in pc:
            clipped = quad if quad[:, 2].min() >= NEAR else clip_near(quad)
            if len(clipped) >= 3:
                polys[rd.Surface.WHITE].append(self._fixed(self._project(clipped)))

    # -- boxes --------------------------------------------------------------------------------

    def _candidates(self, boxes: Boxes, rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Indices of boxes that may be in view."""
        if not len(boxes):
            return np.zeros(0, int)
        rel = boxes.center[:, :2] - pos[:2]
        radius = 0.5 * np.linalg.norm(boxes.size, axis=1)
        near = np.hypot(rel[:, 0], rel[:, 1]) < FAR + radius
        idx = np.flatnonzero(near)
        pc = self._to_camera(boxes.take(idx).corners().reshape(-1, 3), rot, pos).reshape(-1, 8, 3)
        zmax = pc[:, :, 2].max(axis=1)
        zc = np.maximum(pc[:, :, 2], NEAR)
        u = pc[:, :, 0] / zc * self.k[0, 0] + self.k[0, 2]
        v = pc[:, :, 1] / zc * self.k[0, 0] + self.k[1, 2]
        w, h = self.size
        in_view = (u.max(1) >= 0) & (u.min(1) < w) & (v.max(1) >= 0) & (v.min(1) < h)
        return idx[(zmax >= NEAR) & in_view]

    def _face_colors(self, boxes: Boxes, rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """(N,6,3) shaded, fogged colours of every face."""
        normals = np.einsum("nij,fj->nfi", boxes.rotations(), FACE_NORMALS)
        look = self.look
        shade = look.ambient + look.sun * np.clip(normals @ SUN, 0.0, None)
        centers = boxes.corners()[:, FACES].mean(axis=2)
        dist = np.linalg.norm(centers - pos, axis=2)
        if look.headlights:
            pc = self._to_camera(centers.reshape(-1, 3), rot, pos).reshape((*dist.shape, 3))
            depth = np.maximum(pc[..., 2], 0.1)
            shade = shade + np.where(pc[..., 2] > 0, self._headlight(depth, pc[..., 0]), 0.0)
        color = boxes.color[:, None, :].astype(np.float64) * shade[..., None]
        fog = (1.0 - np.exp(-dist / look.visibility))[..., None]
        return np.clip(color * (1 - fog) + np.array(look.fog) * fog, 0, 255)

    def _order(
        self, boxes: Boxes, group: np.ndarray, layers: np.ndarray, pos: np.ndarray
    ) -> np.ndarray:
        """Painter's order: groups (an actor, or one static box) far to near by their nearest
        point; inside an actor by part layer, then far to near."""
        local = np.einsum("nji,nj->ni", boxes.rotations(), pos - boxes.center)
        nearest = np.linalg.norm(local - np.clip(local, -boxes.size / 2, boxes.size / 2), axis=1)
        group_dist = np.full(group.max() + 1 if len(group) else 0, np.inf)
        np.minimum.at(group_dist, group, nearest)
        return np.lexsort((-nearest, layers, -group_dist[group]))

    def _draw_boxes(
        self, img, ids_img, rot, pos, actors: Boxes, layers: np.ndarray
    ) -> dict[int, list]:
        """Draw static and actor boxes; return the projected face polygons of each actor."""
        static = self.world.static
        static = static.take(self._candidates(static, rot, pos))
        # Kerbs are drawn with the ground.
        static = static.take(np.flatnonzero(static.size[:, 2] > KERB_HEIGHT + 0.01))
        cand = self._candidates(actors, rot, pos)
        actors, layers = actors.take(cand), layers[cand]
        boxes = Boxes.concat([static, actors])
        if not len(boxes):
            return {}
        n_static = len(static)
        group = np.concatenate(
            [np.arange(n_static), n_static + np.unique(actors.owner, return_inverse=True)[1]]
        )
        all_layers = np.concatenate([np.zeros(n_static, int), layers])
        colors = self._face_colors(boxes, rot, pos).astype(np.int32)
        world_corners = boxes.corners()
        corners = self._to_camera(world_corners.reshape(-1, 3), rot, pos).reshape(-1, 8, 3)
        in_front = corners[:, :, 2] >= NEAR
        uv = self._fixed(self._project(np.where(in_front[..., None], corners, 1.0)))
        normals = np.einsum("nij,fj->nfi", boxes.rotations(), FACE_NORMALS)
        centers = world_corners[:, FACES].mean(axis=2)
        facing = np.einsum("nfi,nfi->nf", normals, pos - centers) > 0
        # Faces to draw, in painter's order (stable: a box's faces stay together).
        rank = np.empty(len(boxes), int)
        rank[self._order(boxes, group, all_layers, pos)] = np.arange(len(boxes))
        box_i, face_i = np.nonzero(facing)
        order = np.argsort(rank[box_i], kind="stable")
        box_i, face_i = box_i[order], face_i[order]
        corner_i = FACES[face_i]
        whole = in_front[box_i[:, None], corner_i].all(axis=1)
        polys = uv[box_i[:, None], corner_i]
        owners = boxes.owner[box_i].tolist()
        face_colors = colors[box_i, face_i].tolist()
        drawn: dict[int, list] = {}
        for k, (i, owner) in enumerate(zip(box_i.tolist(), owners)):
            if whole[k]:
                pts = polys[k]
            else:
                poly = clip_near(corners[i, corner_i[k]])
                if len(poly) < 3:
                    continue
                pts = self._fixed(self._project(poly))
            cv2.fillConvexPoly(img, pts, face_colors[k], cv2.LINE_AA, SHIFT)
            cv2.fillConvexPoly(
                ids_img, pts, STATIC_ID if owner < 0 else owner + 1, cv2.LINE_8, SHIFT
            )
            if owner >= 0:
                drawn.setdefault(owner, []).append(pts)
        return drawn

    # -- ground truth -------------------------------------------------------------------------

    def _camera_boxes(self, ids_img, drawn, ids, shapes, poses, rot, pos) -> list[CameraBox]:
        if not drawn:
            return []
        w, h = self.size
        counts = np.bincount(ids_img.ravel(), minlength=STATIC_ID + 1)
        index = {int(a): k for k, a in enumerate(ids)}
        out = []
        for actor_id, polys in sorted(drawn.items()):
            visible = int(counts[actor_id + 1])
            if visible == 0:
                continue
            verts = np.concatenate(polys).astype(np.float64) / (1 << SHIFT)
            u0, v0 = verts.min(axis=0)
            u1, v1 = verts.max(axis=0)
            cu0, cv0, cu1, cv1 = max(u0, 0.0), max(v0, 0.0), min(u1, w), min(v1, h)
            if cu1 - cu0 < MIN_BOX_PIXELS or cv1 - cv0 < MIN_BOX_PIXELS:
                continue
            alone = self._silhouette_pixels(polys, cu0, cv0, cu1, cv1)
            k = index[actor_id]
            shape = shapes[k]
            in_view = self._in_view_fraction(shape, poses[k], rot, pos)
            fraction = min(1.0, visible / max(alone, 1)) * in_view
            center = np.array([poses[k, 0], poses[k, 1], shape.height / 2])
            pc = self._to_camera(center, rot, pos)
            out.append(
                CameraBox(
                    actor_id=actor_id,
                    kind=shape.kind,
                    center=((cu0 + cu1) / 2, (cv0 + cv1) / 2),
                    size=(cu1 - cu0, cv1 - cv0),
                    visible_fraction=float(fraction),
                    position=(float(pc[0]), float(pc[1]), float(pc[2])),
                )
            )
        return out

    def _in_view_fraction(self, shape: ActorShape, pose: np.ndarray, rot, pos) -> float:
        """Share of points spread through the actor's 3D box that are in front and in the image
        (the truncation part of the visible fraction)."""
        c, s = np.cos(pose[2]), np.sin(pose[2])
        local = _GRID * np.array(shape.dimensions) + np.array([0.0, 0.0, shape.height / 2])
        world = local @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        pc = self._to_camera(world + np.array([pose[0], pose[1], 0.0]), rot, pos)
        front = pc[:, 2] >= NEAR
        uv = self._project(pc[front])
        w, h = self.size
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        return float(np.count_nonzero(inside)) / len(pc)

    def _silhouette_pixels(self, polys, u0: float, v0: float, u1: float, v1: float) -> int:
        """In-image pixels of an actor drawn alone (no occluders), in a crop around its box."""
        x0, y0 = int(np.floor(u0)), int(np.floor(v0))
        mask = np.zeros((int(np.ceil(v1)) - y0 + 1, int(np.ceil(u1)) - x0 + 1), np.uint8)
        offset = np.array([x0, y0], np.int32) << SHIFT
        for pts in polys:
            cv2.fillConvexPoly(mask, pts - offset, 1, cv2.LINE_8, SHIFT)
        return int(np.count_nonzero(mask))

    def _draw_lamps(self, img, ids_img, drawn, ids, shapes, poses, rot, pos) -> None:
        """Head and tail lamps of the vehicles in view, where their lamp pixel is unoccluded."""
        w, h = self.size
        for k, actor_id in enumerate(ids):
            shape = shapes[k]
            if int(actor_id) not in drawn or not shape.kind.is_vehicle:
                continue
            x, y = shape.length / 2 + 0.02, shape.width / 2 - 0.25
            local = np.array([[x, y, 0.65], [x, -y, 0.65], [-x, y, 0.8], [-x, -y, 0.8]])
            c, s = np.cos(poses[k, 2]), np.sin(poses[k, 2])
            world = local @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
            pc = self._to_camera(world + np.array([poses[k, 0], poses[k, 1], 0.0]), rot, pos)
            # Camera position along the actor's axis: lamps face only one way.
            ahead = (pos[0] - poses[k, 0]) * c + (pos[1] - poses[k, 1]) * s
            for j, p in enumerate(pc):
                if p[2] < NEAR or (ahead < x if j < 2 else ahead > -x):
                    continue
                u, v = self._project(p)
                if not (0 <= u < w and 0 <= v < h) or ids_img[int(v), int(u)] != actor_id + 1:
                    continue
                radius = max(1.5, self.k[0, 0] * 0.09 / p[2])
                color = (200, 235, 255) if j < 2 else (40, 40, 235)
                center = (int(u * 16), int(v * 16))
                cv2.circle(
                    img,
                    center,
                    int(radius * 2.2 * 16),
                    [c * 0.35 for c in color],
                    -1,
                    cv2.LINE_AA,
                    SHIFT,
                )
                cv2.circle(img, center, int(radius * 16), color, -1, cv2.LINE_AA, SHIFT)

    # -- sensor effects -----------------------------------------------------------------------

    def _finish(self, img: np.ndarray) -> np.ndarray:
        if self._streaks is not None:
            streak = self._streaks[int(self.rng.integers(len(self._streaks)))]
            img = cv2.add(img, cv2.merge([streak, streak, streak]))
            img = cv2.blur(img, (3, 3))
        noise = self._noise[int(self.rng.integers(len(self._noise)))]
        shift = (int(self.rng.integers(0, img.shape[0])), int(self.rng.integers(0, img.shape[1])))
        noise = np.roll(noise, shift, axis=(0, 1))
        return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)

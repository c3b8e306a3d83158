"""TrafficLightRecognizer: camera + ego pose + light map -> TrafficLightGroupArray.

As Autoware's traffic_light_map_based_detector + traffic_light_classifier in one node: every
head of the light map in range that faces the camera is projected into the image
(perception.traffic_light.roi), its crop classified by a ViT held as a VariantSet (dense, then
token-pruned at falling keep ratios, so the scheduler can trade keep ratio for time), and each
group's state published with its confidence. A head in range outside the image is skipped
(``EventKind.ROI_SKIPPED``) and published as UNKNOWN, as is a crop the classifier calls UNKNOWN
(occluded, no lit lamp) or scores below ``min_confidence``. Without a light map the node stays
idle after one warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.detector.preprocess import image_to_bgr
from perception.geometry import Pose2D, PoseHistory, RigidTransform
from perception.models import MODELS_DIR, resolve_card
from perception.tf import StaticTransforms, in_frame
from perception.traffic_light.card import LightCard, load_light_card
from perception.traffic_light.lightmap import CLASS_STATES, LightState, load_light_map
from perception.traffic_light.roi import RoiConfig, camera_in_map, crop, project_heads
from stack import topics
from stack.events import EventKind
from stack.msgs import new
from stack.msgs.stamps import stamp_to_ns
from stack.node import Context, Node
from stack.params import in_range, positive
from stack.scheduler.variants import VariantSet

GROUP_ARRAY = "autoware_perception_msgs/msg/TrafficLightGroupArray"
SHIPPED = (
    "traffic_light_vit.yaml",
    "traffic_light_vit_r70.yaml",
    "traffic_light_vit_r50.yaml",
    "traffic_light_vit_r25.yaml",  # one selector before block 0 (recipe early)
)


@dataclass
class TrafficLightParams:
    map_path: str = ""  # map.npz with the light map; "" or a map without heads: idle
    cards: list[str] = field(default_factory=list)  # most accurate first; [] = shipped ViTs
    backend: str = "onnxruntime"
    max_range: float = 80.0
    margin: float = 0.6  # m of pose error each region covers
    min_confidence: float = 0.5
    pose_tolerance_s: float = 0.2
    map_frame: str = topics.FRAME_MAP
    base_frame: str = topics.FRAME_BASE

    def validate(self) -> None:
        positive("max_range", self.max_range)
        in_range("margin", self.margin, 0.0, 10.0)
        in_range("min_confidence", self.min_confidence, 0.0, 1.0)
        positive("pose_tolerance_s", self.pose_tolerance_s)


def _card_paths(ctx: Context, cards: list[str]) -> list[Path]:
    if not cards:
        return [MODELS_DIR / name for name in SHIPPED]
    return [resolve_card(ctx, c) for c in cards]


class TrafficLightRecognizer(Node):
    Params = TrafficLightParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.params: TrafficLightParams
        p = self.params
        self.lights = load_light_map(p.map_path) if p.map_path else None
        self.pub = ctx.publisher(topics.TRAFFIC_SIGNALS, GROUP_ARRAY)
        if self.lights is None or not len(self.lights):
            self.log.warning(
                "no light map in %r: traffic-light recognition idle", p.map_path or "(map_path)"
            )
            self.lights = None
            # Still on the graph (a bag or vehicle without signals keeps the launch file's light
            # chain): each frame gets an empty state array, which planning reads as "no signal".
            ctx.subscribe(topics.CAMERA_IMAGE, "sensor_msgs/msg/Image", self.on_image_idle, depth=1)
            return
        self.cards: list[LightCard] = [load_light_card(c) for c in _card_paths(ctx, p.cards)]
        self.models = VariantSet(
            ctx, {c.name: str(c.model_path()) for c in self.cards}, backend=p.backend
        )
        self.roi = RoiConfig(max_range=p.max_range, margin=p.margin)
        self.tf = StaticTransforms()
        self.poses = PoseHistory()
        self.info: Any = None
        self.skipped = 0
        ctx.subscribe(topics.TF_STATIC, "tf2_msgs/msg/TFMessage", self.on_tf_static, depth=100)
        ctx.subscribe(topics.CAMERA_INFO, "sensor_msgs/msg/CameraInfo", self.on_info, depth=1)
        ctx.subscribe(
            topics.LOCALIZATION_ODOMETRY, "nav_msgs/msg/Odometry", self.on_odometry, depth=50
        )
        ctx.subscribe(topics.CAMERA_IMAGE, "sensor_msgs/msg/Image", self.on_image, depth=1)

    def on_image_idle(self, msg: Any) -> None:
        self.pub.publish(self._message(msg.header.stamp, {}))

    def on_tf_static(self, msg: Any) -> None:
        for problem in self.tf.add_message(msg):
            self.ctx.event(EventKind.DROP, f"{topics.TF_STATIC}: {problem}")

    def on_info(self, msg: Any) -> None:
        self.info = msg

    def on_odometry(self, msg: Any) -> None:
        if in_frame(self.ctx, topics.LOCALIZATION_ODOMETRY, msg, self.params.map_frame):
            self.poses.add(stamp_to_ns(msg.header.stamp), Pose2D.from_pose_msg(msg.pose.pose))

    def _camera(self, msg: Any) -> tuple[RigidTransform, np.ndarray] | str:
        """map <- camera at the image's stamp and K, or why there is none."""
        if self.info is None:
            return f"no {topics.CAMERA_INFO} yet"
        extrinsic = self.tf.lookup(self.params.base_frame, msg.header.frame_id)
        if extrinsic is None:
            return f"no tf_static from {msg.header.frame_id!r} to {self.params.base_frame!r}"
        tolerance = int(self.params.pose_tolerance_s * 1e9)
        pose = self.poses.at(stamp_to_ns(msg.header.stamp), tolerance)
        if pose is None:
            return "no ego pose near the image stamp"
        return camera_in_map(pose, extrinsic), np.asarray(self.info.k, float).reshape(3, 3)

    def on_image(self, msg: Any) -> None:
        camera = self._camera(msg)
        if isinstance(camera, str):
            self.ctx.event(EventKind.DROP, f"{topics.CAMERA_IMAGE}: {camera}")
            return
        try:
            bgr = image_to_bgr(msg)
        except ValueError as exc:
            self.ctx.event(EventKind.DROP, f"{topics.CAMERA_IMAGE}: {exc}")
            return
        pose, k = camera
        proj = project_heads(self.lights, pose, k, (bgr.shape[1], bgr.shape[0]), self.roi)
        if proj.outside:
            self.skipped += proj.outside
            self.ctx.event(EventKind.ROI_SKIPPED, f"{proj.outside} head(s) outside the image")
        states = {g: (LightState.UNKNOWN, 0.0) for g in proj.skipped_groups}
        states.update(self._classify(bgr, proj.rois))
        self.pub.publish(self._message(msg.header.stamp, states))

    def _classify(self, bgr: np.ndarray, rois: list) -> dict[int, tuple[LightState, float]]:
        """group id -> (state, confidence) of the heads with a region."""
        if not rois:
            return {}
        index = self.models.settle()  # the card and the model run are the same variant
        card = self.cards[index]
        batch = np.stack([crop(bgr, r.box, card.size) for r in rois])
        probs = np.asarray(
            self.models.run_variant(index, {card.input_name: batch})[card.output_name]
        )
        out = {}
        for roi, row in zip(rois, probs):
            best = int(np.argmax(row))
            state, conf = CLASS_STATES[best], float(row[best])
            if conf < self.params.min_confidence:
                state = LightState.UNKNOWN
            out[roi.group] = (state, conf)
        return out

    def _message(self, stamp: Any, states: dict[int, tuple[LightState, float]]) -> Any:
        groups = []
        for group, (state, conf) in sorted(states.items()):
            element = new(
                "autoware_perception_msgs/msg/TrafficLightElement",
                color=int(state),
                shape=1,  # CIRCLE
                status=2 if state is not LightState.UNKNOWN else 0,
                confidence=conf,
            )
            groups.append(
                new(
                    "autoware_perception_msgs/msg/TrafficLightGroup",
                    traffic_light_group_id=group,
                    elements=[element],
                )
            )
        return new(GROUP_ARRAY, stamp=stamp, traffic_light_groups=groups)

"""CameraDetector node: front camera image -> /perception/camera/objects (base_link).

Runs any ONNX detector described by a model card (see perception.detector.card) through
``ctx.engine``, lifts the 2D boxes onto the ground plane with the camera intrinsics
(CameraInfo K) and extrinsics (/tf_static, or a fallback parameter), and publishes
autoware_perception_msgs/DetectedObjects stamped with the image's acquisition time. The 2D
boxes also go out as vision_msgs/Detection2DArray when ``publish_2d`` is set.

Bad input (an unsupported encoding, a truncated image, an image whose size differs from the
camera_info) is counted with ``ctx.event(EventKind.DROP, why)``; a model that does not match its card
fails when the node is constructed, naming the tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perception.detector.card import ModelCard, load_card
from perception.detector.errors import DetectorError, ImageError
from perception.detector.lift import CameraGeometry, LiftConfig, lift_boxes
from perception.detector.pipeline import Detections2D, Detector
from perception.detector.preprocess import image_to_bgr
from perception.geometry import RigidTransform
from perception.models import resolve_card
from perception.objects import DETECTED_OBJECTS, detected_objects_msg
from perception.tf import StaticTransforms
from stack import topics
from stack.events import EventKind
from stack.msgs import maker
from stack.node import Context, Node
from stack.params import EXTRINSIC, fail, in_range, length, parse_enum, positive
from stack.scheduler.variants import VariantSet

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTION_2D_ARRAY = "vision_msgs/msg/Detection2DArray"


@dataclass
class CameraDetectorParams:
    card: str = ""  # model card (YAML / JSON); "" = the shipped demo detector
    # Model variants, most accurate first (cards; "" = the shipped one): the node holds them in
    # a VariantSet the scheduler's degrade controller switches. Empty: just ``card``.
    cards: list[str] = field(default_factory=list)
    backend: str = "auto"  # auto | onnxruntime | tensorrt
    precision: str = "fp32"
    engine_cache: str = (
        ""  # TensorRT engine cache folder; "" = L4_ENGINE_CACHE or ~/.cache/l4stack/engines
    )
    score_threshold: float | None = None  # None: the card's
    base_frame: str = topics.FRAME_BASE
    # Used when /tf_static has no path from the image's frame: base_frame -> camera optical
    # frame as [x, y, z, roll, pitch, yaw].
    fallback_extrinsic: list[float] = field(default_factory=list)
    publish_2d: bool = True
    max_distance: float = 120.0  # m

    def validate(self) -> None:
        from stack.engine.base import Backend, Precision  # not at import: it loads the runtime

        parse_enum(Backend, self.backend, "backend")
        parse_enum(Precision, self.precision, "precision")
        if self.fallback_extrinsic:
            length("fallback_extrinsic", self.fallback_extrinsic, 6, EXTRINSIC)
        if self.score_threshold is not None:
            in_range("score_threshold", self.score_threshold, 0.0, 1.0)
        positive("max_distance", self.max_distance)
        if self.cards and self.card:
            fail("cards", self.cards, "and card are exclusive: list the card first in cards")
        if len(set(self.cards)) != len(self.cards):
            fail("cards", self.cards, "must not repeat a card")


class CameraDetector(Node):
    """2D detection with an ONNX model, lifted to 3D objects on the road."""

    Params = CameraDetectorParams

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.params: CameraDetectorParams
        cards = [load_card(resolve_card(ctx, c)) for c in (self.params.cards or [self.params.card])]
        names = [c.name or Path(c.model).stem for c in cards]
        options: dict[str, Any] = {
            "backend": self.params.backend,
            "precision": self.params.precision,
        }
        if self.params.engine_cache:
            options["cache_dir"] = self.params.engine_cache
        # Each card may ask for engine options of its own (2:4 sparse weights).
        engines = {
            n: ctx.engine(str(c.model_path()), variant=n, **options, **c.engine)
            for n, c in zip(names, cards)
        }
        self.models = VariantSet(ctx, engines)
        self.detectors = [
            Detector(_VariantEngine(self.models, i), card) for i, card in enumerate(cards)
        ]
        if self.params.score_threshold is not None:
            for detector in self.detectors:
                detector.score_threshold = self.params.score_threshold
        self.lift_config = LiftConfig(max_distance=self.params.max_distance)
        self.tf = StaticTransforms()
        self.fallback = (
            RigidTransform.from_xyzrpy(*self.params.fallback_extrinsic)
            if self.params.fallback_extrinsic
            else None
        )
        self.info: Any = None
        # (camera_info, extrinsic, their geometry): the last geometry made, reused while both hold.
        self._geometry_of: tuple[Any, Any, Any] = (None, None, None)
        self.last_detections = Detections2D.empty()
        self.pub = ctx.publisher(topics.CAMERA_OBJECTS, DETECTED_OBJECTS)
        self.pub_2d = (
            ctx.publisher(topics.CAMERA_DETECTIONS_2D, DETECTION_2D_ARRAY)
            if self.params.publish_2d
            else None
        )
        ctx.subscribe(topics.TF_STATIC, "tf2_msgs/msg/TFMessage", self.on_tf_static, depth=100)
        ctx.subscribe(topics.CAMERA_INFO, CAMERA_INFO, self.on_camera_info, depth=1)
        ctx.subscribe(topics.CAMERA_IMAGE, IMAGE, self.on_image, depth=1)

    @property
    def detector(self) -> Detector:
        """The detector of the variant in use."""
        return self.detectors[self.models.index]

    @property
    def card(self) -> ModelCard:
        return self.detector.card

    # ---- inputs that set up the geometry ----------------------------------------------------
    def on_tf_static(self, msg: Any) -> None:
        for problem in self.tf.add_message(msg):
            self.ctx.event(EventKind.DROP, f"{topics.TF_STATIC}: {problem}")

    def on_camera_info(self, msg: Any) -> None:
        try:
            CameraGeometry.from_camera_info(msg, RigidTransform.identity())
        except DetectorError as exc:
            self.ctx.event(EventKind.DROP, f"{topics.CAMERA_INFO}: {exc}")
            return
        self.info = msg

    def _geometry(self, frame: str) -> CameraGeometry | str:
        """The camera geometry for an image in ``frame``, or why there is none."""
        if self.info is None:
            return f"no {topics.CAMERA_INFO} received yet"
        extrinsic = self.tf.lookup(self.params.base_frame, frame or self.params.base_frame)
        if extrinsic is None:
            extrinsic = self.fallback
        if extrinsic is None:
            return f"no tf_static from {frame!r} to {self.params.base_frame!r}"
        info, ext, geom = self._geometry_of
        if info is not self.info or ext is not extrinsic:  # made once per camera_info / tf
            geom = CameraGeometry.from_camera_info(self.info, extrinsic)
            self._geometry_of = (self.info, extrinsic, geom)
        return geom

    # ---- the image -------------------------------------------------------------------------
    def _pixels(self, msg: Any):
        bgr = image_to_bgr(msg)
        if self.info is not None and (int(self.info.width), int(self.info.height)) != (
            bgr.shape[1],
            bgr.shape[0],
        ):
            raise ImageError(
                f"image {bgr.shape[1]}x{bgr.shape[0]} does not match camera_info "
                f"{self.info.width}x{self.info.height}"
            )
        return bgr

    def on_image(self, msg: Any) -> None:
        try:
            bgr = self._pixels(msg)
        except ImageError as exc:
            self.ctx.event(EventKind.DROP, f"{topics.CAMERA_IMAGE}: {exc}")
            return
        detector = self.detectors[self.models.settle()]  # applies a pending switch, now
        dets = detector.detect(bgr)
        self.last_detections = dets
        if self.pub_2d is not None:
            self.pub_2d.publish(
                detections_2d_msg(self.ctx.new, msg.header, dets, detector.card.classes)
            )
        geom = self._geometry(msg.header.frame_id)
        if isinstance(geom, str):
            # Publishing "no objects" would tell the tracker the road is clear.
            self.ctx.event(EventKind.DROP, f"{topics.CAMERA_IMAGE}: {geom}")
            return
        objs, _ = lift_boxes(geom, dets.boxes, dets.labels, dets.scores, self.lift_config)
        header = self.ctx.new(
            "std_msgs/msg/Header", stamp=msg.header.stamp, frame_id=self.params.base_frame
        )
        self.pub.publish(detected_objects_msg(self.ctx.new, header, objs))


class _VariantEngine:
    """Variant ``index`` of a VariantSet as an Engine: runs timed through the set."""

    def __init__(self, models: VariantSet, index: int) -> None:
        self.models, self.index = models, index
        engine = models.engines[index]
        self.inputs, self.outputs = engine.inputs, engine.outputs

    def run(self, feeds: Any) -> Any:
        return self.models.run_variant(self.index, feeds)

    def __getattr__(self, name: str) -> Any:  # info, backend, ... of the real engine
        return getattr(self.models.engines[self.index], name)


def detections_2d_msg(new: Any, header: Any, dets: Detections2D, classes: tuple[str, ...]) -> Any:
    """vision_msgs/Detection2DArray of image-pixel boxes; class_id is the card's class name."""
    # Positional constructors (~4x cheaper than keywords) and Python numbers converted once per
    # array (tolist gives what float()/int() of each gives).
    hypothesis = maker(new, "vision_msgs/msg/ObjectHypothesis", "class_id", "score")
    with_pose = maker(new, "vision_msgs/msg/ObjectHypothesisWithPose", "hypothesis")
    point = maker(new, "vision_msgs/msg/Point2D", "x", "y")
    pose = maker(new, "vision_msgs/msg/Pose2D", "position")
    bbox = maker(new, "vision_msgs/msg/BoundingBox2D", "center", "size_x", "size_y")
    detection = maker(new, "vision_msgs/msg/Detection2D", "header", "results", "bbox")
    items = [
        detection(
            header,
            [with_pose(hypothesis(classes[cls], score))],
            bbox(pose(point(0.5 * (x1 + x2), 0.5 * (y1 + y2))), x2 - x1, y2 - y1),
        )
        for (x1, y1, x2, y2), cls, score in zip(
            dets.boxes.tolist(),
            dets.classes.astype(np.int64, copy=False).tolist(),
            dets.scores.tolist(),
        )
    ]
    return new(DETECTION_2D_ARRAY, header=header, detections=items)

"""Camera accuracy per model variant: frames attributed through the trace's inputs and variant."""

from __future__ import annotations

from stack import topics
from tools.eval.variants import image_variants, split_by_variant


def _record(node, variant, inputs, outputs=()):
    return (
        node,
        "sub",
        "t",
        0,
        0,
        1,
        tuple(inputs),
        tuple((t, 1, {}) for t in outputs),
        variant,
        (),
    )


DET = (topics.CAMERA_DETECTIONS_2D,)


def test_image_stamps_map_to_the_variant_that_ran_on_them():
    records = [
        _record("camera_detector", "dense", [(topics.CAMERA_IMAGE, 100)], DET),
        _record("camera_detector", "pruned", [(topics.CAMERA_IMAGE, 200)], DET),
        _record("lidar", "", [("/sensing/lidar/top/points", 150)]),
        _record("tracker", "", [(topics.CAMERA_IMAGE, 300)]),  # no variant: not attributed
        # Another node with variants of its own on the same images: not the camera detector.
        _record("traffic_light", "vit", [(topics.CAMERA_IMAGE, 400)], ("/tl",)),
        # ... also when it ran later on an image the detector ran on
        _record(
            "traffic_light", "vit_r50", [(topics.CAMERA_IMAGE, 100)], (topics.TRAFFIC_SIGNALS,)
        ),
    ]
    variants = image_variants(records)
    assert variants == {100: "dense", 200: "pruned"}
    dets = [(100, "a"), (200, "b"), (300, "c"), (101, "d")]
    assert split_by_variant(dets, variants) == {"dense": [(100, "a")], "pruned": [(200, "b")]}
    assert split_by_variant(dets, {}) == {}

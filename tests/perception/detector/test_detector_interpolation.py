"""Card ``input.interpolation``: per-decoder defaults, and parity with a model's own recipe.

The parity check runs FastestDet (BSD-3-Clause, shared data) on a real photograph (matplotlib's
sample ``grace_hopper.jpg``) pre-processed two ways: by the node's ``preprocess`` with the card
and by FastestDet's documented recipe written out here (``cv2.resize`` to 352x352 with its default
INTER_LINEAR, BGR, /255, no mean/std).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest

from perception.detector.card import CardError, Interpolation, card_from_dict, load_card
from perception.detector.preprocess import preprocess

PHOTO = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"


def _card(decoder: str, **inp):
    return card_from_dict(
        {
            "model": "m.onnx",
            "input": {"width": 352, "height": 352, **inp},
            "decoder": {"name": decoder},
            "classes": ["person"],
            "labels": {"person": "PEDESTRIAN"},
        }
    )


@pytest.mark.parametrize(
    "decoder, expected",
    [
        ("yolox", Interpolation.LINEAR),
        ("yolov5", Interpolation.LINEAR),
        ("yolov8", Interpolation.LINEAR),
        ("fastestdet", Interpolation.LINEAR),
        ("centernet", Interpolation.AREA),  # this project's detector: trained on AREA shrinks
    ],
)
def test_default_follows_the_decoder_family(decoder, expected):
    assert _card(decoder).input.interpolation is expected
    assert _card(decoder, interpolation="cubic").input.interpolation is Interpolation.CUBIC


def test_bad_interpolation_is_named():
    with pytest.raises(CardError, match=r"input.interpolation: 'bilinear' is not one of"):
        _card("yolox", interpolation="bilinear")


def test_the_shipped_card_keeps_its_area_resize():
    root = Path(__file__).resolve().parents[3]
    card = load_card(root / "perception" / "models" / "camera_detector.yaml")
    assert card.input.interpolation is Interpolation.AREA
    assert card_from_dict(card.to_dict()).input == card.input  # round trip


@pytest.mark.parametrize("interp", list(Interpolation))
def test_each_interpolation_is_the_cv2_filter(interp):
    img = np.random.default_rng(0).integers(0, 255, (500, 600, 3), np.uint8)  # shrinks
    x, _ = preprocess(img, _card("yolox", interpolation=interp.value, scale=1.0).input)
    flag = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST,
            "cubic": cv2.INTER_CUBIC}[interp.value]  # fmt: skip
    ref = cv2.resize(img, (352, 352), interpolation=flag)[..., ::-1]  # rgb (the default)
    assert np.array_equal(x[0].transpose(1, 2, 0), ref.astype(np.float32))


@pytest.mark.parametrize(("h", "w", "c"), [(384, 640, 3), (2, 2, 3), (6, 1000, 3), (10, 14, 1)])
def test_area_halving_takes_the_linear_path_with_the_same_bytes(h, w, c):
    """At exactly half size the node resizes with INTER_LINEAR (3x cheaper): the same bytes as
    INTER_AREA, the 2x2 mean rounded half up, on noise, black/white edges and a ramp."""
    from perception.detector.preprocess import _halving

    rng = np.random.default_rng(h * w)
    images = [rng.integers(0, 256, (h, w, c), np.uint8),
              (rng.integers(0, 2, (h, w, c)) * 255).astype(np.uint8),
              (np.arange(h * w * c) % 256).astype(np.uint8).reshape(h, w, c)]  # fmt: skip
    for img in images:
        img = img[..., 0] if c == 1 else img
        area = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        x = img.astype(np.int32)
        mean = (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2] + 2) >> 2
        assert np.array_equal(area, mean.astype(np.uint8))
        assert np.array_equal(
            cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR), area
        )
    assert _halving(images[0], w // 2, h // 2) and not _halving(images[0], w // 2 + 1, h // 2)
    assert not _halving(images[0].astype(np.float32), w // 2, h // 2)
    card = _card("centernet", interpolation="area", scale=1.0, width=w // 2, height=h // 2)
    if c == 3:
        x, _ = preprocess(images[0], card.input)
        ref = cv2.resize(images[0], (w // 2, h // 2), interpolation=cv2.INTER_AREA)[..., ::-1]
        assert np.array_equal(x[0].transpose(1, 2, 0), ref.astype(np.float32))


def test_fastestdet_parity_with_its_documented_recipe_on_a_real_photo(shared_data):
    ort = pytest.importorskip("onnxruntime")
    model = shared_data / "onnx" / "fastestdet" / "FastestDet.onnx"
    if not model.exists() or not PHOTO.exists():
        pytest.skip("FastestDet.onnx or the sample photograph is absent")
    bgr = cv2.imread(str(PHOTO))
    card = _card("fastestdet", channel_order="bgr", scale=1 / 255)
    ours, _ = preprocess(bgr, card.input)
    recipe = (cv2.resize(bgr, (352, 352)).astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    assert np.abs(ours - recipe).max() < 1e-6  # float rounding of *scale vs /255 only
    area, _ = preprocess(bgr, replace(card.input, interpolation=Interpolation.AREA))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    def scores(x):
        out = session.run(None, {session.get_inputs()[0].name: x})[0][0]
        return out[0] ** 0.6 * out[5:].max(0) ** 0.4  # FastestDet: obj^0.6 * cls^0.4

    ref = scores(recipe)
    assert np.abs(scores(ours) - ref).max() < 1e-4
    assert ref.max() > 0.5  # the person is found
    assert np.abs(scores(area) - ref).max() > 0.02  # the filter matters: 0.061 here

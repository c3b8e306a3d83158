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

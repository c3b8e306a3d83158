"""Decoders on constructed tensors with known boxes, for every supported layout."""

from __future__ import annotations

import numpy as np
import pytest

from perception.detector import CardError, card_from_dict, make_decoder
from stack.engine import TensorSpec


def _card(decoder, classes=("car", "person", "truck"), width=320, height=192):
    return card_from_dict(
        {
            "model": "m.onnx",
            "input": {"width": width, "height": height},
            "decoder": decoder,
            "classes": list(classes),
            "labels": {"car": "CAR"},
        }
    )


def _spec(shape, name="out"):
    return TensorSpec(name, tuple(shape), np.dtype(np.float32))


def test_centernet_decodes_peaks_only(det):
    # class 0 peak at row 10, col 20 (cell centre 164, 84); a weaker neighbour is not a peak.
    heat, dist = det.centernet_outputs([(0, 10, 20, 0.9, (14.0, 4.0, 6.0, 16.0)),
                                        (0, 10, 21, 0.5, (1.0, 1.0, 1.0, 1.0)),
                                        (2, 3, 5, 0.6, (8.0, 8.0, 8.0, 8.0))])  # fmt: skip
    decoder = make_decoder(
        _card({"name": "centernet", "stride": 8}, ("car", "person", "truck", "bike"))
    )
    c = decoder.decode([heat, dist], threshold=0.3)
    order = np.argsort(-c.scores)
    np.testing.assert_allclose(c.boxes[order[0]], [150, 80, 170, 100])
    np.testing.assert_allclose(c.boxes[order[1]], [36, 20, 52, 36])
    assert c.classes[order].tolist() == [0, 2]
    np.testing.assert_allclose(c.scores[order], [0.9, 0.6])


def test_yolov5_score_is_obj_times_class():
    rows = np.zeros((1, 3, 8), np.float32)
    rows[0, 0] = [100, 50, 20, 10, 0.9, 0.1, 0.2, 0.8]  # truck 0.72
    rows[0, 1] = [10, 10, 4, 4, 0.2, 0.9, 0.0, 0.0]  # 0.18 < threshold
    rows[0, 2] = [30, 40, 10, 20, 0.8, 0.9, 0.0, 0.0]  # car 0.72
    c = make_decoder(_card("yolov5")).decode([rows], threshold=0.25)
    np.testing.assert_allclose(c.boxes, [[90, 45, 110, 55], [25, 30, 35, 50]])
    np.testing.assert_allclose(c.scores, [0.72, 0.72], rtol=1e-6)
    assert c.classes.tolist() == [2, 0]


@pytest.mark.parametrize("transposed", [False, True])
def test_yolov8_both_layouts(transposed):
    rows = np.zeros((2, 7), np.float32)
    rows[0] = [100, 50, 20, 10, 0.1, 0.7, 0.2]
    rows[1] = [5, 5, 2, 2, 0.1, 0.1, 0.1]
    out = rows[None] if transposed else rows.T[None]
    decoder = make_decoder(_card("yolov8"))
    decoder.check([_spec(out.shape)])
    c = decoder.decode([out], threshold=0.5)
    np.testing.assert_allclose(c.boxes, [[90, 45, 110, 55]])
    assert c.classes.tolist() == [1]


def test_yolox_raw_grid_decoding():
    card = _card({"name": "yolox", "strides": [8, 16, 32]}, width=64, height=64)
    decoder = make_decoder(card)
    n = 8 * 8 + 4 * 4 + 2 * 2
    out = np.zeros((1, n, 8), np.float32)
    # stride-16 grid starts at 64; cell (row 2, col 1) = index 64 + 2*4 + 1
    i = 64 + 9
    out[0, i] = [0.5, 0.25, np.log(2.0), np.log(1.0), 0.9, 0.0, 0.0, 1.0]
    decoder.check([_spec(out.shape)])
    c = decoder.decode([out], threshold=0.5)
    # centre ((1 + 0.5) * 16, (2 + 0.25) * 16) = (24, 36); w = 32, h = 16
    np.testing.assert_allclose(c.boxes, [[8, 28, 40, 44]], atol=1e-4)
    assert c.classes.tolist() == [2]


def test_yolox_already_decoded_reads_like_yolov5():
    out = np.zeros((1, 1, 8), np.float32)
    out[0, 0] = [24, 36, 32, 16, 0.9, 1.0, 0, 0]
    c = make_decoder(_card({"name": "yolox", "decoded": True})).decode([out], 0.5)
    np.testing.assert_allclose(c.boxes, [[8, 28, 40, 44]])


def test_fastestdet_cell_offsets_and_score_powers():
    fmap = np.full((1, 8, 4, 4), -10.0, np.float32)
    fmap[0, 0] = 0.0  # objectness
    fmap[0, 0, 1, 2] = 0.81
    fmap[0, 1, 1, 2] = np.arctanh(0.5)  # x offset 0.5 cells
    fmap[0, 2, 1, 2] = 0.0  # y offset 0
    fmap[0, 3, 1, 2] = 0.0  # width sigmoid(0) = 0.5 of the image
    fmap[0, 4, 1, 2] = np.log(0.25 / 0.75)  # height 0.25
    fmap[0, 5:, 1, 2] = [0.0, 0.0, 0.16]
    c = make_decoder(_card("fastestdet", width=64, height=64)).decode([fmap], threshold=0.3)
    assert len(c) == 1
    np.testing.assert_allclose(c.scores, [0.81**0.6 * 0.16**0.4], rtol=1e-5)
    # centre ((2 + 0.5) / 4 * 64, (1 + 0) / 4 * 64) = (40, 16); size (32, 16)
    np.testing.assert_allclose(c.boxes, [[24, 8, 56, 24]], atol=1e-3)
    assert c.classes.tolist() == [2]


@pytest.mark.parametrize(
    ("decoder", "shapes", "message"),
    [
        (
            "yolov5",
            [(1, 100, 9)],
            "output 'out' (predictions [1, N, 5 + classes]): expected shape [1,?,8]",
        ),
        ("yolov8", [(1, 9, 100)], "expected shape [1,7,?], the model has [1,9,100]"),
        (
            {"name": "centernet", "stride": 8},
            [(1, 3, 24, 40), (1, 4, 12, 20)],
            "expected shape [1,4,24,40]",
        ),
        ("fastestdet", [(1, 8, 4)], "expected shape [1,8,?,?]"),
        ({"name": "yolox", "strides": [8, 16, 32]}, [(1, 999, 8)], "expected shape [1,1260,8]"),
        ("yolov5", [(1, 100, 8), (1, 3)], "reads 1 output(s)"),
    ],
)
def test_check_names_tensor_and_shapes(decoder, shapes, message):
    d = make_decoder(_card(decoder))
    with pytest.raises(CardError) as info:
        d.check([_spec(s, "out" if i == 0 else f"o{i}") for i, s in enumerate(shapes)])
    assert message in str(info.value)


def test_unknown_decoder_and_option():
    with pytest.raises(CardError, match="'ssd' is not one of"):
        make_decoder(_card("ssd"))
    with pytest.raises(CardError, match=r"decoder\.anchors: not an option of decoder 'yolov5'"):
        make_decoder(_card({"name": "yolov5", "anchors": [1]}))
    with pytest.raises(CardError, match=r"decoder\.strides: expected positive integers"):
        make_decoder(_card({"name": "yolox", "strides": "8"}))

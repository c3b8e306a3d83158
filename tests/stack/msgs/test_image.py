from __future__ import annotations

import cv2
import numpy as np
import pytest

from stack.msgs import new
from stack.msgs.image import ImageDecodeError, image_to_bgr

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"


def raw(encoding: str, width: int, height: int, step: int, data, bigendian: bool = False):
    return new(IMAGE, encoding=encoding, width=width, height=height, step=step,
               is_bigendian=bigendian, data=np.asarray(data, np.uint8).ravel())  # fmt: skip


def compressed(data, fmt: str = "png"):
    return new(COMPRESSED, format=fmt, data=np.asarray(data, np.uint8).ravel())


def test_color_encodings_come_back_as_bgr():
    bgr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(image_to_bgr(raw("bgr8", 3, 2, 9, bgr), IMAGE), bgr)
    rgb = bgr[..., ::-1]
    np.testing.assert_array_equal(image_to_bgr(raw("rgb8", 3, 2, 9, rgb), IMAGE), bgr)
    bgra = np.dstack([bgr, np.full((2, 3), 255, np.uint8)])
    np.testing.assert_array_equal(image_to_bgr(raw("bgra8", 3, 2, 12, bgra), IMAGE), bgr)


def test_mono16_keeps_the_high_byte_in_either_byte_order():
    values = np.array([[0x1234, 0xABCD]], np.uint16)
    little = raw("mono16", 2, 1, 4, values.astype("<u2").view(np.uint8))
    big = raw("mono16", 2, 1, 4, values.astype(">u2").view(np.uint8), bigendian=True)
    for msg in (little, big):
        img = image_to_bgr(msg, IMAGE)
        assert img.dtype == np.uint8 and img.shape == (1, 2, 3)
        assert img[0, :, 0].tolist() == [0x12, 0xAB]


def test_compressed_image_decodes():
    bgr = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    np.testing.assert_array_equal(image_to_bgr(compressed(png), COMPRESSED), bgr)


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (
            raw("yuv422", 2, 2, 4, np.zeros(8)),
            r"Image encoding 'yuv422' not supported; "
            r"supported: \['8UC1', '8UC3', 'bayer_bggr8'",
        ),
        (
            raw("bgr8", 4, 2, 10, np.zeros(24)),
            r"Image 4x2 bgr8, step 10: a row of 4 pixels takes 12 bytes, more than step",
        ),
        (
            raw("bgr8", 4, 2, 12, np.zeros(23)),
            r"Image 4x2 bgr8, step 12: data has 23 bytes, expected step x height = 24",
        ),
        (
            raw("mono16", 4, 1, 4, np.zeros(8)),
            r"Image 4x1 mono16, step 4: a row of 4 pixels takes 8 bytes",
        ),
        (raw("rgb8", 0, 0, 0, np.zeros(0)), r"Image 0x0 rgb8: no pixels"),
        (raw("mono8", 3, 0, 3, np.zeros(0)), r"Image 3x0 mono8: no pixels"),
    ],
)
def test_image_errors_name_the_bad_field(msg, message):
    with pytest.raises(ImageDecodeError, match=message):
        image_to_bgr(msg, IMAGE)


@pytest.mark.parametrize(
    "data",
    [np.frombuffer(b"not an image", np.uint8), np.zeros(0, np.uint8)],
    ids=["garbage", "empty"],
)
def test_undecodable_compressed_image_names_its_format(data):
    with pytest.raises(ImageDecodeError, match=r"CompressedImage format 'jpeg' does not decode"):
        image_to_bgr(compressed(data, "jpeg"), COMPRESSED)


def test_truncated_png_does_not_decode():
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    assert ok
    with pytest.raises(ImageDecodeError, match="does not decode"):
        image_to_bgr(compressed(png[: len(png) // 2]), COMPRESSED)

"""Calibration images from a directory or a bag topic, preprocessed into batches."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from stack.engine import (
    CalibrationError,
    CalibrationFeeder,
    CalibrationSource,
    ChannelOrder,
    Preprocess,
    TensorSpec,
)
from stack.engine.calibration import decode_image
from stack.msgs import new, serialize, typestore

SPEC = TensorSpec("images", (None, 3, 16, 16), np.dtype(np.float32))


def bgr(value: int, h: int = 24, w: int = 32) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = value, value // 2, 255 - value
    return img


def image_dir(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:03d}.png"), bgr(10 * i))
    (folder / "notes.txt").write_text("not an image")
    return folder


def image_msg(img_bgr: np.ndarray, encoding: str = "rgb8", pad: int = 0):
    rgb = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB) if encoding == "rgb8" else img_bgr
    h, w, c = rgb.shape
    rows = np.zeros((h, w * c + pad), np.uint8)
    rows[:, : w * c] = rgb.reshape(h, w * c)
    return new(
        "sensor_msgs/msg/Image", height=h, width=w, encoding=encoding, step=w * c + pad,
        data=rows.reshape(-1),
    )  # fmt: skip


def write_bag(path: Path, n: int, plugin: StoragePlugin = StoragePlugin.SQLITE3) -> Path:
    store = typestore()
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        cam = writer.add_connection("/camera/image", "sensor_msgs/msg/Image", typestore=store)
        jpg = writer.add_connection(
            "/camera/compressed", "sensor_msgs/msg/CompressedImage", typestore=store
        )
        other = writer.add_connection("/speed", "std_msgs/msg/Float32", typestore=store)
        for i in range(n):
            t = 1_000_000_000 + i * 100_000_000
            writer.write(cam, t, serialize(image_msg(bgr(10 * i), pad=4)))
            ok, enc = cv2.imencode(".png", bgr(10 * i))
            assert ok
            comp = new("sensor_msgs/msg/CompressedImage", format="png", data=enc.reshape(-1))
            writer.write(jpg, t, serialize(comp))
            writer.write(other, t, serialize(new("std_msgs/msg/Float32", data=1.0)))
    return path


def test_preprocess_bgr_scale() -> None:
    out = Preprocess().apply(bgr(100), 3, 12, 16)
    assert out.shape == (3, 12, 16) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], [100 / 255, 50 / 255, 155 / 255], rtol=1e-6)


def test_preprocess_rgb_mean_std() -> None:
    pre = Preprocess(ChannelOrder.RGB, scale=1.0, mean=(10, 20, 30), std=(2, 4, 5))
    out = pre.apply(bgr(100), 3, 8, 8)
    np.testing.assert_allclose(out[:, 3, 3], [(155 - 10) / 2, (50 - 20) / 4, (100 - 30) / 5])


def test_preprocess_gray() -> None:
    out = Preprocess(scale=1.0).apply(np.full((4, 4, 3), 90, np.uint8), 1, 2, 2)
    assert out.shape == (1, 2, 2)
    np.testing.assert_allclose(out, 90)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_decode_image_with_row_padding(encoding: str) -> None:
    img = bgr(40, 5, 7)
    img[2, 3] = (1, 2, 3)
    np.testing.assert_array_equal(decode_image(image_msg(img, encoding, pad=3), "x/Image"), img)


def test_decode_mono16_big_endian() -> None:
    raw = np.array([[0x1234, 0xFF00]], ">u2")
    msg = new(
        "sensor_msgs/msg/Image", height=1, width=2, encoding="mono16", is_bigendian=1, step=4,
        data=np.frombuffer(raw.tobytes(), np.uint8).copy(),
    )  # fmt: skip
    out = decode_image(msg, "sensor_msgs/msg/Image")
    assert out.shape == (1, 2, 3)
    np.testing.assert_array_equal(out[0, :, 0], [0x12, 0xFF])


def test_decode_rejects_bad_images() -> None:
    msg = new("sensor_msgs/msg/Image", height=2, width=2, encoding="yuv422", step=4,
              data=np.zeros(8, np.uint8))  # fmt: skip
    with pytest.raises(CalibrationError, match="encoding 'yuv422' not supported"):
        decode_image(msg, "sensor_msgs/msg/Image")
    short = new("sensor_msgs/msg/Image", height=2, width=2, encoding="rgb8", step=6,
                data=np.zeros(7, np.uint8))  # fmt: skip
    with pytest.raises(CalibrationError, match="data has 7 bytes, expected step x height = 12"):
        decode_image(short, "sensor_msgs/msg/Image")
    comp = new("sensor_msgs/msg/CompressedImage", format="jpeg", data=np.zeros(9, np.uint8))
    with pytest.raises(CalibrationError, match="'jpeg' does not decode"):
        decode_image(comp, "sensor_msgs/msg/CompressedImage")


def test_parse_source() -> None:
    assert CalibrationSource.parse("runs/a:b/bag:/cam/image") == CalibrationSource(
        Path("runs/a:b/bag"), "/cam/image"
    )
    assert CalibrationSource.parse("calib/images") == CalibrationSource(Path("calib/images"))


def test_directory_batches(tmp_path: Path) -> None:
    feeder = CalibrationFeeder(CalibrationSource(image_dir(tmp_path, 7)), SPEC, batch_size=3)
    batches = list(feeder.batches())
    assert len(batches) == 2  # the 7th image would be a partial batch
    assert all(b.shape == (3, 3, 16, 16) and b.dtype == np.float32 for b in batches)
    # Sorted file order, each image preprocessed: blue channel = 10 * i / 255.
    firsts = [b[i, 0, 0, 0] for b in batches for i in range(3)]
    np.testing.assert_allclose(firsts, [10 * i / 255 for i in range(6)], rtol=1e-5)


def test_max_images(tmp_path: Path) -> None:
    source = CalibrationSource(image_dir(tmp_path, 8))
    feeder = CalibrationFeeder(source, SPEC, batch_size=2, max_images=4)
    assert len(list(feeder.batches())) == 2


def test_too_few_images(tmp_path: Path) -> None:
    feeder = CalibrationFeeder(CalibrationSource(image_dir(tmp_path, 2)), SPEC, batch_size=4)
    with pytest.raises(CalibrationError, match="2 images, fewer than one batch of 4"):
        list(feeder.batches())


@pytest.mark.parametrize("plugin", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
@pytest.mark.parametrize("topic", ["/camera/image", "/camera/compressed"])
def test_bag_topic_batches(tmp_path: Path, plugin: StoragePlugin, topic: str) -> None:
    bag = write_bag(tmp_path / "bag", 4, plugin)
    source = CalibrationSource.parse(f"{bag}:{topic}")
    batches = list(CalibrationFeeder(source, SPEC, batch_size=2).batches())
    assert len(batches) == 2
    np.testing.assert_allclose(batches[1][1, :, 0, 0], [30 / 255, 15 / 255, 225 / 255], rtol=1e-5)


def test_bag_errors(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", 2)
    with pytest.raises(CalibrationError, match=r"no topic '/nope'; topics: \['/camera/compressed'"):
        list(CalibrationFeeder(CalibrationSource(bag, "/nope"), SPEC, batch_size=1).batches())
    with pytest.raises(CalibrationError, match="'/speed' is std_msgs/msg/Float32"):
        list(CalibrationFeeder(CalibrationSource(bag, "/speed"), SPEC, batch_size=1).batches())
    missing = CalibrationSource(tmp_path / "nobag", "/camera/image")
    with pytest.raises(CalibrationError, match="nobag: no such file"):
        list(CalibrationFeeder(missing, SPEC, batch_size=1).batches())
    with pytest.raises(CalibrationError, match="not a directory; for a bag write BAG:TOPIC"):
        list(CalibrationFeeder(CalibrationSource(bag / "metadata.yaml"), SPEC, 1).batches())


def test_feeder_checks_the_input() -> None:
    source = CalibrationSource(Path("x"))
    with pytest.raises(CalibrationError, match="static batch of 1; calibration batch_size=8"):
        CalibrationFeeder(source, TensorSpec("i", (1, 3, 8, 8), np.dtype(np.float32)))
    with pytest.raises(CalibrationError, match="NCHW image input with static C, H, W"):
        CalibrationFeeder(source, TensorSpec("i", (None, 3, None, None), np.dtype(np.float32)))
    with pytest.raises(CalibrationError, match="has 4 channels"):
        CalibrationFeeder(source, TensorSpec("i", (None, 4, 8, 8), np.dtype(np.float32)))
    with pytest.raises(CalibrationError, match="need 1 <= batch <= max"):
        CalibrationFeeder(source, SPEC, batch_size=0)


def test_identity_follows_data_and_preprocessing(tmp_path: Path) -> None:
    source = CalibrationSource(tmp_path)
    a = CalibrationFeeder(source, SPEC, batch_size=2).identity()
    assert a == CalibrationFeeder(source, SPEC, batch_size=2).identity()
    assert a != CalibrationFeeder(source, SPEC, Preprocess(ChannelOrder.RGB), 2).identity()
    assert a != CalibrationFeeder(CalibrationSource(tmp_path / "x"), SPEC, batch_size=2).identity()

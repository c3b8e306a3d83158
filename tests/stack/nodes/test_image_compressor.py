from __future__ import annotations

import cv2
import numpy as np
import pytest

from stack.executor import Runtime, SimClock
from stack.graph import GraphError, parse_graph
from stack.msgs import deserialize, new, ns_to_stamp, serialize, stamp_to_ns

CLASS = "stack.nodes.image_compressor:ImageCompressor"
INPUT = "/cam/image_raw"
STAMP = 1_700_000_000_250_000_000


def compressor(params: str = "") -> tuple[Runtime, list]:
    text = f"nodes:\n  comp: {{class: {CLASS}, params: {{input: {INPUT}{params}}}}}\n"
    rt = Runtime(parse_graph(text, "c.yaml"), SimClock(STAMP), lockstep=True,
                 external_topics=(INPUT,))  # fmt: skip
    out: list = []
    rt.taps.append(lambda topic, msg, t: out.append((topic, msg)))
    return rt, out


def image(pixels: np.ndarray, encoding: str, step: int | None = None, data=None):
    h, w = pixels.shape[:2]
    row = pixels.reshape(h, w * (pixels.shape[2] if pixels.ndim == 3 else 1))
    return new(
        "sensor_msgs/msg/Image",
        header=new("std_msgs/msg/Header", stamp=ns_to_stamp(STAMP), frame_id="camera"),
        height=h, width=w, encoding=encoding, step=step or row.shape[1],
        data=row.ravel() if data is None else np.asarray(data, np.uint8),
    )  # fmt: skip


def send(rt: Runtime, msg) -> None:
    rt.inject(INPUT, msg)
    rt.run_until_idle()


def noise(h: int = 24, w: int = 32, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (h, w, channels), dtype=np.uint8)


def decoded(msg) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)


def test_png_round_trip_is_lossless_and_keeps_the_header():
    rt, out = compressor()
    bgr = noise()
    send(rt, image(bgr, "bgr8"))
    ((topic, msg),) = out
    assert topic == f"{INPUT}/compressed"
    assert msg.format == "bgr8; png compressed bgr8"
    assert bytes(msg.data[:8]) == b"\x89PNG\r\n\x1a\n"
    assert stamp_to_ns(msg.header.stamp) == STAMP and msg.header.frame_id == "camera"
    np.testing.assert_array_equal(decoded(msg), bgr)
    # And it survives CDR, as recorded into a bag.
    again = deserialize(serialize(msg, "sensor_msgs/msg/CompressedImage"),
                        "sensor_msgs/msg/CompressedImage")  # fmt: skip
    np.testing.assert_array_equal(decoded(again), bgr)
    assert rt.counters()["comp"] == {}


def test_rgb8_input_comes_back_as_bgr():
    rt, out = compressor()
    rgb = noise()
    send(rt, image(rgb, "rgb8"))
    msg = out[0][1]
    assert msg.format == "rgb8; png compressed bgr8"
    np.testing.assert_array_equal(decoded(msg), rgb[..., ::-1])


def test_row_padding_and_mono_are_handled():
    rt, out = compressor()
    mono = noise(channels=1)[..., 0]
    padded = np.zeros((mono.shape[0], mono.shape[1] + 8), np.uint8)
    padded[:, : mono.shape[1]] = mono
    msg = image(mono, "mono8", step=padded.shape[1], data=padded.ravel())
    send(rt, msg)
    np.testing.assert_array_equal(decoded(out[0][1]), np.dstack([mono] * 3))


def test_jpeg_path_and_output_topic():
    rt, out = compressor(", format: jpeg, jpeg_quality: 95, output: /rec/cam")
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[:, :, 0] = np.linspace(0, 255, 48, dtype=np.uint8)  # a gradient JPEG keeps well
    smooth[:, :, 2] = 128
    send(rt, image(smooth, "bgr8"))
    ((topic, msg),) = out
    assert topic == "/rec/cam"
    assert msg.format == "bgr8; jpeg compressed bgr8"
    assert bytes(msg.data[:2]) == b"\xff\xd8"  # JPEG start-of-image
    back = decoded(msg)
    assert back.shape == smooth.shape
    assert np.abs(back.astype(int) - smooth).max() <= 12  # lossy, but close


def test_png_level_changes_the_effort_not_the_pixels():
    fast, out_fast = compressor(", png_level: 0")
    best, out_best = compressor(", png_level: 9")
    flat = np.full((64, 64, 3), 40, np.uint8)
    send(fast, image(flat, "bgr8"))
    send(best, image(flat, "bgr8"))
    a, b = out_fast[0][1], out_best[0][1]
    assert len(b.data) < len(a.data)  # level 0 stores, level 9 deflates
    np.testing.assert_array_equal(decoded(a), decoded(b))


@pytest.mark.parametrize(
    ("msg", "detail"),
    [
        (image(noise(4, 4), "yuv422"), "encoding 'yuv422' not supported"),
        (image(noise(4, 4), "bgr8", data=np.zeros(20)), "data bytes too small"),
        (image(noise(4, 4), "bgr8", step=5, data=np.zeros(80)), "step 5"),
        (image(np.zeros((0, 0, 3), np.uint8), "bgr8"), "no pixels"),
    ],
)
def test_undecodable_image_is_a_counted_drop(msg, detail):
    rt, out = compressor()
    send(rt, msg)
    assert out == []
    assert rt.counters()["comp"] == {"drop": 1}
    assert rt.errors == []
    send(rt, image(noise(4, 4), "bgr8"))  # the node goes on with the next frame
    assert len(out) == 1


def test_drop_event_names_the_problem():
    from stack.nodes.image_compressor import ImageCompressor
    from tests.perception.fake_ctx import make_node

    _, ctx = make_node(ImageCompressor, input=INPUT)
    ctx.deliver(INPUT, image(noise(4, 4), "bgr8", data=np.zeros(3)))
    ((kind, detail),) = ctx.events
    assert kind == "drop"
    assert (
        detail.startswith(f"{INPUT}: Image 4x4 bgr8")
        and "data has 3 bytes, expected step x height = 48" in detail
    )
    assert ctx.sent(f"{INPUT}/compressed") == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("format: webp", r"format='webp' is not one of 'png', 'jpeg'"),
        ("png_level: 10", r"png_level must lie in \[0, 9\] \(got 10\)"),
        ("png_level: -1", r"png_level must lie in \[0, 9\] \(got -1\)"),
        ("jpeg_quality: 101", r"jpeg_quality must lie in \[0, 100\] \(got 101\)"),
        ("png_level: fast", r"png_level: expected int, got 'fast'"),
        ("degrade: [rle, zip]", r"degrade\[1\]='zip' is not one of 'rle', 'huffman', 'store'"),
        ("format: jpeg, degrade: [store]", r"degrade: PNG settings, but format is 'jpeg'"),
        ("degrade: [rle, rle]", r"degrade: repeated settings"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_value(params, message):
    text = f"nodes:\n  comp: {{class: {CLASS}, params: {{{params}}}}}\n"
    with pytest.raises(GraphError, match=rf"c.yaml: nodes.comp.params.*{message}"):
        parse_graph(text, "c.yaml")


def test_a_logger_that_can_degrade_writes_the_same_pixels_with_each_variant():
    rt, out = compressor(", degrade: [rle, huffman, store]")
    node = rt.nodes["comp"].instance
    assert node.encoders.names == ("png3", "png_rle", "png_huffman", "png_store")
    bgr = np.tile(noise(8, 8), (4, 6, 1))  # repeats: each setting compresses differently
    sizes = []
    for index in range(len(node.encoders)):
        node.encoders.switch(index, "test")
        send(rt, image(bgr, "bgr8"))
        msg = out[-1][1]
        assert msg.format == "bgr8; png compressed bgr8"
        np.testing.assert_array_equal(decoded(msg), bgr)  # lossless: the same pixels
        sizes.append(len(msg.data))
    assert len(out) == 4 and len(set(sizes)) >= 3 and max(sizes) == sizes[-1]  # store: largest
    assert node.encoders.cost_ms[0] is not None  # runs are timed per variant


def test_without_degrade_settings_the_logger_holds_no_variant_set():
    rt, _ = compressor()
    assert rt.nodes["comp"].instance.encoders is None

"""The detector trainer: scenarios, data, targets, augmentation, one tiny epoch + ONNX export."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tools.train.augment import AugmentConfig, augment
from tools.train.data import CLASSES, BoxRules, read_frames
from tools.train.errors import TrainError
from tools.train.scenarios import ScenarioSpec, parse_scenarios
from tools.train.targets import TargetConfig, encode


def test_parse_scenarios_ranges_weather_traffic():
    specs = parse_scenarios("1-3, 9:night,10:fog:light,11::light")
    assert specs == [
        ScenarioSpec(1), ScenarioSpec(2), ScenarioSpec(3), ScenarioSpec(9, "night"),
        ScenarioSpec(10, "fog", "light"), ScenarioSpec(11, "day", "light"),
    ]  # fmt: skip
    assert specs[4].bag_name(15.0) == "seed10_fog_light_15s_nolights"


def test_lights_are_opt_in_named_in_the_folder_and_round_trip():
    from tools.train.scenarios import format_scenarios

    specs = parse_scenarios("1-2::dense:lights,3,4:night:light:lights")
    assert [s.lights for s in specs] == [True, True, False, True]
    assert specs[0].bag_name(4.0) == "seed1_day_dense_4s_lights"
    assert specs[2].bag_name(4.0) == "seed3_day_dense_4s_nolights"
    text = format_scenarios(specs)
    assert text == "1-2:day:dense:lights,3:day:dense,4:night:light:lights"
    assert parse_scenarios(text) == specs


def test_ensure_bags_generates_with_or_without_crossings(tmp_path, monkeypatch):
    import tools.scenario as scenario
    from tools.train.scenarios import ensure_bags

    made = []
    monkeypatch.setattr(scenario, "is_complete", lambda path: False)
    monkeypatch.setattr(
        scenario, "make_scenario", lambda path, *a, **k: made.append((path.name, k))
    )
    paths = ensure_bags(parse_scenarios("5,5::dense:lights"), 2.0, tmp_path)
    assert [p.name for p in paths] == ["seed5_day_dense_2s_nolights", "seed5_day_dense_2s_lights"]
    assert [k["lights"] for _, k in made] == [False, True]


@pytest.mark.parametrize(
    ("text", "message"),
    [("x", "'x' is not a seed"), ("5-2", "not a seed or a seed range"), ("1:snow", "weather 'snow'"),
     ("1:day:jam", "traffic 'jam'"), ("1:day:dense:c", "expected SEED"),
     ("1:a:b:lights:x", "expected SEED"), (" , ", "no scenarios")],
)  # fmt: skip
def test_parse_scenarios_errors(text, message):
    with pytest.raises(TrainError, match=message):
        parse_scenarios(text)


def test_targets_peak_regression_and_ignore():
    boxes = np.array([[40, 40, 80, 72], [200, 100, 216, 140], [0, 0, 30, 30]], np.float32)
    t = encode(
        boxes,
        np.array([0, 2, 1]),
        np.array([False, False, True]),
        4,
        (320, 192),
        TargetConfig(stride=8),
    )
    assert t.heatmap.shape == (4, 24, 40) and t.num_objects == 2
    assert t.heatmap[0, 7, 7] == 1.0 and t.heatmap[2, 15, 26] == 1.0  # centre cells
    assert t.heatmap[1].max() == 0.0  # the ignored truck is no positive...
    assert t.neg_mask[1, :4, :4].max() == 0.0 and t.neg_mask[1, 10, 10] == 1.0  # ...nor negative
    np.testing.assert_allclose(t.boxes[:, 7, 7], boxes[0])
    assert t.weight[t.boxes[0] == 40].sum() == pytest.approx(1.0)  # each object weighs 1
    assert t.weight.sum() == pytest.approx(2.0)


def test_augment_moves_boxes_with_pixels():
    img = np.zeros((192, 320, 3), np.uint8)
    img[50:70, 10:30] = 255
    boxes = np.array([[10, 50, 30, 70]], np.float32)
    cfg = AugmentConfig(flip=1.0, zoom=0.0, brightness=0, contrast=0, noise=0)
    out, b, cls, ign = augment(
        img, boxes, np.array([3]), np.array([False]), np.random.default_rng(0), cfg
    )
    np.testing.assert_allclose(b, [[290, 50, 310, 70]])
    _ys, xs = np.nonzero(out[..., 0] > 128)
    assert (xs.min(), xs.max() + 1) == (290, 310) and cls.tolist() == [3] and not ign[0]
    zoom = AugmentConfig(flip=0.0, zoom=1.0, max_zoom=2.0, brightness=0, contrast=0, noise=0)
    _, zb, _, _ = augment(
        img, boxes, np.array([3]), np.array([False]), np.random.default_rng(1), zoom
    )
    assert len(zb) <= 1 and ((zb[:, 2:] - zb[:, :2]) >= 1).all()


def test_frames_from_a_scenario_bag(tiny_scenario):
    full = read_frames([tiny_scenario])
    half = read_frames([tiny_scenario], every=2, size=(320, 192))
    assert len(full) >= 10 and len(half) == (len(full) + 1) // 2
    assert full[0].image.shape == (384, 640, 3) and half[0].image.shape == (192, 320, 3)
    assert half[0].scale == 0.5
    np.testing.assert_allclose(half[0].boxes, full[0].boxes * 0.5, rtol=1e-5)
    assert set(full[0].names()) <= set(CLASSES) and len(full[0].boxes) > 0
    # ignore rules judge the camera-resolution size whatever the training size
    np.testing.assert_array_equal(half[0].ignored(BoxRules()), full[0].ignored(BoxRules()))


def test_non_scenario_bag_is_a_clear_error(shared_data):
    bag = shared_data / "rosbag2" / "rosbag2_talker_mcap"
    if not bag.exists():
        pytest.skip("talker bag not in the shared data")
    with pytest.raises(TrainError, match="no /sensing/camera/front/image_raw topic"):
        read_frames([bag])


@pytest.mark.slow
def test_one_tiny_epoch_exports_an_onnx_the_node_pipeline_runs(tiny_scenario, tmp_path):
    from tools.train.evaluate import evaluate, load_detector, model_stats
    from tools.train.export import export_detector
    from tools.train.train import TrainConfig, train

    frames = read_frames([tiny_scenario], every=2, size=(320, 192))
    cfg = TrainConfig(epochs=1, batch_size=4, widths=(8, 8, 16, 16, 16), threads=1)
    result = train(frames, cfg)
    assert result.steps == len(frames) // 4 and np.isfinite(result.history[0]["heatmap_loss"])
    onnx_path, card_path = export_detector(result.model, tmp_path, "tiny", 320, 192)
    detector = load_detector(card_path)  # onnxruntime through stack.engine; card checked
    assert [s.name for s in detector.engine.outputs] == ["heatmap", "boxes"]
    dets = detector.detect(frames[0].image)
    assert dets.boxes.shape[1] == 4
    report = evaluate(detector, [tiny_scenario], every=5)
    assert report.frames >= 2 and report.to_dict()["classes"]["vehicle"]["num_truth"] > 0
    stats = model_stats(onnx_path)
    assert stats["opset"] >= 13 and stats["gflops"] > 0


def test_train_rejects_mismatched_frames(tiny_scenario):
    from tools.train.train import TrainConfig, train

    frames = read_frames([tiny_scenario], every=10)
    with pytest.raises(TrainError, match="training frames are 640x384, the model input is 320x192"):
        train(frames, TrainConfig(epochs=1))
    with pytest.raises(TrainError, match="multiple of 32"):
        TrainConfig(input_width=100).validate()


def test_cli_reports_bad_seeds():
    proc = subprocess.run(
        [sys.executable, "-m", "stack.cli", "train", "detector", "--seeds", "1:snow", "--out", "x"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "weather 'snow' is not one of" in proc.stderr


def test_format_scenarios_round_trips():
    from tools.train.scenarios import format_scenarios

    specs = parse_scenarios("1-3,4:night,5:night,7,8::light")
    text = format_scenarios(specs)
    assert text == "1-3:day:dense,4-5:night:dense,7:day:dense,8:day:light"
    assert parse_scenarios(text) == specs


def test_ensure_bags_regenerates_a_scenario_cut_off_before_its_ground_truth(tmp_path, caplog):
    from tools.scenario import is_complete
    from tools.train.scenarios import ensure_bags

    spec = ScenarioSpec(seed=5, weather="day", traffic="light")
    (bag,) = ensure_bags([spec], 0.3, tmp_path)
    assert is_complete(bag)
    first = (bag / "scenario.yaml").read_bytes()
    (bag / "scenario.yaml").unlink()  # as if killed after the bag closed, before the last file
    assert (bag / "metadata.yaml").exists() and not is_complete(bag)
    with caplog.at_level("WARNING", logger="tools.train.scenarios"):
        (again,) = ensure_bags([spec], 0.3, tmp_path)
    assert again == bag and is_complete(bag)
    assert (bag / "scenario.yaml").read_bytes() == first
    assert any("incomplete" in r.getMessage() for r in caplog.records)
    mtime = (bag / "scenario.yaml").stat().st_mtime_ns
    ensure_bags([spec], 0.3, tmp_path)  # a complete folder is reused as it is
    assert (bag / "scenario.yaml").stat().st_mtime_ns == mtime

from __future__ import annotations

import json

import pytest

from perception.detector import (
    CardError,
    PadPosition,
    ResizeMode,
    card_beside,
    load_card,
    write_card,
)
from perception.objects import Label
from stack.engine import ChannelOrder


def test_yaml_card_loads_with_defaults_and_relative_model(tmp_path):
    (tmp_path / "m.yaml").write_text(
        "model: m.onnx\ninput: {width: 320, height: 192}\ndecoder: yolov5\n"
        "classes: [car, dog]\nlabels: {car: car}\n"
    )
    card = load_card(tmp_path / "m.yaml")
    assert card.model_path() == tmp_path / "m.onnx"
    assert card.input.resize is ResizeMode.STRETCH
    assert card.input.channel_order is ChannelOrder.RGB
    assert card.labels == (Label.CAR, None)  # dog is detected but not published
    assert card.decoder.name == "yolov5" and card.score_threshold == 0.3


def test_card_round_trips_through_write(tmp_path, det):
    src = tmp_path / "a.json"
    src.write_text(
        json.dumps(
            det.centernet_card(
                input={
                    "width": 64,
                    "height": 32,
                    "resize": "letterbox",
                    "pad_position": "top_left",
                    "mean": 0.5,
                }
            )
        )
    )
    card = load_card(src)
    assert card.input.pad_position is PadPosition.TOP_LEFT and card.input.mean == (0.5, 0.5, 0.5)
    again = load_card(write_card(card, tmp_path / "b.yaml"))
    assert again.to_dict() == card.to_dict()
    assert again.decoder.options == {"stride": 8}


def test_classes_from_a_names_file(tmp_path):
    (tmp_path / "names.txt").write_text("person\nbicycle\n\ncar\n")
    (tmp_path / "c.yaml").write_text(
        "model: x.onnx\ninput: {width: 8, height: 8}\ndecoder: fastestdet\nclasses: names.txt\n"
        "labels: {person: PEDESTRIAN, car: 1}\n"
    )
    card = load_card(tmp_path / "c.yaml")
    assert card.classes == ("person", "bicycle", "car")
    assert card.labels == (Label.PEDESTRIAN, None, Label.CAR)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": 1}, "colour: unknown key"),
        ({"input": {"width": 320}}, "input.height: required key missing"),
        ({"input": {"width": 0, "height": 8}}, "input.width: expected an integer >= 1"),
        (
            {"input": {"width": 8, "height": 8, "resize": "crop"}},
            "input.resize: 'crop' is not one of",
        ),
        ({"input": {"width": 8, "height": 8, "std": [1, 0, 1]}}, "input.std: must not contain 0"),
        (
            {"labels": {"car": "SPACESHIP"}},
            "labels.car: 'SPACESHIP' is not an Autoware object label",
        ),
        ({"labels": {"boat": "CAR"}}, "labels.boat: unknown key"),
        ({"labels": {}}, "no class is mapped"),
        ({"classes": ["car", "car"]}, "classes: names must be unique"),
        ({"score_threshold": 1.5}, "score_threshold: 1.5 is outside"),
        ({"decoder": {"outputs": ["a"]}}, "decoder.name: required key missing"),
    ],
)
def test_bad_cards_name_the_key(tmp_path, det, change, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(det.centernet_card(**change)))
    with pytest.raises(CardError, match=r"bad\.json") as info:
        load_card(path)
    assert message in str(info.value)


def test_unreadable_and_malformed_cards(tmp_path):
    with pytest.raises(CardError, match="cannot read model card"):
        load_card(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    with pytest.raises(CardError, match="not valid YAML"):
        load_card(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(CardError, match="top level: expected a mapping"):
        load_card(tmp_path / "list.yaml")


def test_card_beside_finds_yaml_or_json(tmp_path):
    (tmp_path / "net.json").write_text("{}")
    assert card_beside(tmp_path / "net.onnx") == tmp_path / "net.json"
    with pytest.raises(CardError, match=r"other\.yaml"):
        card_beside(tmp_path / "other.onnx")

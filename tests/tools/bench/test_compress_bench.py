"""`l4 bench compress`: the verdict over the interleaved figures and the cards' accuracy."""

from __future__ import annotations

from tools.bench import BENCHMARKS
from tools.bench.compress import _verdict


def _figures(model, callback):
    return {"1": {"model_ms": model, "callback_ms": callback}}


def test_best_variant_must_meet_speed_and_accuracy_together():
    acc = {"dense": {"day": {"vehicle": 0.91}}, "fast": {"day": {"vehicle": 0.85}},
           "good": {"day": {"vehicle": 0.905}}}  # fmt: skip
    figures = _figures(
        {"dense": 3.0, "fast": 0.5, "good": 0.9}, {"dense": 5.0, "fast": 1.5, "good": 2.4}
    )
    best = _verdict("dense", figures, acc)
    assert best["name"] == "good" and best["ok"]
    assert best["model_speedup"] == 3.33 and best["callback_speedup"] == 2.08
    assert best["vehicle_ap50_lost_points"] == 0.5
    slow = _figures(
        {"dense": 3.0, "fast": 0.5, "good": 1.1}, {"dense": 5.0, "fast": 1.5, "good": 2.4}
    )
    best = _verdict("dense", slow, acc)
    assert not best["ok"] and best["name"] == "fast"  # fastest when none meets every target
    assert _verdict("dense", _figures({"dense": 1.0}, {"dense": 1.0}), acc)["ok"] is False
    assert BENCHMARKS["compress"] == "tools.bench.compress:run"


def test_cards_cover_the_degrade_order_the_rewrites_and_the_teachers_variants_once():
    from perception.models import (
        CAMERA_DETECTOR_CARD,
        CAMERA_DETECTOR_FAMILY,
        CAMERA_DETECTOR_REWRITES,
        CAMERA_DETECTOR_VARIANTS,
    )
    from tools.bench.compress import _cards

    cards = _cards()
    assert cards[0] == CAMERA_DETECTOR_CARD
    assert len(cards) == len(set(cards))
    wanted = {*CAMERA_DETECTOR_VARIANTS, *CAMERA_DETECTOR_REWRITES, *CAMERA_DETECTOR_FAMILY}
    assert set(cards) == wanted
    assert all(card.is_file() for card in cards)

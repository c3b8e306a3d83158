"""`l4 bench compress`: the verdict over the interleaved figures and the cards' accuracy."""

from __future__ import annotations

from tools.bench import BENCHMARKS
from tools.bench.compress import _verdict


def _figures(model, callback):
    """Figures as the paired measurement gives them, the dense model reading the same in
    every pair."""
    pairs = {k: model["dense"] for k in model if k != "dense"}
    cb_pairs = {k: callback["dense"] for k in callback if k != "dense"}
    return {"1": {"model_ms": model, "model_dense_ms": pairs, "callback_ms": callback,
                  "callback_dense_ms": cb_pairs}}  # fmt: skip


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


def test_each_variant_is_timed_with_the_dense_model_alone_and_rated_against_its_pair():
    from tools.bench.compress import _paired, _speedup

    seen = []
    dense_ms = {"a": 3.0, "b": 4.0, "c": 3.5}  # the dense model reads differently per pair

    def measure(names):
        seen.append(list(names))
        return {"dense": dense_ms[names[1]], names[1]: 1.0}

    own, base = _paired(["dense", "a", "b", "c"], measure)
    assert seen == [["dense", "a"], ["dense", "b"], ["dense", "c"]]
    assert base == dense_ms and own["dense"] == 3.5  # its median over the pairs
    f = {"model_ms": own, "model_dense_ms": base, "callback_ms": own, "callback_dense_ms": base}
    assert _speedup(f, "dense", "b")["model"] == 4.0  # against b's own pair, not the median
    assert _speedup(f, "dense", "a")["callback"] == 3.0
    assert _speedup(f, "dense", "dense") == {"model": 1.0, "callback": 1.0}
    assert _paired(["dense"], measure) == ({"dense": 0.0}, {})

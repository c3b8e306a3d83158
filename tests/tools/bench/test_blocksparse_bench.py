"""`l4 bench blocksparse`: table, mapper, confirmation and verdict on a tiny model."""

from __future__ import annotations

from tests.tools.compress.test_blocktable import _model
from tools.bench import BENCHMARKS
from tools.bench.blocksparse import measure
from tools.compress import blocktable


def test_only_layers_whose_measured_row_delivers_are_rewritten_and_then_confirmed():
    out = measure(_model(), rounds=2)
    chosen = {m["layer"]: m["block"] for m in out["mapper"] if m["scheme"] != "none"}
    for layer, block in chosen.items():
        assert any(r["layer"] == layer and r["block"] == block and r["ok"] for r in out["table"])
    assert {r["layer"] for r in out["confirmed"]} == set(chosen)
    assert out["ok"] == (bool(chosen) and all(r["ok"] for r in out["confirmed"]))
    assert out["model"]["before_ms"] > 0 and len(out["load_average"]["before"]) == 3
    assert BENCHMARKS["blocksparse"] == "tools.bench.blocksparse:run"


def test_a_layer_fast_in_the_table_but_slow_when_confirmed_fails_the_bench(monkeypatch):
    phase = {"confirm": False}
    real_confirm = blocktable.confirm

    def fake_times(models, threads=1, rounds=200):
        after = 1.0 if phase["confirm"] else 0.25  # 4x in the table, 1x when measured again
        return [1.0] + [after] * (len(models) - 1)

    def confirm(*args, **kwargs):
        phase["confirm"] = True
        return real_confirm(*args, **kwargs)

    monkeypatch.setattr(blocktable, "time_models", fake_times)
    monkeypatch.setattr(blocktable, "confirm", confirm)
    out = measure(_model(), rounds=1)
    assert out["table_summary"] == {"layers": 6, "meeting_target": 6}
    assert all(m["scheme"] != "none" for m in out["mapper"])
    assert out["rewritten"] == {"layers": 2, "meeting_target": 0} and out["ok"] is False

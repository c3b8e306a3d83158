"""The engine cache without TensorRT: keys, hits, misses and why, corrupt and foreign files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from stack.engine import CacheKey, EngineCache, Platform

PLATFORM = Platform("8.5.2.2", "Xavier", "7.2")
SHA = "ab" * 32


def key(**changes: object) -> CacheKey:
    base = CacheKey.make(SHA, PLATFORM, "fp16", None, ("workspace_mb=1024",))
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("onnx_sha256", "cd" * 32),
        ("trt_version", "8.6.1"),
        ("gpu_name", "Orin"),
        ("compute_capability", "8.7"),
        ("precision", "int8"),
        ("dla_core", 0),
        ("flags", ("sparse_weights", "workspace_mb=1024")),
    ],
)
def test_key_changes_with_each_field(field: str, value: object) -> None:
    changed = key(**{field: value})
    assert changed.digest != key().digest
    assert len(changed.changes_from(key())) == 1


def test_key_digest_is_stable_and_flag_order_free() -> None:
    a = CacheKey.make(SHA, PLATFORM, "fp16", 1, ["b", "a"])
    b = CacheKey.make(SHA, PLATFORM, "fp16", 1, ["a", "b"])
    assert a == b and a.digest == b.digest
    assert CacheKey.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_key_from_dict_rejects_other_fields() -> None:
    data = key().to_dict()
    del data["gpu_name"]
    with pytest.raises(ValueError, match="key fields"):
        CacheKey.from_dict(data)


def test_changes_are_readable() -> None:
    new = key(trt_version="8.6.1", gpu_name="Orin")
    assert new.changes_from(key()) == ["TensorRT version 8.5.2.2 -> 8.6.1", "GPU Xavier -> Orin"]


def test_miss_then_hit(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    first = cache.lookup("det.onnx", key())
    assert not first.hit and first.reason == "no cached engine"
    path = cache.store("det.onnx", key(), b"engine-bytes", {"reason": first.reason})
    assert path == first.path and path.name.startswith("det-") and path.suffix == ".engine"
    hit = cache.lookup("det.onnx", key())
    assert hit.hit and hit.data == b"engine-bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.with_suffix(".json").name]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"trt_version": "10.3.0"}, "TensorRT version 8.5.2.2 -> 10.3.0"),
        ({"gpu_name": "Orin", "compute_capability": "8.7"}, "GPU Xavier -> Orin"),
        ({"onnx_sha256": "cd" * 32}, "ONNX model abababababab -> cdcdcdcdcdcd"),
    ],
)
def test_miss_says_what_changed(tmp_path: Path, changes: dict, why: str) -> None:
    cache = EngineCache(tmp_path)
    cache.store("det.onnx", key(), b"old")
    lookup = cache.lookup("det.onnx", key(**changes))
    assert not lookup.hit
    assert lookup.reason.startswith("changed since the cached engine: ")
    assert why in lookup.reason
    # Another model's entries do not explain this one's miss.
    assert cache.lookup("other.onnx", key(**changes)).reason == "no cached engine"


def test_corrupt_engine_is_dropped(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.store("det.onnx", key(), b"0123456789")
    path.write_bytes(b"0123456780")
    lookup = cache.lookup("det.onnx", key())
    assert not lookup.hit and "corrupt engine file" in lookup.reason
    assert not path.exists() and not cache.manifest_path(path).exists()
    assert cache.lookup("det.onnx", key()).reason == "no cached engine"


def test_truncated_engine_is_dropped(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.store("det.onnx", key(), b"0123456789")
    path.write_bytes(b"01234")
    assert "corrupt engine file" in cache.lookup("det.onnx", key()).reason


def test_corrupt_manifest_is_dropped(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.store("det.onnx", key(), b"data")
    cache.manifest_path(path).write_text("{not json")
    lookup = cache.lookup("det.onnx", key())
    assert not lookup.hit and "corrupt manifest" in lookup.reason
    assert not path.exists()


def test_engine_without_manifest_is_foreign(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    path = cache.engine_path("det.onnx", key())
    path.write_bytes(b"someone else's engine")
    lookup = cache.lookup("det.onnx", key())
    assert (
        not lookup.hit and "foreign engine file" in lookup.reason and "no manifest" in lookup.reason
    )
    assert not path.exists()


def test_entry_of_another_key_is_foreign(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    other = cache.store("det.onnx", key(trt_version="8.4.1"), b"built elsewhere")
    mine = cache.engine_path("det.onnx", key())
    mine.write_bytes(other.read_bytes())
    cache.manifest_path(mine).write_text(cache.manifest_path(other).read_text())
    lookup = cache.lookup("det.onnx", key())
    assert not lookup.hit
    assert "foreign engine file" in lookup.reason and "8.4.1 -> 8.5.2.2" in lookup.reason


def test_side_paths(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    t1 = cache.timing_cache_path(PLATFORM)
    assert t1.parent == tmp_path and " " not in t1.name
    assert t1 != cache.timing_cache_path(Platform("8.6.1", "Xavier", "7.2"))
    a = cache.derived_path("det.onnx", SHA, "images-a", ".calib")
    assert a != cache.derived_path("det.onnx", SHA, "images-b", ".calib")
    assert a.suffix == ".calib"
    assert cache.read_blob(a) is None


def test_default_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("L4_ENGINE_CACHE", str(tmp_path / "c"))
    assert EngineCache().root == tmp_path / "c"


def test_prefix_sharing_model_does_not_explain(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store("det-v2.onnx", key(trt_version="8.4.0"), b"x")
    assert cache.lookup("det.onnx", key()).reason == "no cached engine"

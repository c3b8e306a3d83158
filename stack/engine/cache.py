"""The engine cache: built TensorRT engines on disk, keyed by everything that makes them valid.

Key = sha256 of the ONNX bytes + TensorRT version + GPU name and compute capability + precision
+ DLA core + build flags. Each entry is ``<model>-<digest16>.engine`` plus a JSON manifest that
holds the full key and the engine's own sha256; the manifest is written last, so an entry
without a valid one was never completed. A cache hit never rebuilds; a miss says why (first
build, TensorRT or GPU changed, model changed, corrupt or foreign file) so the log explains
every rebuild. Nothing here imports TensorRT.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
ENV_CACHE_DIR = "L4_ENGINE_CACHE"


def default_cache_dir() -> Path:
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "l4stack" / "engines"


@dataclass(frozen=True)
class Platform:
    """What a serialized TensorRT engine is bound to."""

    trt_version: str
    gpu_name: str
    compute_capability: str  # "7.2" on Xavier


@dataclass(frozen=True)
class CacheKey:
    onnx_sha256: str
    trt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    dla_core: int | None
    flags: tuple[str, ...] = ()  # sorted "name" / "name=value" build options

    @classmethod
    def make(
        cls,
        onnx_sha256: str,
        platform: Platform,
        precision: str,
        dla_core: int | None,
        flags: tuple[str, ...] | list[str] = (),
    ) -> CacheKey:
        return cls(
            onnx_sha256=onnx_sha256,
            trt_version=platform.trt_version,
            gpu_name=platform.gpu_name,
            compute_capability=platform.compute_capability,
            precision=precision,
            dla_core=dla_core,
            flags=tuple(sorted(flags)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "flags": list(self.flags)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CacheKey:
        fields = {f.name for f in dataclasses.fields(cls)}
        if set(data) != fields:
            raise ValueError(f"key fields {sorted(data)} != {sorted(fields)}")
        return cls(**{**data, "flags": tuple(data["flags"])})

    @property
    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def changes_from(self, old: CacheKey) -> list[str]:
        """Human-readable differences, e.g. ``TensorRT version 8.5.2 -> 8.6.1``."""
        labels = {
            "onnx_sha256": "ONNX model",
            "trt_version": "TensorRT version",
            "gpu_name": "GPU",
            "compute_capability": "compute capability",
            "precision": "precision",
            "dla_core": "DLA core",
            "flags": "build flags",
        }
        out = []
        for name, label in labels.items():
            a, b = getattr(old, name), getattr(self, name)
            if a != b:
                if name == "onnx_sha256":
                    a, b = a[:12], b[:12]
                out.append(f"{label} {a} -> {b}")
        return out


@dataclass(frozen=True)
class Lookup:
    """A cache lookup: the engine bytes on a hit, else why it must be built."""

    data: bytes | None
    reason: str
    path: Path

    @property
    def hit(self) -> bool:
        return self.data is not None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory and rename, so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EngineCache:
    """Serialized engines under one directory."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def engine_path(self, model_name: str, key: CacheKey) -> Path:
        return self.root / f"{_slug(Path(model_name).stem)}-{key.digest[:16]}.engine"

    @staticmethod
    def manifest_path(engine_path: Path) -> Path:
        return engine_path.with_suffix(".json")

    def timing_cache_path(self, platform: Platform) -> Path:
        """One timing cache per TensorRT version and GPU, shared by all models."""
        name = (
            f"timing-trt{platform.trt_version}-{platform.gpu_name}-sm{platform.compute_capability}"
        )
        return self.root / f"{_slug(name)}.cache"

    def derived_path(self, model_name: str, onnx_sha256: str, data_id: str, suffix: str) -> Path:
        """A file made from a model and some data, e.g. a calibration table (``.calib``) or a
        Q/DQ-quantized copy (``.qdq.onnx``)."""
        digest = hashlib.sha256(f"{onnx_sha256}:{data_id}".encode()).hexdigest()[:16]
        return self.root / f"{_slug(Path(model_name).stem)}-{digest}{suffix}"

    def lookup(self, model_name: str, key: CacheKey) -> Lookup:
        path = self.engine_path(model_name, key)
        manifest = self.manifest_path(path)
        if not path.exists() and not manifest.exists():
            return Lookup(None, self._miss_reason(model_name, key), path)
        data, problem = self._read_entry(path, manifest, key)
        if data is None:
            self.invalidate(path, problem)
            return Lookup(None, problem, path)
        return Lookup(data, "cached", path)

    def _read_entry(self, path: Path, manifest: Path, key: CacheKey) -> tuple[bytes | None, str]:
        """The engine bytes when the entry is whole and belongs to ``key``, else what is wrong."""
        try:
            meta = json.loads(manifest.read_text())
            stored = CacheKey.from_dict(meta["key"])
            want_sha, want_size = meta["engine_sha256"], int(meta["engine_bytes"])
        except FileNotFoundError:
            return None, f"foreign engine file {path.name} (no manifest)"
        except OSError as exc:
            return None, f"unreadable manifest {manifest.name} ({exc.strerror})"
        except (ValueError, KeyError, TypeError) as exc:
            return None, f"corrupt manifest {manifest.name} ({exc})"
        if stored != key:
            changes = ", ".join(key.changes_from(stored))
            return None, f"foreign engine file {path.name} (built for another key: {changes})"
        try:
            data = path.read_bytes()
        except OSError as exc:
            return None, f"unreadable engine file {path.name} ({exc.strerror})"
        if len(data) != want_size or hashlib.sha256(data).hexdigest() != want_sha:
            return (
                None,
                f"corrupt engine file {path.name} (size or sha256 differs from its manifest)",
            )
        return data, ""

    def _miss_reason(self, model_name: str, key: CacheKey) -> str:
        """Explain a miss from the closest other entry of the same model, if any."""
        best: list[str] | None = None
        for manifest in self.root.glob(f"{_slug(Path(model_name).stem)}-*.json"):
            try:
                meta = json.loads(manifest.read_text())
                if meta.get("model") != model_name:
                    continue  # "det-v2.onnx" shares the "det-" prefix
                other = CacheKey.from_dict(meta["key"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            changes = key.changes_from(other)
            if changes and (best is None or len(changes) < len(best)):
                best = changes
        if best is None:
            return "no cached engine"
        return "changed since the cached engine: " + "; ".join(best)

    def store(
        self, model_name: str, key: CacheKey, data: bytes, extra: dict[str, Any] | None = None
    ) -> Path:
        path = self.engine_path(model_name, key)
        meta = {
            "format": MANIFEST_FORMAT,
            "model": model_name,
            "key": key.to_dict(),
            "digest": key.digest,
            "engine_sha256": hashlib.sha256(data).hexdigest(),
            "engine_bytes": len(data),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(extra or {}),
        }
        atomic_write(path, data)
        atomic_write(self.manifest_path(path), json.dumps(meta, indent=2).encode())
        return path

    def invalidate(self, path: Path, why: str) -> None:
        """Remove a bad entry so the next lookup misses cleanly."""
        log.warning("engine cache: dropping %s: %s", path.name, why)
        for p in (path, self.manifest_path(path)):
            try:
                p.unlink(missing_ok=True)
            except OSError as exc:  # read-only cache dir: the rebuild still goes ahead
                log.warning("engine cache: cannot remove %s: %s", p, exc.strerror)

    def read_blob(self, path: Path) -> bytes | None:
        """A timing or calibration cache, or None when absent or unreadable."""
        try:
            return path.read_bytes()
        except OSError:
            return None

"""Crop sets of many scenarios, cached as one .npz per (seed, weather, seconds)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tools.vit.crops import Crops, heads_per_frame, scenario_crops

WEATHERS = ("day", "night", "fog", "rain")


def load_or_make(cache: Path, seed: int, weather: str, seconds: float, renders: int) -> Crops:
    path = cache / f"crops-s{seed}-{weather}-{seconds:g}s-r{renders}.npz"
    if path.exists():
        with np.load(path) as d:
            return Crops(d["images"], d["labels"], d["distance"], d["weather"])
    crops = scenario_crops(seed, seconds, weather, renders=renders)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        images=crops.images,
        labels=crops.labels,
        distance=crops.distance,
        weather=crops.weather,
    )
    tmp.rename(path)
    return crops


def crop_set(
    cache: Path,
    seeds: Iterable[int],
    weathers: Iterable[str],
    seconds: float,
    renders: int,
    log: Callable[[str], None],
) -> Crops:
    parts = []
    for seed in seeds:
        for weather in weathers:
            part = load_or_make(cache, seed, weather, seconds, renders)
            log(f"crops seed {seed} {weather}: {len(part)}")
            parts.append(part)
    return Crops.concat(parts)


def node_batches(cache: Path, seeds: Iterable[int], seconds: float) -> np.ndarray:
    """Regions per camera frame with any head in range, over the seeds: the batch sizes the
    recognizer runs (cached as one .npy per seed)."""
    parts = []
    for seed in seeds:
        path = cache / f"heads-per-frame-s{seed}-{seconds:g}s.npy"
        if not path.exists():
            cache.mkdir(parents=True, exist_ok=True)
            np.save(path, heads_per_frame(seed, seconds))
        parts.append(np.load(path))
    every = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return every[every > 0]

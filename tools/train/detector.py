"""`l4 train detector`: scenario bags -> trained tiny detector -> ONNX + card + MODEL_CARD.md.

Steps: generate (or reuse) the training and held-out scenario bags, read the camera frames at
the model's input size, train (:mod:`tools.train.train`), export (:mod:`tools.train.export`),
then evaluate the exported ONNX through the node's own pipeline on the held-out bags and
write the figures into the model card.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.train.data import BoxRules, iter_frames, read_frames
from tools.train.errors import TrainError
from tools.train.scenarios import ScenarioSpec, ensure_bags, format_scenarios, parse_scenarios
from tools.train.train import TrainConfig, train

log = logging.getLogger(__name__)

DEFAULT_TRAIN = "1-22:day:dense,23-26:day:light,27-28:night,29-30:fog,31-32:rain"
DEFAULT_EVAL = "1000-1007:day:dense,1008-1009:day:light,1010:night,1011:fog,1012:rain"


@dataclass(frozen=True)
class DetectorRecipe:
    out: Path
    train: tuple[ScenarioSpec, ...] = tuple(parse_scenarios(DEFAULT_TRAIN))
    eval: tuple[ScenarioSpec, ...] = tuple(parse_scenarios(DEFAULT_EVAL))
    seconds: float = 7.0  # per training scenario: many short drives beat few long ones
    eval_seconds: float = 6.0
    every: int = 2  # use every n-th camera frame (10 Hz frames are near duplicates)
    name: str = "camera_detector"
    data_dir: Path | None = None  # where bags go; None: a temporary folder
    config: TrainConfig = field(default_factory=TrainConfig)
    eval_rules: BoxRules = field(default_factory=BoxRules)
    latency_threads: int = 1
    checkpoint: Path | None = None  # training state after each epoch; a rerun resumes from it


def _evaluate_all(recipe: DetectorRecipe, card_path: Path, eval_bags: list[Path]) -> dict[str, Any]:
    from tools.train.evaluate import evaluate, load_detector, measure_latency, model_stats

    detector = load_detector(card_path, threads=recipe.latency_threads)
    results: dict[str, Any] = {}
    by_weather: dict[str, list[Path]] = {}
    for spec, bag in zip(recipe.eval, eval_bags):
        report = evaluate(detector, [bag], recipe.eval_rules)
        results[str(spec)] = report.to_dict()
        by_weather.setdefault(spec.weather, []).append(bag)
        vehicle = report.ap["vehicle"].ap
        log.info("held-out %s: vehicle AP@0.5 %.3f over %d frames", spec, vehicle, report.frames)
    # Pooled over every held-out drive of a weather: the headline figures.
    pooled = {
        f"{weather} (all {len(bags)})": evaluate(detector, bags, recipe.eval_rules).to_dict()
        for weather, bags in by_weather.items()
        if len(bags) > 1
    }
    first = next(iter_frames(eval_bags[0]))
    stats = model_stats(card_path.parent / detector.card.model)
    stats["latency_cpu"] = {
        **measure_latency(detector, first.image),
        "threads": recipe.latency_threads,
    }
    return {"heldout": {**pooled, **results}, "stats": stats}


def run(recipe: DetectorRecipe) -> dict[str, Any]:
    """Train, export and evaluate; returns the report also written as ``<name>.train.json``."""
    from tools.train.export import export_detector
    from tools.train.model_card import write_model_card

    started = time.perf_counter()
    cfg = recipe.config
    cfg.validate()
    with tempfile.TemporaryDirectory(prefix="l4-train-") as tmp:
        data_dir = recipe.data_dir or Path(tmp)
        train_bags = ensure_bags(recipe.train, recipe.seconds, data_dir)
        eval_bags = ensure_bags(recipe.eval, recipe.eval_seconds, data_dir)
        overlap = {s.seed for s in recipe.train} & {s.seed for s in recipe.eval}
        if overlap:
            raise TrainError(f"held-out seeds {sorted(overlap)} are also training seeds")
        generated = time.perf_counter()
        frames = read_frames(train_bags, recipe.every, (cfg.input_width, cfg.input_height))
        log.info("training on %d frames from %d scenarios", len(frames), len(train_bags))
        result = train(frames, cfg, recipe.checkpoint)
        onnx_path, card_path = export_detector(
            result.model, recipe.out, recipe.name, cfg.input_width, cfg.input_height
        )
        trained = time.perf_counter()
        metrics = _evaluate_all(recipe, card_path, eval_bags)
    report = {
        "model": onnx_path.name,
        "card": card_path.name,
        "training": {
            "scenarios": format_scenarios(recipe.train),
            "seconds_per_scenario": recipe.seconds,
            "every_nth_frame": recipe.every,
            "frames": len(frames),
            "objects": int(sum(len(f.boxes) for f in frames)),
            "epochs": result.epochs_run,
            "steps": result.steps,
            "batch_size": cfg.batch_size,
            "input": [cfg.input_width, cfg.input_height],
            "stride": cfg.stride,
            "widths": list(cfg.widths),
            "train_rules": {
                "min_height_px": cfg.rules.min_height,
                "min_visible": cfg.rules.min_visible,
            },
            "history": result.history,
        },
        "eval_seconds_per_scenario": recipe.eval_seconds,
        **metrics,
        "wall_seconds": {
            "data": round(generated - started, 1),
            "train": round(result.seconds, 1),
            "total": round(time.perf_counter() - started, 1),
            "total_to_export": round(trained - started, 1),
        },
    }
    (Path(recipe.out) / f"{recipe.name}.train.json").write_text(json.dumps(report, indent=2) + "\n")
    write_model_card(report, Path(recipe.out) / "MODEL_CARD.md")
    return report

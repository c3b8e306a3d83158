"""MODEL_CARD.md of a trained camera detector, from the training report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.train.data import CLASSES


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _ap_table(heldout: dict[str, Any]) -> list[str]:
    cols = [*CLASSES, "vehicle"]
    lines = [
        "| held-out scenario (seed:weather:traffic) | frames | "
        + " | ".join(cols)
        + " | mAP (4 classes) |",
        "|---" * (len(cols) + 3) + "|",
    ]
    for name, r in heldout.items():
        cells = [f"{_fmt(r['classes'][c]['ap50'])} ({r['classes'][c]['num_truth']})" for c in cols]
        lines.append(
            f"| {name} | {r['frames']} | " + " | ".join(cells) + f" | {_fmt(r['map50'])} |"
        )
    return lines


def _widths(training: dict[str, Any]) -> str:
    return ", ".join(str(w) for w in training.get("widths", (16, 32, 48, 64, 96)))


def render(report: dict[str, Any]) -> str:
    t, m = report["training"], report["stats"]
    first = next(iter(report["heldout"].values()))
    rules = first["rules"]
    lat = m["latency_cpu"]
    lines = [
        f"# {Path(report['model']).stem} — tiny camera object detector (demo model)",
        "",
        "Trained by `l4 train detector` (tools/train) on synthetic scenario data only; it is a",
        "demo of the camera pipeline, not a detector for real roads.",
        "",
        "## Model",
        f"- File: `{report['model']}` with its card `{report['card']}` (decoder `centernet`).",
        f"- Architecture: TinyCenterNet (tools/train/detector_model.py): plain conv/BN/ReLU backbone to"
        f" stride 32, top-down fusion to stride {t['stride']}, heatmap + ltrb box heads;"
        f" stage widths {_widths(t)};"
        f" {m['params']:,} parameters,"
        f" ONNX opset {m['opset']}, static batch 1.",
        f"- Input: {t['input'][0]}x{t['input'][1]} RGB, stretched from the camera image, pixel/255.",
        f"- Classes: {', '.join(CLASSES)} -> Autoware CAR, TRUCK, PEDESTRIAN, BICYCLE.",
        f"- Compute: {m['gflops']} GFLOPs per image (stack.engine.flops: 2 per MAC).",
        f"- CPU latency (ONNX Runtime, {lat['threads']} thread, full pipeline incl. pre/post on a"
        f" 640x384 image): p50 {lat['p50_ms']} ms, p90 {lat['p90_ms']} ms over {lat['runs']} runs"
        " on the training machine.",
        "",
        "## Training data",
        f"- Scenarios (seed:weather:traffic): `{t['scenarios']}`;"
        f" {t['seconds_per_scenario']:g} s each, one camera frame in {t['every_nth_frame']}.",
        f"- {t['frames']} frames, {t['objects']} ground-truth boxes; trained on boxes >="
        f" {t['train_rules']['min_height_px']:g} px tall and >= {t['train_rules']['min_visible']:.0%}"
        " visible (smaller ones ignored, not negatives).",
        f"- {t['epochs']} epochs, {t['steps']} steps of batch {t['batch_size']}, AdamW + one-cycle,"
        " flip / zoom-crop / photometric augmentation, CPU.",
        "",
        "## Held-out evaluation (AP@0.5)",
        f"Scenario seeds not used in training, {report['eval_seconds_per_scenario']:g} s each, every"
        " frame at full resolution through perception.detector.Detector (the node's code path).",
        f"Ground truth counts when its box is >= {rules['min_height_px']:g} px tall (of 384) and >="
        f" {rules['min_visible']:.0%} visible; smaller or more hidden objects are ignored (a detection"
        " on them is neither a hit nor a false positive). `vehicle` merges car and truck",
        "(class-agnostic matching). Cells: AP (counted ground-truth boxes).",
        "",
        *_ap_table(report["heldout"]),
        "",
        "## Limits",
        "- Synthetic box-world imagery: expect nothing on real camera images.",
        "- Small and distant objects (< ~16 px) are weak; pedestrians and cyclists less reliable than"
        " vehicles; night and fog lower recall.",
        "- 3D positions come from the ground-plane lift in the node (flat road, class size priors).",
        "",
        "Reproduce: `l4 train detector --out perception/models/` (see `l4 train detector --help`).",
        "",
    ]
    return "\n".join(lines)


def write_model_card(report: dict[str, Any], path: Path) -> Path:
    path.write_text(render(report))
    return path

"""Model cards of traffic-light classifiers (written by tools.vit.export)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from perception.traffic_light.lightmap import CLASS_STATES, LightMapError


class LightCardError(LightMapError):
    """A card that cannot drive the classifier (file, key, value)."""


@dataclass(frozen=True)
class LightCard:
    path: Path
    name: str
    model: str
    input_name: str
    output_name: str
    size: int
    keep_ratio: float | None

    def model_path(self) -> Path:
        return self.path.parent / self.model


def load_light_card(path: str | Path) -> LightCard:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LightCardError(f"{path}: cannot read the card: {exc}") from exc
    try:
        inp = doc["input"]
        classes = tuple(doc["classes"])
        card = LightCard(
            path=path,
            name=str(doc["name"]),
            model=str(doc["model"]),
            input_name=str(inp["name"]),
            output_name=str(doc["output"]),
            size=int(inp["size"]),
            keep_ratio=(doc.get("compression") or {}).get("keep_ratio"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LightCardError(f"{path}: missing or bad key {exc}") from exc
    want = tuple(s.name for s in CLASS_STATES)
    if classes != want:
        raise LightCardError(f"{path}: classes must be {list(want)} (got {list(classes)})")
    if inp.get("layout") != "NHWC" or inp.get("dtype") != "uint8":
        raise LightCardError(
            f"{path}: input must be NHWC uint8 (got {inp.get('layout')}, {inp.get('dtype')})"
        )
    return card

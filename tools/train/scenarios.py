"""Which scenario bags to train and evaluate on: ``SEED[:WEATHER[:TRAFFIC[:lights]]]`` lists.

``"1-8,9:night,10:fog:light,11::dense:lights"`` = seeds 1..8 in day weather and dense traffic,
seed 9 at night, seed 10 in fog with light traffic, seed 11 by day with its signalised
crossings. Bags are generated once into a data folder and reused.

Without ``:lights`` a drive has no signalised crossing (``make_scenario(lights=False)``): the
drives the shipped detector family was trained and scored on, from before the generator drew
crossings by default, so a card's held-out figures come back from its own data spec. The bag's
folder name says which (``..._nolights`` / ``..._lights``), so a data folder never hands one for
the other.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.train.errors import TrainError

log = logging.getLogger(__name__)

WEATHERS = ("day", "night", "fog", "rain")
TRAFFIC = ("light", "dense")
LIGHTS_TAG = ":lights"


@dataclass(frozen=True)
class ScenarioSpec:
    seed: int
    weather: str = "day"
    traffic: str = "dense"
    lights: bool = False

    @property
    def conditions(self) -> str:
        """``WEATHER:TRAFFIC[:lights]``: the spec without its seed."""
        return f"{self.weather}:{self.traffic}{LIGHTS_TAG if self.lights else ''}"

    def __str__(self) -> str:
        return f"{self.seed}:{self.conditions}"

    def bag_name(self, seconds: float) -> str:
        lights = "lights" if self.lights else "nolights"
        return f"seed{self.seed}_{self.weather}_{self.traffic}_{seconds:g}s_{lights}"


def _seeds(text: str, item: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(p) for p in text.split("-", 1))
            if hi < lo:
                raise ValueError
            return list(range(lo, hi + 1))
        return [int(text)]
    except ValueError:
        raise TrainError(f"scenario {item!r}: {text!r} is not a seed or a seed range A-B") from None


def parse_scenarios(text: str) -> list[ScenarioSpec]:
    """Parse a comma-separated ``SEED[:WEATHER[:TRAFFIC]]`` list (seeds may be ranges A-B)."""
    specs: list[ScenarioSpec] = []
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) > 4 or (len(parts) == 4 and parts[3] != "lights"):
            raise TrainError(f"scenario {item!r}: expected SEED[:WEATHER[:TRAFFIC[:lights]]]")
        weather = parts[1] if len(parts) > 1 and parts[1] else "day"
        traffic = parts[2] if len(parts) > 2 and parts[2] else "dense"
        if weather not in WEATHERS:
            raise TrainError(
                f"scenario {item!r}: weather {weather!r} is not one of {list(WEATHERS)}"
            )
        if traffic not in TRAFFIC:
            raise TrainError(
                f"scenario {item!r}: traffic {traffic!r} is not one of {list(TRAFFIC)}"
            )
        lights = len(parts) == 4
        specs.extend(ScenarioSpec(s, weather, traffic, lights) for s in _seeds(parts[0], item))
    if not specs:
        raise TrainError(f"no scenarios in {text!r}")
    return specs


def format_scenarios(specs: Sequence[ScenarioSpec]) -> str:
    """The compact form :func:`parse_scenarios` reads: consecutive seeds alike become ranges."""
    groups: list[list[ScenarioSpec]] = []
    for spec in specs:
        last = groups[-1][-1] if groups else None
        if last and (spec.seed, spec.conditions) == (last.seed + 1, last.conditions):
            groups[-1].append(spec)
        else:
            groups.append([spec])
    parts = []
    for g in groups:
        seeds = str(g[0].seed) if len(g) == 1 else f"{g[0].seed}-{g[-1].seed}"
        parts.append(f"{seeds}:{g[0].conditions}")
    return ",".join(parts)


def ensure_bags(specs: Sequence[ScenarioSpec], seconds: float, data_dir: Path) -> list[Path]:
    """The bag of each scenario in ``data_dir``, generated where it is not there yet."""
    from tools.scenario import ScenarioError, is_complete, make_scenario

    data_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        path = data_dir / spec.bag_name(seconds)
        if not is_complete(path):
            if path.exists():  # left by an interrupted generation: writers need a new folder
                log.warning("scenario %s: %s is incomplete, generating it again", spec, path)
                shutil.rmtree(path)
            log.info("generating scenario %s (%g s) -> %s", spec, seconds, path)
            try:
                make_scenario(path, seconds, spec.seed, weather=spec.weather, traffic=spec.traffic,
                              lights=spec.lights, progress=False)  # fmt: skip
            except ScenarioError as exc:
                raise TrainError(f"scenario {spec}: {exc}") from exc
        paths.append(path)
    return paths

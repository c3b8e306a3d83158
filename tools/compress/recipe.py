"""The compression recipe (YAML): which model, which data, which method, how to fine-tune.

    model: perception/models/camera_detector.yaml   # the dense model's card (relative paths: to the current folder)
    method: prune                    # a name in tools.compress.methods.METHODS, or a list (a chain)
    start: null                      # post-training methods: the variant's card to start from (default: model)
    seed: 0                          # same seed, same data order, same ONNX bytes
    name: camera_detector            # file stem of the variants (NAME_VARIANT.onnx)
    data:
      train: "1-8:day:dense,9-10:day:light,11:night,12:fog,13:rain"   # SEED[:WEATHER[:TRAFFIC[:lights]]]
      eval: "1000-1003:day:dense,1010:night,1011:fog,1012:rain"       # held-out, never trained on
      seconds: 6                     # per training scenario
      eval_seconds: 6
      every: 2                       # every n-th camera frame for training
      dir: null                      # keep / reuse the scenario bags here (null: temporary)
    finetune:
      epochs: 3
      batch_size: 16
      lr: 0.001
      distill: 1.0                   # weight of the knowledge-distillation loss (0: none)
      threads: 2
      max_seconds: 300               # per variant, stops after a whole batch
    latency_threads: 1
    options: {...}                   # the method's own keys, checked by the method

A chain (``method: [int8, fuse]``) runs each method on every variant the one before it wrote
(``NAME_int8`` -> ``NAME_int8_fused``); its ``options`` are keyed by method name
(``options: {int8: {...}, fuse: {...}}``). ``model`` stays the dense baseline of the report;
``start`` names where the first post-training method begins (e.g. a pruned variant's card), so
pruned + INT8 + fused is ``start: .../camera_detector_p50.yaml``, ``method: [int8, fuse]``.

Every key is checked here with a RecipeError naming ``key`` and its value; unknown keys are
refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from tools.compress.errors import RecipeError
from tools.train.errors import TrainError
from tools.train.scenarios import ScenarioSpec, parse_scenarios

MAX_RECIPE_BYTES = 1 << 20


class Section:
    """Typed, strict access to one mapping of the recipe; errors name ``prefix.key``."""

    def __init__(self, source: str, prefix: str, doc: Any, allowed: frozenset[str]) -> None:
        where = prefix.rstrip(".") or "top level"
        if doc is None:
            doc = {}
        if not isinstance(doc, Mapping):
            raise RecipeError(f"{source}: {where}: expected a mapping, got {type(doc).__name__}")
        unknown = sorted(str(k) for k in doc if k not in allowed)
        if unknown:
            raise RecipeError(
                f"{source}: unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(allowed))})"
            )
        self.source, self.prefix, self.doc = source, prefix, doc

    def error(self, key: str, value: Any, what: str) -> RecipeError:
        return RecipeError(f"{self.source}: {self.prefix}{key} {what} (got {value!r})")

    def raw(self, key: str, default: Any = ...) -> Any:
        if key not in self.doc:
            if default is ...:
                raise RecipeError(f"{self.source}: missing key {self.prefix}{key}")
            return default
        return self.doc[key]

    def integer(self, key: str, default: Any = ..., low: int = 1, high: int = 1 << 31) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, value, "must be an integer")
        if not low <= value <= high:
            raise self.error(key, value, f"must lie in [{low}, {high}]")
        return value

    def number(self, key: str, default: Any = ..., low: float = 0.0, high: float = math.inf,
               *, open_low: bool = False) -> float:  # fmt: skip
        value = self.raw(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise self.error(key, value, "must be a finite number")
        if value < low or value > high or (open_low and value == low):
            raise self.error(key, value, f"must lie in {'(' if open_low else '['}{low}, {high}]")
        return float(value)

    def optional_number(self, key: str, low: float = 0.0) -> float | None:
        return None if self.raw(key, None) is None else self.number(key, low=low, open_low=True)

    def text(self, key: str, default: Any = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(key, value, "must be a non-empty string")
        return value

    def variant_name(self, key: str, default: Any = ...) -> str:
        """A variant's name suffix: letters, digits and '_'."""
        name = self.text(key, default)
        if not name.replace("_", "").isalnum():
            raise self.error(key, name, "must be letters, digits and '_'")
        return name

    def layer_names(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.raw(key, default)
        if not isinstance(value, (list, tuple)) or not all(isinstance(n, str) for n in value):
            raise self.error(key, value, "must be a list of layer names")
        return tuple(value)

    def scenarios(self, key: str, default: Any = ...) -> tuple[ScenarioSpec, ...]:
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self.error(key, value, "must be a SEED[:WEATHER[:TRAFFIC[:lights]]] comma list")
        try:
            return tuple(parse_scenarios(value))
        except TrainError as exc:
            raise RecipeError(f"{self.source}: {self.prefix}{key}: {exc}") from None

    def section(self, key: str, allowed: frozenset[str]) -> Section:
        return Section(self.source, f"{self.prefix}{key}.", self.raw(key, {}), allowed)


@dataclass(frozen=True)
class DataSpec:
    train: tuple[ScenarioSpec, ...]
    eval: tuple[ScenarioSpec, ...]
    seconds: float = 6.0
    eval_seconds: float = 6.0
    every: int = 2
    dir: Path | None = None


@dataclass(frozen=True)
class FinetuneSpec:
    epochs: int = 3
    batch_size: int = 16
    lr: float = 1e-3
    distill: float = 1.0
    threads: int = 2
    max_seconds: float | None = None


@dataclass(frozen=True)
class Recipe:
    model: Path  # the dense model's card
    methods: tuple[str, ...]  # one method, or a chain run in order
    data: DataSpec
    finetune: FinetuneSpec = field(default_factory=FinetuneSpec)
    seed: int = 0
    name: str = "camera_detector"
    latency_threads: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<dict>"  # the recipe file, for messages
    start: Path | None = None  # the card a post-training method starts from (default: model)

    @property
    def method(self) -> str:
        """The method's name; a chain's names joined by ``+`` (for reports)."""
        return "+".join(self.methods)

    @property
    def start_card(self) -> Path:
        return self.model if self.start is None else self.start

    def step(self, method: str, start: Path | None = None, name: str | None = None) -> Recipe:
        """This recipe narrowed to one ``method`` of its chain (its options), starting at
        ``start`` with output stem ``name`` (defaults: this recipe's)."""
        options = self.options.get(method, {}) if len(self.methods) > 1 else self.options
        return replace(self, methods=(method,), options=dict(options or {}),
                       start=self.start if start is None else start,
                       name=self.name if name is None else name)  # fmt: skip


TOP = frozenset(
    {"model", "method", "start", "seed", "name", "data", "finetune", "latency_threads", "options"}
)
DATA = frozenset({"train", "eval", "seconds", "eval_seconds", "every", "dir"})
FINETUNE = frozenset({"epochs", "batch_size", "lr", "distill", "threads", "max_seconds"})


def _data(top: Section, base: Path) -> DataSpec:
    d = top.section("data", DATA)
    spec = DataSpec(
        train=d.scenarios("train"),
        eval=d.scenarios("eval"),
        seconds=d.number("seconds", 6.0, open_low=True, high=600.0),
        eval_seconds=d.number("eval_seconds", 6.0, open_low=True, high=600.0),
        every=d.integer("every", 2, high=1000),
        dir=None if d.raw("dir", None) is None else base / d.text("dir"),
    )
    overlap = sorted({s.seed for s in spec.train} & {s.seed for s in spec.eval})
    if overlap:
        raise d.error("eval", [str(s) for s in spec.eval], f"reuses training seeds {overlap}")
    return spec


def _finetune(top: Section) -> FinetuneSpec:
    f = top.section("finetune", FINETUNE)
    return FinetuneSpec(
        epochs=f.integer("epochs", 3, low=0, high=10_000),
        batch_size=f.integer("batch_size", 16, high=4096),
        lr=f.number("lr", 1e-3, open_low=True, high=1.0),
        distill=f.number("distill", 1.0, high=100.0),
        threads=f.integer("threads", 2, high=256),
        max_seconds=f.optional_number("max_seconds"),
    )


def _methods(top: Section) -> tuple[str, ...]:
    value = top.raw("method")
    if isinstance(value, str):
        return (top.text("method"),)
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and m for m in value):
        raise top.error("method", value, "must be a method name or a non-empty list of names")
    if len(set(value)) != len(value):
        raise top.error("method", value, "names a method twice")
    return tuple(value)


def _options(top: Section, methods: tuple[str, ...]) -> dict[str, Any]:
    options = top.raw("options", {}) or {}
    if not isinstance(options, Mapping):
        raise top.error("options", options, "must be a mapping")
    if len(methods) > 1:
        unknown = sorted(str(k) for k in options if k not in methods)
        if unknown:
            raise top.error(f"options.{unknown[0]}", options[unknown[0]],
                            f"is not a method of the chain {list(methods)}")  # fmt: skip
        for m, sub in options.items():
            if sub is not None and not isinstance(sub, Mapping):
                raise top.error(f"options.{m}", sub, "must be a mapping")
    return dict(options)


def _card(top: Section, key: str, base: Path) -> Path:
    path = base / top.text(key)
    if not path.is_file():
        raise top.error(key, str(path), "is not a model card file")
    return path


def recipe_from_dict(doc: Any, source: str = "<dict>", base: Path | None = None) -> Recipe:
    """Check a recipe given as plain data; relative paths are taken from ``base``."""
    base = Path(".") if base is None else base
    top = Section(source, "", doc, TOP)
    methods = _methods(top)
    options = _options(top, methods)
    name = top.text("name", "camera_detector")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise top.error("name", name, "must be letters, digits, '_' and '-'")
    return Recipe(
        model=_card(top, "model", base),
        methods=methods,
        data=_data(top, base),
        finetune=_finetune(top),
        seed=top.integer("seed", 0, low=0),
        name=name,
        latency_threads=top.integer("latency_threads", 1, high=256),
        options=options,
        source=source,
        start=None if top.raw("start", None) is None else _card(top, "start", base),
    )


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file; paths in it are relative to the current folder."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_RECIPE_BYTES:
            raise RecipeError(
                f"{path}: {size} bytes, larger than a recipe can be ({MAX_RECIPE_BYTES})"
            )
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from None
    return recipe_from_dict(doc, str(path))

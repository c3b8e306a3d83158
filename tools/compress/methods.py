"""Registry of compression methods: ``l4 compress`` looks the recipe's ``method`` up here.

Each entry maps a name to ``module:function``; the function is a :class:`Method`: it takes the
checked :class:`~tools.compress.recipe.Recipe` and the run's output folder and returns the
variants it wrote (one :class:`~tools.compress.variant.VariantResult` each). A method reads its
own options from ``recipe.options`` (the recipe's ``options:`` mapping) and checks them itself,
raising :class:`~tools.compress.errors.RecipeError` naming ``options.KEY``. Imports are lazy, so
a method's heavy dependencies (torch, Torch-Pruning) load only when it runs.

Another package adds a method by adding an entry here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tools.compress.errors import RecipeError

if TYPE_CHECKING:
    from tools.compress.recipe import Recipe

METHODS: dict[str, str] = {
    "prune": "tools.compress.prune_method:run",  # structured channel pruning (Torch-Pruning)
    "int8": "tools.compress.posttrain:int8",  # post-training INT8 Q/DQ (onnxruntime.quantization)
    "fuse": "tools.compress.posttrain:fuse",  # pre/post-processing folded, cleanup (onnxslim)
    "finegrained": "tools.compress.finegrained:run",  # schemes + reweighted group lasso
    "sparse24": "tools.compress.sparse24:run",  # 2:4 masks + fine-tuning (TensorRT sm_80+)
    "widen": "tools.compress.widen:run",  # a wider teacher grown from the dense model, trained
}


class Method(Protocol):
    def __call__(self, recipe: Recipe, out_dir: Path) -> list[Any]: ...


def load_method(name: str) -> Method:
    """The method registered as ``name``; RecipeError naming ``method`` and the choices."""
    target = METHODS.get(name)
    if target is None:
        raise RecipeError(f"method={name!r} is not one of {', '.join(map(repr, sorted(METHODS)))}")
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)

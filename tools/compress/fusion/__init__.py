"""Operator fusion for deployment (``l4 compress`` method ``fuse``): onnxslim + ORT BASIC cleanup,
pre-processing folded into the model, post-processing heads with fixed output shapes.

The DNNFusion-style analysis itself is :mod:`stack.engine.fusion_map` (``l4 engine fuse-report``),
in the runtime layer so the runtime's own command can show it.
"""

from __future__ import annotations

from tools.compress.fusion.errors import FusionError
from tools.compress.fusion.fuse import FuseOptions, FuseResult, fuse, run_method

__all__ = ["FuseOptions", "FuseResult", "FusionError", "fuse", "run_method"]

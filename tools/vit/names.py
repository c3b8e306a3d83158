"""Names of the ViT training recipes (no torch: the CLI parser imports it)."""

from __future__ import annotations

from enum import Enum


class RecipeName(str, Enum):
    SHIPPED = "shipped"  # selectors before blocks 1, 2, 4 (the second pass's variants)
    STAGE0 = "stage0"  # selectors before blocks 0, 2, 4: the patch embeddings are pruned

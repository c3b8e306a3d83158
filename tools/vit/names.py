"""Names of the ViT training recipes (no torch: the CLI parser imports it)."""

from __future__ import annotations

from enum import Enum


class RecipeName(str, Enum):
    SHIPPED = "shipped"  # selectors before blocks 1, 2, 4 (the second pass's variants)
    STAGE0 = "stage0"  # selectors before blocks 0, 2, 4: the patch embeddings are pruned
    EARLY = "early"  # one selector before block 0, trained on the exact TopK subsets (r25)


class Selection(str, Enum):
    """How pruning training picks the kept tokens (TrainConfig.selection)."""

    GUMBEL = "gumbel"  # SPViT: each token kept with its own sampled decision + keep-ratio loss
    TOPK = "topk"  # exactly the inference counts, top noisy keep logits (Gumbel top-k)

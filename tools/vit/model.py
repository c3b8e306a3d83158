"""A small ViT for traffic-light crops with SPViT-style token pruning (arXiv 2112.13890).

Tokens are [cls, package, patches...]. Before the blocks in ``stages`` a multi-head token
selector scores every patch token: each head gives keep/prune logits, a softmax over heads from
the tokens' global feature weighs them. In training (``forward``) the decisions are Gumbel-softmax
masks (straight-through), attention ignores masked keys (DynamicViT's masked softmax), and the
pruned tokens are folded, weighted by their prune probability, into the package token, which
carries their information to the classifier. With ``counts`` the training forward keeps
exactly the inference counts instead (Gumbel top-k; TrainConfig.selection TOPK). At inference
(``forward_static``) every stage keeps a fixed count of tokens (round(N * rho^i)): TopK on the
keep score, then Gather; the rest go into the package token; no masks and no data-dependent
shapes, so ONNX Runtime and TensorRT run physically fewer tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class VitConfig:
    image: int = 32
    patch: int = 4
    dim: int = 64
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 2.0
    classes: int = 4
    # Blocks a token selector precedes (0: the patch embeddings themselves; see README).
    stages: tuple[int, ...] = (1, 2, 4)
    selector_heads: int = 4

    @property
    def tokens(self) -> int:
        return (self.image // self.patch) ** 2

    def as_dict(self) -> dict:
        return asdict(self)


def keep_counts(cfg: VitConfig, rho: float) -> tuple[int, ...]:
    """Static patch-token counts kept at each stage: round(N * rho^i), at least 1."""
    return tuple(max(1, round(cfg.tokens * rho ** (i + 1))) for i in range(len(cfg.stages)))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, policy: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        if policy is None:
            attn = attn.softmax(dim=-1)
        else:  # masked softmax: a token always sees itself, never a pruned key
            eye = torch.eye(n, device=x.device)[None, None]
            keep = policy[:, None, None, :]
            keep = keep + (1.0 - keep) * eye
            # Shifted by the largest *kept* logit (DynamicViT takes the largest of all): when a
            # pruned key dominated a row, the kept ones summed to ~e^-30 and the straight-
            # through gradient on that key's mask went as 1/1e-6 (a selector before block 0
            # got 10^4 times the keep-ratio loss's gradient and never pruned). A pruned key's
            # term is capped at 1, so its gradient stays bounded too; values are unchanged.
            kept_max = (attn - 1e9 * (1.0 - keep.detach())).max(dim=-1, keepdim=True)[0]
            attn = torch.exp((attn - kept_max).clamp(max=0.0)) * keep
            attn = (attn + 1e-6 / n) / (attn.sum(dim=-1, keepdim=True) + 1e-6)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, policy: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), policy)
        return x + self.mlp(self.norm2(x))


class TokenSelector(nn.Module):
    """Multi-head keep scores of patch tokens from their local and global features."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.embed = nn.Sequential(nn.Linear(dim, dim // 2), nn.GELU())
        self.logits = nn.Linear(dim, 2 * heads)
        self.head_weight = nn.Linear(dim // 2, heads)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Keep probability (B, N) of patch tokens ``x`` (B, N, D); ``mask``: those still in."""
        h = self.embed(self.norm(x))
        if mask is None:
            g = h.mean(dim=1)
        else:
            g = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
        z = torch.cat([h, g[:, None].expand_as(h)], dim=-1)
        per_head = self.logits(z).reshape(*x.shape[:2], self.heads, 2).softmax(-1)[..., 0]
        w = self.head_weight(g).softmax(-1)  # (B, heads)
        return (per_head * w[:, None, :]).sum(-1)

    def keep_score(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without a mask, in fewer graph ops for the exported model: a head's
        two-way softmax is the sigmoid of its logit difference, and the logits of [local,
        global] split into a per-token and a per-crop product (no concat, no broadcast)."""
        h = self.embed(self.norm(x))
        g = h.mean(dim=1)
        w, b = self.logits.weight, self.logits.bias
        diff_w, diff_b = w[0::2] - w[1::2], b[0::2] - b[1::2]  # keep - prune, per head
        half = h.shape[-1]
        local = h @ diff_w[:, :half].t()
        per_crop = g @ diff_w[:, half:].t() + diff_b
        per_head = torch.sigmoid(local + per_crop[:, None, :])  # (B, N, heads)
        weight = self.head_weight(g).softmax(-1)  # (B, heads)
        return (per_head @ weight[:, :, None])[..., 0]


def _binary_gumbel(p: torch.Tensor, tau: float, noise: float = 1.0) -> torch.Tensor:
    """Hard keep decisions with straight-through gradients: two-class Gumbel-softmax written
    as logistic noise (scaled by ``noise``; 0: the decision is p > 0.5, as the TopK ranking at
    inference) on the keep logit (bounded noise: never an infinite sample)."""
    soft = torch.sigmoid(_noisy_logit(p, noise) / tau)
    hard = (soft > 0.5).to(p.dtype)
    return hard - soft.detach() + soft


def _noisy_logit(p: torch.Tensor, noise: float) -> torch.Tensor:
    """The keep logit of ``p`` plus logistic noise (the two-class Gumbel difference) * noise."""
    u = torch.rand_like(p).clamp(1e-6, 1.0 - 1e-6)
    return torch.log(p) - torch.log1p(-p) + noise * (torch.log(u) - torch.log1p(-u))


def _keep_decisions(
    p: torch.Tensor, mask: torch.Tensor, tau: float, noise: float, k: int | None
) -> torch.Tensor:
    """The next keep mask (B, N) from keep probabilities ``p`` among the tokens in ``mask``:
    Gumbel per token (``k`` None) or exactly the ``k`` top noisy logits (Gumbel top-k), both
    straight-through (the value is hard, the gradient the soft sigmoid's)."""
    if k is None:
        return _binary_gumbel(p, tau, noise) * mask
    logit = _noisy_logit(p, noise)
    top = logit.masked_fill(mask <= 0, float("-inf")).topk(k, dim=1).indices
    hard = torch.zeros_like(p).scatter(1, top, 1.0)
    soft = torch.sigmoid(logit / tau)
    return (hard - soft.detach() + soft) * mask


def _fold(package: torch.Tensor, tokens: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """package (B,1,D) plus the weighted mean of tokens (B,N,D) with weights (B,N), as one
    (1 x N) @ (N x D) product per image."""
    w = weight / (weight.sum(1, keepdim=True) + 1e-6)
    return package + w[:, None, :] @ tokens


class TokenPrunedViT(nn.Module):
    def __init__(self, cfg: VitConfig = VitConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch = nn.Conv2d(3, cfg.dim, cfg.patch, cfg.patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.package = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos = nn.Parameter(torch.randn(1, cfg.tokens, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(
            Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)
        )
        self.selectors = nn.ModuleList(
            TokenSelector(cfg.dim, cfg.selector_heads) for _ in cfg.stages
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.classes)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) float in [0,1] -> (B, 2 + N, D)."""
        p = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        b = p.shape[0]
        return torch.cat([self.cls.expand(b, -1, -1), self.package.expand(b, -1, -1), p], 1)

    def _classify(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.head(x[:, 0] + x[:, 1])

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        x = self._embed(x)
        for blk in self.blocks:
            x = blk(x)
        return self._classify(x)

    def forward(
        self,
        x: torch.Tensor,
        tau: float = 1.0,
        detach_scores: bool = False,
        noise: float = 1.0,
        counts: tuple[int, ...] | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Training: logits and the keep masks (B, N) of every stage (straight-through).

        ``counts`` None: SPViT's Gumbel decisions (each token kept with its own probability).
        ``counts`` given: every stage keeps exactly that many tokens, the top of the noisy keep
        logits (Gumbel top-k): with ``noise`` 0 the same tokens as :meth:`forward_static`, so
        training sees the subsets inference runs. ``detach_scores``: the selectors read
        detached tokens, so the keep-ratio loss trains the selectors only and never pulls the
        shared embeddings (a stage before block 0 otherwise drives the patch embedding)."""
        x = self._embed(x)
        b, n = x.shape[0], self.cfg.tokens
        mask = torch.ones(b, n, device=x.device)
        masks = []
        for i, blk in enumerate(self.blocks):
            if i in self.cfg.stages:
                stage = self.cfg.stages.index(i)
                tokens = x[:, 2:].detach() if detach_scores else x[:, 2:]
                p = self.selectors[stage](tokens, mask).clamp(1e-6, 1 - 1e-6)
                k = None if counts is None else counts[stage]
                new = _keep_decisions(p, mask, tau, noise, k)
                package = _fold(x[:, 1:2], x[:, 2:], (mask - new) * (1 - p))
                x = torch.cat([x[:, :1], package, x[:, 2:]], 1)
                mask = new
                masks.append(mask)
            policy = torch.cat([torch.ones(b, 2, device=x.device), mask], 1)
            x = blk(x, policy if masks else None)
        return self._classify(x), masks

    def forward_static(self, x: torch.Tensor, counts: tuple[int, ...]) -> torch.Tensor:
        """Inference with ``counts`` patch tokens kept per stage: TopK + Gather, fixed shapes.

        One TopK ranks all patch tokens, one Gather puts them in that order: the first k go on,
        the rest fold into the package token weighted by their prune probability (1 - score,
        the TopK values themselves), as one (1 x rest) @ (rest x D) product."""
        x = self._embed(x)
        for i, blk in enumerate(self.blocks):
            if i in self.cfg.stages:
                stage = self.cfg.stages.index(i)
                patches = x[:, 2:]
                n, k, d = patches.shape[1], counts[stage], patches.shape[2]
                score, order = torch.topk(self.selectors[stage].keep_score(patches), n, dim=1)
                ranked = torch.gather(patches, 1, order[..., None].expand(-1, -1, d))
                package = x[:, 1:2]
                if n > k:
                    package = _fold(package, ranked[:, k:], 1.0 - score[:, k:])
                x = torch.cat([x[:, :1], package, ranked[:, :k]], 1)
            x = blk(x)
        return self._classify(x)


class StaticExport(nn.Module):
    """The module exported to ONNX: uint8 BGR NHWC crops in, class probabilities out."""

    def __init__(self, model: TokenPrunedViT, counts: tuple[int, ...] | None) -> None:
        super().__init__()
        self.model, self.counts = model, counts

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        logits = (
            self.model.forward_dense(x)
            if self.counts is None
            else self.model.forward_static(x, self.counts)
        )
        return logits.softmax(-1)

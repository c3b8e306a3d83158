"""The tiny camera detector (torch): a CenterNet/TTFNet-style anchor-free grid detector.

Backbone of plain 3x3 conv + BN + ReLU stages down to stride 32, a top-down path (FPN-style)
back to the output stride (4 by default, or 8), and two heads on that grid:

- ``heatmap`` [1, C, H/s, W/s]: per-class centre likelihood (sigmoid in the exported model),
- ``boxes`` [1, 4, H/s, W/s]: distances from the cell centre to the box's left, top, right and
  bottom edges in input pixels (exp of the raw output times the stride).

This is the ``centernet`` layout of perception.detector.decoders. Plain convs keep it friendly
to TensorRT, DLA and INT8.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tools.train.errors import TrainError


def conv_bn(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyCenterNet(nn.Module):
    def __init__(
        self, num_classes: int, widths: tuple[int, ...] = (16, 32, 48, 64, 96), stride: int = 4
    ) -> None:
        super().__init__()
        w = widths
        self.num_classes = num_classes
        self.stride = stride
        self.stem = nn.Sequential(conv_bn(3, w[0], 2), conv_bn(w[0], w[1], 2))  # /4
        self.s8 = nn.Sequential(conv_bn(w[1], w[2], 2), conv_bn(w[2], w[2]))  # /8
        self.s16 = nn.Sequential(conv_bn(w[2], w[3], 2), conv_bn(w[3], w[3]))  # /16
        self.s32 = nn.Sequential(conv_bn(w[3], w[4], 2), conv_bn(w[4], w[4]))  # /32
        neck = w[2]
        self.lat32 = conv_bn(w[4], neck, k=1)
        self.lat16 = conv_bn(w[3], neck, k=1)
        self.lat8 = conv_bn(w[2], neck, k=1)
        self.fuse16 = conv_bn(neck, neck)
        self.fuse8 = conv_bn(neck, neck)
        if stride not in (4, 8):
            raise TrainError(f"stride must be 4 or 8 (got {stride})")
        if stride == 4:  # one more top-down step onto the stem's features, for small objects
            self.lat4 = conv_bn(w[1], w[1], k=1)
            self.reduce8 = conv_bn(neck, w[1], k=1)
            self.fuse4 = conv_bn(w[1], w[1])
            neck = w[1]
        self.heat_head = nn.Sequential(conv_bn(neck, neck), nn.Conv2d(neck, num_classes, 1))
        self.box_head = nn.Sequential(conv_bn(neck, neck), nn.Conv2d(neck, 4, 1))
        # Start with a low prior on every centre (focal-loss practice) and ~1-cell boxes.
        nn.init.constant_(self.heat_head[-1].bias, -4.6)
        nn.init.constant_(self.box_head[-1].bias, 0.5)
        self.export_mode = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Train mode: (heatmap logits, ltrb distances); export mode: (heatmap, ltrb)."""
        c4 = self.stem(x)
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p16 = self.fuse16(
            self.lat16(c16) + F.interpolate(self.lat32(c32), scale_factor=2.0, mode="nearest")
        )
        p = self.fuse8(self.lat8(c8) + F.interpolate(p16, scale_factor=2.0, mode="nearest"))
        if self.stride == 4:
            up = F.interpolate(self.reduce8(p), scale_factor=2.0, mode="nearest")
            p = self.fuse4(self.lat4(c4) + up)
        logits = self.heat_head(p)
        dist = torch.exp(torch.clamp(self.box_head(p), max=6.0)) * float(self.stride)
        if self.export_mode:
            return torch.sigmoid(logits), dist
        return logits, dist


def focal_loss(logits: torch.Tensor, target: torch.Tensor, neg_mask: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of peaks."""
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1.0).float()
    neg = (1.0 - pos) * neg_mask
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred**2 * (1 - target) ** 4 * neg
    num_pos = pos.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / num_pos


def giou_loss(
    dist: torch.Tensor, boxes: torch.Tensor, weight: torch.Tensor, stride: int
) -> torch.Tensor:
    """Weighted 1 - GIoU of the predicted boxes (cell centre +- ltrb) against the targets."""
    _b, _, gh, gw = dist.shape
    ys = (torch.arange(gh, dtype=dist.dtype) + 0.5) * stride
    xs = (torch.arange(gw, dtype=dist.dtype) + 0.5) * stride
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    mask = weight > 0
    if not mask.any():
        return dist.sum() * 0.0
    px1, py1 = (cx - dist[:, 0])[mask], (cy - dist[:, 1])[mask]
    px2, py2 = (cx + dist[:, 2])[mask], (cy + dist[:, 3])[mask]
    tx1, ty1, tx2, ty2 = (boxes[:, i][mask] for i in range(4))
    inter = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0) * (
        torch.min(py2, ty2) - torch.max(py1, ty1)
    ).clamp(min=0)
    area_p = (px2 - px1) * (py2 - py1)
    area_t = (tx2 - tx1) * (ty2 - ty1)
    union = area_p + area_t - inter + 1e-6
    hull = (torch.max(px2, tx2) - torch.min(px1, tx1)) * (
        torch.max(py2, ty2) - torch.min(py1, ty1)
    ) + 1e-6
    giou = inter / union - (hull - union) / hull
    w = weight[mask]  # each object's weights sum to 1: this is the mean over objects
    return ((1.0 - giou) * w).sum() / w.sum().clamp(min=1e-6)

"""The token-pruned ViT: training step, static keep counts, ONNX export with TopK + Gather."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")

from tools.vit.crops import Crops  # noqa: E402
from tools.vit.export import export_onnx, flops  # noqa: E402
from tools.vit.model import TokenPrunedViT, VitConfig, keep_counts  # noqa: E402
from tools.vit.train import TrainConfig, class_weights, predict, train_pruned  # noqa: E402

TINY = VitConfig(dim=16, depth=3, heads=2, stages=(1, 2), selector_heads=2)


def _crops(n: int = 24) -> Crops:
    rng = np.random.default_rng(0)
    return Crops(
        rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 4, n),
        rng.uniform(5, 80, n),
        np.full(n, "day"),
    )


def test_keep_counts_follow_rho_powers():
    assert keep_counts(VitConfig(), 0.5) == (32, 16, 8)
    assert keep_counts(VitConfig(), 0.7) == (45, 31, 22)


def test_static_path_keeps_exactly_the_counts():
    torch.manual_seed(0)
    model = TokenPrunedViT(TINY).eval()
    seen = []
    for blk in model.blocks:
        blk.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[1]))
    model.forward_static(torch.rand(2, 3, 32, 32), keep_counts(TINY, 0.5))
    # cls + package + patches: 64 before the first selector, then 32, 16.
    assert seen == [66, 34, 18]


def test_pruned_training_is_finite_with_hard_binary_masks():
    torch.manual_seed(0)
    dense = TokenPrunedViT(TINY).eval()
    cfg = TrainConfig(prune_epochs=2, batch=8, lr=1e-3)
    model = train_pruned(dense, _crops(), 0.5, cfg, lambda _l: None)
    logits, masks = model(torch.rand(4, 3, 32, 32))
    assert torch.isfinite(logits).all()  # KL distillation once gave NaN (log_target)
    assert len(masks) == 2 and all(((m == 0) | (m == 1)).all() for m in masks)
    assert predict(model, _crops(5).images, 0.5).shape == (5,)


def test_class_weights_skip_missing_classes():
    data = _crops()
    data = Crops(data.images, np.zeros(len(data.labels), int), data.distance, data.weather)
    w = class_weights(data)
    assert w[0] > 0 and (w[1:] == 0).all()


def test_onnx_has_topk_gather_static_shapes_and_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = TokenPrunedViT(TINY).eval()
    pruned = export_onnx(model, 0.5, tmp_path / "p.onnx")
    dense = export_onnx(model, None, tmp_path / "d.onnx")
    ops = {n.op_type for n in onnx.load(str(pruned)).graph.node}
    assert "TopK" in ops and ({"Gather", "GatherElements"} & ops)
    assert "TopK" not in {n.op_type for n in onnx.load(str(dense)).graph.node}
    assert 0 < flops(pruned) < 0.75 * flops(dense)
    sess = ort.InferenceSession(str(pruned), providers=["CPUExecutionProvider"])
    images = _crops(3).images
    out = sess.run(None, {"crops": images})[0]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    ref = model.forward_static(x, keep_counts(TINY, 0.5)).softmax(-1).detach().numpy()
    assert out.shape == (3, 4) and np.allclose(out, ref, atol=1e-5)


def test_exported_keep_score_equals_the_selector_and_pruning_may_start_at_block_0():
    """The export's keep score (sigmoid of logit differences, split local/global products) is
    the training selector's without a mask; a stage before block 0 prunes the embeddings."""
    from tools.vit.model import TokenSelector

    torch.manual_seed(3)
    sel = TokenSelector(16, 3)
    for p in sel.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x = torch.randn(4, 10, 16)
    assert torch.allclose(sel.keep_score(x), sel(x), atol=1e-6)
    cfg = VitConfig(dim=16, depth=3, heads=2, stages=(0, 2), selector_heads=2)
    model = TokenPrunedViT(cfg).eval()
    counts = keep_counts(cfg, 0.4)
    assert counts == (26, 10)
    out = model.forward_static(torch.rand(2, 3, 32, 32), counts)
    assert out.shape == (2, 4) and torch.isfinite(out).all()

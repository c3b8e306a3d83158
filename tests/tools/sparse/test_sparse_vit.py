"""MEST on the traffic-light ViT: Linear masks, mutation, training hooks, FLOPs, CLI refusals."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tests.tools.sparse.conftest import sparse_parser

torch = pytest.importorskip("torch")

from tools.sparse.config import Allocation, MESTConfig, Scheme, Strategy  # noqa: E402
from tools.sparse.errors import SparseError  # noqa: E402
from tools.sparse.flops import FlopCounter  # noqa: E402
from tools.sparse.vit import VitSparseHooks, vit_costs, vit_masks, vit_mest  # noqa: E402
from tools.sparse.vitcl import VitCLConfig, run_sequence, vit_sparcl  # noqa: E402
from tools.sparse.vitrun import VitSparseJob, train_vit  # noqa: E402
from tools.vit.crops import Crops  # noqa: E402
from tools.vit.model import TokenPrunedViT, VitConfig  # noqa: E402
from tools.vit.pipeline import VitJob  # noqa: E402
from tools.vit.train import TrainConfig, train_dense  # noqa: E402

TINY = VitConfig(dim=16, depth=3, heads=2, stages=(1, 2), selector_heads=2)
MASKED = ("attn.qkv", "attn.proj", "mlp.0", "mlp.2")


def _model() -> TokenPrunedViT:
    torch.manual_seed(0)
    return TokenPrunedViT(TINY)


def _crops(n: int, seed: int = 0, weather: str | tuple[str, ...] = "day") -> Crops:
    rng = np.random.default_rng(seed)
    return Crops(
        rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 4, n),
        rng.uniform(5, 50, n),
        np.resize(np.array(weather), n),
    )


def test_masks_cover_the_blocks_linear_layers_only():
    model = _model()
    masks = vit_masks(model)
    names = [m.name for m in masks.layers]
    assert names == [f"blocks.{i}.{s}" for i in range(TINY.depth) for s in MASKED]
    with pytest.raises(SparseError, match="scheme 'channel'"):
        vit_masks(model, Scheme.CHANNEL)
    with pytest.raises(SparseError, match="scheme 'block'"):
        vit_masks(model, Scheme.BLOCK)


@pytest.mark.parametrize("allocation", list(Allocation))
def test_mutation_keeps_each_layers_density_and_regrows_at_zero(allocation):
    model = _model()
    cfg = MESTConfig(0.2, mutation_ratio=0.3, mutate_every=1, allocation=allocation)
    mest = vit_mest(model, cfg, 6, seed=1)
    target = mest.masks.layer_densities(0.2)
    per = [float(m.units.float().mean()) for m in mest.masks.layers]
    assert per == pytest.approx(target, abs=2e-3)
    assert mest.masks.density() == pytest.approx(0.2, abs=2e-3)
    if allocation is Allocation.ERK:  # qkv (16 x 48) sparser than proj (16 x 16)
        assert per[0] < 0.2 < per[1]
    model.forward_dense(torch.rand(4, 3, 32, 32)).sum().backward()
    mest.after_backward()
    before = [m.units.clone() for m in mest.masks.layers]
    event = mest.end_epoch(1, torch.optim.AdamW(model.parameters()))
    assert event is not None and event.pruned == event.grown > 0
    assert [float(m.units.float().mean()) for m in mest.masks.layers] == pytest.approx(per)
    changed = 0
    for m, old in zip(mest.masks.layers, before, strict=True):
        grown = m.units & ~old
        changed += int(grown.sum())
        assert (m.conv.weight[grown] == 0).all() and (m.conv.weight[~m.units] == 0).all()
    assert 0 < changed <= event.grown  # (a pruned unit may be drawn again)


def test_bad_density_is_refused_naming_the_value():
    with pytest.raises(SparseError, match=r"density must lie in \(0, 1\], got 1\.5"):
        vit_mest(_model(), MESTConfig(1.5), 2)
    with pytest.raises(SparseError, match=r"got 0\.0"):
        vit_mest(_model(), MESTConfig(0.0), 2)


def test_flops_match_a_hand_count_and_shrink_with_the_masks():
    model = _model()
    n, d, h, t = TINY.tokens + 2, TINY.dim, int(TINY.dim * TINY.mlp_ratio), TINY.tokens
    patch = t * d * 3 * TINY.patch**2
    linear = n * d * 3 * d + n * d * d + 2 * n * d * h
    attention = 2 * n * n * d
    head = d * TINY.classes
    dense = 4 * patch + 6 * (TINY.depth * (linear + attention) + head)
    counter = FlopCounter(vit_costs(model))
    assert counter.per_example() == dense
    mest = vit_mest(model, MESTConfig(0.2), 2)
    sparse = 4 * patch + 6 * (TINY.depth * (0.2 * linear + attention) + head)
    assert counter.per_example(mest.masks) == pytest.approx(sparse, rel=1e-3)


def _job(tmp_path, mest: MESTConfig | None, epochs: int = 2) -> VitSparseJob:
    train = TrainConfig(epochs=epochs, batch=8)
    return VitSparseJob(out=tmp_path, cache=tmp_path, mest=mest, train=train, vit=TINY)


def test_training_keeps_masked_weights_zero_and_dense_layers_unmasked(tmp_path):
    cfg = MESTConfig(0.2, mutation_ratio=0.3, mutate_every=1)
    built = []

    def sparsify(model):
        built.append(VitSparseHooks(model, vit_mest(model, cfg, 3), print))
        return built[0]

    train = TrainConfig(epochs=3, batch=8)
    model = train_dense(_crops(24), TINY, train, print, sparsify)
    mest = built[0].mest
    assert built[0].steps == 9 and len(mest.history) == 2
    assert mest.masks.density() == pytest.approx(0.2, abs=2e-3)
    for m in mest.masks.layers:
        assert (m.conv.weight[~m.units] == 0).all()
        assert (m.conv.weight[m.units] != 0).float().mean() > 0.95  # the rest trained
    mods = dict(model.named_modules())
    for name in ("patch", "head", "blocks.0.norm1"):  # dense: trained, no zeros forced
        assert (mods[name].weight != 0).all()
    assert (model.patch.weight != _model().patch.weight).any()
    for m in mest.masks.layers:
        assert (m.conv.bias != 0).all()  # biases are not masked


def test_a_mest_run_costs_fewer_flops_than_the_dense_run(tmp_path):
    cfg = MESTConfig(0.2, mutation_ratio=0.3, mutate_every=1)
    _, sparse = train_vit(_job(tmp_path, cfg, 2), _crops(16), _crops(16, 1), print)
    _, dense = train_vit(_job(tmp_path, None, 2), _crops(16), _crops(16, 1), print)
    assert dense["method"] == "dense" and "mest" not in dense
    assert sparse["mest"]["density"] == pytest.approx(0.2, abs=2e-3)
    assert sparse["steps"] == dense["steps"] == 4
    # The tiny ViT's attention products (dense) are as large as its Linear layers: 0.621
    # of the dense FLOPs at density 0.2 (hand count as in the test above).
    assert sparse["train_gflops"] / dense["train_gflops"] == pytest.approx(0.621, abs=0.01)
    assert 0.0 <= sparse["accuracy_held_out"]["all"] <= 1.0


def test_a_run_is_reproducible_and_an_empty_split_is_refused(tmp_path):
    cfg = MESTConfig(0.3, mutate_every=1)
    a, sa = train_vit(_job(tmp_path, cfg), _crops(16), _crops(8, 1), print)
    b, sb = train_vit(_job(tmp_path, cfg), _crops(16), _crops(8, 1), print)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert sa["mest"]["mutations"] == sb["mest"]["mutations"]
    with pytest.raises(SparseError, match="empty crop split: 0 training"):
        train_vit(_job(tmp_path, cfg), _crops(0), _crops(8), print)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheme", "channel", "--density", "0.2"], "--scheme channel: the ViT takes"),
        (["--resume"], "--resume is not supported with --model vit"),
        (["--remove", "0.2"], "--remove 0.2 is not supported"),
        (["--widths", "8,16,24,32,48"], r"--widths \(8, 16, 24, 32, 48\) are the detector's"),
        (["@continual", "--init", "m.pt"], "--init m.pt is not supported with --model vit"),
    ],
)
def test_cli_refuses_what_the_vit_does_not_take(tmp_path, extra, message):
    cmd = "continual" if extra[0] == "@continual" else "train"
    extra = [e for e in extra if e != "@continual"]
    argv = ["sparse", cmd, "--model", "vit", "--out", str(tmp_path / "o"), *extra]
    args = sparse_parser().parse_args(argv)
    with pytest.raises(SparseError, match=message):
        args.func(args)
    assert not (tmp_path / "o").exists()  # refused before any crop was rendered


def test_cli_refuses_an_unknown_model(capsys):
    with pytest.raises(SystemExit):
        sparse_parser().parse_args(["sparse", "train", "--out", "x", "--model", "resnet"])
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


def _fake_cache(cache) -> None:
    """Tiny crop files under the names the ViT pipeline reads for the card's seeds."""
    job = VitJob(out=cache, cache=cache)
    cache.mkdir()
    for seeds, renders in ((job.train_seeds, 2), (job.eval_seeds, 1)):
        for seed in seeds:
            for weather in ("day", "night", "fog", "rain"):
                c = _crops(4, seed, weather)
                name = f"crops-s{seed}-{weather}-{job.seconds:g}s-r{renders}.npz"
                np.savez(cache / name, images=c.images, labels=c.labels,
                         distance=c.distance, weather=c.weather)  # fmt: skip


def test_cli_trains_the_vit_with_mest_from_the_crop_cache(tmp_path, capsys, monkeypatch):
    _fake_cache(tmp_path / "crops")
    monkeypatch.setattr("tools.sparse.vitrun.VitSparseJob", _tiny_job)
    argv = ["sparse", "train", "--model", "vit", "--out", str(tmp_path / "o"), "--data",
            str(tmp_path / "crops"), "--density", "0.2", "--allocation", "erk",
            "--epochs", "2", "--max-crops", "16", "--no-progress"]  # fmt: skip
    args = sparse_parser().parse_args(argv)
    assert args.func(args) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary == json.loads(capsys.readouterr().out)
    assert summary["train_crops"] == 16 and summary["held_out_crops"] == 80
    assert summary["mest"]["allocation"] == "erk" and summary["epochs"] == 2
    assert (tmp_path / "o" / "model.pt").exists()


def _tiny_job(**kw) -> VitSparseJob:
    return replace(VitSparseJob(**kw), vit=TINY)


CL_BASE = VitCLConfig(epochs=3, train=TrainConfig(batch=8), vit=TINY, buffer=16, replay_batch=4)
TWO = ("day", "night")


def test_sparcl_on_the_vit_removes_data_keeps_density_and_costs_fewer_flops():
    train, held = _crops(64, 0, TWO), _crops(32, 1, TWO)
    _, derpp = run_sequence(CL_BASE, train, held, TWO, print)
    _, sparcl = run_sequence(vit_sparcl(CL_BASE, 0.1), train, held, TWO, print)
    for r in (derpp, sparcl):
        assert np.array(r["matrix"]).shape == (2, 2) and r["domains"] == list(TWO)
        assert {"average_accuracy", "forgetting", "backward_transfer"} <= r.keys()
    assert derpp["examples"] == 2 * 3 * 32  # every crop of both tasks, every epoch
    # DDR: 30 % of each task's 32 crops gone in three steps (after epochs 1, 1 and 1 of 3)
    assert sparcl["examples"] == 2 * (32 + 2 * 22)
    assert sparcl["density"] == pytest.approx(0.1, abs=2e-3)
    assert sparcl["train_gflops"] < 0.6 * derpp["train_gflops"]


def test_replay_costs_what_it_runs_per_method():
    train, held = _crops(32, 0, TWO), _crops(16, 1, TWO)
    gflops = {}
    for method in (Strategy.FINETUNE, Strategy.ER, Strategy.DERPP):
        _, r = run_sequence(replace(CL_BASE, strategy=method), train, held, TWO, print)
        assert r["method"] == method.value and r["examples"] == 2 * 3 * 16
        gflops[method] = r["train_gflops"]
    # every step but the first replays 4 crops (ER) or 2 x 4 (DER++) on top of its 8
    assert gflops[Strategy.ER] / gflops[Strategy.FINETUNE] == pytest.approx(1 + 4 * 11 / 96, 0.02)
    assert gflops[Strategy.DERPP] / gflops[Strategy.FINETUNE] == pytest.approx(
        1 + 8 * 11 / 96, 0.02
    )


def test_a_sequence_refuses_unknown_domains_and_empty_splits():
    with pytest.raises(SparseError, match="unknown domain 'snow'"):
        run_sequence(CL_BASE, _crops(8), _crops(8), ("day", "snow"), print)
    with pytest.raises(SparseError, match="empty data split for domain 'night': 0 training"):
        run_sequence(CL_BASE, _crops(8), _crops(8, 1, TWO), TWO, print)
    with pytest.raises(SparseError, match="'night': 4 training, 0 held-out crops"):
        run_sequence(CL_BASE, _crops(8, 0, TWO), _crops(8), TWO, print)


def test_cli_runs_sparcl_on_the_vit_and_refuses_its_detector_options(tmp_path, capsys, monkeypatch):
    _fake_cache(tmp_path / "crops")
    monkeypatch.setattr("tools.sparse.vitrun.VitCLConfig", _tiny_cl)
    argv = ["sparse", "continual", "--model", "vit", "--out", str(tmp_path / "o"), "--data",
            str(tmp_path / "crops"), "--domains", "day,fog", "--epochs", "2", "--no-progress"]  # fmt: skip
    args = sparse_parser().parse_args(argv)
    assert args.func(args) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary == json.loads(capsys.readouterr().out)
    assert summary["method"] == "sparcl" and summary["domains"] == ["day", "fog"]
    assert summary["density"] == pytest.approx(0.1, abs=2e-3)
    args = sparse_parser().parse_args([*argv, "--inner", "0.3"])
    with pytest.raises(SparseError, match=r"--inner 0\.3 is not supported with --model vit"):
        args.func(args)


def _tiny_cl(**kw) -> VitCLConfig:
    return replace(VitCLConfig(**kw), vit=TINY, train=replace(kw["train"], batch=8))

"""Training runs on tiny synthetic data: methods, data removal, checkpoints and resume, CLI."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.tools.sparse.conftest import make_frames, sparse_parser
from tools.sparse import cli
from tools.sparse.config import Allocation, MESTConfig, Scheme, Strategy
from tools.sparse.data import DataSpec, DomainData, load_domains
from tools.sparse.errors import SparseError
from tools.sparse.runs import RunConfig, run_continual, sparcl_config, train_mest
from tools.sparse.trainer import Learner, LearnerConfig
from tools.train.train import TrainConfig

TINY = TrainConfig(
    input_width=96, input_height=64, batch_size=4, lr=3e-3, widths=(8, 8, 16, 16, 16), threads=1
)
BASE = LearnerConfig(train=TINY, buffer=8, replay_batch=2)
DOMAINS = ("day", "night")


@pytest.fixture
def data() -> DomainData:
    d = DomainData()
    for k, name in enumerate(DOMAINS):
        d.train[name] = make_frames(12, k, shade=40 * k)
        d.heldout[name] = make_frames(4, 10 + k, shade=40 * k)
    return d


def _run(lc, data, out=None, resume=False, progress=None, keep=False):
    r = run_continual(RunConfig(lc, DOMAINS, 3, out, resume), data, progress)
    learner = r.pop("learner")
    if keep:
        r["weights"] = learner.model.state_dict()
    return r


def test_sparcl_removes_data_keeps_density_and_costs_far_fewer_flops(data):
    derpp = _run(dataclasses.replace(BASE, strategy=Strategy.DERPP), data)
    sparcl = _run(sparcl_config(BASE, 0.1), data)
    assert len(derpp["matrix"]) == 2 and len(derpp["matrix"][0]) == 2
    assert sparcl["density"] == pytest.approx(0.1, abs=0.02)
    assert sparcl["examples"] < 0.85 * derpp["examples"]  # DDR removed data in steps
    assert sparcl["train_gflops"] * 4 < derpp["train_gflops"]
    finetune = _run(BASE, data)
    assert finetune["train_gflops"] < derpp["train_gflops"]  # no replayed examples


def test_slim_sparcl_trains_a_smaller_copy_that_computes_the_masked_model(data):
    channel = sparcl_config(BASE, 0.5, Scheme.CHANNEL)
    assert channel.slim
    r = run_continual(RunConfig(channel, DOMAINS, 3), data)
    learner: Learner = r["learner"]
    assert learner.slim is not None and learner.mest.history  # mutated: rebuilt copies
    masks = learner.mest.masks
    assert any(m.partners for m in masks.layers)  # coupled convolutions share a mask
    for m in masks.layers:
        for p in m.members():
            assert p.conv.weight[~m.units].abs().max() == 0, p.name
    slim_params = sum(p.numel() for p in learner.slim.net.parameters())
    assert slim_params < 0.5 * sum(p.numel() for p in learner.model.parameters())
    x = torch.rand(2, 3, TINY.input_height, TINY.input_width)
    learner.model.eval(), learner.slim.net.eval()
    with torch.no_grad():
        for a, b in zip(learner.model(x), learner.slim.net(x)):
            assert torch.allclose(a, b, atol=1e-4)
    unstructured = _run(sparcl_config(BASE, 0.5), data)
    assert r["train_gflops"] < 0.8 * unstructured["train_gflops"]  # next inputs shrink too
    with pytest.raises(SparseError, match="channel"):
        Learner(dataclasses.replace(sparcl_config(BASE, 0.5), slim=True), 3)


def test_hybrid_sparcl_masks_weights_inside_the_slim_copy_and_counts_fewer_flops(data):
    hybrid = sparcl_config(BASE, 0.75, Scheme.CHANNEL, inner=0.3, allocation=Allocation.ERK)
    r = run_continual(RunConfig(hybrid, DOMAINS, 4), data)
    learner: Learner = r.pop("learner")
    assert r["density"] == pytest.approx(0.75, abs=0.05)
    assert r["inner_density"] == pytest.approx(0.3, abs=0.02)
    assert learner.inner.engine.history and learner.mest.history  # both kinds mutated
    learner.sync()
    for m in learner.inner.engine.masks.layers:  # the slim copy's masked weights are zero ...
        assert (m.conv.weight[~m.units] == 0).all(), m.name
        full = dict(learner.model.named_modules())[m.name].weight
        assert int((full != 0).sum()) <= int(m.units.sum())  # ... and so are the full model's
    x = torch.rand(2, 3, TINY.input_height, TINY.input_width)
    learner.model.eval(), learner.slim.net.eval()
    with torch.no_grad():
        for a, b in zip(learner.model(x), learner.slim.net(x)):
            assert torch.allclose(a, b, atol=1e-4)
    channel_only = _run(sparcl_config(BASE, 0.75, Scheme.CHANNEL), data)
    assert r["train_gflops"] < 0.75 * channel_only["train_gflops"]  # ERK: small layers denser
    with pytest.raises(SparseError, match=r"inner density 0\.3 needs the channel scheme"):
        sparcl_config(BASE, 0.5, inner=0.3)
    with pytest.raises(SparseError, match="slim channel training"):
        Learner(dataclasses.replace(BASE, inner=MESTConfig(0.3)), 3)


@pytest.mark.parametrize(
    "scheme, density, inner",
    [(Scheme.UNSTRUCTURED, 0.2, None), (Scheme.CHANNEL, 0.5, None), (Scheme.CHANNEL, 0.75, 0.3)],
)
def test_interrupted_run_resumes_to_the_same_result(data, tmp_path, scheme, density, inner):
    lc = sparcl_config(BASE, density, scheme, inner=inner)
    whole = _run(lc, data, keep=True)
    steps = {"n": 0}

    def crash():
        steps["n"] += 1
        if steps["n"] == 11:  # mid-way through the second task
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(lc, data, tmp_path, progress=crash)
    resumed = _run(lc, data, tmp_path, resume=True, keep=True)
    for name, value in whole.pop("weights").items():
        assert torch.equal(resumed["weights"][name], value), name
    assert resumed["matrix"] == whole["matrix"]
    assert resumed["train_gflops"] == pytest.approx(whole["train_gflops"])
    assert resumed["examples"] == whole["examples"]


def test_resume_refuses_a_missing_or_foreign_checkpoint(data, tmp_path):
    with pytest.raises(SparseError, match="no checkpoint"):
        _run(BASE, data, tmp_path / "none", resume=True)
    done = _run(BASE, data, tmp_path)
    assert _run(BASE, data, tmp_path, resume=True)["matrix"] == done["matrix"]  # finished run
    with pytest.raises(SparseError, match="another run"):
        _run(dataclasses.replace(BASE, strategy=Strategy.ER), data, tmp_path, resume=True)


@pytest.mark.parametrize("scheme", list(Scheme))
def test_mest_train_every_scheme_at_budget_with_mid_training_removal(data, scheme):
    lc = dataclasses.replace(
        BASE, mest=MESTConfig(0.3, scheme, mutate_every=1, remove_fraction=0.25)
    )
    r = train_mest(RunConfig(lc, ("day",), 4), data)
    learner: Learner = r["learner"]
    assert r["density"] == pytest.approx(0.3, abs=0.05)
    assert learner.mest.history  # mutated
    # 12 frames in batches of 4: 3 steps in epochs 1-2; 3 removed after epoch 2; 2 steps after
    assert r["examples"] == 2 * 3 * 4 + 2 * 2 * 4
    assert set(r["heldout"]) == set(DOMAINS)


def test_empty_data_split_is_refused_naming_it(tmp_path):
    with pytest.raises(SparseError, match="empty data split: 0 training"):
        load_domains(DataSpec(train_seeds=0), tmp_path)
    with pytest.raises(SparseError, match="'mud'"):
        load_domains(DataSpec(domains=("mud",)), tmp_path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["sparse", "train", "--out", "x", "--density", "0"],
            "density must lie in (0, 1], got '0'",
        ),
        (["sparse", "train", "--out", "x", "--density", "1.01"], "got '1.01'"),
        (["sparse", "continual", "--out", "x", "--domains", "day,snow"], "unknown domain 'snow'"),
        (["sparse", "continual", "--out", "x", "--method", "ewc"], "invalid choice: 'ewc'"),
        (["sparse", "train", "--out", "x", "--widths", "8,16"], "--widths '8,16': give 5"),
    ],
)
def test_cli_refuses_bad_input_naming_the_value(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        sparse_parser().parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_defaults():
    args = sparse_parser().parse_args(["sparse", "continual", "--out", "x"])
    assert args.domains == ("day", "night", "fog", "rain") and args.method == "sparcl"
    assert args.widths is None  # LearnerConfig's 8-48
    args = sparse_parser().parse_args(
        ["sparse", "train", "--out", "x", "--widths", "16,32,48,64,96"]
    )
    assert args.widths == (16, 32, 48, 64, 96)


def test_cli_refuses_inner_density_without_channel_masks(tmp_path):
    args = sparse_parser().parse_args(
        ["sparse", "continual", "--out", str(tmp_path), "--inner", "0.3"]
    )
    with pytest.raises(SparseError, match=r"--inner 0\.3 needs --scheme channel"):
        args.func(args)
    assert not any(tmp_path.iterdir())  # refused before any scenario was generated
    args = sparse_parser().parse_args(
        ["sparse", "continual", "--out", str(tmp_path), "--init", "no.pt"]
    )
    with pytest.raises(SparseError, match=r"--init no\.pt: no such file"):
        args.func(args)
    assert not any(tmp_path.iterdir())
    args = sparse_parser().parse_args(["sparse", "train", "--out", "x", "--density", "0.2"])
    assert cli._allocation(args) is Allocation.UNIFORM
    args = sparse_parser().parse_args(["sparse", "train", "--out", "x", "--allocation", "erk"])
    assert cli._allocation(args) is Allocation.ERK
    args = sparse_parser().parse_args(["sparse", "train", "--out", "x", "--scheme", "channel"])
    assert cli._allocation(args) is Allocation.UNIFORM
    argv = ["sparse", "continual", "--out", "x", "--scheme", "channel", "--inner", "0.3"]
    assert cli._allocation(sparse_parser().parse_args(argv)) is Allocation.ERK
    lc = sparcl_config(BASE, 0.5, Scheme.CHANNEL, inner=0.3, allocation=Allocation.ERK)
    assert lc.inner.allocation is Allocation.ERK and lc.mest.allocation is Allocation.UNIFORM
    assert sparcl_config(BASE, 0.1, allocation=Allocation.ERK).mest.allocation is Allocation.ERK


@pytest.mark.parametrize("inner", [None, 0.3])
def test_a_run_starts_from_trained_weights_with_masks_keeping_the_largest(data, tmp_path, inner):
    dense = train_mest(RunConfig(BASE, ("day",), 2), data)["learner"].model
    init = tmp_path / "model.pt"
    torch.save(dense.state_dict(), init)
    lc = sparcl_config(BASE, 0.5, Scheme.CHANNEL, inner=inner)
    learner = Learner(lc, 3, init=torch.load(init))
    trained = dense.state_dict()
    outer = learner.mest.masks.layers[0]
    name = f"{outer.name}.weight"
    assert 0 < int(outer.units.sum()) < outer.units.numel()
    if inner is None:  # the kept channels hold the trained weights
        assert torch.equal(
            learner.model.state_dict()[name][outer.units], trained[name][outer.units]
        )
    else:  # inner masks keep the largest trained weights of the slim copy, the rest are zero
        for m in learner.inner.engine.masks.layers:
            key = f"{m.name}.weight"
            w = trained[key].flatten()[learner.slim.index[key]].view(m.units.shape).abs()
            assert w[m.units].min() >= w[~m.units].max()
            assert (m.conv.weight[~m.units] == 0).all()
    scratch = run_continual(RunConfig(lc, DOMAINS, 1), data)["learner"].model
    started = run_continual(RunConfig(lc, DOMAINS, 1, tmp_path / "run", init=init), data)
    assert not torch.equal(started["learner"].model.state_dict()[name], scratch.state_dict()[name])
    with pytest.raises(SparseError, match="another run"):  # the start is part of the identity
        run_continual(RunConfig(lc, DOMAINS, 1, tmp_path / "run", resume=True), data)


def test_a_bad_start_model_is_refused_naming_it(data, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("no model")
    with pytest.raises(SparseError, match=r"--init .*bad\.pt: not a readable model"):
        run_continual(RunConfig(BASE, DOMAINS, 1, init=bad), data)
    other = tmp_path / "other.pt"
    torch.save({"stem.0.0.weight": torch.zeros(1)}, other)
    with pytest.raises(SparseError, match=r"other\.pt: the start weights do not fit"):
        run_continual(RunConfig(BASE, DOMAINS, 1, init=other), data)

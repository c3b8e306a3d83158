"""MEST's parts: masks per scheme, mutation, soft bound, forgetting, DGM, buffer, FLOPs, slim."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tools.sparse.config import Allocation, MESTConfig, Scheme, check_domains
from tools.sparse.errors import SparseError
from tools.sparse.flops import FlopCounter, conv_costs
from tools.sparse.forgetting import ForgettingTracker
from tools.sparse.gradmask import GradientMask, conv_targets
from tools.sparse.masks import MaskSet, erk_densities
from tools.sparse.mest import MEST
from tools.sparse.metrics import average_ap, backward_transfer, forgetting, summary
from tools.sparse.replay import Batch, ReservoirBuffer
from tools.sparse.slim import coupled_convs, param_count, slim_channels, step_time_ratio
from tools.train.detector_model import TinyCenterNet

WIDTHS = (8, 8, 16, 16, 16)


def tiny() -> TinyCenterNet:
    torch.manual_seed(0)
    return TinyCenterNet(4, WIDTHS, 4)


@pytest.mark.parametrize("scheme", list(Scheme))
def test_masks_hold_density_and_zero_weights_and_grads(scheme):
    model = tiny()
    masks = MaskSet.for_model(model, scheme)
    masks.init_random(0.25, torch.Generator().manual_seed(1))
    assert masks.density() == pytest.approx(0.25, abs=0.04)
    for m in masks.layers:
        zero = m.expand() == 0
        assert zero.any() and (m.conv.weight[zero] == 0).all()
        m.conv.weight.grad = torch.ones_like(m.conv.weight)
    masks.mask_grads()
    for m in masks.layers:
        assert (m.conv.weight.grad[m.expand() == 0] == 0).all()
    names = [m.name for m in masks.layers]
    assert "stem.0.0" not in names and "heat_head.1" not in names  # image conv, heads dense


def test_channel_masks_zero_batchnorm_and_block_units_are_blocks():
    model = tiny()
    masks = MaskSet.for_model(model, Scheme.CHANNEL)
    masks.init_random(0.5, torch.Generator().manual_seed(0))
    m = masks.layers[0]
    assert (m.bn.weight[~m.units] == 0).all() and (m.bn.bias[~m.units] == 0).all()
    block = MaskSet.for_model(tiny(), Scheme.BLOCK, block=4)
    b = block.layers[0]
    assert b.units.shape == (math.ceil(b.conv.out_channels / 4), b.conv.in_channels)


def test_mest_keeps_gradient_before_zeroing_and_mutation_keeps_budget():
    model = tiny()
    mest = MEST(model, MESTConfig(density=0.3, mutation_ratio=0.5, mutate_every=1), 6)
    layer = mest.masks.layers[0]
    before = layer.units.clone()
    for m in mest.masks.layers:
        m.conv.weight.grad = torch.full_like(m.conv.weight, 2.0)
    mest.after_backward()
    assert (mest.grads[layer.name] == 2.0).all()  # pruned entries' gradient seen by the score
    assert (layer.conv.weight.grad[~before] == 0).all()  # ... then zeroed
    event = mest.end_epoch(1)
    assert event is not None and event.pruned > 0 and event.grown > 0
    assert mest.masks.density() == pytest.approx(0.3, abs=0.02)
    assert not torch.equal(before, layer.units)
    grown = layer.units & ~before
    assert (layer.conv.weight[grown] == 0).all()  # regrown at zero


def test_regrown_channels_are_reinitialised_with_fresh_batchnorm_and_moments():
    model = tiny()
    mest = MEST(model, MESTConfig(0.5, Scheme.CHANNEL, mutation_ratio=0.5, mutate_every=1), 6)
    opt = torch.optim.AdamW(model.parameters())
    sum(t.sum() for t in model(torch.rand(2, 3, 64, 96))).backward()
    mest.after_backward()
    opt.step()
    mest.after_step()
    before = [m.units.clone() for m in mest.masks.layers]
    assert mest.end_epoch(1, opt) is not None
    revived = 0
    for m, old in zip(mest.masks.layers, before):
        grown = m.units & ~old
        for p in m.members():
            w = p.conv.weight[grown]  # re-initialised like a new convolution
            assert (w != 0).all() and w.abs().max() <= 1 / math.sqrt(w[0].numel())
            assert (p.bn.weight[grown] == 1).all() and (p.bn.bias[grown] == 0).all()
            assert (p.bn.running_var[grown] == 1).all()
            for t in (p.conv.weight, p.bn.weight):
                assert (opt.state[t]["exp_avg_sq"][grown] == 0).all()  # fresh moments
        revived += int(grown.sum())
    assert revived > 0
    # a regrown channel receives a weight gradient again (a zero BatchNorm scale blocked it)
    model.zero_grad()
    sum(t.sum() for t in model(torch.rand(2, 3, 64, 96))).backward()
    m, old = next((m, o) for m, o in zip(mest.masks.layers, before) if (m.units & ~o).any())
    assert m.conv.weight.grad[m.units & ~old].abs().sum() > 0


def test_unstructured_regrowth_is_at_zero_with_fresh_moments():
    model = tiny()
    mest = MEST(model, MESTConfig(0.3, mutation_ratio=0.5, mutate_every=1), 6)
    opt = torch.optim.AdamW(model.parameters())
    sum(t.sum() for t in model(torch.rand(2, 3, 64, 96))).backward()
    opt.step()
    for st in opt.state.values():  # stale moments everywhere, as after a long run
        st["exp_avg"].fill_(1.0), st["exp_avg_sq"].fill_(1.0)
    before = [m.units.clone() for m in mest.masks.layers]
    mest.end_epoch(1, opt)
    for m, old in zip(mest.masks.layers, before):
        grown, kept = m.units & ~old, m.units & old
        st = opt.state[m.conv.weight]
        assert (m.conv.weight[grown] == 0).all()
        for key in ("exp_avg", "exp_avg_sq"):
            assert (st[key][grown] == 0).all() and (st[key][~m.units] == 0).all()
            survived = kept & (m.conv.weight != 0)  # (not pruned and regrown at once)
            assert survived.any() and (st[key][survived] == 1).all()


def test_erk_keeps_the_budget_and_makes_small_layers_denser():
    shapes = [torch.Size(s) for s in [(48, 48, 3, 3), (16, 16, 3, 3), (24, 16, 1, 1)]]
    dens = erk_densities(shapes, 0.2)
    sizes = [s.numel() for s in shapes]
    assert sum(d * n for d, n in zip(dens, sizes)) == pytest.approx(0.2 * sum(sizes))
    assert dens[0] < 0.2 < dens[1] <= dens[2] <= 1.0
    assert erk_densities(shapes, 1.0) == [1.0, 1.0, 1.0]
    mest = MEST(tiny(), MESTConfig(0.2, allocation=Allocation.ERK), 4)
    assert mest.masks.density() == pytest.approx(0.2, abs=0.01)
    per = {m.name: float(m.units.float().mean()) for m in mest.masks.layers}
    assert len({round(v, 2) for v in per.values()}) > 2  # not uniform
    with pytest.raises(SparseError, match="allocation 'dense' is not one of"):
        MEST(tiny(), MESTConfig(0.2, allocation="dense"), 4)


def test_mutation_ratio_decays_by_phase_and_stops():
    mest = MEST(tiny(), MESTConfig(density=0.2, mutation_ratio=0.4, mutate_every=1), 9)
    ratios = [mest.ratio(e) for e in range(1, 10)]
    assert ratios[:3] == [0.4] * 3 and ratios[3:6] == [0.2] * 3 and ratios[6] == 0.1
    assert ratios[-1] == 0 and ratios[-2] == 0  # past the stop fraction / the last epoch


def test_soft_bound_trains_denser_and_prunes_back():
    mest = MEST(tiny(), MESTConfig(density=0.2, soft_bound=0.1), 4)
    assert mest.masks.density() == pytest.approx(0.3, abs=0.02)
    mest.finish()
    assert mest.masks.density() == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_density_outside_unit_interval_is_refused(bad):
    with pytest.raises(SparseError, match="density"):
        MEST(tiny(), MESTConfig(density=bad), 2)


def test_unknown_and_repeated_domains_are_refused():
    with pytest.raises(SparseError, match="'snow'"):
        check_domains(("day", "snow"))
    with pytest.raises(SparseError, match="repeats"):
        check_domains(("day", "day"))
    with pytest.raises(SparseError, match="no domains"):
        check_domains(())


def test_forgetting_events_and_removal_of_least_forgotten():
    t = ForgettingTracker(5)
    t.update([0, 1, 2, 3], [True, True, True, False])
    t.update([0, 1, 2, 3], [False, True, False, False])
    t.update([0, 2], [True, False])
    t.update([0], [False])
    assert t.events.tolist() == [2, 0, 1, 0, 0]
    assert math.isinf(t.counts()[3]) and math.isinf(t.counts()[4])  # never learned
    removed = t.remove(0.4, np.random.default_rng(0))
    assert sorted(removed.tolist()) == [1, 2]  # 0 and 1 forgetting events, learned
    assert t.active.tolist() == [True, False, False, True, True]


def test_gradient_mask_keeps_top_fraction_and_refreshes():
    model = tiny()
    masks = MaskSet.for_model(model, Scheme.UNSTRUCTURED)
    masks.init_random(0.5, torch.Generator().manual_seed(0))
    dgm = GradientMask(keep=0.2, refresh=2)
    layer = masks.layers[0]
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))  # unmasked
    g = torch.rand_like(layer.conv.weight)
    layer.conv.weight.grad = g.clone()
    first.weight.grad = torch.rand_like(first.weight)
    dgm.apply(conv_targets(model, masks))
    kept = layer.conv.weight.grad != 0
    active = layer.expand() > 0
    assert not (kept & ~active).any()  # only active weights are candidates
    assert kept.sum() == int(0.2 * active.sum())
    assert g[kept].min() >= g[active & ~kept].max()
    assert (first.weight.grad != 0).float().mean() == pytest.approx(0.2, abs=0.01)
    layer.conv.weight.grad = -g.clone()  # same mask reused on the next step
    dgm.apply(conv_targets(model, masks))
    assert torch.equal(layer.conv.weight.grad != 0, kept)


def test_reservoir_buffer_caps_and_samples():
    buf = ReservoirBuffer(5, seed=0)
    for k in range(4):
        x = torch.full((3, 3, 8, 8), float(k))
        b = Batch(x, torch.zeros(3, 4, 2, 2), torch.zeros(3, 4, 2, 2), torch.zeros(3, 2, 2),
                  torch.ones(3, 4, 2, 2))  # fmt: skip
        buf.add(b, torch.zeros(3, 4, 2, 2), torch.ones(3, 4, 2, 2))
    assert len(buf) == 5 and buf.seen == 12
    s = buf.sample(4)
    assert len(s) == 4 and s.logits.shape == (4, 4, 2, 2) and s.log_dist.abs().max() == 0
    assert len(set(buf.store["x"][:, 0, 0, 0].tolist())) > 1  # later batches got slots
    with pytest.raises(SparseError, match="capacity"):
        ReservoirBuffer(0)


def test_flops_dense_matches_hand_count_and_shrink_with_masks_and_dgm():
    model = tiny()
    costs = conv_costs(model, 64, 32)
    first = next(c for c in costs if c.first)
    assert first.macs == 32 * 16 * 3 * 8 * 9  # stride-2 3x3 conv to 8 channels at 32x16
    dense = FlopCounter(costs).per_example()
    assert dense == pytest.approx(sum(2 * c.macs * (2 if c.first else 3) for c in costs))
    masks = MaskSet.for_model(model, Scheme.UNSTRUCTURED)
    masks.init_random(0.1, torch.Generator().manual_seed(0))
    sparse = FlopCounter(costs).per_example(masks)
    assert sparse < 0.5 * dense
    assert FlopCounter(costs).per_example(masks, grad_keep=0.2) < sparse


def test_continual_metrics_on_a_known_matrix():
    r = [[0.8, 0.1, 0.0], [0.5, 0.6, 0.1], [0.4, 0.5, 0.7]]
    assert average_ap(r) == pytest.approx((0.4 + 0.5 + 0.7) / 3)
    assert forgetting(r) == pytest.approx(((0.8 - 0.4) + (0.6 - 0.5)) / 2)
    assert backward_transfer(r) == pytest.approx(((0.4 - 0.8) + (0.5 - 0.6)) / 2)
    assert summary([[0.5]])["forgetting"] == 0.0
    with pytest.raises(SparseError, match="square"):
        average_ap([[0.1, 0.2]])


def test_channel_masks_slim_into_a_smaller_model_with_the_same_output():
    model = tiny()
    x = torch.rand(2, 3, 64, 96)
    masks = MaskSet.for_model(model, Scheme.CHANNEL, exclude=coupled_convs(model, x[:1]))
    assert "lat16.0" not in {m.name for m in masks.layers}  # tied to lat32 by an addition
    masks.init_random(0.5, torch.Generator().manual_seed(0))
    model.train()
    model(x)  # BatchNorm statistics
    model.eval()
    slim = slim_channels(model, masks, x[:1])
    assert param_count(slim) < 0.75 * param_count(model)
    for a, b in zip(model(x), slim(x)):
        assert torch.allclose(a, b, atol=1e-4)
    assert step_time_ratio(model, slim, x, repeats=2) > 0
    un = MaskSet.for_model(model, Scheme.UNSTRUCTURED)
    with pytest.raises(SparseError, match="channel"):
        slim_channels(model, un, x[:1])


def test_matrix_plot_is_written(tmp_path):
    from tools.bench import BENCHMARKS
    from tools.sparse.plot import plot_matrices

    res = {"domains": ["day", "night"], "matrix": [[0.5, 0.1], [0.4, 0.6]], "average_ap": 0.5,
           "forgetting": 0.1}  # fmt: skip
    path = plot_matrices({"derpp": res, "sparcl": res}, tmp_path / "m.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert BENCHMARKS["sparse"] == "tools.bench.sparse:run"


@pytest.mark.parametrize("scheme", [Scheme.UNSTRUCTURED, Scheme.CHANNEL])
def test_masks_from_trained_weights_keep_the_largest(scheme):
    model = tiny()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    gen_state = torch.Generator().manual_seed(0).get_state()
    mest = MEST(model, MESTConfig(density=0.3, scheme=scheme), 6, init_masks=False)
    mest.init_from_weights()
    assert torch.equal(mest.gen.get_state(), gen_state)  # no random draw
    for m in mest.masks.layers:
        w = before[f"{m.name}.weight"].abs()
        score = w.flatten(1).mean(1) if scheme is Scheme.CHANNEL else w
        on = m.units
        assert 0 < int(on.sum()) < on.numel()
        if not m.partners:  # the weakest kept unit outranks the strongest dropped one
            assert score[on].min() >= score[~on].max()
        kept = m.expand() > 0
        assert torch.equal(m.conv.weight[kept], before[f"{m.name}.weight"][kept])
    assert mest.masks.density() == pytest.approx(0.3, abs=0.04)

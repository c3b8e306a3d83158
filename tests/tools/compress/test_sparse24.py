"""method sparse24: exact 2:4 masks held through fine-tuning, the card asking for sparse weights,
and the engine setting SPARSE_WEIGHTS from that card only on sm_80+ (fake TensorRT seam)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from perception.detector.card import load_card, write_card  # noqa: E402
from perception.detector.errors import CardError  # noqa: E402
from stack.engine import EngineOptions, Platform, load_engine  # noqa: E402
from tests.stack.engine.test_loader import FakeTrt  # noqa: E402
from tests.tools.compress.test_compress import SHIPPED, _doc, _session, _tiny  # noqa: E402
from tools.compress.errors import CompressError, RecipeError  # noqa: E402
from tools.compress.methods import load_method  # noqa: E402
from tools.compress.recipe import recipe_from_dict  # noqa: E402
from tools.compress.sparse24 import (  # noqa: E402
    CARD_ENGINE,
    SPEEDUP_RUNTIME,
    Sparse24Target,
    eligible,
    is_24,
    mask_24,
    parse_options,
    sparse24_variant,
)
from tools.train.export import export_onnx  # noqa: E402


def test_mask_keeps_the_two_largest_of_each_four_input_channels():
    torch.manual_seed(0)
    w = torch.randn(3, 8, 3, 3)
    mask = mask_24(w)
    assert mask.shape == w.shape
    groups = mask.permute(0, 2, 3, 1).reshape(-1, 4)
    assert (groups.sum(dim=1) == 2).all()  # exactly 2 of every 4
    # The kept ones are the largest magnitudes of their group.
    mags = w.abs().permute(0, 2, 3, 1).reshape(-1, 4)
    kept_min = torch.where(groups, mags, torch.inf).min(dim=1).values
    dropped_max = torch.where(~groups, mags, -torch.inf).max(dim=1).values
    assert (kept_min >= dropped_max).all()
    assert is_24(w * mask) and not is_24(w)
    # Along *input* channels: zeroing 2 of 4 output channels instead is not 2:4.
    out_sparse = w.clone()
    out_sparse[::2] = 0
    assert not is_24(out_sparse)
    with pytest.raises(CompressError, match="input channels in fours, got 6"):
        mask_24(torch.randn(2, 6, 1, 1))


def test_eligible_convs_and_ignore_names_the_layer():
    model = _tiny((8, 16, 16, 24, 32))
    names = eligible(model, Sparse24Target(min_in_channels=16))
    convs = dict(model.named_modules())
    assert names and all(
        convs[n].in_channels >= 16 and convs[n].in_channels % 4 == 0 for n in names
    )
    assert "stem.0.0" not in names  # 3 input channels
    kept = eligible(model, Sparse24Target(ignore=(names[0],), min_in_channels=16))
    assert kept == names[1:]
    with pytest.raises(CompressError, match=r"options.ignore: the model has no conv 'nope'"):
        eligible(model, Sparse24Target(ignore=("nope",)))


def test_pattern_is_exact_after_fine_tuning_and_the_teacher_untouched(tmp_path):
    teacher = _tiny()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student, names, _ = sparse24_variant(
        _session(tmp_path, teacher), Sparse24Target(min_in_channels=8)
    )
    modules = dict(student.named_modules())
    assert names
    for name in names:
        w = modules[name].weight
        assert is_24(w), name
        assert float((w == 0).float().mean()) >= 0.5
        assert not hasattr(modules[name], "weight_orig")  # masks made permanent
    # Fine-tuning changed the kept weights (the masks held, the rest trained).
    changed = [n for n in names if not torch.equal(modules[n].weight, before[f"{n}.weight"])]
    assert changed
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())
    onnx_path = export_onnx(student, tmp_path / "s24.onnx", 64, 64)
    assert _onnx_24_convs(onnx_path) == set(names)  # exported as it trained (BN folded in)


def _onnx_24_convs(path) -> set[str]:
    """Names of the ONNX Conv nodes (as torch layer names) whose weights are 2:4."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    found = set()
    for node in graph.node:
        w = inits.get(node.input[1]) if node.op_type == "Conv" else None
        if w is not None and w.shape[1] % 4 == 0 and is_24(torch.from_numpy(np.array(w))):
            found.add(node.name.split("/")[-2])
    return found


def test_options_are_checked_naming_the_key():
    def recipe(options):
        return recipe_from_dict(_doc(method="sparse24", options=options), "r.yaml")

    assert parse_options(recipe({})) == Sparse24Target()
    assert callable(load_method("sparse24"))
    for options, message in [
        ({"name": "a b"}, r"options.name must be letters"),
        ({"ignore": "x"}, r"options.ignore must be a list of layer names"),
        ({"min_in_channels": 2}, r"options.min_in_channels must lie in \[4,"),
        ({"ratio": 0.5}, r"unknown key options.ratio"),
    ]:
        with pytest.raises(RecipeError, match=message):
            parse_options(recipe(options))


def test_card_asks_for_sparse_weights_and_the_engine_sets_them_on_sm80_only(tmp_path, caplog):
    caplog.set_level(logging.INFO, "stack.engine")
    card = dataclasses.replace(
        load_card(SHIPPED), engine=CARD_ENGINE, provenance={"speedup_runtime": SPEEDUP_RUNTIME}
    )
    path = write_card(card, tmp_path / "s24.yaml")
    read = load_card(path)
    assert read.engine == {"sparse_weights": True}
    assert "Xavier (sm_72" in read.provenance["speedup_runtime"]
    assert "no faster on ONNX Runtime" in read.provenance["speedup_runtime"]
    model = tmp_path / "m.onnx"
    model.write_bytes(SHIPPED.with_suffix(".onnx").read_bytes())
    builds = {}
    for gpu, cc in (("Xavier", "7.2"), ("Orin", "8.7")):
        fake = FakeTrt(tmp_path, gpu=gpu)
        fake.platform = Platform("8.5.2.2", gpu, cc)
        options = EngineOptions.of(
            backend="tensorrt", precision="fp16", cache_dir=tmp_path / gpu, **read.engine
        )
        load_engine(model, options, trt_api=fake)
        builds[gpu] = fake.builds[0]["options"].sparse_weights
    assert builds == {"Xavier": False, "Orin": True}
    assert "sm_72 (Jetson AGX Xavier) has no sparse tensor cores" in caplog.text


def test_card_engine_key_is_checked(tmp_path):
    path = write_card(load_card(SHIPPED), tmp_path / "c.yaml")
    text = path.read_text()
    path.write_text(text + "engine: {sparse_weights: 1}\n")
    with pytest.raises(CardError, match=r"engine.sparse_weights: expected bool, got 1"):
        load_card(path)
    path.write_text(text + "engine: {dla_core: 0}\n")
    with pytest.raises(CardError, match=r"engine.dla_core: unknown key"):
        load_card(path)

"""A compression fine-tune stopped after an epoch resumes from its checkpoint and ends with the
weights of an uninterrupted run; a finished variant's checkpoints are removed."""

from __future__ import annotations

import pytest
import torch

from tools.compress.finetune import BatchSource, checkpoint_path, drop_checkpoints, finetune
from tools.compress.recipe import FinetuneSpec
from tools.train import checkpoint as ckpt
from tools.train.data import read_frames
from tools.train.detector_model import TinyCenterNet
from tools.train.errors import TrainError
from tools.train.train import TrainConfig


class Stop(Exception):
    pass


def _run(frames, path=None):
    torch.manual_seed(0)
    student = TinyCenterNet(4, (8, 8, 16, 16, 16), 4)
    torch.manual_seed(1)
    teacher = TinyCenterNet(4, (8, 16, 16, 16, 16), 4).eval()
    source = BatchSource(frames, TrainConfig(widths=(8, 8, 16, 16, 16)), seed=3)
    spec = FinetuneSpec(epochs=2, batch_size=2, lr=1e-3, distill=1.0, threads=1)
    result = finetune(student, teacher, source, spec, "t", checkpoint=path)
    return student, result


def test_a_resumed_fine_tune_ends_with_the_weights_of_an_uninterrupted_one(
    scenario_bag, tmp_path, monkeypatch
):
    frames = read_frames([scenario_bag], every=2, size=(320, 192))[:4]
    through, full = _run(frames)
    path = checkpoint_path(tmp_path, "v")
    real_save = ckpt.save

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        raise Stop

    monkeypatch.setattr(ckpt, "save", save_then_stop)
    with pytest.raises(Stop):
        _run(frames, path)
    monkeypatch.setattr(ckpt, "save", real_save)
    resumed, result = _run(frames, path)
    assert result.steps == full.steps == 4 and [h["epoch"] for h in result.history] == [1, 2]
    a, b = through.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TrainError, match="checkpoint was made with epochs=2"):
        student = TinyCenterNet(4, (8, 8, 16, 16, 16), 4)
        source = BatchSource(frames, TrainConfig(widths=(8, 8, 16, 16, 16)), seed=3)
        finetune(student, None, source, FinetuneSpec(epochs=3, batch_size=2, threads=1), "t",
                 checkpoint=path)  # fmt: skip
    drop_checkpoints(tmp_path, "v")
    assert not path.exists() and not path.parent.exists()

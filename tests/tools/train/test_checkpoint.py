"""Resumable detector training: a run stopped after an epoch and resumed from its checkpoint
ends with the same weights as one that ran through; a checkpoint of other options is refused."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tools.train import checkpoint as ckpt
from tools.train.data import read_frames
from tools.train.errors import TrainError

TINY = (8, 8, 16, 16, 16)


class Stop(Exception):
    pass


def _frames(tiny_scenario):
    return read_frames([tiny_scenario], every=2, size=(320, 192))[:8]


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    tiny_scenario, tmp_path, monkeypatch
):
    from tools.train.train import TrainConfig, train

    frames = _frames(tiny_scenario)
    cfg = TrainConfig(epochs=2, batch_size=4, widths=TINY, threads=1)
    through = train(frames, cfg)
    path = tmp_path / "run.ckpt"
    real_save = ckpt.save

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        raise Stop  # killed right after epoch 1's checkpoint

    monkeypatch.setattr(ckpt, "save", save_then_stop)
    with pytest.raises(Stop):
        train(frames, cfg, path)
    monkeypatch.setattr(ckpt, "save", real_save)
    assert path.exists() and not path.with_name("run.ckpt.tmp").exists()
    resumed = train(frames, cfg, path)
    assert resumed.epochs_run == 2 and resumed.steps == through.steps == 2 * (len(frames) // 4)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    a, b = _weights(through.model), _weights(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # A finished checkpoint trains no further: same weights again.
    again = train(frames, cfg, path)
    assert all(torch.equal(a[k], v) for k, v in _weights(again.model).items())


def test_a_checkpoint_of_other_options_is_refused_naming_the_option(tiny_scenario, tmp_path):
    from tools.train.train import TrainConfig, train

    frames = _frames(tiny_scenario)
    path = tmp_path / "run.ckpt"
    train(frames, TrainConfig(epochs=1, batch_size=4, widths=TINY, threads=1), path)
    other = TrainConfig(epochs=1, batch_size=4, widths=(8, 8, 16, 16, 24), threads=1)
    with pytest.raises(
        TrainError, match=r"run\.ckpt: checkpoint was made with widths=\(8, 8, 16, 16, 16\)"
    ):
        train(frames, other, path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match=r"run\.ckpt: cannot read the checkpoint"):
        train(frames, TrainConfig(epochs=1, batch_size=4, widths=TINY, threads=1), path)


def test_widths_are_checked_in_the_config_and_on_the_command_line():
    from tools.train.train import TrainConfig

    with pytest.raises(TrainError, match=r"widths must be 5 channel counts >= 1.*got 8,8,16"):
        TrainConfig(widths=(8, 8, 16)).validate()
    proc = subprocess.run(
        [sys.executable, "-m", "stack.cli", "train", "detector", "--widths", "24,48,x"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "--widths '24,48,x': not a comma list" in proc.stderr

"""`sdar sft --save-every N` / `--resume`: a warm start cut short goes on from OUT/checkpoint and ends as
the uninterrupted run does; an unfinished run is neither written over nor resumed with other options or
other demonstrations."""

import json

import pytest
import torch
from safetensors.torch import load_file

import sdar.sft.checkpoint as checkpoint
from sdar.config import ConfigError
from sdar.sft.run import SFTOptions, run_sft
from sdar.train.checkpoint import CheckpointError

BASE = dict(model="tiny", episodes=2, epochs=2, lr=1e-3, batch_tokens=512, micro_batch_tokens=512,
            gap_episodes=0, max_turns=8, progress=False)


class Cut(Exception):
    """Stands for the process being killed right after a checkpoint was written."""


def interrupted(out, monkeypatch, at_batch: int, **options) -> None:
    """Run until the checkpoint after `at_batch` optimizer steps is written, then stop."""
    save = checkpoint.save_sft_checkpoint

    def save_then_cut(out_dir, model, state, **kw):
        save(out_dir, model, state, **kw)
        if state["batches"] == at_batch:
            raise Cut

    monkeypatch.setattr(checkpoint, "save_sft_checkpoint", save_then_cut)
    with pytest.raises(Cut):
        run_sft(SFTOptions(out=str(out), save_every=1, **BASE, **options))
    monkeypatch.undo()


def without_times(epochs: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "perf/epoch_seconds"} for e in epochs]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The uninterrupted run (no checkpoints) everything is compared with."""
    out = tmp_path_factory.mktemp("whole")
    record = run_sft(SFTOptions(out=str(out), **BASE))
    return record, load_file(out / "model" / "model.safetensors")


@pytest.mark.parametrize("where", ["inside the first epoch", "at the end of the first epoch"])
def test_a_resumed_warm_start_ends_as_the_uninterrupted_one(whole, tmp_path, monkeypatch, where):
    record, weights = whole
    per_epoch = record["epochs"][0]["sft/batches"]
    assert per_epoch >= 3  # else the test would not cut inside an epoch
    out = tmp_path / "cut"
    interrupted(out, monkeypatch, at_batch=per_epoch - 1 if where.startswith("inside") else per_epoch)
    assert not (out / "model").exists() and (out / "checkpoint" / "state.json").is_file()

    resumed = run_sft(SFTOptions(out=str(out), save_every=1, resume=True, **BASE))
    assert without_times(resumed["epochs"]) == without_times(record["epochs"])
    assert resumed["demos"] == record["demos"]
    again = load_file(out / "model" / "model.safetensors")
    assert again.keys() == weights.keys()
    assert all(torch.equal(again[k], weights[k]) for k in weights)
    assert not (out / "checkpoint").exists()  # a finished run leaves no checkpoint to resume
    # the seconds before the cut count, in the resumed epoch's time and in the run's
    assert resumed["perf/train_seconds"] >= sum(e["perf/epoch_seconds"] for e in resumed["epochs"])
    assert json.loads((out / "sft.json").read_text())["options"]["resume"] is True


def test_an_unfinished_run_is_neither_written_over_nor_resumed_otherwise(tmp_path, monkeypatch):
    out = tmp_path / "cut"
    interrupted(out, monkeypatch, at_batch=2)
    state = (out / "checkpoint" / "state.json").read_text()
    with pytest.raises(ConfigError, match="unfinished warm start.*--resume"):
        run_sft(SFTOptions(out=str(out), **BASE))
    changed = {**BASE, "lr": 2e-3}
    with pytest.raises(ConfigError, match=r"--lr 0\.001 \(now 0\.002\)"):
        run_sft(SFTOptions(out=str(out), resume=True, **changed))
    assert (out / "checkpoint" / "state.json").read_text() == state  # nothing lost
    # demonstrations that come out otherwise (another version of the code or of the game files)
    (out / "checkpoint" / "state.json").write_text(json.dumps({**json.loads(state), "demos": "0" * 64}))
    with pytest.raises(ConfigError, match="demonstrations played now differ.*without --resume"):
        run_sft(SFTOptions(out=str(out), resume=True, **BASE))
    (out / "checkpoint" / "state.json").write_text(state)
    (out / "checkpoint" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="unreadable.*delete it"):
        run_sft(SFTOptions(out=str(out), resume=True, **BASE))
    with pytest.raises(ConfigError, match="no checkpoint"):
        run_sft(SFTOptions(out=str(tmp_path / "empty"), resume=True, **BASE))


def test_save_every_must_not_be_negative():
    with pytest.raises(ConfigError, match="--save-every"):
        run_sft(SFTOptions(out="unused", save_every=-1, **BASE))


def test_a_train_run_cut_during_its_chained_warm_start_resumes_the_warm_start(tmp_path, monkeypatch):
    """`sdar train --warmstart.*` killed during its warm start: `--resume` goes on from the warm start's
    checkpoint and RL starts from the warm model (it used to skip the warm start and train the base model)."""
    from sdar.cli import main

    run = tmp_path / "run"
    save = checkpoint.save_sft_checkpoint

    def save_then_cut(out_dir, model, state, **kw):
        save(out_dir, model, state, **kw)
        raise Cut

    monkeypatch.setattr(checkpoint, "save_sft_checkpoint", save_then_cut)
    with pytest.raises(Cut):
        main(["train", "--preset", "tiny", "--no-progress", "--train.steps", "1", "--out", str(run),
              "--warmstart.episodes", "2", "--warmstart.save_every", "1"])
    monkeypatch.undo()
    assert (run / "warmstart" / "checkpoint" / "state.json").is_file() and not (run / "warmstart" / "model").exists()

    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    warm = run / "warmstart"
    assert json.loads((warm / "sft.json").read_text())["options"]["resume"] is True
    assert json.loads((run / "config.json").read_text())["model"]["path"] == str((warm / "model").resolve())
    assert not (warm / "checkpoint").exists() and (run / "final" / "model.safetensors").is_file()

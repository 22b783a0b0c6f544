"""`sdar sft`'s checkpoint, so that a long warm start cut short (a CPU run takes most of an hour) goes on.

OUT/checkpoint/ holds the weights being trained (`model.safetensors`, written after any LoRA or layer
freezing, so it loads back into the same module), the optimizer and schedule states (`optimizer.pt`, read
with `torch.load(weights_only=True)`) and `state.json`: the batches done, the finished epochs' records, the
current epoch's sums, the training seconds spent, the options of the run and a digest of the demonstrations
trained on (`demos_digest`). It is written under a temporary name and renamed when complete, and removed
once OUT/model and OUT/sft.json are written. The demonstrations are not saved: they are a function of the
options, so a resumed run plays them again, and refuses to go on if they come out otherwise (another
version of the code or of the game files). This module knows nothing about the update itself
(`sdar.sft.fit`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from sdar.config import ConfigError
from sdar.train.checkpoint import CheckpointError

CHECKPOINT = "checkpoint"
# Options that do not change what is trained: they may differ between a run and its resume.
FREE = ("out", "progress", "resume", "save_every", "device")


def demos_digest(demos: list) -> str:
    """sha256 of the demonstrations as trained (in order: prompt and response token ids, negatives)."""
    digest = hashlib.sha256()
    for d in demos:
        digest.update(json.dumps([d.prompt_ids, d.response_ids, d.negatives]).encode())
    return digest.hexdigest()


def save_sft_checkpoint(out: Path, model, state: dict, *, options: dict, demos: str, train_seconds: float) -> None:
    """Write OUT/checkpoint atomically from `sdar.sft.fit.sft`'s `state` (a write that fails leaves the
    previous checkpoint as it was)."""
    final, tmp = Path(out) / CHECKPOINT, Path(out) / f".{CHECKPOINT}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_model(model, tmp / "model.safetensors")  # handles tied (shared) weights
        torch.save({"optimizer": state["optimizer"], "schedule": state["schedule"],
                    "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt")
        record = {"batches": state["batches"], "metrics": state["metrics"], "sums": state["sums"],
                  "train_seconds": train_seconds, "options": options, "demos": demos}
        (tmp / "state.json").write_text(json.dumps(record, indent=1) + "\n")
    except Exception as err:  # noqa: BLE001 - OSError, or torch's/safetensors' own errors on a full disk
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(err, "strerror", None) or (str(err).strip().splitlines() or [""])[0][:160]
        raise CheckpointError(f"could not write the warm start's checkpoint {final} ({type(err).__name__}: "
                              f"{reason}); the previous one, if any, is intact - free disk space and go on "
                              "with --resume") from err
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def load_sft_checkpoint(out: Path, model, *, options: dict, demos: str) -> dict:
    """Restore OUT/checkpoint's weights into `model` and return the state `sft(resume=...)` takes, plus
    `train_seconds`; a ConfigError says what to do when there is none, or the options or the demonstrations
    (`demos`: their `demos_digest`) differ."""
    path = Path(out) / CHECKPOINT
    if not (path / "state.json").is_file():
        raise ConfigError(f"--resume: no checkpoint in {path}; nothing to resume (run without --resume, and "
                          "with --save-every N to write checkpoints)")
    try:
        record = json.loads((path / "state.json").read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} is unreadable (state.json: {err}); delete it and start afresh "
                              "without --resume") from None
    changed = sorted(k for k in set(options) | set(record["options"])
                     if k not in FREE and options.get(k) != record["options"].get(k))
    if changed:
        was = ", ".join(f"--{k.replace('_', '-')} {record['options'].get(k)!r} (now {options.get(k)!r})"
                        for k in changed)
        raise ConfigError(f"--resume: the checkpoint in {path} was written with {was}; resume with the same "
                          "options, or start afresh without --resume in another --out")
    if record.get("demos") != demos:
        raise ConfigError(f"--resume: the demonstrations played now differ from those the checkpoint in {path} "
                          "was trained on (another version of sdar or of the game files?); finish with the "
                          "version that wrote it, or start afresh without --resume in another --out")
    try:
        load_model(model, path / "model.safetensors")
        states = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        torch.set_rng_state(states["torch_rng"])
    except Exception as err:  # noqa: BLE001 - any damage reads as one clear message
        first_line = (str(err).strip().splitlines() or [""])[0][:160]
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}: {first_line}); delete "
                              "it and start afresh without --resume") from None
    return {**record, "optimizer": states["optimizer"], "schedule": states["schedule"]}


def check_no_checkpoint(out: Path) -> None:
    """A run without --resume must not write over an unfinished run's checkpoint: ConfigError, nothing touched."""
    path = Path(out) / CHECKPOINT
    if (path / "state.json").is_file():
        raise ConfigError(f"--out {out} holds an unfinished warm start's checkpoint ({path}); continue it with "
                          "--resume and the same options, or delete that directory to start afresh")


def remove_sft_checkpoint(out: Path) -> None:
    shutil.rmtree(Path(out) / CHECKPOINT, ignore_errors=True)

"""Checkpoints: written atomically, the last K kept, loaded without unpickling untrusted data.

A checkpoint directory `checkpoints/step_000012/` holds the model (and tokenizer) in Hugging Face
format, the EMA teacher when there is one, the optimizer state (`torch.load(weights_only=True)`),
the random states as safetensors, and `state.json`. It is written under a temporary name and renamed
when complete, so a crash or a full disk never leaves a half checkpoint where resume would look, and
the previous checkpoint stays intact. Task sampling is a pure function of (seed, step) and needs no
state. This module knows nothing about losses or environments.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file, save_model

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^step_(\d{6,})$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing or unreadable; the message names it and what to do."""


@dataclass
class Resumed:
    step: int
    model_dir: Path
    optimizer_state: dict
    rng: dict[str, torch.Tensor]
    ema_file: Path | None


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temporary directories are ignored)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def save_checkpoint(run_dir: Path, step: int, *, model, tokenizer, optimizer, sampler_states: list[torch.Tensor],
                    ema_model=None, keep: int = 2, model_state: dict | None = None,
                    optimizer_state: dict | None = None) -> Path:
    """Write checkpoint `step` atomically; `sampler_states` holds every rank's sampling generator state.
    `model_state` and `optimizer_state`, when given, replace the model's and optimizer's own state dicts
    (under FSDP those hold only this rank's shards; `Dist.model_state` gathers the whole ones)."""
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp_step_{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp / "model", safe_serialization=True, state_dict=model_state)
        tokenizer.save_pretrained(tmp / "model")
        if ema_model is not None:
            save_model(ema_model, tmp / "ema.safetensors")  # handles tied (shared) weights
        torch.save(optimizer.state_dict() if optimizer_state is None else optimizer_state, tmp / "optimizer.pt")
        rng = {"sampler" if r == 0 else f"sampler_rank{r}": state for r, state in enumerate(sampler_states)}
        save_file({**rng, "torch": torch.get_rng_state()}, tmp / "rng.safetensors")
        (tmp / "state.json").write_text(json.dumps({"step": step}))
        _fsync_tree(tmp)
    except Exception as err:  # noqa: BLE001 - OSError, or torch's/safetensors' own errors on a full disk
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(err, "strerror", None) or (str(err).strip().splitlines() or [""])[0][:160]
        hint = "free disk space" if isinstance(err, OSError) else "if the disk is full, free space"
        raise CheckpointError(f"could not write checkpoint {final} ({type(err).__name__}: {reason}); the previous "
                              f"checkpoint is intact - {hint} and resume with --resume") from err
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in checkpoint_dirs(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _fsync_tree(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())


def load_latest(run_dir: Path) -> Resumed:
    """The newest complete checkpoint of a run, or CheckpointError saying why not."""
    dirs = checkpoint_dirs(run_dir)
    if not dirs:
        raise CheckpointError(f"no checkpoint in {Path(run_dir) / CHECKPOINTS}; nothing to resume "
                              "(train with --train.save_every N to write checkpoints)")
    path = dirs[-1]
    try:
        step = int(json.loads((path / "state.json").read_text())["step"])
        optimizer_state = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        rng = load_file(path / "rng.safetensors")
        ema = path / "ema.safetensors" if (path / "ema.safetensors").is_file() else None
        if not any((path / "model" / name).is_file() for name in ("config.json", "adapter_config.json")):
            raise FileNotFoundError("model/config.json (or adapter_config.json for LoRA)")
    except Exception as err:  # noqa: BLE001 - any damage reads as one clear message
        first_line = (str(err).strip().splitlines() or [""])[0][:160]
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}: {first_line}); delete "
                              "it to resume from the one before, if any") from None
    return Resumed(step, path / "model", optimizer_state, rng, ema)


def start_afresh(run_dir: Path, *, remove: bool = True, keep: Path | None = None) -> None:
    """Before a fresh run (no --resume) in `run_dir`: a finished earlier run's checkpoints and final model
    are removed (by the rank with `remove`), so that rotation, a later --resume and `sdar export` see only
    the new run's, except one holding `keep` (the model the new run starts from, e.g. RUN/final); an
    unfinished run, which --resume would continue, is refused (CheckpointError) with nothing touched."""
    earlier = checkpoint_dirs(run_dir)
    holds_keep = lambda path: keep is not None and Path(keep).resolve().is_relative_to(path.resolve())  # noqa: E731
    if not earlier:
        final = Path(run_dir) / "final"  # a run of ours (its config.json) whose checkpoints were deleted
        if remove and (Path(run_dir) / "config.json").is_file() and not holds_keep(final):
            shutil.rmtree(final, ignore_errors=True)
        return
    last = int(_NAME.match(earlier[-1].name).group(1))
    try:
        steps = int(json.loads((Path(run_dir) / "config.json").read_text())["train"]["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        steps = None
    if steps is None or last < steps:
        of = f" of {steps}" if steps else ""
        raise CheckpointError(f"{run_dir} holds an unfinished run (checkpoints up to step {last}{of}); continue it "
                              f"with --resume {run_dir}, or start afresh in another --out or after deleting it")
    for path in [*earlier, Path(run_dir) / "final"] if remove else []:
        if not holds_keep(path):
            shutil.rmtree(path, ignore_errors=True)


def truncate_jsonl(path: Path, last_step: int) -> None:
    """Keep only the records of steps <= last_step (a resumed run rewrites the steps after it)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line]
    kept = []
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # a write cut off by the crash that is being resumed from
                break
            raise CheckpointError(f"{path} line {i + 1} is not JSON; mend or delete that line to resume") from None
        if record["step"] <= last_step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))

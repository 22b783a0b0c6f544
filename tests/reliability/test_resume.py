"""Kill a run with SIGKILL mid-step, resume it, and end exactly where an uninterrupted run ends."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sdar.cli import main

STEPS = 5


def launch(out: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sdar", "train", "--preset", "tiny", "--out", str(out), "--no-progress",
           "--train.steps", str(STEPS), "--train.save_every", "1", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def comparable(run: Path) -> list[dict]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("perf/") or k in ("perf/grad_norm", "perf/skipped_step")}
            for r in lines]


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    whole = launch(tmp_path / "whole")
    assert whole.wait(timeout=600) == 0, whole.stderr.read().decode()[-2000:]

    killed = launch(tmp_path / "killed")
    marker = tmp_path / "killed" / "checkpoints" / "step_000002"
    deadline = time.time() + 600
    while not marker.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert killed.poll() is None, "the run finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    done = [json.loads(x)["step"] for x in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert max(done) < STEPS

    assert main(["train", "--resume", str(tmp_path / "killed"), "--no-progress"]) == 0
    assert comparable(tmp_path / "killed") == comparable(tmp_path / "whole")
    a = load_file(tmp_path / "whole" / "final" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "final" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    kept = sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir())
    assert kept == ["step_000004", "step_000005"]


def test_resume_refuses_config_changes_and_missing_runs(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    from sdar.config import build_config, to_json

    (tmp_path / "run" / "config.json").write_text(to_json(build_config("tiny", {})))
    assert main(["train", "--resume", str(tmp_path / "run"), "--loss.beta", "2"]) == 2
    assert "only --train.steps" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "run"), "--preset", "paper"]) == 2  # was silently ignored
    assert "drop --preset" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "run")]) == 1
    assert "no checkpoint" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    assert main(["train", "--preset", "tiny", "--out", str(out), "--no-progress", "--train.steps", "2",
                 "--train.save_every", "1"]) == 0
    return out


def test_corrupt_checkpoint_is_one_clear_line(finished_run, capsys, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    (run / "checkpoints" / "step_000002" / "optimizer.pt").write_bytes(b"not a checkpoint")
    assert main(["train", "--resume", str(run), "--train.steps", "3", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert "unreadable" in err and "step_000002" in err and "\n" not in err


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),  # a plain write
                                   RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0"),
                                   ])  # torch.save's own error on a full disk (safetensors raises its own too)
def test_full_disk_keeps_the_previous_checkpoint(finished_run, monkeypatch, tmp_path, error):
    import shutil

    from sdar.train import checkpoint
    from sdar.train.checkpoint import CheckpointError, checkpoint_dirs, load_latest

    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)

    def no_space(*args, **kwargs):
        raise error

    monkeypatch.setattr(checkpoint.torch, "save", no_space)
    model, tok = __import__("sdar.models", fromlist=["load_model"]).load_model("tiny")
    optimizer = torch.optim.AdamW(model.parameters())
    with pytest.raises(CheckpointError, match="No space left|enforce fail"):
        checkpoint.save_checkpoint(run, 3, model=model, tokenizer=tok, optimizer=optimizer,
                                   sampler_states=[torch.Generator().get_state()])
    assert [p.name for p in checkpoint_dirs(run)] == ["step_000001", "step_000002"]
    assert load_latest(run).step == 2
    assert not any(p.name.startswith(".tmp") for p in (run / "checkpoints").iterdir())


def test_ema_teacher_survives_resume(tmp_path):
    args = ["train", "--preset", "tiny", "--no-progress", "--teacher.mode", "ema", "--train.save_every", "1"]
    assert main(args + ["--out", str(tmp_path / "a"), "--train.steps", "3"]) == 0
    assert main(args + ["--out", str(tmp_path / "b"), "--train.steps", "2"]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "--train.steps", "3", "--no-progress"]) == 0
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("eval/")} for r in rows]  # noqa: E731
    assert strip(comparable(tmp_path / "a")) == strip(comparable(tmp_path / "b"))  # b evaluated at step 2 too


def test_a_fresh_run_replaces_a_finished_run_and_refuses_an_unfinished_one(finished_run, capsys, tmp_path):
    """Without --resume: a finished run's checkpoints go (rotation and a later --resume would mix them with
    the new run's); an unfinished run, which --resume would continue, stops the new one before it writes."""
    import shutil

    unfinished = tmp_path / "unfinished"
    shutil.copytree(finished_run, unfinished)
    config = json.loads((unfinished / "config.json").read_text())
    config["train"]["steps"] = 5
    (unfinished / "config.json").write_text(json.dumps(config))
    before = {name: (unfinished / name).read_text() for name in ("config.json", "metrics.jsonl")}
    args = ["train", "--preset", "tiny", "--no-progress", "--train.steps", "1"]
    assert main(args + ["--out", str(unfinished)]) == 1
    err = capsys.readouterr().err
    assert "unfinished run (checkpoints up to step 2 of 5)" in err and f"--resume {unfinished}" in err
    assert {name: (unfinished / name).read_text() for name in before} == before  # nothing of it is lost
    assert sorted(p.name for p in (unfinished / "checkpoints").iterdir()) == ["step_000001", "step_000002"]
    assert main(["train", "--resume", str(unfinished), "--no-progress", "--train.steps", "1"]) == 1
    assert "--train.steps 1 is below the step of the checkpoint to resume (2)" in capsys.readouterr().err

    finished = tmp_path / "finished"
    shutil.copytree(finished_run, finished)
    before = {name: (finished / name).read_text() for name in ("config.json", "metrics.jsonl")}
    assert main(args + ["--out", str(finished), "--model.path", str(tmp_path / "typo")]) != 0
    assert "--model.path" in capsys.readouterr().err  # stopped before it replaced anything of the finished run
    assert {name: (finished / name).read_text() for name in before} == before
    assert sorted(p.name for p in (finished / "checkpoints").iterdir()) == ["step_000001", "step_000002"]
    (finished / "final" / "adapter_config.json").write_text("{}")  # as a LoRA run would have left in final/
    assert main(args + ["--out", str(finished)]) == 0
    assert sorted(p.name for p in (finished / "checkpoints").iterdir()) == ["step_000001"]
    assert not (finished / "final" / "adapter_config.json").exists()  # final/ is the new run's alone
    assert main(["train", "--resume", str(finished), "--no-progress"]) == 0  # the new run's own step 1: done


def test_truncate_jsonl_drops_a_cut_off_last_line_and_names_a_damaged_one(tmp_path):
    from sdar.train.checkpoint import CheckpointError, truncate_jsonl

    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4, "lo')  # killed mid-write
    truncate_jsonl(log, 2)
    assert log.read_text() == '{"step": 1}\n{"step": 2}\n'
    log.write_text('{"step": 1}\n{"ste\n{"step": 3}\n')
    with pytest.raises(CheckpointError, match="line 2 is not JSON"):
        truncate_jsonl(log, 2)
    assert log.read_text() == '{"step": 1}\n{"ste\n{"step": 3}\n'


def test_a_relative_model_path_is_recorded_absolute(tiny, tmp_path, monkeypatch):
    """So that --resume and sdar export find the base model from any directory."""
    model, tokenizer = tiny
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "tiny", "--no-progress", "--model.path", "base", "--out", "run",
                 "--train.steps", "1"]) == 0
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["model"]["path"]
    assert recorded == str((tmp_path / "base").resolve())


def test_a_fresh_run_keeps_the_model_it_starts_from(tmp_path):
    """`sdar train --model runs/latest/final` in runs/latest: the finished run's final/ is what it loads."""
    from sdar.train.checkpoint import start_afresh

    run = tmp_path / "run"
    (run / "checkpoints" / "step_000001" / "model").mkdir(parents=True)
    (run / "final").mkdir()
    (run / "config.json").write_text(json.dumps({"train": {"steps": 1}}))
    start_afresh(run, keep=run / "final")
    assert (run / "final").is_dir() and not (run / "checkpoints" / "step_000001").exists()
    (run / "checkpoints" / "step_000001" / "model").mkdir(parents=True)
    start_afresh(run, keep=run / "checkpoints" / "step_000001" / "model")
    assert (run / "checkpoints" / "step_000001").is_dir() and not (run / "final").exists()
    (tmp_path / "elsewhere" / "final").mkdir(parents=True)  # not a run of ours (no config.json): left alone
    start_afresh(tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "final").is_dir()

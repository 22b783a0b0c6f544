"""The whole loop on the tiny preset: files written, losses finite, gate statistics logged, weights moved."""

import json
import math

import torch
from safetensors.torch import load_file

from sdar.config import build_config
from sdar.models import resolve_model_path
from sdar.train.loop import train

REQUIRED = ["step", "rollout/success_rate", "rollout/reward_mean", "loss/policy", "loss/kl", "distill/loss",
            "distill/gate_mean", "distill/gate_active_ratio", "distill/teacher_gap_mean", "perf/step_seconds"]


def test_tiny_sdar_run(tmp_path):
    cfg = build_config("tiny", {"train.out": str(tmp_path / "run"), "train.steps": "2", "train.eval_every": "1"})
    out = train(cfg, progress=False)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2]
    for record in lines:
        for key in REQUIRED:
            assert key in record and math.isfinite(record[key]), key
        assert 0 <= record["distill/gate_mean"] <= 1
        assert record["perf/skipped_step"] == 0
        assert "eval/success_rate" in record
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert samples and all(len(s["tokens"]) == len(s["gate"]) == len(s["gap"]) for s in samples)
    assert json.loads((out / "config.json").read_text())["loss"]["algo"] == "sdar"
    before = load_file(resolve_model_path("tiny") / "model.safetensors")
    after = load_file(out / "final" / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_tiny_grpo_run_has_no_distillation(tmp_path):
    cfg = build_config("tiny", {"train.out": str(tmp_path / "run"), "train.steps": "1", "loss.algo": "grpo"})
    out = train(cfg, progress=False)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert "distill/loss" not in record and math.isfinite(record["loss/policy"])

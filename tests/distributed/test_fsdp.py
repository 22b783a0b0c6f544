"""Two CPU processes (gloo) with FSDP2 (`--train.shard fsdp`) take the same optimizer steps as one unsharded
process, write the same whole checkpoints, and resume from them.

One micro-batch per sample, and 3 tasks over 2 ranks: the ranks roll out and back-propagate different
numbers of episodes, turns and micro-batches, so generation under `full_weights` and the update's idle
passes are both exercised (a mismatch would deadlock, not just differ)."""

import json
import sys

import pytest
import torch
from safetensors.torch import load_file

from sdar.config import ConfigError, build_config
from tests.distributed.test_ddp import SCRIPT, run

UNEVEN = ["optim.micro_batch_tokens=1", "rollout.tasks_per_step=3"]


def assert_same_weights(a_dir, b_dir):
    a, b = load_file(a_dir / "model.safetensors"), load_file(b_dir / "model.safetensors")
    assert a.keys() == b.keys()  # tied embeddings saved once, as a single process saves them
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def assert_same_optimizer(a_file, b_file):
    a, b = (torch.load(f, weights_only=True) for f in (a_file, b_file))
    assert a["param_groups"] == b["param_groups"] and a["state"].keys() == b["state"].keys()
    for index, state in a["state"].items():
        for key, value in state.items():
            torch.testing.assert_close(value, b["state"][index][key], rtol=1e-5, atol=1e-7)


def test_fsdp_two_processes_match_one_and_resume(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    run([sys.executable, str(SCRIPT), str(one), "train.steps=2", "train.save_every=1", *UNEVEN], tmp_path)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29534",
                str(SCRIPT), str(two), "train.shard=fsdp", *UNEVEN]
    run(torchrun, tmp_path)
    step1 = one / "checkpoints" / "step_000001"
    assert_same_weights(step1 / "model", two / "final")
    assert_same_optimizer(step1 / "optimizer.pt", two / "checkpoints" / "step_000001" / "optimizer.pt")
    run([*torchrun, "train.steps=2", "--resume"], tmp_path)  # each rank loads the whole state, keeps its shard
    assert_same_weights(one / "final", two / "final")
    rows = [[json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()] for run_dir in (one, two)]
    assert [r["step"] for r in rows[1]] == [1, 2]
    for a, b in zip(*rows, strict=True):
        for key in ("rollout/samples", "rollout/success_rate", "loss/kl", "distill/gate_mean", "perf/grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("option", ["lora.r=4", "teacher.mode=ema"])
def test_fsdp_refuses_unsupported_combinations(option):
    name, value = option.split("=")
    with pytest.raises(ConfigError, match="train.shard fsdp"):
        build_config("tiny", {"train.shard": "fsdp", name: value})


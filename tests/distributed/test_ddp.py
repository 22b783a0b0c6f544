"""Two CPU processes (gloo) take the same optimizer step as one process on the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("ddp_run.py")


def run(cmd, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_match_one(tmp_path):
    run([sys.executable, str(SCRIPT), str(tmp_path / "one")], tmp_path)
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
         str(SCRIPT), str(tmp_path / "two")], tmp_path)
    a = load_file(tmp_path / "one" / "final" / "model.safetensors")
    b = load_file(tmp_path / "two" / "final" / "model.safetensors")
    before = load_file(Path(__import__("sdar.models", fromlist=["x"]).resolve_model_path("tiny")) / "model.safetensors")
    assert any(not torch.equal(a[k], before[k]) for k in a)  # the step did change the weights
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    one = json.loads((tmp_path / "one" / "metrics.jsonl").read_text())
    two = json.loads((tmp_path / "two" / "metrics.jsonl").read_text())
    for key in ("rollout/samples", "rollout/success_rate", "loss/kl", "distill/gate_mean", "distill/teacher_gap_mean"):
        assert abs(one[key] - two[key]) < 1e-5, key

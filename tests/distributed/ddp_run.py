"""One tiny training step, greedy rollouts (so the global batch does not depend on how it is split
across ranks); run directly (one process) or under torchrun. argv: OUT_DIR [--resume] [KEY=VALUE ...],
the pairs being config overrides (e.g. train.shard=fsdp)."""

import sys

from sdar.config import build_config
from sdar.rollout import backend
from sdar.train.loop import train

real = backend.HFBackend.generate
backend.HFBackend.generate = lambda self, prompts, **kw: real(self, prompts, **{**kw, "temperature": 0.0})

out, *rest = sys.argv[1:]
overrides = dict(arg.split("=", 1) for arg in rest if arg != "--resume")
cfg = build_config("tiny", {"train.out": out, "train.steps": "1", "rollout.tasks_per_step": "4",
                            "rollout.group_size": "2", "train.eval_episodes": "2", **overrides})
train(cfg, progress=False, resume="--resume" in rest)

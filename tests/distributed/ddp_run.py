"""One tiny training step, greedy rollouts (so the global batch does not depend on how it is split
across ranks); run directly (one process) or under torchrun. argv: OUT_DIR."""

import sys

from sdar.config import build_config
from sdar.rollout import backend
from sdar.train.loop import train

real = backend.HFBackend.generate
backend.HFBackend.generate = lambda self, prompts, **kw: real(self, prompts, **{**kw, "temperature": 0.0})

cfg = build_config("tiny", {"train.out": sys.argv[1], "train.steps": "1", "rollout.tasks_per_step": "4",
                            "rollout.group_size": "2", "train.eval_episodes": "2"})
train(cfg, progress=False)

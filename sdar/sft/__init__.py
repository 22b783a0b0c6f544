"""Supervised warm start (SFT) on expert demonstrations, before RL.

A small model prompted zero-shot rarely even writes `<action>…</action>`, and GRPO learns nothing from
groups whose members all fail alike. This package plays the environment's expert through the *same*
`run_episodes` loop the RL rollout uses, so every demonstration prompt is rendered by the same code with
the same history window and chat template, and fine-tunes on the expert's action with the loss on the
response tokens only.

- `demos`: `expert_demonstrations` (and the `DemoAgent` it plays with);
- `fit`: `sft` (the update loop), `response_nll`, `gap_report` (teacher–student gap on held-out demos);
- `run`: `SFTOptions`, `run_sft` (demos → fit → save) and `cli_sft` (`sdar sft`);
- `checkpoint`: OUT/checkpoint, written with `--save-every`, read with `--resume`.
It knows nothing about GRPO, gates or the RL loop; the RL loop only ever sees the saved model.
"""

from sdar.sft.demos import Demo, DemoAgent, expert_demonstrations, response_text
from sdar.sft.fit import gap_report, response_nll, sft
from sdar.sft.run import SFTOptions, cli_sft, run_sft

__all__ = ["Demo", "DemoAgent", "SFTOptions", "cli_sft", "expert_demonstrations", "gap_report", "response_nll",
           "response_text", "run_sft", "sft"]

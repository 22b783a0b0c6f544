"""What a training step writes: the rollout's scalar metrics and per-token sample records.

Pure bookkeeping over trajectories and samples; the loop decides when and where to write.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from sdar.train.batch import Sample
from sdar.types import Trajectory


def rollout_metrics(trajectories: list[Trajectory], samples: list[Sample]) -> dict[str, float]:
    turns = [t for traj in trajectories for t in traj.turns]
    n = max(len(trajectories), 1)
    return {
        "rollout/success_rate": sum(t.won for t in trajectories) / n,
        "rollout/reward_mean": sum(_episode_reward(traj) for traj in trajectories) / n,
        "rollout/valid_action_rate": sum(t.valid for t in turns) / max(len(turns), 1),
        "rollout/turns_mean": len(turns) / n,
        "rollout/response_tokens_mean": sum(len(s.response_ids) for s in samples) / max(len(samples), 1),
        "rollout/samples": float(len(samples)),
        "rollout/failed_episodes": float(sum(t.failed is not None for t in trajectories)),
    }


def turn_bucket(turn_index: int) -> str:
    """Turns 1-5 on their own, later turns pooled, so a 50-turn episode does not make 50 metric keys."""
    return str(turn_index + 1) if turn_index < 5 else "6+"


def split_token_stats(samples: list[Sample], per_row: dict[int, dict[str, torch.Tensor]]) -> dict[str, float]:
    """The step's distillation diagnostics by turn and by episode outcome (SDAR.md §2), token means over
    the bucket: the teacher gap Δ, the share with Δ < 0, the student-teacher KL estimate (k3 on sampled
    tokens: e^Δ − 1 − Δ) and, with a gate, the gate, its active share (g > 0.5) and the SDAR term g·Δ
    (its loss under token-mean): the quantities the paper uses to show naive GRPO+OPSD's instability."""
    buckets: dict[str, dict[str, list[torch.Tensor]]] = {}
    for row, s in enumerate(samples):
        tokens = per_row.get(row)
        if not tokens or "gap" not in tokens:
            continue
        for name in (f"by_turn/{turn_bucket(s.turn_index)}", "by_outcome/" + ("won" if s.won else "lost")):
            for key, values in tokens.items():
                buckets.setdefault(name, {}).setdefault(key, []).append(values)
    out = {}
    for name, stats in buckets.items():
        gap = torch.cat(stats["gap"])
        if gap.numel() == 0:
            continue
        out[f"distill/{name}/teacher_gap_mean"] = float(gap.mean())
        out[f"distill/{name}/negative_gap_ratio"] = float((gap < 0).float().mean())
        out[f"distill/{name}/student_teacher_kl"] = float((torch.expm1(gap) - gap).mean())
        if "gate" in stats:
            gate = torch.cat(stats["gate"])
            out[f"distill/{name}/gate_mean"] = float(gate.mean())
            out[f"distill/{name}/gate_active_ratio"] = float((gate > 0.5).float().mean())
            out[f"distill/{name}/loss"] = float((gate * gap).mean())
    return out


def _episode_reward(traj: Trajectory) -> float:
    """The episode's return minus its invalid-action penalties (each turn's reward holds its own)."""
    return traj.episode_return - sum(traj.episode_return - t.reward for t in traj.turns)


def sample_records(step: int, trajectories: list[Trajectory], samples: list[Sample], advantages: torch.Tensor,
                   per_row: dict[int, dict[str, torch.Tensor]], tokenizer, limit: int) -> list[dict]:
    """One record per turn of the first `limit` trajectories: text, action, reward, advantage, and the
    response's tokens with their teacher-student gap and gate, and the privileged text the teacher was
    shown (when the run has a teacher)."""
    records = []
    for row, s in enumerate(samples):
        if s.traj_index >= limit:
            continue
        traj = trajectories[s.traj_index]
        turn = traj.turns[s.turn_index]
        tokens = per_row.get(row, {})
        records.append({
            "step": step, "trajectory": s.traj_index, "group": s.group_id, "task_type": s.task.task_type,
            "goal": s.task.goal, "won": traj.won, "turn": s.turn_index, "prompt": s.user_message,
            "response": turn.response_text, "action": turn.action, "valid": turn.valid,
            "observation": turn.observation, "reward": s.reward, "advantage": float(advantages[row]),
            "tokens": [tokenizer.decode([t]) for t in s.response_ids],
            **{k: [round(float(x), 4) for x in v] for k, v in tokens.items()},
            **({"privileged": s.privileged} if s.privileged else {}),
        })
    return records


class RunFiles:
    """metrics.jsonl, samples.jsonl and the chosen trackers of a run (rank 0 only)."""

    def __init__(self, out: Path, cfg, *, append: bool):
        from sdar.config import tracker_names
        from sdar.train.trackers import open_trackers

        self.metrics = (out / "metrics.jsonl").open("a" if append else "w")
        self.samples = (out / "samples.jsonl").open("a" if append else "w")
        self.trackers = open_trackers(tracker_names(cfg), out, dataclasses.asdict(cfg))

    def write(self, record: dict, sample_lines: list[dict]) -> None:
        self.metrics.write(json.dumps(record) + "\n")
        self.metrics.flush()
        for tracker in self.trackers:
            tracker.log(record, record["step"])
        for line in sample_lines:
            self.samples.write(json.dumps(line) + "\n")
        self.samples.flush()

    def close(self) -> None:
        self.metrics.close()
        self.samples.close()
        for tracker in self.trackers:
            tracker.close()

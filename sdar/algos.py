"""Every training algorithm of the paper as one record of switches on the same loop.

An algorithm is data, not code: which loss terms it turns on, whether it needs the teacher branch,
and whether the student's own prompt carries the skills. The loss arithmetic lives in `sdar.losses`;
`sdar.train.step` reads these switches. No torch here, so the config can validate against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Algo:
    name: str
    paper_name: str
    summary: str
    policy_gradient: bool = True
    """PPO-clip term on the (group) advantages."""
    distill: str | None = None
    """'gated' (SDAR's term), 'skill_sd' (importance-weighted k3), or None."""
    fixed_beta: float | None = None
    """Forces the gate sharpness (grpo_opsd: 0, a constant 0.5 gate)."""
    rlsd: bool = False
    """Rewrite the advantage per token with the teacher gap (RLSD)."""
    skills_in_student: bool = False
    """The student's own training prompt shows the skills (Skill-GRPO)."""

    @property
    def needs_teacher(self) -> bool:
        return self.distill is not None or self.rlsd


ALGOS: dict[str, Algo] = {a.name: a for a in (
    Algo("sdar", "SDAR", "PPO-clip(A) + KL + entropy + λ·Agg[σ(βΔ)·(lt − ls)]", distill="gated"),
    Algo("grpo", "GRPO", "PPO-clip(A) + KL + entropy"),
    Algo("opsd", "OPSD", "λ·Agg[σ(βΔ)·(lt − ls)] + KL + entropy, no policy-gradient term",
         policy_gradient=False, distill="gated"),
    Algo("grpo_opsd", "GRPO+OPSD", "SDAR with β = 0: constant gate 0.5", distill="gated", fixed_beta=0.0),
    Algo("skill_grpo", "Skill-GRPO", "GRPO with the skills in the student's own prompt while training",
         skills_in_student=True),
    Algo("skill_sd", "Skill-SD", "GRPO + c·Agg[ρ·k3(ls − lt)], ρ = exp(ls − l_old) not detached",
         distill="skill_sd"),
    Algo("rlsd", "RLSD", "PPO-clip with A·[(1−λ_t) + λ_t·clip(exp(sign(A)·Δ), 0.8, 1.2)], λ_t: 0.5 → 0",
         rlsd=True),
)}

EVAL_MODES = {"vanilla": False, "skill_prompt": True}
"""Evaluation-only baselines of the untrained model: mode -> whether the prompt shows the skills."""


def get_algo(name: str) -> Algo:
    if name not in ALGOS:
        raise KeyError(f"unknown algorithm {name!r}; valid: {', '.join(ALGOS)}")
    return ALGOS[name]

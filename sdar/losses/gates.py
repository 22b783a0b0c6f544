"""Per-token gates for the distillation term (SDAR.md §3), looked up by name in GATES.

Each gate maps the teacher–student gap Δ (B, T) — and, for entropy gates, the student's token
entropy h (B, T) — to a weight g in [0, 1]. Every output is detached: the gate only weights the
distillation gradient, it never receives one. Signature: gate(gap, *, beta, entropy=None) -> g.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from sdar.losses.registry import lookup

Gate = Callable[..., torch.Tensor]


def _need_entropy(entropy: torch.Tensor | None, name: str) -> torch.Tensor:
    if entropy is None:
        raise ValueError(f"gate {name!r} needs the student's token entropy: pass entropy=(B, T) tensor")
    return entropy.detach()


def gap_gate(gap: torch.Tensor, *, beta: float, entropy: torch.Tensor | None = None) -> torch.Tensor:
    """g = σ(β·Δ): near 1 where the teacher endorses the sampled token, near 0 where it rejects it."""
    return torch.sigmoid(beta * gap.detach())


def entropy_gate(gap: torch.Tensor, *, beta: float, entropy: torch.Tensor | None = None) -> torch.Tensor:
    """g = σ(β·h): weight tokens where the student is uncertain (h ≥ 0, so g ≥ 0.5 for β ≥ 0)."""
    return torch.sigmoid(beta * _need_entropy(entropy, "entropy"))


def soft_or_gate(gap: torch.Tensor, *, beta: float, entropy: torch.Tensor | None = None) -> torch.Tensor:
    """g = 1 − (1 − σ(β·Δ))·(1 − σ(β·h)): on when either the gap gate or the entropy gate is on."""
    h = _need_entropy(entropy, "soft_or")
    return 1.0 - (1.0 - torch.sigmoid(beta * gap.detach())) * (1.0 - torch.sigmoid(beta * h))


def constant_gate(gap: torch.Tensor, *, beta: float, entropy: torch.Tensor | None = None) -> torch.Tensor:
    """g = 0.5 everywhere: naive GRPO+OPSD, identical to the gap gate at β = 0."""
    return torch.full_like(gap, 0.5).detach()


GATES: dict[str, Gate] = {
    "gap": gap_gate,
    "entropy": entropy_gate,
    "soft_or": soft_or_gate,
    "constant": constant_gate,
}


def get_gate(name: str) -> Gate:
    """GATES[name]; ValueError listing the valid gate names on a miss."""
    return lookup(GATES, name, "gate")

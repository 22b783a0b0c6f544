"""Data-parallel training on torch.distributed, launched with `torchrun --nproc_per_node N -m sdar train ...`.

Each rank rolls out its share of the step's groups (whole groups, so GRPO's normalisation and the
`sibling` context stay local), scores and back-propagates them, then the gradients are summed across
ranks. Every micro-batch loss is weighted by its share of the *global* token (or row) count, so the
summed gradient is exactly the single-process gradient of the whole batch, and every rank takes the
same optimizer step. Rank 0 alone writes files, evaluates and checkpoints. With one process (no
torchrun) every collective is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> Dist:
        """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size())

    def shard(self, items: list) -> list:
        """This rank's share, round-robin."""
        return items[self.rank::self.world]

    def sum(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t)

    def sum_gradients(self, parameters) -> None:
        if self.world == 1:
            return
        for p in parameters:
            if p.grad is None:  # a rank without samples still joins the reduction
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order (on every rank)."""
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

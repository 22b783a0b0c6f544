"""Multi-process training on torch.distributed, launched with `torchrun --nproc_per_node N -m sdar train ...`.

Each rank rolls out its share of the step's groups (whole groups, so GRPO's normalisation and the
`sibling` context stay local), scores and back-propagates them, then the gradients are summed across
ranks. Every micro-batch loss is weighted by its share of the *global* token (or row) count, so the
summed gradient is exactly the single-process gradient of the whole batch, and every rank takes the
same optimizer step. Rank 0 alone writes files, evaluates and checkpoints. With one process (no
torchrun) every collective is a no-op.

Two ways to hold the model (`--train.shard`):
- none: data-parallel; every rank holds the whole model, gradients and optimizer state, and the
  gradients are all-reduced after the backward passes (`sum_gradients`).
- fsdp: FSDP2 (`fully_shard`) on each transformer block and the root; weights, gradients and AdamW
  state are split across ranks, a block's weights are all-gathered just for its forward and backward,
  and its gradients are reduce-scattered as a *sum* (FSDP's default is the mean) during backward.
  Gathers are collectives, so every rank must run the same forward passes: the update pads a rank's
  micro-batches with passes that add nothing (`step.idle_pass`), and everything whose number of
  forwards differs across ranks (generation, where episodes end at different turns; the no-grad
  scoring passes; rank 0's evaluation) runs inside `full_weights`, which gathers the whole model once
  and keeps it until the block ends. Generation therefore needs one whole copy of the weights per
  device, like single-device inference; what FSDP saves is the gradients and optimizer state (12 of
  the 16 bytes per parameter of fp32 AdamW) and the weights outside those blocks.
This module knows nothing about losses, environments or files.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    fsdp: bool = False
    """Weights, gradients and optimizer state sharded with FSDP2 (`--train.shard fsdp`, more than one process)."""
    device_type: str = "cpu"
    """Where the collectives' tensors and the FSDP device mesh live: cpu (gloo) or cuda (nccl)."""

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device, *, shard: str = "none") -> Dist:
        """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA). On CUDA
        each rank takes the GPU of its LOCAL_RANK as its current device, so 'cuda' means its own GPU."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()  # one process: nothing to reduce or shard
        if device.type == "cuda" and device.index is None:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), fsdp=shard == "fsdp", device_type=device.type)

    def shard(self, items: list) -> list:
        """This rank's share, round-robin."""
        return items[self.rank::self.world]

    def sum(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device_type)  # nccl reduces only GPU tensors
        dist.all_reduce(t)
        return float(t)

    def sum_gradients(self, parameters) -> None:
        if self.world == 1 or self.fsdp:  # FSDP summed them during backward
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

    def shard_model(self, model) -> None:
        """FSDP2 on each transformer block (the model's `_no_split_modules`), then on the root; gradients
        reduced as a sum. A no-op unless `fsdp`. Call it before building the optimizer (parameters become
        DTensor shards)."""
        if not self.fsdp:
            return
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(self.device_type, (self.world,))
        blocks = set(getattr(model, "_no_split_modules", None) or ())
        for module in reversed(list(model.modules())[1:]):  # innermost first, as fully_shard requires
            if type(module).__name__ in blocks:
                fully_shard(module, mesh=mesh)
        fully_shard(model, mesh=mesh, reshard_after_forward=False)  # the root's weights are needed at once in backward
        for module in _fsdp_modules(model):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)  # plain SUM: gloo has no PREMUL_SUM

    @contextlib.contextmanager
    def full_weights(self, model):
        """Every rank holds `model`'s whole weights inside the block (one all-gather on entry, a local free on
        exit), so forward passes inside need no collective and ranks may run different numbers of them.
        A no-op unless `fsdp`."""
        modules = _fsdp_modules(model) if self.fsdp else []
        for module in modules:
            module.set_reshard_after_forward(False, recurse=False)
            module.unshard()
        try:
            yield
        finally:
            for module in modules:
                module.reshard()
                module.set_reshard_after_forward(module is not model, recurse=False)  # as `shard_model` set it

    def model_state(self, model) -> dict | None:
        """Under FSDP, the whole state dict on rank 0's CPU ({} on the other ranks; every rank must call it).
        None otherwise: the model's own state dict is already whole."""
        if not self.fsdp:
            return None
        from torch.distributed.checkpoint import state_dict as dcp

        state = dcp.get_model_state_dict(model, options=_full_state_options())
        first: dict = {}
        for name, p in model.named_parameters(remove_duplicate=False):
            if name in state:  # tied weights (embeddings = output layer) gathered twice: one tensor again, saved once
                state[name] = state[first.setdefault(p, name)]
        return state

    def optimizer_state(self, model, optimizer) -> dict:
        """The whole optimizer state in `optimizer.state_dict()` form (parameters numbered in the optimizer's
        order), so checkpoints of sharded and unsharded runs are interchangeable. Under FSDP it is gathered to
        rank 0's CPU ({} on the other ranks; every rank must call it)."""
        if not self.fsdp:
            return optimizer.state_dict()
        from torch.distributed.checkpoint import state_dict as dcp

        full = dcp.get_optimizer_state_dict(model, optimizer, options=_full_state_options())  # keyed by parameter name
        if not self.main:
            return {}
        index = {name: i for i, name in enumerate(_optimizer_names(model, optimizer))}
        return {"state": {index[name]: v for name, v in full["state"].items()},
                "param_groups": [{**g, "params": [index[name] for name in g["params"]]} for g in full["param_groups"]]}

    def load_optimizer_state(self, model, optimizer, state: dict) -> None:
        """Load a whole `optimizer.state_dict()` (from `optimizer_state`); under FSDP each rank keeps its shard."""
        if not self.fsdp:
            optimizer.load_state_dict(state)
            return
        from torch.distributed.checkpoint import state_dict as dcp

        names = _optimizer_names(model, optimizer)
        by_name = {"state": {names[i]: v for i, v in state["state"].items()},
                   "param_groups": [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]}
        dcp.set_optimizer_state_dict(model, optimizer, by_name, options=dcp.StateDictOptions(full_state_dict=True))

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor from a DTensor (e.g. the gradient norm of FSDP's sharded gradients)."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _fsdp_modules(model) -> list:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


def _full_state_options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def _optimizer_names(model, optimizer) -> list[str]:
    """Parameter names in the numbering of `optimizer.state_dict()` (its groups' parameters, in order)."""
    names = {p: n for n, p in model.named_parameters()}
    return [names[p] for group in optimizer.param_groups for p in group["params"]]

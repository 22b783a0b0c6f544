"""Experiment trackers: `metrics.jsonl` is always written by the loop; these mirror each step's record.

Chosen with `--log.to tensorboard,wandb,mlflow`. Weights & Biases runs offline unless `WANDB_MODE` says
otherwise (no network needed); MLflow writes a local file store (`mlruns/`) in the run directory. A tracker whose
package is missing is refused at parse time with the command that installs it. Trackers only receive
finished scalar records; they know nothing about training.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # name -> package to install


def check_trackers(names: list[str]) -> str | None:
    """An error message for an unknown tracker or a missing package, else None."""
    for name in names:
        if name not in TRACKERS:
            return f"unknown tracker {name!r}; valid: {', '.join(TRACKERS)}"
        if importlib.util.find_spec(name) is None:
            return f"--log.to {name} needs the {TRACKERS[name]} package: pip install {TRACKERS[name]}"
    return None


class TensorBoard:
    def __init__(self, run_dir: Path, config: dict):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        self.writer.add_text("config", f"```\n{config}\n```")

    def log(self, record: dict, step: int) -> None:
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Wandb:
    def __init__(self, run_dir: Path, config: dict):
        import wandb

        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "sdar"), dir=str(run_dir), config=config,
                              mode=os.environ.get("WANDB_MODE", "offline"), name=run_dir.name)

    def log(self, record: dict, step: int) -> None:
        self.run.log({k: v for k, v in record.items() if k != "step"}, step=step)

    def close(self) -> None:
        self.run.finish()


class Mlflow:
    def __init__(self, run_dir: Path, config: dict):
        import mlflow

        self.mlflow = mlflow
        # A local file store (no server, no database); newer MLflow asks for this opt-in to allow it.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri((run_dir / "mlruns").resolve().as_uri())
        self.run = mlflow.start_run(run_name=run_dir.name)
        mlflow.log_params({f"{part}.{k}": v for part, fields in config.items() for k, v in fields.items()})

    def log(self, record: dict, step: int) -> None:
        self.mlflow.log_metrics({k.replace("/", "."): v for k, v in record.items()
                                 if k != "step" and isinstance(v, (int, float))}, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


def open_trackers(names: list[str], run_dir: Path, config: dict) -> list:
    classes = {"tensorboard": TensorBoard, "wandb": Wandb, "mlflow": Mlflow}
    return [classes[name](run_dir, config) for name in names]

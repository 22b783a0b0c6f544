"""Trackers: TensorBoard event files from a tiny run; a missing tracker package is one clear line."""

import importlib.util

import pytest

from sdar.cli import main


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_gets_the_step_records(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main(["train", "--preset", "tiny", "--no-progress", "--train.steps", "2", "--log.to", "tensorboard",
                 "--out", str(tmp_path)]) == 0
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    gate = events.Scalars("distill/gate_mean")
    assert [e.step for e in gate] == [1, 2]


@pytest.mark.parametrize("name", ["wandb", "mlflow", "tensorboard"])
def test_missing_tracker_package_is_one_line(capsys, tmp_path, monkeypatch, name):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda module, *a: None if module == name else real(module, *a))
    assert main(["train", "--preset", "tiny", "--log.to", name, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--log.to {name} needs" in err and "pip install" in err and "\n" not in err.strip()
    assert not (tmp_path / "config.json").exists()  # refused at parse time, before the run starts


def test_unknown_tracker(capsys, tmp_path):
    assert main(["train", "--preset", "tiny", "--log.to", "tensorboard,neptune", "--out", str(tmp_path)]) == 2
    assert "neptune" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow is not installed")
def test_mlflow_local_file_store(tmp_path):
    assert main(["train", "--preset", "tiny", "--no-progress", "--train.steps", "2", "--log.to", "mlflow",
                 "--out", str(tmp_path)]) == 0
    import mlflow

    client = mlflow.tracking.MlflowClient((tmp_path / "mlruns").as_uri())
    run = client.search_runs(client.search_experiments()[0].experiment_id)[0]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "distill.gate_mean")] == [1, 2]


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed")
def test_wandb_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert main(["train", "--preset", "tiny", "--no-progress", "--train.steps", "2", "--log.to", "wandb",
                 "--out", str(tmp_path)]) == 0
    assert list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))

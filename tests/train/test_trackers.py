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


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_missing_tracker_package_is_one_line(capsys, tmp_path, name):
    if importlib.util.find_spec(name) is not None:
        pytest.skip(f"{name} is installed here")
    assert main(["train", "--preset", "tiny", "--log.to", name, "--out", str(tmp_path)]) == 2
    assert f"pip install {name}" in capsys.readouterr().err


def test_unknown_tracker(capsys, tmp_path):
    assert main(["train", "--preset", "tiny", "--log.to", "tensorboard,neptune", "--out", str(tmp_path)]) == 2
    assert "neptune" in capsys.readouterr().err

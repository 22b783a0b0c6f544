"""Run directories for the report tests: synthetic ones written in microseconds, and one real tiny run."""

import json

import pytest

PAYLOAD = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"></script><!--"
ALL_KEYS = ("rollout/success_rate", "rollout/reward_mean", "distill/gate_mean", "distill/gate_active_ratio",
            "distill/teacher_gap_mean", "distill/student_teacher_kl",
            "distill/by_turn/1/student_teacher_kl", "distill/by_turn/2/student_teacher_kl")


def write_run(path, *, metrics=(), samples=(), algo="sdar", seed=0):
    """A run directory with these metric rows and sample records (config.json holds only what reports read)."""
    path.mkdir(parents=True, exist_ok=True)
    config = {"loss": {"algo": algo}, "train": {"seed": seed}, "env": {"name": "household"},
              "model": {"path": "tiny"}, "teacher": {"context_tokens": 512}}
    (path / "config.json").write_text(json.dumps(config))
    (path / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (path / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return path


def metric_rows(steps=4, keys=ALL_KEYS, eval_every=2, offset=0.0):
    rows = []
    for step in range(1, steps + 1):
        row = {"step": step, **{k: offset + 0.1 * step for k in keys}}
        if step % eval_every == 0:
            row["eval/success_rate"] = 0.5
        rows.append(row)
    return rows


def sample_record(step, trajectory, turn, *, won=False, task_type="clean", goal="clean some pan.",
                  response="<action>look</action>", teacher=True, privileged=None):
    tokens = ["<", "action", ">", "look", "</", "action", ">"] if response == "<action>look</action>" else [response]
    record = {"step": step, "trajectory": trajectory, "group": 0, "task_type": task_type, "goal": goal,
              "won": won, "turn": turn, "prompt": f"Your task is to: {goal}", "response": response,
              "action": "look", "valid": True, "observation": "You see a pan.", "reward": 1.0 if won else 0.0,
              "advantage": 0.5 if won else -0.5, "tokens": tokens}
    if teacher:
        record["gap"] = [round(0.3 * (i - len(tokens) / 2), 4) for i in range(len(tokens))]
        record["gate"] = [0.5] * len(tokens)
    if privileged:
        record["privileged"] = privileged
    return record


def episodes_run(path, *, payload=True, teacher=True):
    """Two steps × two trajectories × two turns; step 2's trajectory 1 was won and carries the payload."""
    samples = []
    for step in (1, 2):
        for traj in (0, 1):
            won = step == 2 and traj == 1
            for turn in (1, 0):  # written out of order: the viewer sorts turns
                record = sample_record(step, traj, turn, won=won, task_type="heat" if won else "clean",
                                       goal="heat some egg." if won else "clean some pan.", teacher=teacher,
                                       privileged="Skills: heat it in the microwave." if won else None)
                if won and payload and turn == 1:  # untrusted text in every free-text field
                    record.update(response=PAYLOAD, tokens=[PAYLOAD, "</script>"], action=PAYLOAD,
                                  observation=PAYLOAD, prompt=PAYLOAD)
                    record["gap"], record["gate"] = ([-1.0, 2.0], [0.1, 0.9]) if teacher else (None, None)
                samples.append(record)
    return write_run(path, metrics=metric_rows(), samples=samples)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A real 2-step SDAR run on the tiny model through `sdar train` (evaluated at its last step)."""
    from sdar.cli import main

    out = tmp_path_factory.mktemp("report") / "tiny_run"
    code = main(["train", "--preset", "tiny", "--out", str(out), "--no-progress", "--train.steps", "2"])
    assert code == 0
    return out

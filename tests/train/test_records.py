"""What a step logs: the distillation diagnostics split by turn and by outcome."""

import torch

from sdar.losses import gated_distill_loss
from sdar.train.batch import Sample
from sdar.train.records import split_token_stats
from sdar.types import Task


def test_split_stats_are_the_loss_stats_of_each_bucket():
    """Each bucket's numbers equal `gated_distill_loss`'s own stats (token-mean) over that bucket's tokens."""
    g = torch.Generator().manual_seed(0)
    task = Task("household", 0, "pick", "g")
    turns_won = [(0, True), (0, False), (1, True), (7, False)]
    samples = [Sample(task, "", [1], [2] * (k + 2), 0.0, 0, turn, k, won) for k, (turn, won) in enumerate(turns_won)]
    student = {k: -torch.rand(k + 2, generator=g) * 3 for k in range(len(samples))}
    teacher = {k: -torch.rand(k + 2, generator=g) * 3 for k in range(len(samples))}
    per_row = {}
    for k in student:
        _, d = gated_distill_loss(student[k][None], teacher[k][None], torch.ones(1, k + 2), beta=5.0)
        per_row[k] = {"gap": d["gap_tokens"][0], "gate": d["gate_tokens"][0]}
    out = split_token_stats(samples, per_row)

    def expected(rows):
        s, t = torch.cat([student[k] for k in rows])[None], torch.cat([teacher[k] for k in rows])[None]
        _, d = gated_distill_loss(s, t, torch.ones_like(s), beta=5.0)
        return {key: float(d[key]) for key in ("gate_mean", "gate_active_ratio", "teacher_gap_mean",
                                               "negative_gap_ratio", "loss")}

    for bucket, rows in {"by_turn/1": [0, 1], "by_turn/2": [2], "by_turn/6+": [3],
                         "by_outcome/won": [0, 2], "by_outcome/lost": [1, 3]}.items():
        for key, value in expected(rows).items():
            assert abs(out[f"distill/{bucket}/{key}"] - value) < 1e-6, (bucket, key)
        gap = torch.cat([teacher[k] - student[k] for k in rows])
        assert abs(out[f"distill/{bucket}/student_teacher_kl"] - float((gap.exp() - 1 - gap).mean())) < 1e-6

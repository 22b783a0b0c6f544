"""LoRA: only the adapter trains, the reference is the base (adapter off), the export loads as plain HF."""

import json
import math

import torch
from transformers import AutoModelForCausalLM

from sdar.cli import main
from sdar.models import load_adapter, load_model


def test_lora_run_resume_and_export(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--preset", "tiny", "--no-progress", "--lora.r", "4", "--train.save_every", "1"]
    assert main(args + ["--out", str(run), "--train.steps", "1"]) == 0
    assert (run / "final" / "adapter_config.json").is_file()
    assert main(["train", "--resume", str(run), "--train.steps", "2", "--no-progress"]) == 0
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(r["loss/kl"]) and math.isfinite(r["distill/gate_mean"]) for r in records)

    assert main(["export", str(run), "--out", str(tmp_path / "merged")]) == 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    base, tok = load_model("tiny")
    adapted = load_adapter(load_model("tiny")[0], run / "final")
    ids = torch.tensor([tok("go to fridge 1")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapted(ids).logits, atol=1e-5, rtol=1e-4)
        assert not torch.allclose(merged(ids).logits, base(ids).logits)  # the adapter learned something


def test_lora_trains_only_the_adapter_and_scores_the_reference_with_it_off(tmp_path, monkeypatch):
    from sdar.train import loop

    calls = []
    real = loop.adapter_off

    def spy(model, off):
        trainable = [name for name, p in model.named_parameters() if p.requires_grad]
        calls.append((off, bool(trainable) and all("lora_" in name for name in trainable)))
        return real(model, off)
    monkeypatch.setattr(loop, "adapter_off", spy)
    assert main(["train", "--preset", "tiny", "--no-progress", "--lora.r", "4", "--train.steps", "1",
                 "--out", str(tmp_path)]) == 0
    assert (True, True) in calls and all(only_lora for _, only_lora in calls)


def test_lora_with_ema_teacher_is_refused(capsys, tmp_path):
    assert main(["train", "--preset", "tiny", "--lora.r", "4", "--teacher.mode", "ema", "--out", str(tmp_path)]) == 2
    assert "ema" in capsys.readouterr().err

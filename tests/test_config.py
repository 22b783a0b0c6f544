"""Config: presets, dotted overrides with type coercion, and clear errors at parse time."""

import pytest

from sdar.config import ConfigError, RunConfig, build_config, from_json, preset_names, to_json


def test_defaults_are_the_papers():
    cfg = RunConfig()
    assert (cfg.loss.beta, cfg.loss.distill_coef, cfg.loss.clip_low, cfg.loss.dual_clip) == (5.0, 0.01, 0.2, 3.0)
    assert (cfg.loss.kl_coef, cfg.loss.entropy_coef, cfg.optim.lr, cfg.optim.grad_clip) == (0.01, 0.001, 1e-6, 1.0)
    assert (cfg.rollout.group_size, cfg.rollout.tasks_per_step, cfg.train.steps) == (8, 16, 150)


def test_presets_and_overrides_compose():
    assert {"cpu", "tiny", "paper"} <= set(preset_names())
    cfg = build_config("tiny", {"loss.beta": "2.5", "rollout.thinking": "true", "train.steps": "7"})
    assert cfg.model.path == "tiny" and cfg.loss.beta == 2.5 and cfg.rollout.thinking is True
    assert cfg.train.steps == 7


def test_round_trip_through_json():
    cfg = build_config("cpu", {"loss.gate": "entropy"})
    assert from_json(to_json(cfg)) == cfg


@pytest.mark.parametrize("overrides, words", [
    ({"loss.betta": "1"}, ["unknown option --loss.betta", "--loss.beta"]),
    ({"loss.beta": "high"}, ["--loss.beta", "expected float"]),
    ({"train.steps": "2.5"}, ["--train.steps", "expected int"]),
    ({"loss.gate": "magic"}, ["--loss.gate", "gap, entropy, soft_or, constant"]),
    ({"env.name": "moon"}, ["--env.name", "household"]),
    ({"rollout.group_size": "1"}, ["--rollout.group_size"]),
    ({"optim.lr": "-1"}, ["--optim.lr", "> 0"]),
    ({"loss.algo": "grpo", "loss.beta": "3"}, ["--loss.beta", "grpo"]),
    ({"warmstart.kind_change": "true", "rollout.thinking": "false"},
     ["--warmstart.kind_change", "--rollout.thinking true"]),
    ({"warmstart.arrival": "true", "rollout.thinking": "false"},
     ["--warmstart.arrival", "--rollout.thinking true"]),
    ({"warmstart.episodes": "2", "warmstart.backtrack": "true"}, ["--warmstart.backtrack", "--warmstart.unlikelihood"]),
    ({"loss.algo": "skill_grpo", "teacher.context": "sibling"}, ["--teacher.context sibling", "skill_grpo"]),
    ({"warmstart.noise": "1.5"}, ["--warmstart.noise", "in [0, 1]"]),
    ({"warmstart.tempt": "-0.1"}, ["--warmstart.tempt", "in [0, 1]"]),
    ({"warmstart.kind_repeat": "0"}, ["--warmstart.kind_repeat", "> 0"]),
    ({"loss.beta": "nan"}, ["--loss.beta", "nan"]),
    ({"optim.lr": "inf"}, ["--optim.lr", "inf"]),
    ({"env.history": "-5"}, ["--env.history", ">= -1"]),
    ({"loss.algo": "skill_grpo", "teacher.context": "ground_truth"}, ["--teacher.context ground_truth", "privileged"]),
    ({"lora.alpha": "8"}, ["--lora.alpha does nothing without --lora.r > 0"]),
    ({"lora.r": "4", "lora.dropout": "1.5"}, ["--lora.dropout", "in [0, 1]"]),
    ({"teacher.ema_decay": "0.9"}, ["--teacher.ema_decay does nothing without --teacher.mode ema"]),
    ({"warmstart.lr": "1e-3"}, ["--warmstart.lr does nothing without --warmstart.episodes > 0"]),
    ({"loss.kl_coef": "0", "loss.kl_estimator": "k1"}, ["--loss.kl_estimator", "--loss.kl_coef > 0"]),
])
def test_bad_values_name_the_field(overrides, words):
    with pytest.raises(ConfigError) as err:
        build_config(None, overrides)
    for word in words:
        assert word in str(err.value)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ConfigError, match="tiny"):
        build_config("nope", {})

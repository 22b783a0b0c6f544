"""The supervised warm start: demonstrations in the rollout's exact format, the response-only loss mask,
the loss going down on the tiny model, valid noise-free actions, skills only where asked, the CLI."""

import json
import re
from collections import Counter

import pytest
import torch

from sdar.config import ConfigError
from sdar.envs import get_env_spec
from sdar.rollout.collect import ModelAgent, run_episodes
from sdar.rollout.prompts import parse_action
from sdar.sft import expert_demonstrations, gap_report, response_nll, response_text, sft
from sdar.sft.demos import SEED_STRIDE, demo_stats
from sdar.sft.fit import masked_nll, shuffled_batches
from sdar.sft.run import cli_sft, parse_options, run_sft, validate
from sdar.skills import household
from sdar.skills import SKILLS_HEADER as PRIVILEGED_HEADER
from sdar.train.batch import build_micro_batch

SPEC = get_env_spec("household")
PROTOCOL = dict(max_turns=30, history=2)


class ScriptedModelAgent(ModelAgent):
    """A rollout agent with a real tokenizer and `ModelAgent.encode`, whose 'sampler' writes the
    demonstrator's action: the rollout side of the byte-identity check."""

    def __init__(self, tokenizer, thinking):
        super().__init__(None, tokenizer, temperature=0.0, max_new_tokens=0)
        self.thinking = thinking

    def act(self, prompts, observations, envs):
        texts = [response_text(env.demo_action(), env.task.goal, thinking=self.thinking) for env in envs]
        return [(self.tokenizer(t, add_special_tokens=False)["input_ids"], t) for t in texts]


def demos_of(tokenizer, episodes=4, seed=0, **kw):
    kw = {"thinking": False, **PROTOCOL, **kw}
    return expert_demonstrations(SPEC, tokenizer, episodes=episodes, seed=seed, **kw)


@pytest.mark.parametrize("thinking", [False, True])
def test_demo_prompts_are_byte_identical_to_rollout_prompts(real_tokenizer, thinking):
    tok = real_tokenizer
    demos = demos_of(tok, episodes=3, seed=1, thinking=thinking)
    tasks = [SPEC.make_task(SPEC.task_seed("train", SEED_STRIDE + i)) for i in range(3)]
    trajs = run_episodes(ScriptedModelAgent(tok, thinking), tasks, [0, 1, 2], SPEC, thinking=thinking, **PROTOCOL)
    turns = [(traj.task.seed, t) for traj in trajs for t in traj.turns]
    assert len(turns) == len(demos) and max(t.turn_index for _, t in turns) >= 3  # history window in play
    for (seed, turn), demo in zip(turns, demos):
        assert (demo.task.seed, demo.turn_index) == (seed, turn.turn_index)
        assert demo.user_message == turn.prompt
        assert demo.prompt_ids == turn.prompt_ids
        assert tok.decode(demo.prompt_ids) == tok.decode(turn.prompt_ids)
        if not thinking:  # with thinking, the demo's thought is written after the episode (search_thoughts)
            assert demo.response_ids == turn.response_ids and demo.response_text == turn.response_text
        assert demo.response_text.endswith(turn.response_text[turn.response_text.index("<action>"):])
        assert tok.decode(demo.response_ids) == demo.response_text  # the ids spell exactly the text
        assert tok.decode(demo.prompt_ids).endswith("<|im_start|>assistant\n")
        assert demo.response_text.endswith("</action>") and tok.eos_token_id not in demo.response_ids


def test_loss_mask_covers_exactly_the_response_tokens(tiny):
    model, tok = tiny
    demos = demos_of(tok, episodes=2)[:5]
    mb = build_micro_batch(demos, list(range(len(demos))), tok.pad_token_id, "cpu")
    for r, d in enumerate(demos):
        k = len(d.response_ids)
        assert mb.loss_mask[r].sum() == k and mb.loss_mask[r, -k:].all()
        assert mb.input_ids[r, -mb.n:][mb.loss_mask[r].bool()].tolist() == d.response_ids
        assert mb.input_ids[r][mb.attention_mask[r].bool()].tolist() == d.prompt_ids + d.response_ids
    # the batched token-mean equals the naive loop over unpadded rows
    from sdar.scoring import response_logprobs

    with torch.no_grad():
        lp, _ = response_logprobs(model, mb.input_ids, mb.attention_mask, mb.n)
        naive, count = 0.0, 0
        for d in demos:
            seq = d.prompt_ids + d.response_ids
            logp = torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0], -1)
            naive -= sum(float(logp[t - 1, seq[t]]) for t in range(len(d.prompt_ids), len(seq)))
            count += len(d.response_ids)
    assert float(masked_nll(lp, mb.loss_mask)) == pytest.approx(naive / count, rel=1e-4)


@pytest.mark.parametrize("detach_prompt", [False, True])
def test_sft_lowers_the_loss_on_its_demos(tiny, detach_prompt):
    import copy

    model, tok = tiny
    model = copy.deepcopy(model)
    demos = demos_of(tok, episodes=3)
    before = response_nll(model, tok, demos)
    metrics = sft(model, tok, demos, epochs=3, lr=3e-3, batch_tokens=2048, micro_batch_tokens=2048, seed=0,
                  progress=False, detach_prompt=detach_prompt)
    after = response_nll(model, tok, demos)
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert all(m["sft/skipped_steps"] == 0 and m["sft/response_tokens"] > 0 for m in metrics)
    assert metrics[-1]["loss/sft"] < metrics[0]["loss/sft"]
    assert after < 0.8 * before


def test_micro_batches_accumulate_to_the_same_step_in_less_memory(tiny):
    """One batch forwarded whole or in small micro-batches: the same loss, gradient and weights after."""
    import copy

    model, tok = tiny
    demos = demos_of(tok, episodes=1)[:6]
    batch = sum(len(d.prompt_ids) + len(d.response_ids) for d in demos) * 2  # every demo in one batch
    results = []
    for micro in (batch, 1):  # whole; one row per forward
        trained = copy.deepcopy(model)
        rows = []
        hook = trained.get_input_embeddings().register_forward_hook(lambda m, a, o: rows.append(a[0].shape[0]))
        metrics = sft(trained, tok, demos, epochs=1, lr=1e-3, batch_tokens=batch, micro_batch_tokens=micro, seed=0,
                      progress=False)
        hook.remove()
        results.append((metrics[0], rows, dict(trained.named_parameters())))
    (whole, rows_whole, p_whole), (parts, rows_parts, p_parts) = results
    assert rows_whole == [len(demos)] and rows_parts == [1] * len(demos)
    assert whole["sft/batches"] == parts["sft/batches"] == 1
    assert parts["loss/sft"] == pytest.approx(whole["loss/sft"], rel=1e-5)
    moved = 0
    for name, p in p_whole.items():  # the step's (clipped) gradient stays on the weights after the run
        torch.testing.assert_close(p_parts[name].grad, p.grad, atol=1e-7, rtol=1e-4)
        torch.testing.assert_close(p_parts[name], p, atol=1e-5, rtol=1e-5)
        moved += int(not torch.equal(p, dict(model.named_parameters())[name]))
    assert moved > 0


def test_every_epoch_visits_every_sample_once_in_a_new_order(real_tokenizer):
    import random

    demos = demos_of(real_tokenizer, episodes=20)
    rng = random.Random(0)
    a, b = (shuffled_batches(demos, 4096, rng) for _ in range(2))
    assert sorted(i for rows in a for i in rows) == list(range(len(demos)))
    assert a != b
    for rows in a:
        assert len(rows) * max(len(demos[i].prompt_ids) + len(demos[i].response_ids) for i in rows) <= 4096 \
            or len(rows) == 1


@pytest.mark.parametrize("thinking", [False, True])
def test_noise_free_demos_are_admissible_actions_that_win(real_tokenizer, thinking):
    demos = demos_of(real_tokenizer, episodes=12, thinking=thinking)
    stats = demo_stats(demos)
    assert stats["episodes"] == stats["episodes_won"] == 12 and stats["noisy_turns"] == 0
    replay_and_check(demos, thinking)


def test_noisy_demos_stay_admissible_and_are_flagged(real_tokenizer):
    demos = demos_of(real_tokenizer, episodes=12, noise=0.3, keep_noisy=True)
    stats = demo_stats(demos)
    assert 0 < stats["noisy_turns"] < stats["turns"]
    replay_and_check(demos, thinking=False)
    again = demos_of(real_tokenizer, episodes=12, noise=0.3, keep_noisy=True)
    assert [d.response_ids for d in again] == [d.response_ids for d in demos]  # deterministic in the seed
    # by default the noisy turns are dropped, but the expert turns after them keep the prompts they had
    kept = demos_of(real_tokenizer, episodes=12, noise=0.3)
    assert [d.prompt_ids for d in kept] == [d.prompt_ids for d in demos if not d.noisy]
    after_noise = [d for prev, d in zip(demos, demos[1:]) if prev.noisy and d.task is prev.task]
    assert after_noise and all(f"'{prev.action}']" in d.user_message
                               for prev, d in zip(demos, demos[1:]) if prev.noisy and d.task is prev.task)


def test_repeat_noise_shows_the_expert_recovering_from_nothing_happens(real_tokenizer):
    """--repeat-share: a noisy turn repeats the previous (no longer admissible) action, as a looping model
    does; the environment answers "Nothing happens." and the expert's next turn, which is trained on,
    acts from that prompt. The invalid turn itself is never a demo, and without the option no prompt
    shows "Nothing happens."."""
    nothing = "your current observation is: Nothing happens."
    demos = demos_of(real_tokenizer, episodes=12, noise=0.3, repeat_share=1.0)
    recovering = [d for d in demos if nothing in d.user_message]
    assert len(recovering) >= 5 and not any(d.noisy for d in demos)
    for d in recovering:  # the history's last action is the repeated one: it was also the one before it
        history = re.findall(r"Action \d+: '([^']*)'", d.user_message)
        assert len(history) >= 2 and history[-1] == history[-2]
        admissible = d.user_message.split("admissible actions of the current situation are: ")[1]
        assert f"'{d.action}'" in admissible and f"'{history[-1]}'" not in admissible
    assert not any(nothing in d.user_message for d in demos_of(real_tokenizer, episodes=12, noise=0.3))


def test_tempting_actions_name_an_object_of_the_goal():
    from sdar.sft.mistakes import tempting_actions

    admissible = ["go to desk 1", "examine pot 2", "take pot 2 from fridge 1", "take cup 1 from fridge 1",
                  "use desklamp 1", "close fridge 1", "put pot 2 in/on fridge 1", "inventory"]
    assert tempting_actions(admissible, "put two pot in fridge.") == ["take pot 2 from fridge 1",
                                                                      "put pot 2 in/on fridge 1"]
    assert tempting_actions(admissible, "look at cup under the desklamp.") == ["take cup 1 from fridge 1",
                                                                               "use desklamp 1"]
    assert tempting_actions(admissible, "put a clean mug in cabinet.") == []


def test_tempt_plays_the_goal_objects_where_they_are_wrong_and_trains_the_recovery(real_tokenizer):
    """--tempt 0.8: where an admissible action other than the demonstrator's takes, places or uses a goal
    object, one is played 4 times in 5 (noisy, not trained on); the demonstrator's next turn acts from the state
    it leads to (pick-two: right after a put the object is taken back out, and put in again)."""
    from sdar.sft.mistakes import tempting_actions

    demos = demos_of(real_tokenizer, episodes=12, noise=0.0, tempt=0.8, keep_noisy=True, thinking=True)
    noisy = [d for d in demos if d.noisy]
    assert noisy and all(tempting_actions([d.action], d.task.goal) for d in noisy)
    replay_and_check(demos, thinking=True)
    retaken = [d for prev, d in zip(demos, demos[1:]) if d.task is prev.task and d.noisy
               and prev.action.startswith("put ") and d.action.startswith("take ") and d.task.task_type == "pick_two"]
    assert retaken
    assert not any(d.noisy for d in demos_of(real_tokenizer, episodes=12, noise=0.0, keep_noisy=True))


def test_stray_moves_are_where_it_stands_one_past_its_kind_and_number_0_when_not_offered():
    from sdar.sft.mistakes import stray_moves

    at_drawer_3 = ("go to drawer 1", "go to drawer 2", "go to diningtable 1", "open drawer 3")
    assert stray_moves("drawer 3", at_drawer_3) == ["go to drawer 3", "go to drawer 4"]
    at_drawer_1 = ("go to drawer 2", "go to drawer 3", "go to diningtable 1", "open drawer 1")
    assert stray_moves("drawer 1", at_drawer_1) == ["go to drawer 1", "go to drawer 0"]  # drawer 2 is offered
    assert stray_moves("diningtable 1", ("go to drawer 1", "examine diningtable 1")) == [
        "go to diningtable 1", "go to diningtable 2", "go to diningtable 0"]
    assert stray_moves("drawer 10", ("go to drawer 9",)) == ["go to drawer 10", "go to drawer 11"]  # 10: no 0
    assert stray_moves("drawer 3", ("go to drawer 3", "go to drawer 4")) == []  # both offered (a model's list)
    assert stray_moves(None, at_drawer_3) == []


def test_stray_plays_invalid_go_tos_and_trains_the_recovery(real_tokenizer):
    """--stray 0.5: half the search turns go where the agent stands, one past its kind or to number 0; the
    environment answers "Nothing happens." and the demonstrator's next turn, trained on, acts from that prompt. The
    strays are never demos, and without the option no prompt shows "Nothing happens."."""
    nothing = "your current observation is: Nothing happens."
    demos = demos_of(real_tokenizer, episodes=12, noise=0.0, stray=0.5, keep_noisy=True)
    recovering = [d for d in demos if nothing in d.user_message]
    assert len(recovering) >= 5 and not any(d.noisy for d in demos)  # the only noise is invalid, never a demo
    for d in recovering:  # the stray is the history's last action, a "go to" the list does not offer
        stray = re.findall(r"Action \d+: '([^']*)'", d.user_message)[-1]
        admissible = d.user_message.split("admissible actions of the current situation are: ")[1]
        assert stray.startswith("go to ") and f"'{stray}'" not in admissible and f"'{d.action}'" in admissible
    replay_and_check(demos, thinking=False)
    assert not any(nothing in d.user_message for d in demos_of(real_tokenizer, episodes=12, noise=0.0))


def test_look_after_invalid_answers_nothing_happens_with_look_then_searches_on(real_tokenizer):
    """--look-after-invalid: every demonstrator turn after an invalid one looks (the answer names where the
    agent stands, which a loop pushes out of the history window); the turn after the look is the
    demonstrator's next action from there. Without the option no turn looks."""
    nothing = "your current observation is: Nothing happens."
    demos = demos_of(real_tokenizer, episodes=12, noise=0.0, stray=0.5, keep_noisy=True, look_after_invalid=True)
    recovering = [d for d in demos if nothing in d.user_message]
    assert len(recovering) >= 5 and all(d.action == "look" and not d.noisy for d in recovering)
    after = [d for prev, d in zip(demos, demos[1:])
             if prev.action == "look" and d.task is prev.task and d.turn_index == prev.turn_index + 1]
    assert after and all("your current observation is: You are facing the " in d.user_message for d in after)
    replay_and_check(demos, thinking=False, look_after_invalid=True)
    plain = demos_of(real_tokenizer, episodes=12, noise=0.0, stray=0.5, keep_noisy=True)
    assert not any(d.action == "look" for d in plain) and any(nothing in d.user_message for d in plain)


def replay_and_check(demos, thinking, look_after_invalid=False):
    """Replay each episode's actions in a fresh env: every response parses to an admissible action, the
    demonstrator's own unless noisy (or "look" after an invalid turn, with `look_after_invalid`; invalid
    turns are not demos and did not step the env)."""
    envs, obs = {}, {}
    for d in demos:
        if d.task.seed not in envs:
            envs[d.task.seed] = SPEC.make_env(d.task)
            obs[d.task.seed] = envs[d.task.seed].reset()
        o = obs[d.task.seed]
        assert parse_action(d.response_text, o.admissible_actions, thinking=thinking) == d.action
        if not d.noisy:
            looks = look_after_invalid and "your current observation is: Nothing happens." in d.user_message
            assert d.action == ("look" if looks else envs[d.task.seed].demo_action())
        obs[d.task.seed] = envs[d.task.seed].step(d.action)


def test_thin_moves_drops_only_moves_in_the_asked_share(real_tokenizer):
    from sdar.sft.demos import thin_moves

    demos = demos_of(real_tokenizer, episodes=6)
    moves = [d for d in demos if d.action.startswith("go to ")]
    assert len(moves) > 20 and len(moves) < len(demos)
    assert thin_moves(demos, 1.0, seed=0) == demos
    assert thin_moves(demos, 0.0, seed=0) == [d for d in demos if d not in moves]
    half = thin_moves(demos, 0.5, seed=0)
    assert [d for d in half if d not in moves] == [d for d in demos if d not in moves]  # the rest, in order
    assert 0.25 * len(moves) < sum(d in moves for d in half) < 0.75 * len(moves)
    assert half == thin_moves(demos, 0.5, seed=0) and half != thin_moves(demos, 0.5, seed=1)


def test_demos_mark_the_moves_that_leave_number_one_of_a_kind(real_tokenizer):
    demos = demos_of(real_tokenizer, episodes=8, noise=0.3, keep_noisy=True)
    expected, standing = [], {}  # naively: where each episode's last move went, noisy moves included
    for d in demos:
        here = standing.get(d.task.seed)
        expected.append(here is not None and here.endswith(" 1") and d.action.startswith("go to ")
                        and d.action.split()[2] != here.split()[0])
        if d.action.startswith("go to "):
            standing[d.task.seed] = d.action[len("go to "):]
    assert [d.leaves_kind for d in demos] == expected
    assert 0 < sum(expected) < sum(d.action.startswith("go to ") for d in demos)  # household: most kinds have one
    kept = demos_of(real_tokenizer, episodes=8, noise=0.3)  # dropping the noisy turns keeps the marks
    assert [d.leaves_kind for d in kept] == [d.leaves_kind for d in demos if not d.noisy]


def test_kind_repeat_imitates_each_change_of_kind_that_many_times(real_tokenizer):
    from sdar.sft.run import SFTOptions, training_demos

    options = dict(episodes=6, gap_episodes=0, max_turns=30, history=2)
    _, once = training_demos(SFTOptions(**options), SPEC, real_tokenizer)
    changes = {(d.task.seed, d.turn_index) for d in once if d.leaves_kind}
    _, thrice = training_demos(SFTOptions(**options, kind_repeat=3), SPEC, real_tokenizer)
    times = Counter((d.task.seed, d.turn_index) for d in thrice)
    assert changes and set(times) == {(d.task.seed, d.turn_index) for d in once}
    assert all(times[key] == (3 if key in changes else 1) for key in times)


def test_skills_appear_only_in_the_skills_share(real_tokenizer):
    tok = real_tokenizer
    demos = demos_of(tok, episodes=8, skills_share=0.25)
    with_skills = {d.task.seed for d in demos if d.with_skills}
    assert len(with_skills) == 2
    for d in demos:
        text = tok.decode(d.prompt_ids)
        assert (PRIVILEGED_HEADER in text) == d.with_skills
        assert (household.GENERAL[0] in text) == d.with_skills
        assert d.user_message in text and household.GENERAL[0] not in d.user_message
    assert not any(d.with_skills for d in demos_of(tok, episodes=8))


def test_gap_report_scores_the_same_tokens_with_and_without_skills(tiny):
    model, tok = tiny
    demos = demos_of(tok, episodes=2, skills_share=0.5)
    report = gap_report(model, tok, demos)
    plain = [d for d in demos if not d.with_skills]
    assert report["demos"] == len(plain) and report["tokens"] == sum(len(d.response_ids) for d in plain)
    assert report["gap_mean"] == pytest.approx(report["teacher_logprob_mean"] - report["student_logprob_mean"], abs=1e-4)
    assert -response_nll(model, tok, plain) == pytest.approx(report["student_logprob_mean"], rel=1e-4)
    from sdar.skills import skills_by_type
    from sdar.teacher import teacher_prompt_ids

    total = 0.0  # naive teacher: each response scored whole under its task's skills block, inside the user turn
    for d in plain:
        prompt = teacher_prompt_ids(tok, d.user_message, skills_by_type(d.task), budget=512)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + d.response_ids])).logits[0].float()
        logprobs = torch.log_softmax(logits[len(prompt) - 1:-1], -1)
        total += float(logprobs.gather(-1, torch.tensor(d.response_ids)[:, None]).sum())
    assert report["teacher_logprob_mean"] == pytest.approx(total / report["tokens"], rel=1e-4)
    assert abs(report["teacher_logprob_mean"] - report["student_logprob_mean"]) > 1e-3  # the skills were there


def test_greedy_match_is_the_share_of_demos_greedy_decoding_reproduces(tiny):
    import copy

    model, tok = tiny
    model = copy.deepcopy(model)
    demos = [d for d in demos_of(tok, episodes=2) if not d.with_skills]
    sft(model, tok, demos, epochs=20, lr=3e-3, batch_tokens=2048, micro_batch_tokens=2048, seed=0, progress=False)
    report = gap_report(model, tok, demos)
    reproduced = 0
    for d in demos:  # naive: decode greedily from the prompt, token by token, for as long as the response
        ids = list(d.prompt_ids)
        with torch.no_grad():
            for _ in d.response_ids:
                ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
        reproduced += ids[len(d.prompt_ids):] == d.response_ids
    assert 0 < reproduced < len(demos)  # neither extreme, so the share is tested, not a constant
    assert report["student_greedy_match"] == pytest.approx(reproduced / len(demos))
    counts = [tuple(map(int, c.split("/"))) for c in report["student_greedy_match_by_verb"].values()]
    assert sum(h for h, _ in counts) == reproduced and sum(n for _, n in counts) == len(demos)
    assert set(report["student_greedy_match_by_verb"]) == {d.action.split()[0] for d in demos}
    assert 0.0 <= report["teacher_greedy_match"] <= 1.0


def test_train_layers_updates_only_the_top_layers_and_fails_clearly_out_of_range(tiny):
    import copy

    from sdar.models import ModelError, train_top_layers

    model, tok = tiny
    model = copy.deepcopy(model)
    n = len(model.model.layers)
    assert train_top_layers(model, 1) == n
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sft(model, tok, demos_of(tok, episodes=1), epochs=1, lr=1e-3, batch_tokens=2048, micro_batch_tokens=1024,
        seed=0, progress=False)
    top = f"model.layers.{n - 1}."
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(top) or k == "model.norm.weight" for k in changed)
    assert any(k.startswith(top) for k in changed)
    for bad in (0, n + 1):
        with pytest.raises(ModelError, match=f"--train-layers: must be in 1..{n}"):
            train_top_layers(model, bad)


def test_cli_writes_model_and_record(tmp_path, capsys):
    out = tmp_path / "sft"
    code = cli_sft(["--model", "tiny", "--out", str(out), "--episodes", "2", "--epochs", "2", "--lr", "1e-3",
                    "--precision", "bf16", "--noise", "0.2", "--skills-share", "0.5", "--gap-episodes", "1",
                    "--max-turns", "8", "--no-progress"])
    assert code == 0 and "sft written to" in capsys.readouterr().out
    record = json.loads((out / "sft.json").read_text())
    assert (out / "model" / "config.json").is_file() and (out / "model" / "tokenizer.json").is_file()
    assert record["options"]["noise"] == 0.2 and record["demos"]["episodes"] == 2
    assert len(record["epochs"]) == 2 and record["held_out"]["before"]["demos"] > 0
    assert record["perf/train_seconds"] > 0 and record["precision"] == "bf16"
    assert record["epochs"][0]["sft/tokens"] > record["epochs"][0]["sft/response_tokens"] > 0


def test_lora_warm_start_saves_a_plain_model_with_changed_weights(tmp_path):
    """`--lora-r`: the adapter is merged before saving, so OUT/model loads as a plain model (no adapter
    files, no lora_ keys) whose weights differ from the start."""
    from safetensors.torch import load_file

    from sdar.models import load_model
    from sdar.sft.run import SFTOptions

    out = tmp_path / "sft"
    run_sft(SFTOptions(model="tiny", out=str(out), episodes=2, lr=1e-2, lora_r=4, gap_episodes=0, max_turns=8,
                       progress=False))
    files = {p.name for p in (out / "model").iterdir()}
    assert "model.safetensors" in files and not any(name.startswith("adapter") for name in files)
    saved = load_file(out / "model" / "model.safetensors")
    assert not any("lora_" in k for k in saved)
    start, _ = load_model("tiny", torch.device("cpu"))
    changed = [k for k, v in start.state_dict().items() if k in saved and not torch.equal(v, saved[k])]
    assert changed


def test_auto_precision_is_bf16_for_training_only_where_the_cpu_has_it(monkeypatch):
    import torch

    from sdar import models

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    for native in (True, False):
        monkeypatch.setattr(models, "cpu_has_bf16", lambda: native)
        assert models.autocast_dtype("auto", cpu, training=True) == (torch.bfloat16 if native else None)
        assert models.autocast_dtype("auto", cpu) is None  # sampling stays fp32 on any CPU
        assert models.autocast_dtype("auto", gpu) == torch.bfloat16
        assert models.autocast_dtype("auto", gpu, training=True) == torch.bfloat16
        assert models.autocast_dtype("fp32", cpu, training=True) is None
        assert models.autocast_dtype("bf16", cpu) == torch.bfloat16


@pytest.mark.parametrize("argv, words", [
    (["--noise", "2"], ["--noise", "[0, 1]"]),
    (["--skills-share", "-0.1"], ["--skills-share"]),
    (["--env", "moon"], ["--env", "household"]),
    (["--episodes", "0"], ["--episodes", "> 0"]),
    (["--batch-tokens", "0"], ["--batch-tokens", "> 0"]),
    (["--lr", "abc"], ["--lr", "invalid float"]),
    (["--bogus", "1"], ["unrecognized", "--bogus"]),
    (["--train-layers", "2", "--lora-r", "8"], ["--train-layers", "--lora-r", "not both"]),
    (["--move-share", "1.5"], ["--move-share", "[0, 1]"]),
    (["--repeat-share", "-0.5"], ["--repeat-share", "[0, 1]"]),
    (["--tempt", "1.5"], ["--tempt", "[0, 1]"]),
    (["--stray", "-0.1"], ["--stray", "[0, 1]"]),
    (["--kind-change"], ["--kind-change", "--thinking"]),
    (["--arrival"], ["--arrival", "--thinking"]),
    (["--backtrack"], ["--backtrack", "--unlikelihood"]),
    (["--kind-repeat", "0"], ["--kind-repeat", ">= 1"]),
    (["--precision", "fp16"], ["--precision", "bf16", "fp32"]),
])
def test_bad_options_are_one_clear_line(argv, words):
    with pytest.raises(ConfigError) as err:
        validate(parse_options(argv))
    line = str(err.value)
    assert "\n" not in line and all(w in line for w in words)


def test_help_says_what_each_off_switch_does(capsys):
    with pytest.raises(SystemExit):
        parse_options(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--no-progress Turns off what is on by default: Show a progress bar." in text
    assert not parse_options(["--no-progress"]).progress and parse_options([]).progress


def test_search_thoughts_name_the_sought_object_and_where_it_is_found():
    from sdar.sft.demos import search_thoughts

    actions = ["go to cabinet 1", "open cabinet 1", "go to drawer 1", "take book 1 from drawer 1", "go to desk 1",
               "put book 1 in/on desk 1", "go to sofa 1", None, "take laptop 2 from sofa 1", "go to shelf 1",
               "use desklamp 1", "go to sinkbasin 1", "clean laptop 2 with sinkbasin 1"]
    assert search_thoughts(actions) == [
        "Looking for book, not here.", "Looking for book, not here.", "Looking for book, not here.",
        "Looking for book 1, here it is.", "Carrying book 1 to put it in/on desk 1.",
        "Carrying book 1 to put it in/on desk 1.",
        "Looking for laptop, not here.", "Looking for laptop, not here.",  # the noisy turn is skipped, not read
        "Looking for laptop 2, here it is.", "Looking for desklamp, not here.", "Looking for desklamp 1, here it is.",
        "Carrying laptop 2 to clean it with sinkbasin 1.", "Carrying laptop 2 to clean it with sinkbasin 1."]
    alfworld = ["take mug 1 from shelf 1", "go to desk 1", "move mug 1 to desk 1", "go to bed 1"]  # places by "move"
    assert search_thoughts(alfworld) == [
        "Looking for mug 1, here it is.", "Carrying mug 1 to move it to desk 1.",
        "Carrying mug 1 to move it to desk 1.", None]
    cool = ["take pot 2 from stoveburner 1", "go to fridge 1", "cool pot 2 with fridge 1", "go to shelf 1",
            "put pot 2 in/on shelf 1"]  # the purpose changes once the pot is cooled
    assert search_thoughts(cool) == [
        "Looking for pot 2, here it is.", "Carrying pot 2 to cool it with fridge 1.",
        "Carrying pot 2 to cool it with fridge 1.", "Carrying pot 2 to put it in/on shelf 1.",
        "Carrying pot 2 to put it in/on shelf 1."]
    assert search_thoughts(["search[cats]", "click[buy]"]) == [None, None]  # another vocabulary: the template
    # noisy turns: a random take, the demonstrator putting it down, a tempting put the demonstrator undoes
    actions = ["go to cabinet 1", "take newspaper 1 from cabinet 1", "put newspaper 1 in/on cabinet 1",
               "go to desk 1", "take cup 1 from desk 1", "put cup 1 in/on desk 1", "take cup 1 from desk 1",
               "go to desk 2", "use desklamp 1"]
    noisy = [False, True, False, False, False, True, False, False, False]
    assert search_thoughts(actions, noisy) == [
        "Looking for cup, not here.", "Looking for cup, not here.",  # the noisy take and its repair: not the plan
        "Carrying newspaper 1 to put it in/on cabinet 1.",  # what the noisy take picked up is carried
        "Looking for cup, not here.", "Looking for cup 1, here it is.", "Looking for desklamp, not here.",
        "Looking for cup 1, here it is.", "Looking for desklamp, not here.", "Looking for desklamp 1, here it is."]
    # no later action explains the search (the second apple is never found): the goal's object is sought
    goal = "find two apple and put them in garbagecan."
    pick_two = ["go to sofa 1", "take apple 1 from sofa 1", "go to garbagecan 1", "put apple 1 in/on garbagecan 1",
                "go to shelf 1", "open drawer 1"]
    assert search_thoughts(pick_two, goal=goal) == [
        "Looking for apple, not here.", "Looking for apple 1, here it is.",
        "Carrying apple 1 to put it in/on garbagecan 1.", "Carrying apple 1 to put it in/on garbagecan 1.",
        "Looking for apple, not here.", "Looking for apple, not here."]
    assert search_thoughts(pick_two)[4:] == [None, None]  # without the goal: the template


def test_search_thoughts_say_which_kind_is_done_where_the_search_leaves_number_1():
    from sdar.sft.demos import search_thoughts

    goal = "find two mug and put them in shelf."
    actions = ["go to cabinet 2", "open cabinet 2", "go to cabinet 1", None, "go to coffeemachine 1",
               "go to countertop 1", "take mug 1 from countertop 1", "go to shelf 1", "move mug 1 to shelf 1",
               "go to drawer 1", "go to fridge 1", "take mug 2 from fridge 1"]
    assert not any("last" in t for t in search_thoughts(actions, goal=goal) if t)  # off by default
    thoughts = search_thoughts(actions, goal=goal, kind_change=True)
    done = {actions[t]: thought.split("not here. ")[1] for t, thought in enumerate(thoughts) if "last" in thought}
    assert done == {  # an invalid turn between keeps where it stands; cabinet 2 -> 1 is not a change of kind
        "go to coffeemachine 1": "That was the last cabinet; next: coffeemachine 1.",
        "go to countertop 1": "That was the last coffeemachine; next: countertop 1.",
        # the searcher walks on from where it placed the first (the goal kind's number 1)
        "go to drawer 1": "That was the last shelf; next: drawer 1.",
        "go to fridge 1": "That was the last drawer; next: fridge 1."}
    assert "last" not in thoughts[3]


def test_arrival_thoughts_say_whether_the_agent_stands_where_the_object_goes():
    from sdar.sft.demos import search_thoughts

    goal = "put some book on desk."
    actions = ["go to bed 1", "take book 1 from bed 1", "go to desk 1", None, "move book 1 to desk 1"]
    assert search_thoughts(actions, goal=goal)[2:] == ["Carrying book 1 to move it to desk 1."] * 3  # off by default
    assert search_thoughts(actions, goal=goal, arrival=True) == [
        "Looking for book, not here.", "Looking for book 1, here it is.",
        "Carrying book 1 to move it to desk 1, not here.",  # at the bed, on the way
        "Carrying book 1 to move it to desk 1, here it is.",  # an invalid turn at the desk: still there
        "Carrying book 1 to move it to desk 1, here it is."]
    # a closed receptacle: opened where it stands, then used; heating at the microwave
    heat = ["go to countertop 1", "take egg 1 from countertop 1", "go to microwave 1", "open microwave 1",
            "heat egg 1 with microwave 1", "go to garbagecan 1", "put egg 1 in/on garbagecan 1"]
    assert [t.split(", ")[-1] for t in search_thoughts(heat, goal="heat some egg and put it in garbagecan.",
                                                      arrival=True)[2:]] == [
        "not here.", "here it is.", "here it is.", "not here.", "here it is."]


@pytest.mark.parametrize("goal, obj", [
    ("put a clean cloth in countertop.", "cloth"), ("find two apple and put them in garbagecan.", "apple"),
    ("examine the book with the desklamp.", "book"), ("look at bowl under the desklamp.", "bowl"),
    ("heat some egg and put it in garbagecan.", "egg"), ("put a cool tomato in microwave.", "tomato"),
    ("put two saltshaker in drawer.", "saltshaker"), ("Put some spraybottle on toilet.", "spraybottle"),
    ("search for a red shirt", None)])
def test_goal_object_reads_alfworld_goal_sentences(goal, obj):
    from sdar.sft.demos import goal_object

    assert goal_object(goal) == obj


def test_thinking_demos_look_for_what_the_prompt_shows(real_tokenizer):
    """Where a demo says "here it is", the object is among what the current observation shows; where it
    says "not here", no object of that name is."""
    demos = demos_of(real_tokenizer, episodes=12, thinking=True)
    found = [d for d in demos if "here it is" in d.response_text]
    assert len(found) >= 12 and all(d.action.startswith(("take ", "use ")) for d in found)
    for d in demos:
        observation = d.user_message.split("your current observation is:")[1].split("\n")[0]
        in_view = observation.split("you see", 1)[1] if "you see" in observation else ""
        thought = d.response_text[len("<think>"):d.response_text.index("</think>")]
        if thought.startswith("Looking for"):
            name = thought[len("Looking for "):].split(",")[0]
            assert bool(re.search(rf"\b{name}\b", in_view)) == ("here it is" in thought), d.response_text


def test_demo_responses_are_what_the_expert_agent_writes():
    from sdar.rollout.collect import ExpertAgent

    env = SPEC.make_env(SPEC.make_task(3))
    env.reset()
    [(_, written)] = ExpertAgent().act([[]], [None], [env])
    assert response_text(env.expert_action(), env.task.goal, thinking=False) == written
    assert response_text("look", "g.", thinking=True) == "<think>My task is to g. The next step towards it is: look.</think>" \
                                                          "<action>look</action>"


def test_options_for_a_run_copy_its_protocol():
    from sdar.config import build_config
    from sdar.sft.run import options_for_run

    cfg = build_config("tiny", {"rollout.thinking": "true", "env.history": "3", "teacher.context_tokens": "64",
                                "optim.micro_batch_tokens": "1024", "model.precision": "fp32"})
    o = options_for_run(cfg, "x", episodes=5)
    assert (o.model, o.thinking, o.history, o.context_tokens, o.micro_batch_tokens, o.precision, o.episodes) == \
        ("tiny", True, 3, 64, 1024, "fp32", 5)
    assert o.max_turns == 0 and cfg.env.max_turns == 3  # the environment's own: the run's may cut demos short
    validate(o)


def test_train_chains_a_warm_start_and_records_it(tmp_path):
    from sdar.cli import main

    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--no-progress", "--train.steps", "1", "--out", str(run),
                 "--warmstart.episodes", "4", "--warmstart.epochs", "1", "--warmstart.move_share", "0.5",
                 "--warmstart.train_layers", "1", "--warmstart.repeat_share", "0.5", "--warmstart.tempt", "0.2",
                 "--warmstart.stray", "0.3", "--warmstart.detach_prompt", "true",
                 "--warmstart.look_after_invalid", "true", "--warmstart.kind_change", "true",
                 "--warmstart.arrival", "true",
                 "--warmstart.max_turns", "5", "--warmstart.kind_repeat", "2", "--warmstart.unlikelihood", "0.5",
                 "--warmstart.backtrack", "true",
                 "--rollout.thinking", "true"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["path"] == str((run / "warmstart" / "model").resolve())  # absolute: resume from anywhere
    assert saved["warmstart"]["episodes"] == 4
    record = json.loads((run / "warmstart" / "sft.json").read_text())
    assert record["demos"]["episodes"] == 4 and record["max_turns"] == 5
    assert record["options"]["move_share"] == 0.5 and record["options"]["train_layers"] == 1
    assert record["options"]["repeat_share"] == 0.5 and record["options"]["tempt"] == 0.2
    assert record["options"]["stray"] == 0.3 and record["options"]["detach_prompt"] is True
    assert record["options"]["look_after_invalid"] is True and record["options"]["kind_change"] is True
    assert record["options"]["arrival"] is True and record["options"]["backtrack"] is True
    assert record["options"]["kind_repeat"] == 2 and record["options"]["unlikelihood"] == 0.5
    assert record["demos"]["trained_negatives"] > 0 and record["epochs"][0]["sft/negatives"] > 0
    assert (run / "final" / "model.safetensors").is_file()


def test_sdar_sft_is_a_command(capsys, tmp_path):
    from sdar.cli import main

    assert main(["sft", "--model", "tiny", "--episodes", "-3", "--out", str(tmp_path)]) == 2
    assert "episodes" in capsys.readouterr().err


def test_an_unwritable_out_fails_before_any_work(tmp_path):
    from sdar.cli import main

    taken = tmp_path / "a_file"
    taken.write_text("not a directory")
    with pytest.raises(ConfigError, match="--out: cannot write to"):
        run_sft(parse_options(["--out", str(taken / "warm"), "--model", "no/such/model"]))  # the model is never loaded
    assert main(["sft", "--out", str(taken), "--episodes", "1"]) == 2

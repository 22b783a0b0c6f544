"""`sdar sft`: demonstrations → fine-tune → save, as one job with its record.

A run directory holds `model/` (Hugging Face format: `save_pretrained` of the model and the tokenizer,
loadable by `sdar eval --model DIR/model` and `sdar train --model DIR/model`) and `sft.json` (the
options, demo counts, per-epoch loss, the held-out response loss and teacher–student gap before and
after, timings). A thin shell: the work is in `demos` and `fit`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import sys
import time
import typing
from dataclasses import dataclass
from pathlib import Path

from sdar.config import ConfigError, field_docs


@dataclass(frozen=True)
class SFTOptions:
    env: str = "household"
    """Environment whose expert is imitated (see `sdar envs`)."""
    data: str = ""
    """ALFWorld game files (a directory holding json_2.1.1/; empty: $ALFWORLD_DATA, else ~/.cache/alfworld)."""
    model: str = "bundled"
    """'bundled', 'tiny', or a local HF model directory to start from."""
    out: str = "runs/sft"
    """Run directory; the model goes to OUT/model, the record to OUT/sft.json."""
    episodes: int = 60
    """Demonstrator episodes on train tasks (household: about 13 turns, i.e. 13 samples, each)."""
    epochs: int = 1
    """Passes over the demonstrations, each in a fresh random order."""
    lr: float = 1e-4
    """AdamW peak learning rate; it decays linearly to 0 over the run."""
    noise: float = 0.1
    """Probability that a demo turn plays a random other admissible action (not trained on; the recovery is)."""
    repeat_share: float = 0.0
    """Share of the noisy turns that repeat the previous action where it is no longer admissible (invalid:
    "Nothing happens."), so the expert's next turn shows the recovery."""
    tempt: float = 0.0
    """Probability that a turn where an action taking, placing or using an object the goal names is admissible
    (and not the expert's) plays it: a model's likely mistake, not trained on; the recovery is."""
    stray: float = 0.0
    """Probability that a turn whose expert action is a "go to" plays one a small model writes wrongly: to where
    it stands, to the next number of its kind that the room lacks, or at number 1 to number 0 ("Nothing
    happens."); not trained on, the recovery is."""
    look_after_invalid: bool = False
    """The demonstrator answers "Nothing happens." with "look", which names where the agent stands (a model's
    loop pushes that out of the history window), then searches on from there."""
    move_share: float = 1.0
    """Share of the moves ("go to ...") imitated; the rest only shape later prompts (< 1: more on rarer actions)."""
    kind_repeat: int = 1
    """Times each turn that leaves number 1 of a kind for another kind is imitated (ALFWorld's demonstrator
    counts each kind down, so that is where it changes kind, the "go to" a warmed-up model gets wrong most)."""
    unlikelihood: float = 0.0
    """Weight of an unlikelihood term on the invalid "go to"s a small model writes instead of a demonstrated
    action (instead of a "go to": where it stands, one past its kind, number 0, `--stray`'s list; instead of
    any other action: where it stands): −log(1 − p) of the token where each would leave the demonstrated
    response, on the same prompt; 0 leaves them out."""
    backtrack: bool = False
    """With --unlikelihood, the turn after a take, put or treat also pushes down the admissible action that
    goes back on it (putting the object back where it was taken, taking out what was just placed, treating
    it again), written with the thought that leads to it: the loops of the warmed-up ALFWorld models."""
    skills_share: float = 0.25
    """Share of episodes whose prompts carry the skills (teacher format), so the model learns to use them."""
    thinking: bool = False
    """Teach <think>…</think><action>…</action> instead of <action>…</action> alone."""
    kind_change: bool = False
    """With --thinking: a search thought that leaves number 1 of a kind for another kind adds "That was the last
    cabinet; next: coffeemachine 1." (ALFWorld's demonstrator counts each kind down, so 1 is the last)."""
    arrival: bool = False
    """Thinking demos' carrying thoughts end with whether the agent stands where the object goes
    ("Carrying book 1 to move it to desk 1, here it is." / ", not here."), so the thought tells placing
    from going there."""
    seed: int = 0
    """Seed of the task block, noise, skills choice and batch order."""
    max_turns: int = 0
    """Turn limit of a demo episode; 0 uses the environment's own."""
    history: int = -1
    """Past (observation, action) pairs in the prompt; -1 uses the environment's own (as the rollout does)."""
    max_prompt_tokens: int = 2048
    """Student prompt budget, as the rollout's `--rollout.max_prompt_tokens` (oldest history dropped above it)."""
    batch_tokens: int = 4096
    """Padded tokens per optimizer step."""
    micro_batch_tokens: int = 2048
    """Padded tokens per forward; gradients accumulate up to --batch-tokens (smaller: less memory, same step)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    context: str = "skills_by_type"
    """Privileged block of the skills-share demos and of the gap report (as `--teacher.context`)."""
    context_tokens: int = 512
    """Token budget of the privileged block (as the RL teacher's `--teacher.context_tokens`)."""
    lora_r: int = 0
    """LoRA rank; 0 trains all weights. The adapter is merged before saving, so OUT/model is a plain model."""
    lora_alpha: int = 16
    """LoRA scaling alpha."""
    train_layers: int = 0
    """Train only the top K decoder layers and the final norm; the rest run frozen, without autograd. 0: all."""
    detach_prompt: bool = False
    """Cut the gradient at the prompt: forward it without autograd into a KV cache, backpropagate through the
    response positions only (same loss; a cheaper update where prompts are most of the tokens)."""
    gap_episodes: int = 4
    """Held-out (eval split) expert episodes scored before and after (response log-prob, teacher–student gap);
    0 skips."""
    device: str = "auto"
    """'auto' (cuda if available, else cpu) or a torch device string."""
    precision: str = "auto"
    """'bf16' autocast, 'fp32', or 'auto' (bf16 on a GPU or on a CPU with native bf16, else fp32)."""
    progress: bool = True
    """Show a progress bar."""
    save_every: int = 0
    """Write OUT/checkpoint every N optimizer steps (removed when the run ends), so --resume can go on; 0: never."""
    resume: bool = False
    """Go on from OUT/checkpoint, with the options it was written with; the demonstrations are played again."""


def validate(o: SFTOptions) -> None:
    """Raise ConfigError naming the first bad option."""
    from sdar.config import CONTEXTS, PRECISIONS
    from sdar.envs import env_names

    checks = [
        (o.precision in PRECISIONS, "--precision", f"{o.precision!r} is not one of {', '.join(PRECISIONS)}"),
        (o.env in env_names(), "--env", f"{o.env!r} is not one of {', '.join(env_names())}"),
        (o.context in CONTEXTS, "--context", f"{o.context!r} is not one of {', '.join(CONTEXTS)}"),
        (o.episodes > 0, "--episodes", f"must be > 0, got {o.episodes}"),
        (o.episodes <= 100_000, "--episodes", f"must be <= 100000, got {o.episodes}"),
        (o.epochs > 0, "--epochs", f"must be > 0, got {o.epochs}"),
        (o.lr > 0, "--lr", f"must be > 0, got {o.lr}"),
        (0.0 <= o.noise <= 1.0, "--noise", f"must be in [0, 1], got {o.noise}"),
        (0.0 <= o.move_share <= 1.0, "--move-share", f"must be in [0, 1], got {o.move_share}"),
        (o.kind_repeat >= 1, "--kind-repeat", f"must be >= 1 (1: once, as any turn), got {o.kind_repeat}"),
        (0.0 <= o.repeat_share <= 1.0, "--repeat-share", f"must be in [0, 1], got {o.repeat_share}"),
        (0.0 <= o.tempt <= 1.0, "--tempt", f"must be in [0, 1], got {o.tempt}"),
        (0.0 <= o.stray <= 1.0, "--stray", f"must be in [0, 1], got {o.stray}"),
        (o.unlikelihood >= 0, "--unlikelihood", f"must be >= 0 (0: off), got {o.unlikelihood}"),
        (o.unlikelihood > 0 or not o.backtrack, "--backtrack",
         "adds unlikelihood negatives: it needs --unlikelihood W > 0"),
        (0.0 <= o.skills_share <= 1.0, "--skills-share", f"must be in [0, 1], got {o.skills_share}"),
        (o.seed >= 0, "--seed", f"must be >= 0, got {o.seed}"),
        (o.max_turns >= 0, "--max-turns", f"must be >= 0 (0: the environment's own), got {o.max_turns}"),
        (o.history >= -1, "--history", f"must be >= -1 (-1: the environment's own), got {o.history}"),
        (o.batch_tokens > 0, "--batch-tokens", f"must be > 0, got {o.batch_tokens}"),
        (o.micro_batch_tokens > 0, "--micro-batch-tokens", f"must be > 0, got {o.micro_batch_tokens}"),
        (o.weight_decay >= 0, "--weight-decay", f"must be >= 0, got {o.weight_decay}"),
        (o.max_prompt_tokens > 0, "--max-prompt-tokens", f"must be > 0, got {o.max_prompt_tokens}"),
        (o.context_tokens > 0, "--context-tokens", f"must be > 0, got {o.context_tokens}"),
        (o.lora_r >= 0, "--lora-r", f"must be >= 0 (0: all weights), got {o.lora_r}"),
        (o.lora_alpha > 0, "--lora-alpha", f"must be > 0, got {o.lora_alpha}"),
        (o.train_layers >= 0, "--train-layers", f"must be >= 0 (0: all layers), got {o.train_layers}"),
        (not (o.train_layers and o.lora_r), "--train-layers", "pick one of --train-layers and --lora-r, not both"),
        (o.thinking or not o.kind_change, "--kind-change", "adds to the thoughts: it needs --thinking"),
        (o.thinking or not o.arrival, "--arrival", "adds to the thoughts: it needs --thinking"),
        (o.gap_episodes >= 0, "--gap-episodes", f"must be >= 0, got {o.gap_episodes}"),
        (o.save_every >= 0, "--save-every", f"must be >= 0 (0: no checkpoints), got {o.save_every}"),
    ]
    for ok, flag, message in checks:
        if not ok:
            raise ConfigError(f"{flag}: {message}")


def env_spec(o: SFTOptions):
    """The environment's spec, built as `sdar train` builds it (ConfigError when its data is missing)."""
    from sdar.config import EnvConfig, RunConfig, env_spec_for

    return env_spec_for(RunConfig(env=EnvConfig(name=o.env, data=o.data)))


def demo_settings(o: SFTOptions, spec) -> dict:
    """The keyword arguments of `expert_demonstrations` that the training and held-out demos share."""
    return dict(max_turns=o.max_turns or spec.max_turns, history=spec.history if o.history < 0 else o.history,
                thinking=o.thinking, kind_change=o.kind_change, arrival=o.arrival, context=o.context,
                context_tokens=o.context_tokens, max_prompt_tokens=o.max_prompt_tokens)


def training_demos(o: SFTOptions, spec, tokenizer) -> tuple[list, list]:
    """(every demo turn, noisy ones included; the turns trained on): noisy turns and thinned-out moves
    shape later prompts but are not imitated; turns that change kind are imitated `kind_repeat` times."""
    from sdar.sft.demos import expert_demonstrations, thin_moves

    demos = expert_demonstrations(spec, tokenizer, episodes=o.episodes, seed=o.seed, noise=o.noise,
                                  repeat_share=o.repeat_share, tempt=o.tempt, stray=o.stray,
                                  look_after_invalid=o.look_after_invalid, negatives=o.unlikelihood > 0,
                                  backtrack=o.backtrack,
                                  skills_share=o.skills_share, keep_noisy=True, **demo_settings(o, spec))
    trained = thin_moves([d for d in demos if not d.noisy], o.move_share, o.seed)
    trained = [d for d in trained for _ in range(o.kind_repeat if d.leaves_kind else 1)]
    if not trained:
        raise ConfigError(f"--noise {o.noise} and --move-share {o.move_share} leave no expert turn to imitate; "
                          "lower the noise, raise the move share or --episodes")
    return demos, trained


def fine_tune(model, tokenizer, trained: list, o: SFTOptions, amp) -> tuple:
    """(the fine-tuned model, per-epoch records, training seconds): all weights, the top `--train-layers`,
    or a LoRA adapter merged back, so the model returned is a plain one either way. With --save-every it
    writes OUT/checkpoint as it goes; with --resume it goes on from there (and counts the seconds before)."""
    from sdar.models import apply_lora, train_top_layers
    from sdar.sft.checkpoint import demos_digest, load_sft_checkpoint, save_sft_checkpoint
    from sdar.sft.fit import sft

    if o.lora_r:
        model = apply_lora(model, r=o.lora_r, alpha=o.lora_alpha, dropout=0.0, target_modules="all-linear")
    if o.train_layers:
        train_top_layers(model, o.train_layers)
    options, digest = dataclasses.asdict(o), demos_digest(trained)
    resume = load_sft_checkpoint(Path(o.out), model, options=options, demos=digest) if o.resume else None
    t0 = time.perf_counter() - (resume["train_seconds"] if resume else 0.0)

    def save(state: dict) -> None:
        save_sft_checkpoint(Path(o.out), model, state, options=options, demos=digest,
                            train_seconds=time.perf_counter() - t0)

    epochs = sft(model, tokenizer, trained, epochs=o.epochs, lr=o.lr, batch_tokens=o.batch_tokens,
                 micro_batch_tokens=o.micro_batch_tokens, seed=o.seed, progress=o.progress,
                 weight_decay=o.weight_decay, amp_dtype=amp, detach_prompt=o.detach_prompt,
                 unlikelihood=o.unlikelihood, save_every=o.save_every, save=save, resume=resume)
    return (model.merge_and_unload() if o.lora_r else model), epochs, time.perf_counter() - t0


def writable_dir(path: Path) -> Path:
    """`path`, created and test-written, so a bad --out fails before the demonstrations and the update."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".sdar-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"--out: cannot write to {path} ({err.strerror or err})") from None
    return path


def run_sft(o: SFTOptions) -> dict:
    """Generate demos, fine-tune, save OUT/model and OUT/sft.json; returns the record written."""
    import torch

    from sdar.models import autocast_dtype, load_model, pick_device
    from sdar.sft.checkpoint import check_no_checkpoint, remove_sft_checkpoint
    from sdar.sft.demos import demo_stats, expert_demonstrations, is_move
    from sdar.sft.fit import gap_report

    validate(o)
    out = writable_dir(Path(o.out))
    if not o.resume:
        check_no_checkpoint(out)
    spec = env_spec(o)
    common = demo_settings(o, spec)
    timings = collections.Counter()
    torch.manual_seed(o.seed)
    device = pick_device(o.device)
    amp = autocast_dtype(o.precision, device, training=True)
    model, tokenizer = load_model(o.model, device)
    model.eval()

    with timed(timings, "perf/demo_seconds"):
        demos, trained = training_demos(o, spec, tokenizer)
        held_out = expert_demonstrations(spec, tokenizer, episodes=o.gap_episodes, seed=0, split="eval", **common)

    def held_out_report() -> dict:  # its student_logprob_mean is minus the held-out response loss
        if not held_out:
            return {}
        with timed(timings, "perf/held_out_seconds"):
            return gap_report(model, tokenizer, held_out, context=o.context, context_tokens=o.context_tokens,
                              micro_batch_tokens=o.micro_batch_tokens, amp_dtype=amp)

    before = held_out_report()
    model, epochs, timings["perf/train_seconds"] = fine_tune(model, tokenizer, trained, o, amp)
    after = held_out_report()
    model.save_pretrained(out / "model", safe_serialization=True)
    tokenizer.save_pretrained(out / "model")
    record = {"options": dataclasses.asdict(o), "max_turns": common["max_turns"], "history": common["history"],
              "device": str(device), "precision": "bf16" if amp else "fp32",
              "demos": {**demo_stats(demos), "trained_turns": len(trained),
                        "trained_moves": sum(map(is_move, trained)),
                        "trained_kind_changes": sum(d.leaves_kind for d in trained),
                        "trained_negatives": sum(len(d.negatives) for d in trained)},
              "epochs": epochs,
              "held_out": {"demos": demo_stats(held_out) if held_out else None, "before": before, "after": after},
              **{key: timings[key] for key in ("perf/demo_seconds", "perf/held_out_seconds", "perf/train_seconds")}}
    (out / "sft.json").write_text(json.dumps(record, indent=2) + "\n")
    remove_sft_checkpoint(out)
    return record


@contextlib.contextmanager
def timed(timings: dict, key: str):
    """Adds the seconds the block takes to timings[key]."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] += time.perf_counter() - t0


def options_for_run(cfg, out: str, **sft) -> SFTOptions:
    """SFT options with a training run's protocol (env, model, thinking, history, prompt and privileged
    budgets, seed, forward micro-batch, device, precision), so a warm start chained before RL teaches
    exactly its format within its memory; `sft` sets the rest (episodes, epochs, lr, noise, turn limit,
    ...). The run's turn limit is not copied: a short one (the cpu preset's 4) would cut every
    demonstration before its goal."""
    return SFTOptions(env=cfg.env.name, data=cfg.env.data, model=cfg.model.path, out=out,
                      thinking=cfg.rollout.thinking, seed=cfg.train.seed,
                      history=cfg.env.history, max_prompt_tokens=cfg.rollout.max_prompt_tokens,
                      context=cfg.teacher.context, context_tokens=cfg.teacher.context_tokens,
                      micro_batch_tokens=cfg.optim.micro_batch_tokens, device=cfg.model.device,
                      precision=cfg.model.precision, **sft)


class _Parser(argparse.ArgumentParser):
    """argparse that raises one ConfigError line instead of printing usage and exiting."""

    def error(self, message: str):
        raise ConfigError(message)


def parse_options(args: list[str]) -> SFTOptions:
    """`--flag-name VALUE` per SFTOptions field (booleans: `--thinking`, `--no-progress`)."""
    parser = _Parser(prog="sdar sft", description="Supervised warm start on expert demonstrations, in the "
                                                  "rollout's exact prompt and response format.")
    hints, docs = typing.get_type_hints(SFTOptions), field_docs(SFTOptions)
    for f in dataclasses.fields(SFTOptions):
        flag = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool and f.default:
            parser.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false",
                                help=f"Turns off what is on by default: {docs[f.name]}")
        elif hints[f.name] is bool:
            parser.add_argument(flag, dest=f.name, action="store_true", help=docs[f.name])
        else:
            parser.add_argument(flag, dest=f.name, type=hints[f.name], default=f.default,
                                help=f"{docs[f.name]} (default {f.default})")
    return SFTOptions(**vars(parser.parse_args(args)))


def cli_sft(args: list[str]) -> int:
    """`sdar sft ...`: bad input raises ConfigError (one line); prints where the run was written."""
    options = parse_options(args)
    validate(options)
    record = run_sft(options)
    losses = ", ".join(f"{e['loss/sft']:.3f}" for e in record["epochs"])
    print(f"sft written to {options.out} (model/, sft.json); trained on {record['demos']['trained_turns']} turns of "
          f"{record['demos']['episodes']} episodes; loss per epoch {losses}")
    return 0


if __name__ == "__main__":  # `python -m sdar.sft.run ...`, the same as `sdar sft ...`
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        sys.exit(cli_sft(sys.argv[1:]))
    except ConfigError as err:
        print(f"sdar sft: {err}", file=sys.stderr)
        sys.exit(2)

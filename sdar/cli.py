"""The `sdar` command: train, eval, export, plot, view, envs, options.

A thin shell: it parses arguments, turns bad input into one clear line and exit status 2, and calls
the library. Dotted options (`--loss.beta 5`) override any config field; `sdar options` lists them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path

from sdar.algos import EVAL_MODES
from sdar.config import ConfigError, RunConfig, all_fields, build_config, preset_names

DEFAULT_PRESET = "cpu"
EVAL_NEW_TOKENS = 64  # sdar eval's response limit per turn for a model no train run of ours wrote
SHORTCUTS = {  # flag -> dotted config field
    "--out": "train.out", "--env": "env.name", "--algo": "loss.algo", "--model": "model.path",
    "--device": "model.device", "--steps": "train.steps", "--seed": "train.seed",
}


class UsageError(ValueError):
    """Bad command-line input; printed as one line."""


def parse_overrides(tokens: list[str]) -> dict[str, str]:
    """`--a.b value` / `--a.b=value` pairs (and the shortcut flags) into {dotted name: raw value}."""
    out: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise UsageError(f"unexpected argument {token!r}; options look like --loss.beta 5")
        name, eq, value = token.partition("=")
        if not eq:
            if i + 1 >= len(tokens):
                raise UsageError(f"{name} needs a value")
            value = tokens[i + 1]
            i += 1
        i += 1
        key = SHORTCUTS.get(name, name[2:])
        if "." not in key:
            valid = sorted(SHORTCUTS) + ["--preset", "--<part>.<field> (see `sdar options`)"]
            raise UsageError(f"unknown option {name}; valid: {', '.join(valid)}")
        out[key] = value
    return out


def cmd_train(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sdar train", add_help=True,
                                     description="Train an agent with SDAR (or a baseline). Any config field "
                                                 "can be overridden as --part.field VALUE; see `sdar options`.")
    parser.add_argument("--preset", default=None, help=f"one of {', '.join(preset_names())} (default {DEFAULT_PRESET})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    known, rest = parser.parse_known_args(args)
    overrides = parse_overrides(rest)
    if known.resume and known.preset:
        raise UsageError("--resume continues the run's saved config; drop --preset")
    cfg = (resume_config(known.resume, overrides) if known.resume
           else build_config(known.preset or DEFAULT_PRESET, overrides))
    from sdar.train.loop import train

    out = train(cfg, progress=not known.no_progress, resume=bool(known.resume))
    print(f"run written to {out} (metrics.jsonl, samples.jsonl, final/)")
    return 0


def resume_config(run_dir: str, overrides: dict[str, str]):
    """The run's own resolved config; only the step budget may change on resume."""

    from sdar.config import apply_overrides, from_json, validate

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UsageError(f"--resume: {run_dir} is not a run directory (no config.json)")
    extra = sorted(set(overrides) - {"train.steps"})
    if extra:
        raise UsageError(f"--resume continues the saved config; only --train.steps may change, not --{extra[0]}")
    try:
        cfg = from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as err:
        raise UsageError(f"--resume: {path} is not a valid sdar config ({err})") from None
    cfg = apply_overrides(cfg, {**overrides, "train.out": run_dir})
    validate(cfg)
    return cfg


def eval_parser() -> argparse.ArgumentParser:
    """`sdar eval`'s options (their values are checked by `eval_arguments`)."""
    parser = argparse.ArgumentParser(prog="sdar eval", description="Evaluate a policy on held-out tasks.")
    parser.add_argument("--env", default="household")
    parser.add_argument("--policy", default="model", choices=("model", "expert", "demo", "random"))
    parser.add_argument("--model", default="bundled", help="'bundled', 'tiny', or a local HF model directory")
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--skip", type=int, default=0, metavar="K",
                        help="play the held-out tasks after the first K (to extend an earlier evaluation, or "
                             "split one across machines; --trajectories numbers episodes from K)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.4, help="0 is greedy")
    parser.add_argument("--max-turns", type=int, default=0, help="0: the environment's own limit")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help=f"response token limit per turn (default: the --rollout.max_new_tokens of the train "
                             f"run that wrote --model, else {EVAL_NEW_TOKENS})")
    parser.add_argument("--history", type=int, default=-1,
                        help="past (observation, action) pairs in the prompt; -1: as the run that wrote --model "
                             "recorded it (sft.json or config.json beside it), else the environment's own")
    parser.add_argument("--thinking", action=argparse.BooleanOptionalAction, default=None,
                        help="ask for <think> before <action> (default: as the run that wrote --model recorded "
                             "it, else no)")
    parser.add_argument("--max-prompt-tokens", type=int, default=RunConfig().rollout.max_prompt_tokens,
                        help="prompts over this lose their oldest history, as training's do "
                             "(--rollout.max_prompt_tokens)")
    parser.add_argument("--with-skills", action="store_true", help="show the skills in the prompt")
    parser.add_argument("--algo", choices=tuple(EVAL_MODES), default=None,
                        help="evaluation baselines: vanilla (no skills), skill_prompt (skills in the prompt)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", "--alfworld-data", dest="alfworld_data", default=None, metavar="DIR",
                        help="real data: ALFWorld game files (holding json_2.1.1/; default $ALFWORLD_DATA), "
                             "WebShop files, or a Search-R1 corpus and questions")
    parser.add_argument("--split", default=None, choices=("valid_seen", "valid_unseen"),
                        help="ALFWorld evaluation split (default valid_seen)")
    parser.add_argument("--workers", type=int, default=0, help="run environments in N worker processes")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="with --workers: seconds an environment call may take before its worker is killed "
                             f"and the episode counted failed (default {RunConfig().env.timeout:g}, --env.timeout)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it goes to stderr)")
    parser.add_argument("--trajectories", default=None, metavar="FILE",
                        help="also write every turn (prompt, response, action, valid, outcome) as JSON lines, "
                             "each batch of episodes as it finishes")
    parser.add_argument("--batch-size", type=int, default=32, help="episodes played at once")
    return parser


def eval_arguments(args: list[str]) -> argparse.Namespace:
    """`sdar eval`'s options, their values checked (a UsageError names the first bad one; argparse itself
    rejects an unknown flag or a malformed number)."""
    a = eval_parser().parse_args(args)
    if a.algo is not None:
        if a.with_skills and not EVAL_MODES[a.algo]:
            raise UsageError("--with-skills contradicts --algo vanilla (which never shows skills)")
        a.with_skills = EVAL_MODES[a.algo]
    new_tokens = EVAL_NEW_TOKENS if a.max_new_tokens is None else a.max_new_tokens  # None: set by cmd_eval
    for flag, value, low in (("--episodes", a.episodes, 1), ("--batch-size", a.batch_size, 1),
                             ("--max-prompt-tokens", a.max_prompt_tokens, 1), ("--max-new-tokens", new_tokens, 1),
                             ("--max-turns", a.max_turns, 0), ("--workers", a.workers, 0), ("--skip", a.skip, 0),
                             ("--temperature", a.temperature, 0)):
        if not value >= low:  # NaN too
            raise UsageError(f"{flag}: must be {'> 0' if low else '>= 0'}, got {value}")
    if a.history < -1:
        raise UsageError(f"--history: must be >= -1 (-1: the environment's own), got {a.history}")
    if a.timeout is not None and (a.workers == 0 or not a.timeout > 0):
        raise UsageError(f"--timeout: must be > 0 and needs --workers (calls in this process are not timed), "
                         f"got {a.timeout} with --workers {a.workers}")
    return a


def cmd_eval(args: list[str]) -> int:
    a = eval_arguments(args)

    from sdar.config import env_spec_for
    from sdar.envs import env_names
    from sdar.envs.workers import WorkerPool, in_workers
    from sdar.evaluate import evaluate, format_table
    from sdar.rollout.prompts import get_format

    if a.env not in env_names():
        raise UsageError(f"--env: {a.env!r} is not one of {', '.join(env_names())}")
    env_cfg = dataclasses.replace(RunConfig().env, name=a.env, data=a.alfworld_data or "", eval_split=a.split or "")
    spec = env_spec_for(dataclasses.replace(RunConfig(), env=env_cfg))
    recorded = recorded_format(a.model) if a.policy == "model" else {}
    a.thinking = recorded.get("thinking", False) if a.thinking is None else a.thinking
    if a.max_new_tokens is None:
        a.max_new_tokens = recorded.get("max_new_tokens", EVAL_NEW_TOKENS)
    history = a.history if a.history >= 0 else recorded.get("history", -1)
    history = spec.history if history < 0 else history
    if recorded:
        print(f"sdar eval: {'--thinking' if a.thinking else '--no-thinking'} --history {history} "
              f"--max-new-tokens {a.max_new_tokens} ({recorded['source']} records thinking "
              f"{recorded['thinking']}, history {recorded['history']}; "
              "flags given override it)", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        # opened first, so an unwritable path fails before the evaluation, not after it
        save = stack.enter_context(trajectory_writer(a.trajectories)) if a.trajectories else None
        agent = make_eval_agent(a, stop_strings=get_format(spec.prompt_format).stop_strings)
        pool = stack.enter_context(WorkerPool(a.workers)) if a.workers > 0 else None
        if pool is not None:
            spec = in_workers(spec, pool=pool, timeout=a.timeout or RunConfig().env.timeout)
        summary, _ = evaluate(agent, spec, episodes=a.episodes, max_turns=a.max_turns or spec.max_turns,
                              history=history, thinking=a.thinking, max_prompt_tokens=a.max_prompt_tokens,
                              batch_size=a.batch_size, skip=a.skip, progress=not a.no_progress, on_batch=save)
    summary.update({"env": a.env, "policy": a.policy, "with_skills": a.with_skills, "seed": a.seed, "skip": a.skip,
                    "thinking": a.thinking, "history": history,
                    "max_prompt_tokens": a.max_prompt_tokens, "max_new_tokens": a.max_new_tokens,
                    "model": a.model if a.policy == "model" else None})
    print(json.dumps(summary) if a.json else format_table(summary))
    return 0


@contextlib.contextmanager
def trajectory_writer(path: str):
    """Yields `save(first, batch)`, which appends a batch's turns to `path` as JSON lines as the batch ends,
    so that a run cut short keeps what it played; an older file there is replaced only once this run has
    played something. An unwritable path is a UsageError at once."""
    from sdar.evaluate import turn_records

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        out = open(path, "a", encoding="utf-8")  # not emptied yet
    except OSError as e:
        raise UsageError(f"--trajectories: cannot write {path}: {e.strerror}") from None

    played = False

    def save(first: int, batch) -> None:
        nonlocal played
        if not played:
            out.truncate(0)
            played = True
        out.writelines(json.dumps(r) + "\n" for r in turn_records(batch, first))
        out.flush()

    with out:
        yield save


def recorded_format(model: str) -> dict:
    """{'thinking', 'history', 'source'} (and `sdar train`'s 'max_new_tokens') as recorded by the run that
    wrote the model directory `model`:
    `sdar sft`'s OUT/sft.json beside OUT/model, or `sdar train`'s RUN/config.json beside RUN/final or
    above RUN/checkpoints/step_N/model (history -1: the environment's own); {} for 'bundled', 'tiny' or a
    directory no run of ours wrote."""
    if model in ("bundled", "tiny") or not Path(model).is_dir():
        return {}
    parent = Path(model).resolve().parent
    if parent.parent.name == "checkpoints" and not (parent / "config.json").is_file():
        parent = parent.parent.parent  # RUN/checkpoints/step_N/model -> RUN
    try:
        if (parent / "sft.json").is_file():
            record = json.loads((parent / "sft.json").read_text())
            thinking, history = record["options"]["thinking"], record["history"]
            source, new_tokens = parent / "sft.json", None
        elif (parent / "config.json").is_file():
            record = json.loads((parent / "config.json").read_text())
            thinking, history = record["rollout"]["thinking"], record["env"]["history"]
            source = parent / "config.json"
            new_tokens = record["rollout"].get("max_new_tokens")
        else:
            return {}
    except (OSError, ValueError, KeyError, TypeError):  # not a record of ours (e.g. a Hugging Face config.json)
        return {}
    if not isinstance(thinking, bool) or not isinstance(history, int):
        return {}
    found = {"thinking": thinking, "history": history, "source": str(source)}
    return found | ({"max_new_tokens": new_tokens} if isinstance(new_tokens, int) and new_tokens > 0 else {})


def make_eval_agent(a, stop_strings: tuple[str, ...] = ("</action>",)):
    from sdar.rollout.collect import ExpertAgent, ModelAgent, RandomAgent

    if a.policy in ("expert", "demo"):
        return ExpertAgent(demo=a.policy == "demo", thinking=bool(a.thinking))
    if a.policy == "random":
        return RandomAgent(a.seed, thinking=bool(a.thinking))
    import torch

    from sdar.models import autocast_dtype, load_model, pick_device
    from sdar.skills import skills_by_type
    from sdar.teacher import privileged_renderer

    device = pick_device(a.device)
    torch.manual_seed(a.seed)
    model, tokenizer = load_model(a.model, device)
    model.eval()
    render = privileged_renderer(tokenizer, skills_by_type, budget=512) if a.with_skills else None
    return ModelAgent(model, tokenizer, temperature=a.temperature, max_new_tokens=a.max_new_tokens or EVAL_NEW_TOKENS,
                      stop_strings=stop_strings,
                      generator=torch.Generator(device).manual_seed(a.seed),
                      amp_dtype=autocast_dtype("auto", device), prompt_messages=render)


def cmd_export(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sdar export", description="Write a run's final model as a plain Hugging "
                                     "Face model (a LoRA adapter is merged into its base weights).")
    parser.add_argument("run_dir")
    parser.add_argument("--out", default=None, help="default: RUN_DIR/export")
    a = parser.parse_args(args)

    from sdar.config import from_json
    from sdar.models import export_merged, is_adapter_dir

    run, final = Path(a.run_dir), Path(a.run_dir) / "final"
    if not (run / "config.json").is_file() or not final.is_dir():
        raise UsageError(f"{a.run_dir} is not a finished run directory (needs config.json and final/)")
    out = Path(a.out or run / "export")
    if is_adapter_dir(final):
        try:
            base = from_json((run / "config.json").read_text()).model.path
        except (ValueError, KeyError, TypeError) as err:
            raise UsageError(f"{run / 'config.json'} is not a valid sdar config ({err}); the adapter's base "
                             "model cannot be found") from None
        export_merged(base, final, out)
    else:
        import shutil

        shutil.copytree(final, out, dirs_exist_ok=True)
    print(f"exported to {out} (load it with AutoModelForCausalLM.from_pretrained)")
    return 0


def cmd_plot(args: list[str]) -> int:
    from sdar.report.plots import cli_plot

    return cli_plot(args)


def cmd_view(args: list[str]) -> int:
    from sdar.report.viewer import cli_view

    return cli_view(args)


def cmd_envs(args: list[str]) -> int:
    from sdar.envs import env_names, get_env_spec

    for name in env_names():
        try:
            spec = get_env_spec(name)
        except (FileNotFoundError, ImportError) as err:  # e.g. alfworld without its game files
            print(f"{name}: unavailable here: {err}")
            continue
        print(f"{name}: task types {', '.join(spec.task_types)}; max turns {spec.max_turns}; history {spec.history}")
    return 0


def cmd_options(args: list[str]) -> int:
    for name, (kind, default, doc) in all_fields().items():
        print(f"--{name} ({kind.__name__}, default {default!r}): {doc}")
    print(f"presets: {', '.join(preset_names())} (default {DEFAULT_PRESET})")
    return 0


def cmd_sft(args: list[str]) -> int:
    from sdar.sft import cli_sft

    return cli_sft(args)


def cmd_serve_retriever(args: list[str]) -> int:
    from sdar.serve import main as serve_main

    return serve_main(args)


COMMANDS = {"train": cmd_train, "sft": cmd_sft, "eval": cmd_eval, "export": cmd_export, "plot": cmd_plot,
            "view": cmd_view, "envs": cmd_envs, "options": cmd_options, "serve-retriever": cmd_serve_retriever}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: sdar {{{','.join(COMMANDS)}}} [options]   (sdar COMMAND --help for each)")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"sdar: unknown command {command!r}; valid: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[command](rest)
    except (ConfigError, UsageError) as err:
        print(f"sdar {command}: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        from sdar.models import ModelError
        from sdar.train.checkpoint import CheckpointError
        from sdar.train.loop import TrainingDiverged

        if isinstance(err, (ModelError, CheckpointError, TrainingDiverged)):
            print(f"sdar {command}: {err}", file=sys.stderr)
            return 2 if isinstance(err, ModelError) else 1
        raise


if __name__ == "__main__":
    sys.exit(main())

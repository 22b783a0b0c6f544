"""What cutting the gradient at the prompt (`sdar sft --detach-prompt`) buys a warm start, and what it costs.

The same `sdar sft` job (same demonstrations, batch order, starting model and precision) runs with the whole
backward pass and with `--detach-prompt`, in fresh processes one after the other, `--repeats` times,
alternating which goes first. Reported per variant: training seconds, tokens per second (prompt + response
of the trained turns), peak memory (the run's max RSS), the last epoch's training loss, and the held-out
response loss and greedy match after training (`sft.json`).

Writes benchmarks/results/sft_detach.json and sft_detach.md.
    python benchmarks/sft_detach.py --episodes 15 --gap-episodes 8 --thinking
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from record import command, machine, write_results  # the modules next to this one
from sft_precision import one_run, summarize, table

VARIANTS = {"whole": [], "detached": ["--detach-prompt"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--env", default="household")
    parser.add_argument("--episodes", type=int, default=15)
    parser.add_argument("--gap-episodes", type=int, default=8)
    parser.add_argument("--thinking", action="store_true", help="demonstrations with thoughts (sdar sft --thinking)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.gap_episodes < 1:
        parser.error("--gap-episodes must be >= 1: the table compares the held-out loss and greedy match")
    common = ["--thinking"] if args.thinking else []
    runs = []
    with tempfile.TemporaryDirectory(prefix="sdar-sft-detach-") as tmp:
        for r in range(args.repeats):
            for name in (list(VARIANTS) if r % 2 == 0 else list(VARIANTS)[::-1]):
                run = one_run(common + VARIANTS[name], args, Path(tmp) / f"{name}-{r}")
                runs.append({"variant": name, "repeat": r, **run})
                print(json.dumps(runs[-1]), flush=True)
    summary = summarize(runs, "variant", VARIANTS)
    speedup = summary["whole"]["train_seconds"] / summary["detached"]["train_seconds"]
    result = {"args": vars(args), "runs": runs, "summary": summary, "detach_speedup": speedup,
              "machine": machine(precision=runs[0]["precision"])}
    lines = [f"`{command()}` ({args.model}, {args.env}, {runs[0]['trained_turns']} trained turns, "
             f"precision {runs[0]['precision']})", "", *table(summary, "backward")]
    lines += ["", f"--detach-prompt trains {speedup:.2f}x as fast."]
    write_results("sft_detach", result, lines)


if __name__ == "__main__":
    main()

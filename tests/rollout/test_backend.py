"""The generation seam: any object with `generate` can drive a rollout."""

from sdar.envs import get_env_spec
from sdar.rollout.collect import ModelAgent, run_episodes


class ScriptedBackend:
    """Answers every prompt with the same action, as token ids; records what it was asked."""

    def __init__(self, tokenizer, text):
        self.ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        self.calls = []

    def generate(self, prompts, *, max_new_tokens, temperature, stop_strings):
        self.calls.append((len(prompts), max_new_tokens, stop_strings))
        return [list(self.ids) for _ in prompts]


def test_a_scripted_backend_drives_the_rollout(tiny):
    model, tok = tiny
    backend = ScriptedBackend(tok, "<action>look</action>")
    agent = ModelAgent(model, tok, temperature=1.0, max_new_tokens=9, backend=backend)
    spec = get_env_spec("household")
    trajs = run_episodes(agent, [spec.make_task(0), spec.make_task(1)], [0, 1], spec, max_turns=3, history=2,
                         thinking=False)
    assert backend.calls == [(2, 9, ("</action>",))] * 3
    assert all(t.valid and t.action == "look" for traj in trajs for t in traj.turns)
    assert all(t.prompt_ids and t.response_ids == backend.ids for traj in trajs for t in traj.turns)

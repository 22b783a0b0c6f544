"""Shared fixtures: everything offline; the tiny random model (built in seconds, cached) and, for
rendering and alignment tests, the bundled model's real tokenizer."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer) of the tiny random Llama, fp32 on the CPU."""
    from sdar.models import load_model

    return load_model("tiny", "cpu")


@pytest.fixture(scope="session")
def real_tokenizer():
    """SmolLM2's own tokenizer and chat template (converted once from the bundled GGUF, then cached)."""
    from sdar.models import load_tokenizer

    return load_tokenizer("bundled")

"""sdar: post-train LLM agents on multi-turn tasks with SDAR (GRPO + sigmoid-gated self-distillation)."""

__version__ = "0.1.0"

"""Run configuration: frozen dataclasses, one per part, composed into `RunConfig` (`parts`); presets;
overrides; `validate` (`checks`).

Every field has a one-line docstring (the string under it); `sdar options` prints them.
Presets are small TOML files of dotted overrides in `sdar/presets/`. Command-line overrides use the same
dotted names (`--loss.beta 5`). `validate` rejects invalid values and combinations at parse time, naming
the fields. This package knows nothing about models, environments or tensors.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import tomllib
import typing
from pathlib import Path

from sdar.config.checks import env_spec_for, tracker_names, validate
from sdar.config.parts import (ADV_ESTIMATORS, AGG_MODES, CONTEXTS, GATES, KL_ESTIMATORS, PRECISIONS, SHARDINGS,
                               TEACHER_MODES, ConfigError, EnvConfig, LogConfig, LoraConfig, LossConfig, ModelConfig,
                               OptimConfig, RolloutConfig, RunConfig, TeacherConfig, TrainConfig, WarmstartConfig)

__all__ = ["ADV_ESTIMATORS", "AGG_MODES", "CONTEXTS", "GATES", "KL_ESTIMATORS", "PRECISIONS", "SHARDINGS",
           "TEACHER_MODES", "ConfigError", "EnvConfig", "LogConfig", "LoraConfig", "LossConfig", "ModelConfig",
           "OptimConfig", "RolloutConfig", "RunConfig", "TeacherConfig", "TrainConfig", "WarmstartConfig",
           "PRESET_DIR", "all_fields", "apply_overrides", "build_config", "coerce", "env_spec_for", "field_docs",
           "from_json", "load_preset", "preset_names", "to_json", "tracker_names", "validate"]

PRESET_DIR = Path(__file__).parent.parent / "presets"


def field_docs(cls: type) -> dict[str, str]:
    """The one-line docstrings under each field, read from the source."""
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = str(nxt.value.value)
    return docs


def all_fields() -> dict[str, tuple[type, object, str]]:
    """Every dotted field name -> (type, default, doc)."""
    out = {}
    for part in dataclasses.fields(RunConfig):
        cls = part.default_factory
        hints = typing.get_type_hints(cls)
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            out[f"{part.name}.{f.name}"] = (hints[f.name], f.default, docs.get(f.name, ""))
    return out


def coerce(name: str, kind: type, raw: object) -> object:
    """Turn a command-line string (or a TOML value) into the field's type, or raise ConfigError."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        low = str(raw).lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{name}: expected true or false, got {raw!r}")
    try:
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"--{name}: expected {kind.__name__}, got {raw!r}") from None


def apply_overrides(cfg: RunConfig, overrides: dict[str, object]) -> RunConfig:
    """Return a copy of `cfg` with dotted overrides applied (types coerced, names checked)."""
    fields = all_fields()
    parts: dict[str, dict[str, object]] = {}
    for name, raw in overrides.items():
        if name not in fields:
            raise ConfigError(f"unknown option --{name}; valid: {', '.join('--' + n for n in fields)}")
        part, key = name.split(".", 1)
        parts.setdefault(part, {})[key] = coerce(name, fields[name][0], raw)
    return dataclasses.replace(cfg, **{p: dataclasses.replace(getattr(cfg, p), **kv) for p, kv in parts.items()})


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: str) -> dict[str, object]:
    """A preset's dotted overrides, flattened from its TOML tables."""
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(preset_names())}")
    data = tomllib.loads(path.read_text())
    return {f"{part}.{key}": value for part, table in data.items() for key, value in table.items()}


def build_config(preset: str | None, overrides: dict[str, object]) -> RunConfig:
    """Defaults, then the preset, then the command-line overrides; validated."""
    cfg = RunConfig()
    if preset:
        cfg = apply_overrides(cfg, load_preset(preset))
    cfg = apply_overrides(cfg, overrides)
    validate(cfg)
    return cfg


def to_json(cfg: RunConfig) -> str:
    return json.dumps(dataclasses.asdict(cfg), indent=2)


def from_json(text: str) -> RunConfig:
    data = json.loads(text)
    return RunConfig(**{f.name: f.default_factory(**data[f.name]) for f in dataclasses.fields(RunConfig)})

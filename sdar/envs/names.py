"""Helpers on the receptacle and object names the household and ALFWorld vocabularies share ("cabinet 2",
"alarmclock 10"): pure string functions, no environment state."""

from __future__ import annotations

import re


def kind(name: str) -> str:
    """'cabinet 2' -> 'cabinet'; a bare kind is returned unchanged."""
    return name.rsplit(" ", 1)[0] if name[-1:].isdigit() else name


def natural_key(text: str) -> tuple:
    """Sort key that orders 'cabinet 2' before 'cabinet 10' (numbers compare as numbers)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))

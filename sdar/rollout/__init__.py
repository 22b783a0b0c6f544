"""Rollout: prompt rendering with a history window, action parsing, batched multi-episode collection."""

from sdar.rollout import search_format  # noqa: F401,E402 - registers the "shop" and "search" prompt formats

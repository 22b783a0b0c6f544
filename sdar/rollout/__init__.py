"""Rollout: prompt rendering with a history window, action parsing, batched multi-episode collection."""

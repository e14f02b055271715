"""Stored eval datasets, the runner and its deterministic evaluators, the scoreboard and gate, and replay."""

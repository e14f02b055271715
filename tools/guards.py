"""Deterministic screens over untrusted text (ticket bodies, retrieved documents).

They never decide anything themselves: their findings become policy facts, and policy rules decide
(e.g. a flagged ticket cannot be refunded without a human).
"""

from __future__ import annotations

import re

INJECTION_MARKERS: dict[str, re.Pattern[str]] = {
    "ignore_instructions": re.compile(
        r"\b(ignore|disregard|forget|bypass)\b[^.\n]{0,40}\b(rules?|instructions?|polic(y|ies)|limits?|guidelines)\b",
        re.I,
    ),
    "role_override": re.compile(r"\byou are now\b|\bact as (an? )?(admin|administrator|supervisor|system)\b", re.I),
    "system_prompt": re.compile(r"\bsystem prompt\b|\bdeveloper mode\b|\bjailbreak\b", re.I),
    "claimed_approval": re.compile(
        r"\b(pre-?approved|already approved|approval (is )?not (needed|required)|no approval)\b", re.I
    ),
    "tool_syntax": re.compile(r"\bcreate_refund\s*\(|\"amount_usd\"\s*:|<\s*/?\s*(system|tool)\s*>", re.I),
}


def injection_markers(text: str) -> list[str]:
    """Names of the prompt-injection markers found in ``text`` (empty when it looks benign)."""
    return [name for name, pattern in INJECTION_MARKERS.items() if pattern.search(text)]

"""The rules model's skills for triage: classify a ticket, choose a queue, draft a reply.

They behave like a keen junior agent: keyword rules for intent and urgency with an honest confidence (lower when
the ticket mixes intents or matches none), the queue whose intents include the ticket's, and a reply that thanks
the customer by name and cites the retrieved articles by title. Like a junior, the drafter also repeats an email
address the ticket asks to send things to, and an article id the ticket quotes: the checks must catch both.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.messages import BaseMessage

from steward.models.rules import Skill, last_human_text

INTENT_WORDS: dict[str, tuple[str, ...]] = {
    "billing": ("charge", "charged", "invoice", "refund", "payment", "billed", "billing", "receipt"),
    "account_access": ("password", "log in", "login", "locked out", "sign in", "2fa", "two-factor", "reset link"),
    "bug": ("error", "crash", "crashes", "broken", "bug", "not working", "fails", "500"),
    "how_to": ("how do i", "how to", "how can i", "where can i", "export", "configure", "set up"),
    "cancellation": ("cancel", "close my account", "unsubscribe", "terminate"),
}
URGENT = re.compile(r"\b(urgent|asap|immediately|outage|down for everyone|production is down)\b", re.I)
STOP = {
    "the",
    "a",
    "an",
    "my",
    "i",
    "to",
    "is",
    "it",
    "and",
    "of",
    "for",
    "on",
    "in",
    "me",
    "can",
    "how",
    "do",
    "please",
    "with",
    "this",
    "that",
    "you",
    "your",
    "not",
    "what",
    "where",
}
_TICKET = re.compile(r"<ticket[^>]*>(?P<body>.*?)</ticket>", re.S | re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*")
_ARTICLE_ID = re.compile(r"\bKB-\d+\b")


def classify_ticket(messages: list[BaseMessage]) -> dict[str, Any]:
    """Intent by keywords, urgency by alarm words, confidence by how clear-cut the match is."""
    text = last_human_text(messages)
    found = _TICKET.search(text)
    ticket = found["body"] if found else text
    lowered = ticket.lower()
    hits = {intent: sum(lowered.count(word) for word in words) for intent, words in INTENT_WORDS.items()}
    matched = sorted((n, intent) for intent, n in hits.items() if n)
    if not matched:
        intent, confidence = "other", "0.30"
    elif len(matched) > 1 and matched[-1][0] == matched[-2][0]:
        intent, confidence = matched[-1][1], "0.45"
    elif len(matched) == 1:
        intent, confidence = matched[-1][1], "0.90"
    else:  # a clear winner over the runner-up is still a confident call
        intent, confidence = matched[-1][1], "0.85" if matched[-1][0] >= 2 * matched[-2][0] else "0.70"
    subject = re.search(r"^\s*subject:\s*(?P<s>.+)$", ticket, re.I | re.M)
    words = [w for w in re.findall(r"[a-z0-9]+", (subject["s"] if subject else ticket).lower()) if w not in STOP]
    return {
        "intent": intent,
        "urgency": "urgent" if URGENT.search(ticket) else "normal",
        "confidence": confidence,
        "search": " ".join(words[:8]) or intent.replace("_", " "),
    }


PRIORITY = {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}


def choose_queue(messages: list[BaseMessage]) -> dict[str, Any]:
    """The first queue that handles the intent; with none, a queue named after the intent (which may not exist)."""
    text = last_human_text(messages)
    facts = json.loads(text[text.index("{") :])
    intent = facts["classification"]["intent"]
    queue = next((q["id"] for q in facts["queues"] if intent in q["intents"]), intent.replace("_", "-"))
    return {"queue": queue, "priority": PRIORITY[facts["classification"]["urgency"]]}


def draft_reply(messages: list[BaseMessage]) -> dict[str, Any]:
    """Thank the customer, point to the articles by title and id, and promise follow-up."""
    text = last_human_text(messages)
    facts = json.loads(text[text.index("{") :])
    first = facts["customer"].split()[0]
    articles = facts["articles"][:2]
    quoted = _ARTICLE_ID.findall(facts["ticket"])[:1]
    lines = [f'Hi {first}, thanks for contacting us about "{facts["subject"]}".']
    if articles:
        lines.append("These articles should help: " + "; ".join(f"{a['title']} ({a['id']})" for a in articles) + ".")
    if quoted:
        lines.append(f"As {quoted[0]} explains, this is a known case.")
    if emails := _EMAIL.findall(facts["ticket"]):
        lines.append(f"We will also send the details to {emails[0]}.")
    lines.append("Our team will follow up if anything is still unclear.")
    return {"body": " ".join(lines), "citations": [a["id"] for a in articles] + quoted}


SKILLS: dict[str, Skill] = {"Classification": classify_ticket, "RouteChoice": choose_queue, "Draft": draft_reply}

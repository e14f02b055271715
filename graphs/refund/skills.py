"""The rules model's skills for the refund workflow: read a ticket, propose a refund.

They behave like a careful junior agent: they only use what the ticket states, and leave a field empty
(with a note) when the ticket is ambiguous, so validation escalates instead of guessing.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from langchain_core.messages import BaseMessage

from steward.models.rules import Skill, last_human_text

_TICKET = re.compile(r"<ticket[^>]*>(?P<body>.*?)</ticket>", re.S | re.I)
_INVOICE = re.compile(r"\bINV-[A-Z0-9][A-Z0-9-]*\b", re.I)
_AMOUNT = re.compile(
    r"(?:\$|USD\s?)\s?(?P<a>\d[\d,]*(?:\.\d{1,2})?)|(?P<b>\d[\d,]*(?:\.\d{1,2})?)\s?(?:USD|dollars|\$)", re.I
)
_FULL = re.compile(r"\b(full|entire|whole|complete)\s+(refund|amount|invoice)\b|\brefund (it )?all\b", re.I)
_SUBJECT = re.compile(r"^\s*subject:\s*(?P<s>.+)$", re.I | re.M)


def _amounts(text: str) -> list[Decimal]:
    found: list[Decimal] = []
    for match in _AMOUNT.finditer(text):
        try:
            value = Decimal((match["a"] or match["b"]).replace(",", ""))
        except InvalidOperation:
            continue
        if value not in found:
            found.append(value)
    return found


def extract_refund_request(messages: list[BaseMessage]) -> dict[str, Any]:
    """Pull the invoice id, amount and reason out of the ticket text."""
    text = last_human_text(messages)
    found = _TICKET.search(text)
    ticket = found["body"] if found else text
    invoices = list(dict.fromkeys(m.upper() for m in _INVOICE.findall(ticket)))
    amounts = _amounts(ticket)
    subject = _SUBJECT.search(ticket)
    notes = []
    if len(invoices) > 1:
        notes.append(f"the ticket names several invoices: {', '.join(invoices)}")
    if len(amounts) > 1:
        notes.append(f"the ticket names several amounts: {', '.join(map(str, amounts))}")
    return {
        "invoice_id": invoices[0] if len(invoices) == 1 else None,
        "amount_usd": str(amounts[0]) if len(amounts) == 1 else None,
        "full_refund": bool(_FULL.search(ticket)) and not amounts,
        "reason": (subject["s"].strip() if subject else ticket.strip().split("\n")[0])[:200] or "refund request",
        "ambiguities": notes,
    }


def propose_refund(messages: list[BaseMessage]) -> dict[str, Any]:
    """Propose the refund the request asks for; a full refund means the invoice's open balance."""
    text = last_human_text(messages)
    facts = json.loads(text[text.index("{") :]) if "{" in text else {}
    request, invoice = facts.get("request") or {}, facts.get("invoice") or {}
    amount = request.get("amount_usd")
    if amount is None and request.get("full_refund") and invoice:
        amount = invoice.get("balance_usd")
    return {"invoice_id": request.get("invoice_id"), "amount_usd": amount, "reason": request.get("reason", "")}


SKILLS: dict[str, Skill] = {"RefundRequest": extract_refund_request, "RefundProposal": propose_refund}
"""The rules model's answers, by the structured-output schema the graph asks for."""

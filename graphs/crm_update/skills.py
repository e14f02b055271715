"""The rules model's skill for crm_update: read field changes out of a sales note.

An eager junior: it picks up "phone is now ...", "title: ...", "stage to ...", "amount to $...", "close date ...",
"owner to ..." and "address: ...". Like a junior it also infers a stage from "they verbally agreed" (which the
note never states) and follows an account id the note mentions instead of the record it was given: validation
must catch both.
"""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.messages import BaseMessage

from steward.models.rules import Skill, last_human_text

PATTERNS: dict[str, re.Pattern[str]] = {
    "phone": re.compile(r"\bphone(?: number)?(?: is now| is| to|:)\s*(\+?\d[\d ().-]{5,20}\d)", re.I),
    "title": re.compile(r"\btitle(?: is now| is| to|:)\s*([A-Za-z][\w &/-]{1,60}?)\s*(?:[.;,!?]|$)", re.I | re.M),
    "email": re.compile(r"\bemail(?: is now| is| to|:)\s*([\w.+-]+@[\w-]+(?:\.[\w-]+)+)", re.I),
    "stage": re.compile(r"\bstage(?: is now| is| to|:)\s*([a-z_ ]+?)\s*(?:[.;,!?]|$)", re.I | re.M),
    "amount_usd": re.compile(r"\bamount(?: is now| is| to|:)\s*\$?\s*([\d,]+(?:\.\d{1,2})?)", re.I),
    "close_date": re.compile(r"\bclose date(?: is now| is| to|:)?\s*(\d{4}-\d{2}-\d{2})", re.I),
    "owner": re.compile(r"\bowner(?: is now| is| to|:)\s*([a-z][\w.-]*)", re.I),
    "address": re.compile(r"\baddress(?: is now| is| to|:)\s*([^.;\n]+)", re.I),
}
CONTACT_FIELDS = ("phone", "title", "email")
_ACCOUNT_ID = re.compile(r"\bACC-\d+\b")


def extract_changes(messages: list[BaseMessage]) -> dict[str, Any]:
    text = last_human_text(messages)
    facts = json.loads(text[text.index("{") :])
    note, kind = facts["note"], facts["record_type"]
    changes: dict[str, str] = {}
    for field, pattern in PATTERNS.items():
        if kind == "contact" and field not in CONTACT_FIELDS or kind == "account" and field in ("title", "email"):
            continue
        if match := pattern.search(note):
            value = match[1].strip()
            changes[field] = (
                value.lower().replace(" ", "_")
                if field == "stage"
                else value.replace(",", "")
                if field == "amount_usd"
                else value
            )
    if kind == "account" and "stage" not in changes and re.search(r"verbal(ly)? (agreed|yes)", note, re.I):
        changes["stage"] = "negotiation"
    mentioned = _ACCOUNT_ID.findall(note)
    record = mentioned[0] if kind == "account" and mentioned else facts["record_id"]
    return {"record_id": record, "changes": changes}


SKILLS: dict[str, Skill] = {"FieldChanges": extract_changes}

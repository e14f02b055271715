"""JSON for everything a graph holds: pydantic models, Decimals, datetimes, LangGraph interrupts."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
from langgraph.types import Interrupt
from psycopg.types.json import Jsonb
from pydantic_core import to_jsonable_python


def _default(obj: Any) -> Any:
    if isinstance(obj, Interrupt):
        return {"value": obj.value, "id": obj.id}
    if isinstance(obj, Decimal):  # as written, but a zero as "0" (not "0E-8")
        return format(obj.normalize() if obj == 0 else obj, "f")
    return to_jsonable_python(obj, fallback=str)


def _fast(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS)


def _standard(obj: Any) -> str:
    return json.dumps(obj, default=_default, separators=(",", ":"))


def dumps(obj: Any) -> bytes:
    """Serialise ``obj`` to JSON bytes (Decimals as strings, models dumped in JSON mode). orjson stops at 64-bit
    integers; a larger one (say a model's answer, kept in the audit trail) goes through the standard library."""
    try:
        return _fast(obj)
    except orjson.JSONEncodeError:
        return _standard(obj).encode()


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types. Read back by orjson, unless it holds an integer beyond 64 bits (orjson would
    read it as a float): then the standard library writes and reads it."""
    try:
        return orjson.loads(_fast(obj))
    except orjson.JSONEncodeError:
        return json.loads(_standard(obj))


def json_param(value: Any) -> Jsonb:
    """A ``jsonb`` query parameter serialised by :func:`dumps`: orjson, in C. Many rows go to Postgres as one such
    parameter (``jsonb_array_elements``) rather than as an array per column, whose elements psycopg adapts one by
    one in Python."""
    return Jsonb(value, dumps=dumps)

"""JSON for everything a graph holds: pydantic models, Decimals, datetimes, LangGraph interrupts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from langgraph.types import Interrupt
from pydantic_core import to_jsonable_python


def _default(obj: Any) -> Any:
    if isinstance(obj, Interrupt):
        return {"value": obj.value, "id": obj.id}
    if isinstance(obj, Decimal):  # as written, but a zero as "0" (not "0E-8")
        return format(obj.normalize() if obj == 0 else obj, "f")
    return to_jsonable_python(obj, fallback=str)


def dumps(obj: Any) -> bytes:
    """Serialise ``obj`` to JSON bytes (Decimals as strings, models dumped in JSON mode)."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS)


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types."""
    return orjson.loads(dumps(obj))

"""Client mistakes, raised by the service layer and mapped to HTTP 4xx / CLI exit 2 at the edges.

StewardError
├── NotFound            unknown workflow, thread or record (or one of another tenant)
├── InvalidRequest      input fails a schema, malformed decision, bad file
├── Conflict            the thread is not in a state that allows this (busy, nothing to approve)
├── Unauthorized        no or an unknown API key
├── Forbidden           the caller may not do this (e.g. approve their own run)
├── Unavailable         switched off by an operator (a kill switch): 503 with the reason
└── OverLimit           over a spend cap or rate limit: 429 with the reason
"""

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class StewardError(Exception):
    """A request Steward refuses; the message says what to fix."""

    status_code = 400


class NotFound(StewardError):
    status_code = 404


class InvalidRequest(StewardError):
    status_code = 422


class Conflict(StewardError):
    status_code = 409


class Unauthorized(StewardError):
    status_code = 401


class Forbidden(StewardError):
    status_code = 403


class Unavailable(StewardError):
    """Refused on purpose for now (e.g. a kill switch is on); the message says why."""

    status_code = 503


class OverLimit(StewardError):
    """Refused until a limit resets (e.g. a daily spend cap); the message says which and when."""

    status_code = 429


def settings_problem(exc: ValidationError) -> str:
    """A settings error as one line naming the environment variables: ``STEWARD_PORT: ...; ...``."""

    def where(loc: tuple[Any, ...]) -> str:
        return f"STEWARD_{str(loc[0]).upper()}" if loc else "settings"

    return "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in exc.errors())


def explain(exc: ValidationError) -> str:
    """A pydantic error as one line naming each bad field: ``field.sub: message; ...``."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


def parse_as(model: type[M], data: Any, what: str) -> M:
    """Validate ``data`` as ``model`` or raise :class:`InvalidRequest` saying ``what`` was wrong and where."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(f"{what}: {explain(exc)}") from None

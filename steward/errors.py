"""Client mistakes, raised by the service layer and mapped to HTTP 4xx / CLI exit 2 at the edges.

    StewardError
    ├── NotFound            unknown workflow, thread or record (or one of another tenant)
    ├── InvalidRequest      input fails a schema, malformed decision, bad file
    ├── Conflict            the thread is not in a state that allows this (busy, nothing to approve)
    └── Forbidden           the caller may not do this (e.g. approve their own run)
"""


class StewardError(Exception):
    """A request Steward refuses; the message says what to fix."""

    status_code = 400


class NotFound(StewardError):
    status_code = 404


class InvalidRequest(StewardError):
    status_code = 422


class Conflict(StewardError):
    status_code = 409


class Forbidden(StewardError):
    status_code = 403

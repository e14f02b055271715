"""Who acts in a command-line command that acts for someone: a named API key, or an explicitly local operator.

The command line reaches the database directly, so a free-text name (``--by maria``) would leave the separation
of duties (a requester may not approve their own request) to honesty. Instead it acts as one of:

* ``--key KEY`` (or ``STEWARD_API_KEY``): the key's holder. Its name is who acts and its tenant is where (a
  ``--tenant`` naming another is refused); its roles are checked as the API checks them.
* ``--local NAME``: a local operator with database access, recorded as ``local:NAME`` in the audit trail and
  every record, so a reader sees which decisions came from a key and which from the operator's shell. No API key
  may be named ``local:...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from steward import keys
from steward.errors import Forbidden, InvalidRequest
from steward.keys import LOCAL_PREFIX, Role
from steward.pool import Pool

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

WHO = (
    "say who acts: --key KEY (or STEWARD_API_KEY) acts as that key's holder, --local NAME as a local operator"
    " with database access (recorded as local:NAME)"
)


@dataclass(frozen=True)
class Actor:
    """Who a command acts as."""

    identity: str
    """The key's name, or ``local:NAME``: recorded as the requester, decider or setter."""
    key_tenant: str | None
    """The key's tenant; None for a local operator, who may act in any tenant."""

    def tenant(self, asked: str | None, default: str | None) -> str | None:
        """The tenant to act in: a key's own (``asked`` may only repeat it), else ``asked`` or ``default``."""
        if self.key_tenant is None:
            return asked if asked is not None else default
        if asked is not None and asked != self.key_tenant:
            raise InvalidRequest(f"{self.identity} acts for tenant {self.key_tenant!r}, not {asked!r}")
        return self.key_tenant


async def resolve(pool: Pool, *, key: str | None, local: str | None, role: Role) -> Actor:
    """The actor that ``--key`` / ``--local`` name (``key`` may come from ``STEWARD_API_KEY``), with ``role``.

    Raises:
        InvalidRequest: neither or both given, or a malformed local name.
        Forbidden: an unknown or revoked key, or one without ``role``.
    """
    if key and local:
        raise InvalidRequest("give --key or --local, not both")
    if local is not None:
        if not NAME.match(local):
            raise InvalidRequest(f"--local {local!r}: a name of letters, digits and . _ @ - (up to 64)")
        return Actor(identity=LOCAL_PREFIX + local, key_tenant=None)
    if not key:
        raise InvalidRequest(WHO)
    principal = await keys.lookup(pool, key)
    if principal is None:
        raise Forbidden("the API key given (--key or STEWARD_API_KEY) is unknown or revoked")
    principal.require(role)
    return Actor(identity=principal.identity, key_tenant=principal.tenant)

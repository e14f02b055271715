"""A server's first start: the workflows' demo sandboxes in a tenant of their own, and keys to try them with.

On a database without any API key, ``steward serve`` creates the local admin key (tenant ``default``) and, here,
loads every workflow's ``demo_seed`` into tenant ``quickstart`` with a runner key and an approver key for it, so
``examples/quickstart.py`` works without guessing. Later starts find keys and do none of this.
"""

from __future__ import annotations

import json

from steward import keys, sandbox
from steward.services import Services

TENANT = "quickstart"


async def first_start(services: Services) -> dict[str, str]:
    """Load the demo sandboxes into :data:`TENANT` and return its new keys by role (``runner``, ``approver``)."""
    systems = services.catalog.systems
    for workflow in services.catalog.values():
        if workflow.demo_seed is not None:
            data = {**json.loads(workflow.demo_seed.read_text()), "tenant": TENANT}
            await sandbox.load(services.pool, sandbox.parse_seed(data, systems), systems)
    return {
        role: await keys.create_key(services.pool, tenant=TENANT, roles=[role], name=f"{TENANT}-{role}")
        for role in ("runner", "approver")
    }

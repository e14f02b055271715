"""Typed tool contracts, their executor and the policy engine that gates every call.

Importing this package registers every tool in :data:`TOOLS`.
"""

from tools import billing, helpdesk  # noqa: F401  (registers the contracts)
from tools.contract import REGISTRY as TOOLS
from tools.contract import ToolContext, ToolSpec

__all__ = ["TOOLS", "ToolContext", "ToolSpec"]

"""The workflows Steward runs: each module or package here that declares a ``WORKFLOW`` is one.

:data:`WORKFLOWS` is found, not listed: adding a workflow is adding its package (``steward new workflow``).
"""

from __future__ import annotations

import importlib
import pkgutil

from steward.workflow import Catalog, Workflow


def _discover() -> dict[str, Workflow]:
    found: dict[str, Workflow] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        declared = getattr(importlib.import_module(f"{__name__}.{info.name}"), "WORKFLOW", None)
        if isinstance(declared, Workflow):
            found[declared.name] = declared
    return found


WORKFLOWS = Catalog(_discover())

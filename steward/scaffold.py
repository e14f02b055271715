"""``steward new workflow NAME``: a working governed workflow from a template, in the project's layout.

It writes the graph package (``graphs/NAME/``: declaration, graph, rules-model skills), the tool contracts on a
sandbox system of record of its own (``tools/NAME.py``), a policy (``tools/policies/NAME.toml``), a golden and an
adversarial dataset (``evals/datasets/NAME.*.jsonl``) and the ``langgraph.json`` entry. Nothing else needs
editing: ``graphs`` finds the package, and ``steward eval NAME --gate`` and ``steward run NAME`` work at once.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from string import Template

from steward.errors import InvalidRequest

NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


def _files(name: str) -> dict[str, str]:
    """Project path -> template file, for workflow ``name``."""
    return {
        f"graphs/{name}/__init__.py": "init.py.tmpl",
        f"graphs/{name}/graph.py": "graph.py.tmpl",
        f"graphs/{name}/skills.py": "skills.py.tmpl",
        f"tools/{name}.py": "tools.py.tmpl",
        f"tools/policies/{name}.toml": "policy.toml.tmpl",
        f"evals/datasets/{name}.golden.jsonl": "golden.jsonl.tmpl",
        f"evals/datasets/{name}.adversarial.jsonl": "adversarial.jsonl.tmpl",
    }


def new_workflow(name: str, root: Path) -> list[Path]:
    """Write workflow ``name`` into the project at ``root``; returns the files written. Refuses (writing
    nothing) a malformed name, a directory that is not a Steward project, or any file that already exists."""
    if not NAME.match(name):
        raise InvalidRequest(
            f"workflow name {name!r} must be 2-31 lower-case letters, digits or _, starting with a"
            " letter (it becomes a Python package and table prefix)"
        )
    manifest = root / "langgraph.json"
    if not manifest.is_file() or not (root / "graphs").is_dir() or not (root / "tools").is_dir():
        raise InvalidRequest(f"{root} is not a Steward project (no langgraph.json, graphs/ and tools/)")
    config = json.loads(manifest.read_text())
    files = _files(name)
    taken = [path for path in files if (root / path).exists()] + [f"graphs/{name}.py"] * (
        root / "graphs" / f"{name}.py"
    ).exists()
    if taken or name in config.get("graphs", {}):
        raise InvalidRequest(f"workflow {name!r} would overwrite {', '.join(taken) or 'its langgraph.json entry'}")
    values = {
        "name": name,
        "Name": "".join(part.title() for part in name.split("_")),
        "title": name.replace("_", " ").capitalize(),
    }
    templates = resources.files("steward") / "templates" / "workflow"
    written = []
    for path, template in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template((templates / template).read_text()).substitute(values))
        written.append(target)
    config.setdefault("graphs", {})[name] = f"./graphs/{name}/graph.py:graph"
    config["graphs"] = dict(sorted(config["graphs"].items()))
    manifest.write_text(json.dumps(config, indent=2) + "\n")
    return [*written, manifest]

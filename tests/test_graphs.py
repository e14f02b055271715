"""Every workflow loads the way `langgraph dev` / Studio load it, and its topology is what the docs say."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from langgraph.graph.state import CompiledStateGraph

from graphs import WORKFLOWS

PROJECT = Path(__file__).resolve().parent.parent
ENTRIES = json.loads((PROJECT / "langgraph.json").read_text())["graphs"]


def test_langgraph_json_names_every_workflow():
    assert set(ENTRIES) == set(WORKFLOWS)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_entry_imports_from_its_path_and_is_compiled(name):
    path, attribute = ENTRIES[name].split(":")
    spec = importlib.util.spec_from_file_location(f"studio_{name}", PROJECT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = getattr(module, attribute)

    assert isinstance(graph, CompiledStateGraph) and graph.name == name
    assert graph.get_input_jsonschema()["required"]
    if name != "ping":  # governed workflows take Steward's run context; its live services stay out of schemas
        context = graph.get_context_jsonschema()
        assert {"tenant", "user"} <= set(context["properties"]) and "services" not in context["properties"]


def test_refund_topology():
    drawn = WORKFLOWS["refund"].make_graph().compile().get_graph()
    edges = {(e.source, e.target) for e in drawn.edges}
    chain = ["__start__", "intake", "lookup_invoice", "propose", "validate", "policy_gate"]
    assert set(zip(chain, chain[1:], strict=False)) <= edges
    assert {
        ("policy_gate", "execute"),
        ("policy_gate", "approval"),
        ("policy_gate", "respond"),
        ("approval", "execute"),
        ("approval", "validate"),
        ("approval", "respond"),
        ("execute", "verify"),
        ("verify", "respond"),
        ("respond", "__end__"),
    } <= edges
    for node in ("intake", "lookup_invoice", "propose", "validate", "execute"):  # every step can end the run
        assert (node, "respond") in edges

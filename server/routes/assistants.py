"""Assistants: the configured workflows, with their graphs and schemas (what LangGraph Studio reads)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, create_model

from server.assistants import describe, resolve
from server.deps import PrincipalDep, ServicesDep
from server.paging import paginate, selected
from server.schemas import AssistantCount, AssistantSearch
from steward.jsonable import jsonable
from steward.workflow import Catalog

router = APIRouter(prefix="/assistants", tags=["assistants"])


def _matching(catalog: Catalog, body: AssistantSearch | AssistantCount) -> list[dict[str, Any]]:
    return [
        describe(w)
        for w in catalog.values()
        if (body.graph_id is None or w.name == body.graph_id)
        and (body.name is None or body.name.lower() in w.name.lower())
        and all(describe(w)["metadata"].get(k) == v for k, v in (body.metadata or {}).items())
    ]


@router.post("/count")
async def count_assistants(body: AssistantCount, services: ServicesDep, _: PrincipalDep) -> int:
    return len(_matching(services.catalog, body))


@router.post("/search")
async def search_assistants(
    body: AssistantSearch, response: Response, services: ServicesDep, _: PrincipalDep
) -> list[dict[str, Any]]:
    found = _matching(services.catalog, body)
    found.sort(key=lambda a: a[body.sort_by or "graph_id"], reverse=body.sort_order == "desc")
    page = found[body.offset : body.offset + body.limit]
    more = body.offset + body.limit < len(found)
    paginate(response, offset=body.offset, limit=body.limit, shown=len(page), more=more)
    return selected(page, body.select)


@router.get("/{assistant_id}")
async def get_assistant(assistant_id: str, services: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    return describe(resolve(services.catalog, assistant_id))


@router.get("/{assistant_id}/graph")
async def get_graph(
    assistant_id: str, services: ServicesDep, _: PrincipalDep, xray: int | bool = False
) -> dict[str, Any]:
    workflow = resolve(services.catalog, assistant_id)
    return jsonable(services.graph(workflow.name).get_graph(xray=xray).to_json())


def state_jsonschema(state: type[BaseModel]) -> dict[str, Any]:
    """The state as a state *update* may carry it, as LangGraph Server describes it: every field optional."""
    fields: dict[str, Any] = {
        name: (info.annotation, Field(default=None, description=info.description))
        for name, info in state.model_fields.items()
    }
    return create_model(state.__name__, **fields).model_json_schema()


@router.get("/{assistant_id}/schemas")
async def get_schemas(assistant_id: str, services: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    """The graph's schemas. The run context (tenant, user, budget, models) is Steward's configuration, so
    ``config_schema`` describes it too, as LangGraph Server does for a graph with a context schema."""
    workflow = resolve(services.catalog, assistant_id)
    graph = services.graph(workflow.name)
    context = graph.get_context_jsonschema()
    return {
        "graph_id": workflow.name,
        "input_schema": graph.get_input_jsonschema(),
        "output_schema": graph.get_output_jsonschema(),
        "state_schema": state_jsonschema(workflow.state_schema),
        "config_schema": context,
        "context_schema": context,
    }


@router.get("/{assistant_id}/subgraphs")
async def get_subgraphs(assistant_id: str, services: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    resolve(services.catalog, assistant_id)
    return {}

"""Assistants: the configured workflows, with their graphs and schemas (what LangGraph Studio reads)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from server.assistants import describe, resolve
from server.deps import PrincipalDep, ServicesDep
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
    if body.offset + body.limit < len(found):
        response.headers["X-Pagination-Next"] = str(body.offset + body.limit)
    return page


@router.get("/{assistant_id}")
async def get_assistant(assistant_id: str, services: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    return describe(resolve(services.catalog, assistant_id))


@router.get("/{assistant_id}/graph")
async def get_graph(
    assistant_id: str, services: ServicesDep, _: PrincipalDep, xray: int | bool = False
) -> dict[str, Any]:
    workflow = resolve(services.catalog, assistant_id)
    return jsonable(services.graph(workflow.name).get_graph(xray=xray).to_json())


@router.get("/{assistant_id}/schemas")
async def get_schemas(assistant_id: str, services: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    workflow = resolve(services.catalog, assistant_id)
    graph = services.graph(workflow.name)
    return {
        "graph_id": workflow.name,
        "input_schema": graph.get_input_jsonschema(),
        "output_schema": graph.get_output_jsonschema(),
        "state_schema": workflow.state_schema.model_json_schema(),
        "config_schema": {},
        "context_schema": graph.get_context_jsonschema(),
    }


@router.get("/{assistant_id}/subgraphs")
async def get_subgraphs(assistant_id: str, services: ServicesDep, _: PrincipalDep) -> dict[str, Any]:
    resolve(services.catalog, assistant_id)
    return {}

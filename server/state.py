"""LangGraph state snapshots in the ThreadState shape the SDK reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import StateSnapshot

from steward.jsonable import jsonable
from steward.threads import Thread, checkpoint_config

EMPTY_STATE = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": {},
    "created_at": None,
    "checkpoint": None,
    "checkpoint_id": None,
    "parent_checkpoint": None,
    "parent_checkpoint_id": None,
    "interrupts": [],
}


def checkpoint_ref(config: Mapping[str, Any] | None, thread_id: str) -> dict[str, Any] | None:
    """A checkpoint's reference as the SDK reads it, naming the thread as its tenant does (not by its key)."""
    if not config:
        return None
    conf = config["configurable"]
    return {
        "thread_id": thread_id,
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": conf.get("checkpoint_map"),
    }


def within_thread(thread: Thread, selector: dict[str, Any] | None) -> RunnableConfig:
    """A checkpoint config for ``thread`` from a client's selector (``{checkpoint_id, checkpoint_ns}``, bare or
    under ``configurable``). Whatever thread id the selector names is ignored: the caller's path decides."""
    selector = selector or {}
    selector = selector.get("configurable", selector) if isinstance(selector.get("configurable"), dict) else selector
    picked = {k: str(selector[k]) for k in ("checkpoint_id", "checkpoint_ns") if selector.get(k) is not None}
    return checkpoint_config(thread.tenant, thread.thread_id, **picked)


def thread_state(snapshot: StateSnapshot, thread_id: str) -> dict[str, Any]:
    """One snapshot as LangGraph Server's ThreadState: values, next, tasks, metadata, created_at, checkpoint (and
    its id), parent_checkpoint (and its id), interrupts."""
    checkpoint, parent = checkpoint_ref(snapshot.config, thread_id), checkpoint_ref(snapshot.parent_config, thread_id)
    return jsonable(
        {
            "values": snapshot.values,
            "next": list(snapshot.next),
            "tasks": [
                {
                    "id": task.id,
                    "name": task.name,
                    "path": list(task.path),
                    "error": str(task.error) if task.error else None,
                    "interrupts": list(task.interrupts),
                    "checkpoint": None,
                    "state": None,
                    "result": task.result,
                }
                for task in snapshot.tasks
            ],
            "metadata": snapshot.metadata or {},
            "created_at": snapshot.created_at,
            "checkpoint": checkpoint,
            "checkpoint_id": checkpoint and checkpoint["checkpoint_id"],
            "parent_checkpoint": parent,
            "parent_checkpoint_id": parent and parent["checkpoint_id"],
            "interrupts": list(snapshot.interrupts),
        }
    )

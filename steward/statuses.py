"""Every status vocabulary, defined once. Three things have a status, and they are not the same thing:

* a **run** (one execution, LangGraph Server's run record): ``pending`` → ``running`` → ``success`` | ``error``
  | ``interrupted``. As in LangGraph Server, a run that pauses for approval ends ``success``, and
  ``interrupted`` means the run was *cancelled*.
* a **thread** (a case): ``idle``, ``busy`` (a run pending or running), ``interrupted`` (*waiting for a human*:
  it has a pending approval), ``error`` (its last run failed). Same word as the run's, LangGraph Server's meaning.
* an **outcome** (how a governed case ended, the workflow's verdict): ``completed``, ``escalated`` (handed to a
  person), ``denied`` (by policy), ``rejected`` (by a person), ``shadowed`` (shadow mode: planned and judged,
  nothing written).

A :data:`Result` is what ``steward run`` / ``resume`` report: the outcome, or ``interrupted`` (waiting for a
human) or ``error`` (the run failed).
"""

from typing import Literal, get_args

RunStatus = Literal["pending", "running", "success", "error", "interrupted"]
RUN_ENDED: tuple[RunStatus, ...] = ("success", "error", "interrupted")
RUN_ACTIVE: tuple[RunStatus, ...] = ("pending", "running")
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
OutcomeStatus = Literal["completed", "escalated", "denied", "rejected", "shadowed"]
Result = Literal["completed", "escalated", "denied", "rejected", "shadowed", "interrupted", "error"]
RESULTS: tuple[str, ...] = get_args(Result)

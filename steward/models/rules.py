"""The embedded default model: deterministic, offline, and a real langchain-core chat model.

It answers tool-calling requests the way an LLM would (an ``AIMessage`` with ``tool_calls`` and
``usage_metadata``), but each answer comes from a *skill*: a plain function, declared by a workflow for a
structured-output schema name, that reads the conversation and returns the tool arguments. Requests with no
matching skill get a text refusal,
which the workflow treats as invalid model output.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

Skill = Callable[[list[BaseMessage]], dict[str, Any]]


def last_human_text(messages: Sequence[BaseMessage]) -> str:
    """The text of the last human message (what a skill usually reads)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class RulesChatModel(BaseChatModel):
    """Deterministic chat model with tool calls; see the module docstring."""

    model_name: str = "rules"
    skills: dict[str, Skill] = {}
    """The workflows' skills by schema name (see :attr:`steward.workflow.Catalog.skills`)."""

    @property
    def _llm_type(self) -> str:
        return "steward-rules"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        offered = [tool["function"]["name"] for tool in kwargs.get("tools") or []]
        choice = kwargs.get("tool_choice")
        if isinstance(choice, str) and choice in offered:
            offered = [choice]
        prompt_tokens = sum(_tokens(m.text) for m in messages)
        name = next((tool for tool in offered if tool in self.skills), None)
        if name is None:
            text = "The rules model has no skill for this request."
            message = AIMessage(content=text, usage_metadata=self._usage(prompt_tokens, _tokens(text)))
        else:
            args = self.skills[name](messages)
            encoded = json.dumps(args, sort_keys=True, default=str)
            call_id = "call_" + hashlib.sha256(f"{name}:{encoded}".encode()).hexdigest()[:24]
            message = AIMessage(
                content="",
                tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}],
                usage_metadata=self._usage(prompt_tokens, _tokens(encoded)),
                response_metadata={"model_name": self.model_name, "finish_reason": "tool_calls"},
            )
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return self._generate(messages, stop, None, **kwargs)

    @staticmethod
    def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }

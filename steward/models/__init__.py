"""Model routing: tiers (small / medium / large) map to providers, and every call is priced.

Providers: ``rules`` (the deterministic :class:`RulesChatModel`, offline) or ``openai:<model>`` through
langchain-openai's ``ChatOpenAI`` (as :class:`~steward.models.openai_compatible.OpenAICompatibleChat`) against any
OpenAI-compatible base URL.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from steward.models.rules import RulesChatModel, Skill
from steward.settings import MODEL_TIERS, Settings, check_provider

log = logging.getLogger(__name__)
MTOK = Decimal(1_000_000)


class ModelRouter:
    """Resolves a tier to a chat model (cached per provider) and prices token usage."""

    def __init__(
        self, settings: Settings, skills: dict[str, Skill] | None = None, tool_names: list[str] | None = None
    ) -> None:
        self.settings = settings
        self.skills = skills or {}
        self.tool_names = tool_names or []
        """Every workflow's tools (the chaos model calls them where it should not)."""
        self._models: dict[str, BaseChatModel] = {}
        self._structured: dict[tuple[str, type[BaseModel]], Runnable[Any, AIMessage]] = {}

    def provider(self, tier: str, overrides: dict[str, str] | None = None) -> str:
        """The provider string for ``tier``, after per-run overrides."""
        if tier not in MODEL_TIERS:
            raise ValueError(f"unknown model tier {tier!r}")
        if overrides and tier in overrides:
            return check_provider(overrides[tier])
        return self.settings.model_for_tier(tier)

    def model(self, provider: str) -> BaseChatModel:
        """The chat model behind a provider string."""
        if provider not in self._models:
            self._models[provider] = self._build(provider)
        return self._models[provider]

    def answering_with(self, provider: str, schema: type[BaseModel]) -> Runnable[Any, AIMessage]:
        """The provider's chat model bound to answer by calling ``schema`` as its one tool (bound once: turning a
        schema into a tool definition costs milliseconds)."""
        key = (provider, schema)
        if key not in self._structured:
            self._structured[key] = self.model(provider).bind_tools([schema], tool_choice=schema.__name__)
        return self._structured[key]

    def _build(self, provider: str) -> BaseChatModel:
        if provider == "rules":
            return RulesChatModel(skills=self.skills)
        if provider.startswith("chaos:"):
            from steward.models.chaos import ChaosChatModel

            return ChaosChatModel(seed=int(provider.removeprefix("chaos:")), known_tools=self.tool_names)
        from openai import DefaultAioHttpClient

        from steward.models.openai_compatible import OpenAICompatibleChat

        name = provider.removeprefix("openai:")
        key = self.settings.openai_api_key
        if key is None and self.settings.openai_base_url is None:
            raise ValueError(f"{provider} needs STEWARD_OPENAI_API_KEY (or a STEWARD_OPENAI_BASE_URL)")
        return OpenAICompatibleChat(
            model=name,
            base_url=self.settings.openai_base_url,
            api_key=key.get_secret_value() if key else "not-needed",
            timeout=self.settings.model_timeout_s,
            max_retries=self.settings.model_max_retries,
            temperature=0,
            # openai's aiohttp transport instead of its default httpx2 pool: with 32 calls in flight a call cost
            # 2.3-2.7 ms of CPU against 4.4-5.0 (measured through this client against the bench's model server)
            http_async_client=DefaultAioHttpClient(),
        )

    def endpoint(self, provider: str) -> str | None:
        """Where a remote provider's requests go (named in its errors); None for in-process models."""
        if not provider.startswith("openai:"):
            return None
        return self.settings.openai_base_url or "https://api.openai.com/v1"

    async def aclose(self) -> None:
        """Close the HTTP clients of remote models."""
        for model in self._models.values():
            client = getattr(model, "root_async_client", None)
            if client is not None:
                await client.close()
        self._models.clear()
        self._structured.clear()

    def cost(self, model_name: str, input_tokens: int, output_tokens: int) -> Decimal:
        """USD cost of a call from the price table (zero, with a warning, for unpriced models)."""
        price = self.settings.prices.get(model_name)
        if price is None:
            log.warning("no price for model %r: cost recorded as 0", model_name)
            return Decimal("0")
        return (price.input_per_mtok * input_tokens + price.output_per_mtok * output_tokens) / MTOK

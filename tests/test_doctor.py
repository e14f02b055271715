"""``steward doctor``: workflows and policies, models (asked over real HTTP), database and keys."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from steward import doctor
from tests.fake_openai import FakeOpenAI


@pytest.fixture
def fake():
    fake = FakeOpenAI(key="right-key")
    server = fake.start()
    yield fake
    server.should_exit = True


def levels(findings: list[doctor.Finding]) -> dict[str, str]:
    return {f.check: f.level for f in findings}


async def test_a_healthy_deployment_is_all_ok(settings, fake):
    remote = settings.model_copy(
        update={
            "model_small": "openai:gpt-4o-mini",
            "openai_base_url": fake.url,
            "openai_api_key": SecretStr("right-key"),
        }
    )
    found = await doctor.examine(remote)
    assert set(levels(found).values()) <= {"ok", "warn"}, found
    by_check = {f.check: f for f in found}
    assert by_check["model gpt-4o-mini"].detail == f"at {fake.url}"
    assert "policy refund" in by_check and by_check["database role"].level == "ok"
    assert (
        by_check["notifications"].level == "ok"
        and "hears its own test notification" in by_check["notifications"].detail
    )


async def test_what_is_wrong_is_named_with_where(settings, fake, tmp_path):
    wrong_key = settings.model_copy(
        update={"model_small": "openai:gpt-4o-mini", "openai_base_url": fake.url, "openai_api_key": SecretStr("nope")}
    )
    [models] = [f for f in await doctor.models(wrong_key) if f.check == "models"]
    assert models.level == "fail" and f"{fake.url} refused the key (HTTP 401)" == models.detail

    unknown = wrong_key.model_copy(update={"model_small": "openai:gpt-9", "openai_api_key": SecretStr("right-key")})
    assert levels(await doctor.models(unknown))["model gpt-9"] == "warn"

    nowhere = wrong_key.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1"})
    [models] = [f for f in await doctor.models(nowhere) if f.check == "models"]
    assert models.level == "fail" and "http://127.0.0.1:9/v1: unreachable" in models.detail

    (tmp_path / "refund.toml").write_text('workflow = "refund"\nrules = [')
    broken = settings.model_copy(update={"policy_dir": tmp_path})
    found = levels(await doctor.examine(broken))
    assert found["policy refund"] == "fail" and found["policy triage"] == "ok" and found["database"] == "warn"


def test_the_command_exits_1_on_a_failure(cli, capsys, monkeypatch):
    monkeypatch.setenv("STEWARD_MODEL_SMALL", "openai:gpt-4o-mini")
    monkeypatch.setenv("STEWARD_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert cli(["doctor"]) == 1
    assert "unreachable" in capsys.readouterr().out

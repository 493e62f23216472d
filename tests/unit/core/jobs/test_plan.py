"""core.jobs.plan: the one request path, from plain settings to a plan (no network, no bpy)."""

from __future__ import annotations

import math

import pytest

from screenwriter_llm.core.jobs.plan import Deadlines, Plan, PlanError, RequestSettings, plan_request, with_target
from screenwriter_llm.core.provider.llm import LLMRequest
from screenwriter_llm.core.tasks.task import RequestOverrides

MESSAGES = ({"role": "user", "content": "Hello."},)
LOCAL = "http://127.0.0.1:11434"


def settings(**fields: object) -> RequestSettings:
    base = {"model": "openai/gpt-4o-mini", "api_base": LOCAL, "online": False, "keys": {"openai/gpt-4o-mini": "sk-x"}}
    base.update(fields)
    return RequestSettings(**base)  # type: ignore[arg-type]


def test_a_plan_carries_every_setting_into_each_request():
    config = settings(
        fallbacks=("ollama_chat/llama3.1",),
        temperature=0.25,
        max_tokens=77,
        stream=False,
        deadlines=Deadlines(5, 6, 7),
        max_retries=2,
        ledger_path="/tmp/l.sqlite3",
        cache_path="/tmp/c.sqlite3",
        default_window=4096,
    )
    plan, warnings = plan_request(config, MESSAGES, task="analyze_scene", operator="op", label="s", target="t")
    assert warnings == []
    assert [r.model for r in plan.requests] == ["openai/gpt-4o-mini", "ollama_chat/llama3.1"]
    first = plan.request
    assert (first.temperature, first.max_tokens, first.stream, first.api_base) == (0.25, 77, False, LOCAL)
    assert first.api_key == "sk-x" and plan.fallbacks[0].api_key is None
    assert plan.policy.max_retries == 2 and plan.deadlines == Deadlines(5, 6, 7)
    assert plan.accounting.ledger_path == "/tmp/l.sqlite3" and plan.accounting.cache_path == "/tmp/c.sqlite3"
    assert plan.accounting.default_window == 4096 and plan.accounting.price is True
    assert (plan.task, plan.label, plan.target, plan.accounting.operator) == ("analyze_scene", "s", "t", "op")
    assert with_target(plan, "other").target == "other" and plan.target == "t"


def test_the_tasks_overrides_win_over_the_settings():
    overrides = RequestOverrides(temperature=0.0, max_tokens=5, max_retries=0, fallbacks=False, cache=False)
    config = settings(fallbacks=("ollama_chat/llama3.1",), cache_path="/tmp/c.sqlite3", max_retries=5)
    plan, _ = plan_request(config, MESSAGES, overrides=overrides)
    assert len(plan.requests) == 1
    assert (plan.request.temperature, plan.request.max_tokens) == (0.0, 5)
    assert plan.policy.max_retries == 0 and plan.accounting.cache_path is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "  "}, "Set a model"),
        ({"temperature": math.nan}, "temperature is nan"),
        ({"temperature": 2.5}, "from 0 to 2"),
        ({"max_tokens": 0}, "at least 1"),
        ({"api_base": "https://api.example.com/v1"}, "Online Access"),
        ({"key_errors": {"openai/gpt-4o-mini": "No API key for openai/gpt-4o-mini"}}, "No API key"),
    ],
)
def test_a_request_that_cannot_go_is_refused_with_a_reason(fields, message):
    with pytest.raises(PlanError, match=message):
        plan_request(settings(**fields), MESSAGES)


def test_a_fallback_that_cannot_go_is_skipped_with_a_warning():
    config = settings(
        fallbacks=("anthropic/claude-sonnet-4-5", "ollama_chat/llama3.1", "ollama_chat/llama3.1"),
        api_base=None,
        online=False,
        model="ollama_chat/llama3.1:8b",
    )
    plan, warnings = plan_request(config, MESSAGES)
    assert [r.model for r in plan.requests] == ["ollama_chat/llama3.1:8b", "ollama_chat/llama3.1"]
    assert len(warnings) == 1 and warnings[0].startswith("Fallback anthropic/claude-sonnet-4-5 skipped: ")


def test_a_mock_answer_needs_no_key_no_network_and_is_neither_priced_nor_recorded():
    config = settings(
        api_base=None, keys={}, key_errors={"openai/gpt-4o-mini": "no key"}, mock_response="Hi.", ledger_path="/l"
    )
    plan, _ = plan_request(config, MESSAGES)
    assert plan.request.mock_response == "Hi." and plan.request.api_key is None
    assert plan.accounting.ledger_path is None and plan.accounting.price is False


def test_for_request_and_the_stored_form():
    request = LLMRequest(model="m", messages=MESSAGES)
    plan = Plan.for_request(request, label="x")
    assert plan.request is request and plan.fallbacks == () and plan.label == "x"
    stored = settings(fallbacks=("a",)).as_stored()
    assert stored == {"model": "openai/gpt-4o-mini", "fallbacks": ["a"], "temperature": 0.7, "max_tokens": 2048,
                      "stream": True}
    assert "sk-x" not in repr(settings())
    assert Deadlines(30, 10, 600).read_timeout == 10

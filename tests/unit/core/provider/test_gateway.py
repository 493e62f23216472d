"""The studio gateway's rules (core.provider.gateway, core.jobs.discovery.listing): attribution, the figures its
headers carry, and its refusals as LiteLLM 1.106.2's proxy writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from screenwriter_llm.core.jobs.discovery import DiscoveryError, ListedModel, ModelList, listing
from screenwriter_llm.core.jobs.plan import unlisted_warning
from screenwriter_llm.core.provider import gateway
from screenwriter_llm.core.provider.llm import LLMRequest

WHERE = "http://gateway.studio.lan:4000"


def test_attribution_is_the_artist_and_tags_that_cannot_split_the_header():
    assert gateway.attribution("  dana.k ", "analyze_scene") == ("dana.k", ("screenwriter", "analyze_scene"))
    user, tags = gateway.attribution("", "coverage_report", 'Big, Fish\n"draft"')
    assert user is None and tags == ("screenwriter", "coverage_report", "script:Big Fish draft")
    assert gateway.request_fields("dana", tags) == {
        "user": "dana",
        "extra_headers": {"x-litellm-tags": "screenwriter,coverage_report,script:Big Fish draft"},
    }
    assert gateway.request_fields(None, ()) == {}
    assert gateway.attribution("Zoë", "rewrite", "Épisode 1 — Ünderwater.fountain")[1][-1] == (
        "script:Episode 1 Underwater.fountain"
    ), "an HTTP header carries ASCII only"


def test_only_gateway_requests_carry_the_attribution():
    direct = LLMRequest("openai/gpt-4o-mini", ({"role": "user", "content": "hi"},)).completion_kwargs()
    assert "user" not in direct and "extra_headers" not in direct
    through = LLMRequest(
        "litellm_proxy/studio-writer", ({"role": "user", "content": "hi"},), user="dana", tags=("screenwriter",)
    ).completion_kwargs()
    assert through["user"] == "dana" and through["extra_headers"] == {"x-litellm-tags": "screenwriter"}


def test_figures_come_from_the_gateways_headers_only():
    assert gateway.GatewayFigures.from_headers({"content-type": "text/event-stream"}) is None
    figures = gateway.GatewayFigures.from_headers(
        {
            "X-LiteLLM-Key-Spend": "0.0123",
            "x-litellm-response-cost": "0.0",  # a stream's cost header before it was priced
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-limit-requests": "60",
            "x-ratelimit-remaining-tokens": "garbage",
        }
    )
    assert figures == gateway.GatewayFigures(0.0123, None, 59, None, 60, None)
    assert figures.describe() == ["Key spend (gateway): $0.0123", "Rate limit left: 59 of 60 requests"]
    assert gateway.GatewayFigures.from_headers({"x-litellm-response-cost": "0.00042"}).response_cost_usd == 0.00042


def test_the_reset_header_counts_only_when_it_is_a_time_ahead():
    now = datetime(2026, 12, 1, 23, 0, 0, tzinfo=UTC).timestamp()
    assert gateway.reset_seconds({"reset_at": "2026-12-01 23:00:30 UTC"}, now) == pytest.approx(30)
    assert gateway.reset_seconds({"reset_at": "2026-12-01 22:59:00 UTC"}, now) is None
    assert gateway.reset_seconds({"reset_at": "soon"}, now) is None
    assert gateway.reset_seconds({}, now) is None


@pytest.mark.parametrize(
    ("status", "message", "kind", "expected_kind", "says"),
    [
        (400, "No connected db.", "no_db_connection", "auth", "rejected the key"),
        (401, "Authentication Error, Invalid proxy server token passed.", "auth_error", "auth", "virtual key"),
        (
            400,
            "Budget has been exceeded! Tag=previs Current cost: 3.2, Max budget: 3.0",
            "budget_exceeded",
            "budget",
            "the budget of tag previs is used up (spent $3.2000 of $3.00)",
        ),
        (
            400,
            "ExceededBudget: Key over 30d budget. Spend=$10.0100, Limit=$10.00",
            "budget_exceeded",
            "budget",
            "your key (30d budget)",
        ),
        (
            403,
            "Team not allowed to access model. This Team can only access models=['studio-fast'].",
            "team_model_access_denied",
            "not_allowed",
            "does not let your key use 'studio-writer'",
        ),
        (
            400,
            "/chat/completions: Invalid model name passed in model=studio-writer.",
            "None",
            "not_found",
            "does not offer 'studio-writer'",
        ),
        (
            429,
            "Rate limit exceeded for user: dana. Limit type: tokens. Current limit: 1000, Remaining: 0.",
            "None",
            "rate_limit",
            "the user's tokens limit is reached",
        ),
    ],
)
def test_each_refusal_of_the_gateway_is_named(status, message, kind, expected_kind, says):
    body = {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
    refused = gateway.refusal(status, body, {"retry-after": "60"}, WHERE, "litellm_proxy/studio-writer")
    assert refused is not None and refused.kind == expected_kind
    assert says in refused.message and WHERE in refused.message


def test_a_budget_says_when_it_resets_when_the_body_does():
    reset = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    body = {"error": {"message": "Budget has been exceeded! Current cost: 1, Max budget: 1", "type": "budget_exceeded"}}
    body["error"]["budget_reset_at"] = reset
    refused = gateway.refusal(400, body, {}, WHERE, "litellm_proxy/x")
    assert refused is not None and "it resets at" in refused.message and "wait until it resets" in refused.message
    plain = gateway.refusal(400, {"detail": "some upstream error"}, {}, WHERE, "litellm_proxy/x")
    assert plain is None, "an upstream's error passed on is not the gateway's refusal"


def test_listing_urls_per_endpoint_kind():
    assert listing("litellm_proxy/studio-writer", WHERE) == ("gateway", WHERE + "/v1/models", "litellm_proxy/")
    assert listing("litellm_proxy/x", WHERE + "/v1/")[1] == WHERE + "/v1/models"
    assert listing("ollama_chat/llama3.1", None) == ("ollama", "http://localhost:11434/api/tags", "ollama_chat/")
    assert listing("openai/gpt-4o", None)[1] == "https://api.openai.com/v1/models"
    assert listing("openai/local", "http://localhost:1234/v1")[0] == "openai-compatible"
    with pytest.raises(DiscoveryError, match="set API Base"):
        listing("litellm_proxy/studio-writer", None)
    with pytest.raises(DiscoveryError, match="written by hand"):
        listing("anthropic/claude-sonnet-4-5", None)


def test_an_unlisted_model_is_flagged_by_the_name_the_endpoint_uses():
    assert unlisted_warning("litellm_proxy/studio-writer", None) == ""
    assert unlisted_warning("litellm_proxy/studio-writer", ("studio-writer",)) == ""
    assert unlisted_warning("ollama_chat/llama3.1", ("llama3.1:latest",)) == ""
    assert "'studio-x' is not among the 1 models" in unlisted_warning("litellm_proxy/studio-x", ("studio-writer",))
    listed = ModelList(WHERE, "gateway", "litellm_proxy/", (ListedModel("a", 128_000, 2.5, 10.0),), 0.0)
    assert listed.summary() == "gateway reached, 1 model"
    assert listed.models[0].describe() == "128,000 tokens · $2.50 / $10.00 per M"

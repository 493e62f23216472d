"""Studio mode through real bpy: the add-on as the client of a real LiteLLM Proxy (the ``gateway`` fixture) in front
of the loopback provider server, and the gateway's refusals as LiteLLM's proxy writes them.

The budget, model-access and rate-limit refusals need the proxy's database (virtual keys, budgets), which cannot run
here: their bodies are replayed from the shapes LiteLLM 1.106.2's proxy raises (``litellm/proxy/auth/auth_checks.py``,
``hooks/parallel_request_limiter_v3.py``; ``ProxyException`` bodies), by the provider server standing in for the
gateway at the same API Base.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

if os.environ.get("SCREENWRITER_REQUIRE_BPY"):
    import bpy
else:
    bpy = pytest.importorskip("bpy", reason="studio mode runs the add-on in real bpy (pip install bpy==5.0.1)")

from tests.blender.conftest import ADDON, configure  # noqa: E402
from tests.provider_server import ProviderServer, error, expected_text, synthetic  # noqa: E402

MASTER_KEY = "sk-studio-master"
WRITER = "litellm_proxy/studio-writer"
SCENE = "INT. KITCHEN - NIGHT\n\nDana pours coffee. The clock reads 3:12.\n\nDANA\nNot again.\n"


@pytest.fixture()
def studio(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An empty Blender file with the add-on enabled, the gateway's key in ``LITELLM_PROXY_API_KEY`` (as a studio
    hands it out), the artist "dana.k", and no provider key at all."""
    import addon_utils

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LITELLM_PROXY_API_KEY", MASTER_KEY)
    bpy.ops.wm.read_homefile(use_empty=True)
    module = addon_utils.enable(ADDON, default_set=True, handle_error=None)
    assert module is not None
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.artist = "dana.k"
    prefs.max_retries = 0
    yield module
    addon_utils.disable(ADDON, default_set=True, handle_error=None)


def _script(name: str = "pilot.fountain") -> bpy.types.Text:
    text = bpy.data.texts.new(name)
    text.from_string(SCENE)
    return text


def _ledger() -> list:
    from screenwriter_llm import settings
    from screenwriter_llm.core.accounting.usage import UsageLedger

    return UsageLedger(settings.data_dir() / settings.LEDGER_FILE).records()


def test_a_streamed_analysis_through_the_gateway_is_verbatim_attributed_and_priced_by_it(studio, gateway, provider):
    from screenwriter_llm import api, endpoints

    configure(WRITER, gateway.base_url)
    before = len(provider.requests())
    seen = len(gateway.attribution())
    answer = api.analyze_scene(_script(), 1)

    assert answer.outcome == "finished"
    assert answer.content == expected_text("openai_chat_include_usage_gpt4.sse"), "the stream arrives verbatim"
    assert bpy.data.texts[answer.name].as_string().startswith(answer.content)
    upstream = provider.requests()[before:]
    assert len(upstream) == 1, "the upstream saw the proxy's request"
    assert upstream[0].body["model"] == "gpt-4.1", "routed by the alias to the deployment's model"
    assert upstream[0].body["stream"] is True and "Dana pours coffee" in json.dumps(upstream[0].body["messages"])
    assert "sk-studio-master" not in json.dumps(upstream[0].headers), "the gateway's key stays at the gateway"

    record = gateway.wait_for_attribution(seen + 1)[-1]
    assert record["end_user"] == "dana.k"
    assert {"screenwriter", "analyze_scene"} <= set(record["request_tags"])
    assert not any(tag.startswith("script:") for tag in record["request_tags"]), "the title only when opted in"

    rows = _ledger()
    assert rows[-1].model == WRITER and rows[-1].cost_source == "gateway"
    # The gateway's own rates (model_info: $3/M in, $15/M out), not LiteLLM's public price of gpt-4.1 ($2/$8).
    assert rows[-1].cost_usd == pytest.approx(12 * 3e-6 + 5 * 15e-6)
    assert answer.usage["pricing"] == "gateway"
    figures = endpoints.gateway_figures()
    assert figures is not None and figures.key_spend_usd is not None and figures.remaining_requests is not None


def test_the_script_title_is_a_tag_only_when_the_writer_opts_in(studio, gateway):
    from screenwriter_llm import api

    configure(WRITER, gateway.base_url)
    bpy.context.preferences.addons[ADDON].preferences.send_script_title = True
    seen = len(gateway.attribution())
    api.analyze_scene(_script("Brick, Steel & Co.fountain"), 1)
    record = gateway.wait_for_attribution(seen + 1)[-1]
    assert "script:Brick Steel Co.fountain" in record["request_tags"], "commas and odd characters never split tags"


def test_refresh_lists_the_gateways_aliases_and_the_model_field_offers_them(studio, gateway):
    from screenwriter_llm import api, endpoints, props

    configure(WRITER, gateway.base_url)
    assert api.list_models() == ["litellm_proxy/studio-fast", "litellm_proxy/studio-writer"]
    assert bpy.ops.screenwriter.refresh_models() == {"FINISHED"}
    config = bpy.context.scene.screenwriter
    offered = dict(props._search_models(config, bpy.context, "writer"))
    assert list(offered) == ["litellm_proxy/studio-writer"]
    assert "1,047,576 tokens" in offered["litellm_proxy/studio-writer"], "the window the gateway reports"
    listed = endpoints.listed(WRITER, gateway.base_url)
    assert listed is not None and listed.summary() == "gateway reached, 2 models"


def test_test_connection_says_gateway_reached_and_how_many_models(studio, gateway):
    from screenwriter_llm import runtime

    configure(WRITER, gateway.base_url)
    assert bpy.ops.screenwriter.test_connection() == {"FINISHED"}
    status = runtime.get().status(runtime.CONNECTION_TEST)
    assert status is not None and status.text.startswith("gateway reached, 2 models; ")


def test_a_model_the_gateway_does_not_list_is_flagged_before_sending_and_named_after(studio, gateway, provider):
    from screenwriter_llm import api, commands

    configure(WRITER, gateway.base_url)
    api.list_models()
    bpy.context.scene.screenwriter.model = "litellm_proxy/studio-nope"
    script = _script()
    prepared = commands.analyze_scene(bpy.context, script.name, 1)  # planned, not started
    assert any("'studio-nope' is not among the 2 models" in warning for warning in prepared.warnings)
    before = len(provider.requests())
    with pytest.raises(api.RequestFailed) as failed:
        api.analyze_scene(script, 1)
    assert "does not offer 'studio-nope'" in str(failed.value) and gateway.base_url in str(failed.value)
    assert len(provider.requests()) == before, "the gateway refused it: nothing reached a provider"


def test_a_key_the_gateway_rejects_names_the_gateway_not_openai(studio, gateway, monkeypatch):
    from screenwriter_llm import api

    monkeypatch.setenv("LITELLM_PROXY_API_KEY", "sk-artist-typo-0000000000000000")
    configure(WRITER, gateway.base_url)
    with pytest.raises(api.RequestFailed) as failed:
        api.analyze_scene(_script(), 1)
    message = str(failed.value)
    assert message.startswith(f"The studio gateway at {gateway.base_url} rejected the key")
    assert "No connected db." in message and "LITELLM_PROXY_API_KEY" in message
    assert "OpenAI" not in message and "sk-artist-typo" not in message
    with pytest.raises(api.CommandError, match="rejected the key"):
        api.list_models()


def test_a_gateway_that_is_down_says_so_without_a_retry_storm(studio):
    from screenwriter_llm import api

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configure(WRITER, f"http://127.0.0.1:{port}")
    bpy.context.preferences.addons[ADDON].preferences.max_retries = 5
    started = time.monotonic()
    with pytest.raises(api.RequestFailed) as failed:
        api.analyze_scene(_script(), 1)
    assert str(failed.value).startswith(f"The studio gateway at http://127.0.0.1:{port} is not answering")
    assert time.monotonic() - started < 15, "one retry, not five with backoff (1 + 2 + 4 + 8 + 16 s)"
    with pytest.raises(api.CommandError, match="is not answering"):
        api.list_models()


# --- the refusals that need the gateway's database, replayed in its shapes ---------------------------------------


def _proxy_error(status: int, message: str, kind: str, headers: dict[str, str] | None = None, **extra) -> object:
    body = {"error": {"message": message, "type": kind, "param": extra.pop("param", None), "code": str(status)}}
    body["error"].update(extra)
    return error(status, json.dumps(body), headers)


def _refused(provider: ProviderServer, reply: object) -> str:
    from screenwriter_llm import api

    provider.enqueue("openai", reply)
    configure(WRITER, provider.base_url + "/v1")
    with pytest.raises(api.RequestFailed) as failed:
        api.analyze_scene(_script(), 1)
    return str(failed.value)


def test_an_exceeded_key_budget_says_whose_and_when_it_resets(studio, provider):
    reset = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    message = _refused(
        provider,
        _proxy_error(
            400,
            "Budget has been exceeded! Key=sk-...ab12 Current cost: 25.0312, Max budget: 25.0",
            "budget_exceeded",
            budget_reset_at=reset,
        ),
    )
    assert "the budget of your key is used up (spent $25.0312 of $25.00)" in message
    assert "it resets at " in message and "Nothing was sent to a model" in message


def test_an_exceeded_team_and_artist_budget_name_them(studio, provider):
    team = _refused(
        provider,
        _proxy_error(
            400, "Budget has been exceeded! Team=previs Current cost: 101.2, Max budget: 100.0", "budget_exceeded"
        ),
    )
    assert "the budget of team previs is used up (spent $101.2000 of $100.00)" in team
    artist = _refused(
        provider,
        _proxy_error(400, "ExceededBudget: End User=dana.k over budget. Spend=5.01, Budget=5.0", "budget_exceeded"),
    )
    assert "the budget of the artist 'dana.k' is used up" in artist


def test_a_model_not_in_the_keys_allowed_models_says_so(studio, provider):
    message = _refused(
        provider,
        _proxy_error(
            403,
            "The requested model 'studio-writer' is not available for this API key, or the model name is invalid. "
            "Check the models available to you and try again.",
            "key_model_access_denied",
            param="model",
        ),
    )
    assert message.startswith("The studio gateway at ") and "does not let your key use 'studio-writer'" in message
    assert "Refresh Models" in message


def test_a_gateway_rate_limit_waits_for_its_reset_header(studio, provider):
    from screenwriter_llm import api
    from screenwriter_llm.core.provider import retry

    reset = datetime.now(UTC) + timedelta(seconds=2)
    limited = _proxy_error(
        429,
        "Rate limit exceeded for api_key: 3f2a. Limit type: requests. Current limit: 60, Remaining: 0. "
        f"Limit resets at: {reset:%Y-%m-%d %H:%M:%S} UTC",
        "None",
        {"retry-after": "60", "reset_at": f"{reset:%Y-%m-%d %H:%M:%S} UTC"},
    )
    message = _refused(provider, limited)
    assert "the api key's requests limit is reached" in message and "resets in about" in message

    bpy.context.preferences.addons[ADDON].preferences.max_retries = 2
    provider.enqueue("openai", limited, synthetic(text="Back in time."))
    waits: list[float] = []
    original = retry.RetryPolicy.delay

    def noted(self, *args, **kwargs):
        delay = original(self, *args, **kwargs)
        waits.append(delay)
        return delay

    retry.RetryPolicy.delay = noted  # type: ignore[method-assign]
    try:
        answer = api.analyze_scene(_script(), 1)
    finally:
        retry.RetryPolicy.delay = original  # type: ignore[method-assign]
    assert answer.content == "Back in time."
    assert waits and 0 < waits[0] <= 3, "the reset_at header (about 2 s), not retry-after's 60 s window"


def test_a_coverage_run_stops_at_the_first_refused_budget_instead_of_sending_every_scene(studio, provider):
    from screenwriter_llm import api

    text = bpy.data.texts.new("feature.fountain")
    text.from_string("\n".join(f"INT. ROOM {n} - DAY\n\nSomeone waits.\n" for n in range(1, 9)))
    configure(WRITER, provider.base_url + "/v1")
    budget = _proxy_error(
        400, "Budget has been exceeded! Key=sk-...ab12 Current cost: 5.1, Max budget: 5.0", "budget_exceeded"
    )
    provider.enqueue("openai", *([budget] * 8))
    before = len(provider.requests())
    _report, summary = api.analyze_all_scenes(text, concurrency=1)
    assert len(provider.requests()) - before == 1, "one refusal, then nothing more sent"
    assert len(summary["failed"]) == 8 and "stopped" in summary["status"]
    assert all("budget of your key is used up" in m for m in summary["failed"].values())


def test_the_usage_panel_shows_what_the_gateway_said_with_the_last_answer(studio, gateway):
    from screenwriter_llm import api
    from screenwriter_llm.ui import panels
    from tests.blender.test_typing_panels import draw

    configure(WRITER, gateway.base_url)
    text = _script("usage.fountain")
    api.analyze_scene(text, 1)
    labels = [item.get("text", "") for item in draw(panels.SCREENWRITER_PT_usage, text) if item["call"] == "label"]
    assert any(label.startswith("Key spend (gateway): $") for label in labels)
    assert any(label.startswith("Rate limit left: ") for label in labels)

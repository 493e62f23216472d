"""A hostile or broken endpoint, through real bpy, real LiteLLM and the loopback server
(tests/provider_server.py): Blender never freezes, no text is lost, a cut answer is never labelled
complete, and the scene goes nowhere the user did not choose.

Each test runs Analyze Scene (``bpy.ops.screenwriter.analyze_scene``; in background mode it runs to the end
and returns ``{'FINISHED'}`` or raises RuntimeError with the error message) and checks the output Text
(its content and its ``screenwriter_complete`` ID property), what the user is told, and what each server
received. docs/RELIABILITY.md lists the same cases as a table.
"""

from __future__ import annotations

import json
import sys
import time

import bpy
import pytest

from screenwriter_llm import runtime
from screenwriter_llm.core.screenplay import fountain
from tests.blender.conftest import ADDON, addon_threads, configure, load_screenplay
from tests.provider_server import (
    ProviderServer,
    expected_text,
    page,
    redirect,
    replay,
    synthetic,
    synthetic_pieces,
)

NOTE = "\n\n[Screenwriter LLM: "
COMPLETE = "screenwriter_complete"
MODELS = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-sonnet-4-5", "ollama": "ollama_chat/llama3.1"}
RECORDINGS = {
    "openai": "openai_chat_include_usage_gpt4.sse",
    "anthropic": "anthropic_text_sonnet45.sse",
    "ollama": "ollama_chat_llama31_via_litellm.ndjson",
}
#: Wire chunks a synthetic stream sends before its first text piece: OpenAI's role chunk; Anthropic's
#: message_start, content_block_start and ping; none on Ollama.
PREAMBLE = {"openai": 1, "anthropic": 3, "ollama": 0}
WORDS = "INT. LIGHTHOUSE - NIGHT The lamp turns. Waves hit the rocks below, again and again."


@pytest.fixture()
def script(addon):
    """Brick & Steel loaded; retries and deadlines suited to tests; afterwards no thread, timer or job left."""
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.max_retries = 2
    prefs.first_token_timeout = 30.0
    prefs.stall_timeout = 30.0
    yield load_screenplay("Brick-and-Steel.fountain")
    assert addon_threads(wait=5) == [], "no add-on thread may outlive its job"
    assert runtime.get().running() == []


def analyze(source, output: str = "Out", scene: int = 3, statuses: list[str] | None = None):
    """Run Analyze Scene; returns (``{'FINISHED'}`` or the error message, the output Text's content, whether
    the Text is marked complete)."""
    if statuses is not None:
        runtime.get().listeners.append(lambda job, batch: statuses.append(job.status_line()))
    try:
        result = bpy.ops.screenwriter.analyze_scene(text=source.name, scene=scene, output=output)
    except RuntimeError as exc:
        result = str(exc)
    finally:
        runtime.get().listeners.clear()
    text = bpy.data.texts[output]
    return result, text.as_string(), bool(text.get(COMPLETE))


def use(provider: str, server: ProviderServer, stream: bool = True) -> None:
    """Point the sidebar at ``provider``'s model on ``server``."""
    configure(MODELS[provider], server.api_base(provider), stream=stream)


# --- 1. invalid UTF-8 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_invalid_utf8_in_a_delta_is_replaced_and_the_rest_is_kept(server, received, script, provider):
    pieces = synthetic_pieces(text=WORDS)
    server.enqueue(provider, synthetic(text=WORDS, invalid_utf8_after=PREAMBLE[provider] + 2))
    use(provider, server)
    result, text, complete = analyze(script)
    assert result == {"FINISHED"}, result
    assert text == "".join(pieces[:2]) + "\ufffd" + "".join(pieces[2:])
    assert complete
    assert len(received()) == 1


# --- 2. a stream that ends without saying it is finished ------------------------------------------------------


@pytest.mark.parametrize("fault", ["end_after", "cut_after"])
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_stream_that_ends_without_a_finish_reason_is_incomplete(server, received, script, provider, fault):
    pieces = synthetic_pieces(text=WORDS)
    shown = 4
    server.enqueue(provider, synthetic(text=WORDS, **{fault: PREAMBLE[provider] + shown}))
    use(provider, server)
    result, text, complete = analyze(script)
    answer, _, note = text.partition(NOTE)
    assert answer == "".join(pieces[:shown]), "the text received stays"
    assert note.startswith("stopped. The answer above is incomplete.")
    assert "may be cut off" in note and "run it again" in note
    assert isinstance(result, str) and "may be cut off" in result
    assert not complete
    assert len(received()) == 1, "never retried after text was shown"


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_the_real_recordings_still_count_as_complete(server, received, script, provider):
    server.enqueue(provider, replay(RECORDINGS[provider]))
    use(provider, server)
    result, text, complete = analyze(script)
    assert result == {"FINISHED"}
    assert text == expected_text(RECORDINGS[provider])
    assert complete


def test_whole_script_coverage_runs_an_incomplete_scene_again(server, received, script):
    server.set_default("openai", synthetic(text="A note."))
    server.enqueue("openai", synthetic(text=WORDS, end_after=3))
    try:
        use("openai", server)
        assert bpy.ops.screenwriter.analyze_all_scenes(text=script.name, concurrency=1) == {"FINISHED"}
        report = bpy.data.texts["Brick-and-Steel - Coverage"].as_string()
        assert "Scenes analysed: 7 of 8" in report
        assert len(received()) == 8
        bpy.ops.screenwriter.analyze_all_scenes(text=script.name, concurrency=1)
    finally:
        server.clear_queues()
    again = received()[8:]
    screenplay = fountain.parse(script.as_string())
    assert len(again) == 1, "only the incomplete scene is analysed again"
    assert f"Scene 1 of {len(screenplay.scenes)}" in json.dumps(again[0].body)
    assert "Scenes analysed: 8 of 8" in bpy.data.texts["Brick-and-Steel - Coverage"].as_string()


# --- 3. redirects ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_redirect_to_another_origin_is_refused_and_named(server, received, script, provider):
    with ProviderServer() as other:
        target = other.base_url + {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}.get(
            provider, "/api/chat"
        )
        server.enqueue(provider, redirect(target, 307))
        use(provider, server)
        result, text, complete = analyze(script)
        assert other.requests() == [], "the other origin received nothing: no scene, no key"
    assert isinstance(result, str) and "redirect" in result and target in result
    assert text.startswith("[Screenwriter LLM: stopped. No answer was received.") and target in text
    assert not complete
    assert len(received()) == 1


def test_a_redirect_to_a_remote_host_with_online_access_off_is_never_looked_up(server, received, script):
    assert bpy.app.online_access is False  # Blender as a module starts with online access off
    remote = "screenwriter-redirect-target.example.com"
    server.enqueue("openai", redirect(f"https://{remote}/v1/chat/completions", 302))
    use("openai", server)
    looked_up: list[object] = []

    def audit(event, args):
        if event in ("socket.getaddrinfo", "socket.connect") and remote in repr(args):
            looked_up.append(args)

    sys.addaudithook(audit)  # audit hooks cannot be removed; this one only records
    result, text, _ = analyze(script)
    assert looked_up == []
    assert isinstance(result, str) and "redirect" in result and remote in result


# --- 4. HTTP 200 that is not a model answer; proxy error pages ------------------------------------------------

SIGN_IN = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Sign in - Hotel Wi-Fi</title></head>"
    "<body><h1>Welcome</h1><form>" + "<input>" * 400 + "</form></body></html>"
)


def proxy_page(status: int, reason: str) -> str:
    """The error page nginx sends for ``status`` (as a proxy in front of a model server does)."""
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1>"
        "</center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
    )


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_an_html_page_under_http_200_says_what_came_back(server, received, script, provider, stream):
    server.enqueue(provider, page(SIGN_IN))
    use(provider, server, stream=stream)
    result, text, complete = analyze(script)
    assert isinstance(result, str), "not an empty answer"
    assert "HTTP 200" in result and "Sign in - Hotel Wi-Fi" in result
    assert "<input>" not in result and "empty answer" not in text
    assert not complete
    assert len(received()) == 1


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_json_error_under_http_200_says_what_came_back(server, received, script, provider, stream):
    body = json.dumps({"error": {"message": "Model frob-9 is not deployed here", "type": "invalid_request_error"}})
    server.enqueue(provider, page(body, content_type="application/json"))
    use(provider, server, stream=stream)
    result, text, complete = analyze(script)
    assert isinstance(result, str), "not an empty answer"
    assert "HTTP 200" in result and "Model frob-9 is not deployed here" in result
    assert "Could not connect" not in result and "empty answer" not in text
    assert not complete


@pytest.mark.parametrize(
    ("status", "reason", "says"),
    [
        (413, "Request Entity Too Large", "too large"),
        (502, "Bad Gateway", "unavailable"),
        (504, "Gateway Time-out", "unavailable"),
    ],
)
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_proxy_error_page_is_summarised_not_dumped(server, received, script, provider, status, reason, says):
    bpy.context.preferences.addons[ADDON].preferences.max_retries = 0
    server.enqueue(provider, page(proxy_page(status, reason), status=status))
    use(provider, server)
    result, text, _ = analyze(script)
    assert isinstance(result, str)
    assert f"HTTP {status}" in result and f"{status} {reason}" in result and says in result
    for noise in ("<html", "<center>", "nginx", "\\r\\n"):
        assert noise not in result and noise not in text
    assert len(received()) == 1


# --- 5. unusual but legal SSE lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_comments_ids_retry_and_empty_data_lines_do_not_end_the_stream(server, received, script, provider):
    server.enqueue(provider, replay(RECORDINGS[provider], sse_extras=True))
    use(provider, server)
    result, text, complete = analyze(script)
    assert result == {"FINISHED"}, result
    assert text == expected_text(RECORDINGS[provider])
    assert complete


# --- 6. Anthropic's in-band overloaded error before any text --------------------------------------------------


def test_an_in_band_overloaded_error_before_text_is_retried_like_a_529(server, received, script):
    server.enqueue("anthropic", synthetic(tokens=10, error_after=0), replay(RECORDINGS["anthropic"]))
    use("anthropic", server)
    statuses: list[str] = []
    result, text, complete = analyze(script, statuses=statuses)
    assert result == {"FINISHED"}, result
    assert text == expected_text(RECORDINGS["anthropic"]) and complete
    assert len(received()) == 2
    assert any(s.startswith("Provider busy — retrying in ") for s in statuses)


def test_an_in_band_overloaded_error_says_what_the_provider_said(server, received, script):
    bpy.context.preferences.addons[ADDON].preferences.max_retries = 1
    server.enqueue("anthropic", synthetic(tokens=10, error_after=0), synthetic(tokens=10, error_after=0))
    use("anthropic", server)
    result, text, _ = analyze(script)
    assert isinstance(result, str)
    assert "overloaded" in result.lower() and "Overloaded" in result
    assert "HTTP 500" not in result, "the server sent HTTP 200"
    assert "Original exception" not in result and result.count("Overloaded") == 1
    assert len(received()) == 2


# --- 7. a body shorter than its Content-Length ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_body_shorter_than_its_content_length_is_cut_off(server, received, script, provider, stream):
    server.enqueue(provider, synthetic(text=WORDS, short_by=40))
    use(provider, server, stream=stream)
    result, text, complete = analyze(script)
    assert isinstance(result, str)
    assert "cut off" in result
    assert "Could not connect" not in result
    assert not complete


# --- 8. a prompt far over the context window ------------------------------------------------------------------


def test_a_two_megabyte_scene_is_refused_before_sending(server, received, addon):
    line = "Rain hammers the tin roof while MARA counts the bullets twice, then a third time, slowly.\n\n"
    body = line * (2_000_000 // len(line) + 1)
    source = bpy.data.texts.new("Long.fountain")
    source.from_string(f"Title: Long\n\nINT. SHED - NIGHT\n\n{body}EXT. YARD - DAY\n\nThe storm is over.\n")
    server.enqueue("openai", replay())
    use("openai", server)
    started = time.monotonic()
    result, text, complete = analyze(source, scene=1)
    assert time.monotonic() - started < 20
    assert isinstance(result, str)
    assert "128,000" in result, "the model's window"
    count = next(w for w in result.replace(",", "").split() if w.isdigit() and int(w) > 128_000)
    assert int(count) > 300_000, "the prompt's token count"
    assert "Shorten the scene" in result and "larger context window" in result
    assert "Max Tokens" not in result
    assert received() == [], "nothing was sent"
    assert not complete


# --- 9. a provider LiteLLM does not know ----------------------------------------------------------------------


def test_an_unknown_provider_is_named_and_nothing_is_sent(server, received, script):
    configure("frobnicate/model-x", server.api_base("openai"))
    result, text, _ = analyze(script)
    assert isinstance(result, str)
    assert "frobnicate" in result and "provider/model" in result
    assert "HTTP 400" not in result and "refused" not in result
    assert received() == []


# --- the endpoint misbehaves, but retries stay within the rules ----------------------------------------------


def test_a_redirect_is_not_retried_and_no_fallback_takes_the_scene_there(server, received, script):
    with ProviderServer() as other:
        server.enqueue("openai", redirect(other.base_url + "/v1/chat/completions", 308))
        use("openai", server)
        bpy.context.scene.screenwriter.fallback_models = "anthropic/claude-sonnet-4-5"
        result, _, _ = analyze(script)
        assert other.requests() == []
    assert isinstance(result, str) and "redirect" in result
    assert [r.path for r in received()] == ["/v1/chat/completions"]


def test_an_error_page_retry_then_success(server, received, script):
    server.enqueue("openai", page(proxy_page(502, "Bad Gateway"), status=502), replay(RECORDINGS["openai"]))
    use("openai", server)
    result, text, complete = analyze(script)
    assert result == {"FINISHED"} and complete
    assert text == expected_text(RECORDINGS["openai"])
    assert len(received()) == 2

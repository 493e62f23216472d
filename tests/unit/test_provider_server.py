"""The loopback provider server, exercised through the real LiteLLM client.

Each test points ``litellm.completion`` at :class:`tests.provider_server.ProviderServer` and checks what a user
of the add-on would see (the streamed text, the usage, the errors) against values parsed from the real
recordings in ``../shared/provider-streams/``, and what the server saw (path, body, client closes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.provider_server import (
    ProviderServer,
    error,
    expected_text,
    expected_thinking,
    expected_usage,
    load_recording,
    page,
    recordings_dir,
    redirect,
    replay,
    synthetic,
    synthetic_pieces,
    synthetic_text,
)

MESSAGES = [{"role": "user", "content": "Name two pelicans for the scene"}]

# provider, LiteLLM model, default recording, path LiteLLM must post to, request header carrying the key
CASES = [
    ("openai", "openai/gpt-4", "openai_chat_include_usage_gpt4.sse", "/v1/chat/completions", "authorization"),
    ("anthropic", "anthropic/claude-sonnet-4-5", "anthropic_text_sonnet45.sse", "/v1/messages", "x-api-key"),
    ("ollama", "ollama_chat/llama3.1", "ollama_chat_llama31_via_litellm.ndjson", "/api/chat", "authorization"),
]
MODELS = {provider: model for provider, model, *_ in CASES}
DEFAULT_RECORDING = {provider: recording for provider, _, recording, *_ in CASES}
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


@pytest.fixture(scope="module")
def litellm() -> ModuleType:
    """The real LiteLLM, imported the way the add-on does (no .env loading, no cost-map download)."""
    os.environ["LITELLM_MODE"] = "PRODUCTION"
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm as module

    module.suppress_debug_info = True
    return module


@pytest.fixture
def srv() -> Any:
    with ProviderServer() as server:
        yield server
    # These tests call LiteLLM directly and leave some streams unread. Collected at an arbitrary moment, such a
    # stream closes itself from inside the next request, while httpcore holds its (non-reentrant) pool lock, and
    # that request waits for itself forever (seen once in a full run). Collect here, between tests, instead.
    import gc

    gc.collect()


def complete(litellm: ModuleType, srv: ProviderServer, provider: str, stream: bool = True, **kwargs: Any) -> Any:
    """Call litellm.completion against the loopback server the way the add-on will."""
    extra = {"stream_options": {"include_usage": True}} if stream else {}
    return litellm.completion(
        model=MODELS[provider],
        api_base=srv.api_base(provider),
        api_key="sk-test",
        messages=MESSAGES,
        stream=stream,
        max_retries=0,
        **extra,
        **kwargs,
    )


def drain(response: Any) -> tuple[str, str, Any]:
    """Read a LiteLLM stream to the end; return (content, reasoning_content, last usage seen)."""
    content, reasoning, usage = [], [], None
    for chunk in response:
        if chunk.choices:  # the usage chunk may carry no choice
            delta = chunk.choices[0].delta
            content.append(delta.content or "")
            reasoning.append(getattr(delta, "reasoning_content", None) or "")
        usage = getattr(chunk, "usage", None) or usage
    return "".join(content), "".join(reasoning), usage


def usage_numbers(usage: Any) -> dict[str, int]:
    return {key: getattr(usage, key) for key in USAGE_KEYS}


def close_stream(response: Any) -> None:
    """Cancel a sync LiteLLM stream by closing its HTTP response.

    OpenAI's completion_stream is an openai.Stream with close(); the Anthropic and Ollama iterators have no
    close() in LiteLLM 1.106.2, so their underlying ``response.iter_lines()`` generator is closed instead.
    """
    stream = response.completion_stream
    if hasattr(stream, "close"):
        stream.close()
    else:
        stream.streaming_response.close()


@pytest.mark.parametrize(("provider", "model", "recording", "path", "key_header"), CASES, ids=[c[0] for c in CASES])
def test_stream_replays_the_recording_through_litellm(litellm, srv, provider, model, recording, path, key_header):
    content, reasoning, usage = drain(complete(litellm, srv, provider))

    assert content == expected_text(recording)
    assert reasoning == ""
    assert usage_numbers(usage) == expected_usage(recording)
    [request] = srv.requests()  # LiteLLM makes no other request (no model listing, no /api/show)
    assert (request.method, request.path, request.provider) == ("POST", path, provider)
    assert request.body["model"] == model.split("/", 1)[1]
    assert request.body["stream"] is True
    assert "sk-test" in request.headers[key_header]
    sent_text = json.dumps(request.body["messages"])
    assert MESSAGES[0]["content"] in sent_text
    assert request.wait_done(2)
    assert request.chunks_sent == len(load_recording(recording).chunks)
    assert request.completed_at is not None and request.client_closed_at is None


def test_thinking_arrives_as_reasoning_never_as_content(litellm, srv):
    recording = "anthropic_thinking_haiku45.sse"
    srv.enqueue("anthropic", replay(recording))

    content, reasoning, usage = drain(complete(litellm, srv, "anthropic"))

    thinking = expected_thinking(recording)
    assert thinking and content == expected_text(recording)
    assert reasoning == thinking
    assert thinking.splitlines()[0] not in content
    assert usage_numbers(usage) == expected_usage(recording)


@pytest.mark.parametrize(
    ("provider", "recording"), [*DEFAULT_RECORDING.items(), ("anthropic", "anthropic_thinking_haiku45.sse")]
)
def test_non_streaming_answer_is_the_recordings_text_and_usage(litellm, srv, provider, recording):
    srv.enqueue(provider, replay(recording))

    response = complete(litellm, srv, provider, stream=False)

    assert response.choices[0].message.content == expected_text(recording)
    assert usage_numbers(response.usage) == expected_usage(recording)
    [request] = srv.requests()
    assert request.body.get("stream") in (None, False)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_synthetic_text_streams_in_each_wire_format(litellm, srv, provider):
    text = "INT. LIGHTHOUSE - NIGHT\n\nThe lamp turns.  Waves hit the rocks."
    srv.set_default(provider, synthetic(text=text, tokens_per_second=2000))

    content, _, usage = drain(complete(litellm, srv, provider))

    assert content == text
    prompt_words = len(MESSAGES[0]["content"].split())
    pieces = len(synthetic_pieces(text=text))
    assert usage_numbers(usage) == {
        "prompt_tokens": prompt_words,
        "completion_tokens": pieces,
        "total_tokens": prompt_words + pieces,
    }


@pytest.mark.parametrize(
    ("provider", "recording", "exception"),
    [
        ("openai", "openai_401_invalid_api_key.json", "AuthenticationError"),
        # LiteLLM maps Anthropic's 529 to InternalServerError with status_code 500.
        ("anthropic", "anthropic_529_overloaded.json", "InternalServerError"),
    ],
)
def test_queued_error_fails_the_first_request_and_the_next_succeeds(litellm, srv, provider, recording, exception):
    srv.enqueue(provider, error(recording))
    message = json.loads(load_recording(recording).raw)["error"]["message"]

    with pytest.raises(getattr(litellm, exception)) as caught:
        drain(complete(litellm, srv, provider))
    assert message in str(caught.value)
    content, _, _ = drain(complete(litellm, srv, provider))

    assert content == expected_text(DEFAULT_RECORDING[provider])
    assert [r.status for r in srv.requests()] == [load_recording(recording).status, 200]  # no silent retry


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_closing_the_stream_is_seen_by_the_server(litellm, srv, provider):
    srv.set_default(provider, synthetic(1000, tokens_per_second=100))
    response = complete(litellm, srv, provider)
    for index, _ in enumerate(response):
        if index == 2:
            break

    close_stream(response)

    [request] = srv.requests()
    assert request.wait_client_closed(2)
    assert request.completed_at is None
    assert 0 < request.chunks_sent < 1000
    assert request.client_closed_at > request.received_at


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_dropped_connection_mid_stream_raises_after_partial_text(litellm, srv, provider):
    srv.set_default(provider, synthetic(20, close_after=6))
    text = []

    stream = complete(litellm, srv, provider)
    try:
        with pytest.raises(litellm.exceptions.MidStreamFallbackError, match="peer closed connection"):
            for chunk in stream:
                text.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    finally:
        # Closed here, as the add-on does: left to the garbage collector, httpcore's pool lock deadlocked a later
        # request on CPython 3.13.
        close_stream(stream)

    assert synthetic_text(20).startswith("".join(text))
    assert "".join(text) != synthetic_text(20)
    assert srv.requests()[0].chunks_sent == 6


@pytest.mark.parametrize(
    ("provider", "message", "exception"),
    [
        (
            "anthropic",
            json.loads(load_recording("anthropic_529_overloaded.json").raw)["error"]["message"],
            "MidStreamFallbackError",
        ),
        ("openai", "injected in-band error", "MidStreamFallbackError"),
        # LiteLLM's Ollama parser reads the {"error": ...} line as a chunk and fails with KeyError 'message'.
        ("ollama", "injected in-band error", "BadRequestError"),
    ],
)
def test_in_band_error_under_http_200_raises(litellm, srv, provider, message, exception):
    srv.set_default(provider, synthetic(20, error_after=5))

    with pytest.raises(getattr(litellm.exceptions, exception), match=message):
        drain(complete(litellm, srv, provider))

    [request] = srv.requests()
    assert request.status == 200 and request.chunks_sent == 5


def test_stall_trips_the_read_timeout_and_the_server_sees_the_client_leave(litellm, srv):
    srv.set_default("openai", synthetic(20, stall_after=3))

    with pytest.raises(litellm.exceptions.MidStreamFallbackError, match="timed out"):
        drain(complete(litellm, srv, "openai", timeout=0.3))

    [request] = srv.requests()
    assert request.chunks_sent == 3
    assert request.wait_client_closed(2)


def test_delay_before_first_byte_trips_the_timeout(litellm, srv):
    srv.set_default("anthropic", replay(first_byte_delay=1.0))

    with pytest.raises(litellm.exceptions.Timeout):
        drain(complete(litellm, srv, "anthropic", timeout=0.2))

    assert srv.requests()[0].status is None  # nothing was sent before the client gave up


def test_recordings_dir_follows_screenwriter_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("SCREENWRITER_SHARED", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SCREENWRITER_SHARED"):
        recordings_dir()
    monkeypatch.delenv("SCREENWRITER_SHARED")
    assert (recordings_dir() / "README.md").is_file()


def test_out_of_process_server_writes_ready_file_and_serves_litellm(litellm, tmp_path):
    ready = tmp_path / "ready.json"
    script = Path(__file__).resolve().parents[1] / "provider_server.py"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--synthetic-tokens",
            "7",
            "--tokens-per-second",
            "1000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "server never wrote its ready file"
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        base = info["base_url"]
        assert base == f"http://127.0.0.1:{info['port']}" and info["pid"] == proc.pid

        response = litellm.completion(
            model="openai/gpt-4",
            api_base=base + "/v1",
            api_key="sk-test",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            max_retries=0,
        )
        content, _, _ = drain(response)

        assert content == synthetic_text(7)
        with urllib.request.urlopen(base + "/__records__", timeout=5) as reply:
            records = json.load(reply)
        assert [(r["path"], r["body"]["model"]) for r in records] == [("/v1/chat/completions", "gpt-4")]

        queue = {"provider": "openai", "replies": [{"recording": "openai_401_invalid_api_key.json"}]}
        request = urllib.request.Request(base + "/__enqueue__", data=json.dumps(queue).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert json.load(reply) == {"queued": 1}
        with pytest.raises(litellm.AuthenticationError):
            litellm.completion(
                model="openai/gpt-4", api_base=base + "/v1", api_key="sk-test", messages=MESSAGES, max_retries=0
            )
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert proc.returncode == 0


# --- faults added for the hostile-endpoint tests (tests/blender/test_hostile.py) -------------------------------


def raw(srv: ProviderServer, provider: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` (default: a streaming chat request) to ``provider``'s route with the standard library and
    return (status, lower-cased headers, the body as sent, chunked framing removed); never follows redirects."""
    import http.client

    path = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "ollama": "/api/chat"}[provider]
    payload = body if body is not None else {"model": "m", "messages": MESSAGES, "stream": True}
    connection = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        connection.request("POST", path, json.dumps(payload), {"Content-Type": "application/json"})
        response = connection.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        try:
            data = response.read()
        except http.client.IncompleteRead as short:
            data = short.partial
        return response.status, headers, data
    finally:
        connection.close()


def test_invalid_utf8_after_puts_one_undecodable_byte_into_that_chunks_text(litellm, srv):
    srv.enqueue("openai", synthetic(text="alpha beta gamma", invalid_utf8_after=2))
    _, _, data = raw(srv, "openai")
    events = data.split(b"\n\n")
    assert b'"content":"\xff beta"' in events[2]
    assert sum(event.count(b"\xff") for event in events) == 1
    srv.enqueue("anthropic", synthetic(text="alpha beta gamma", invalid_utf8_after=4))
    content, _, _ = drain(complete(litellm, srv, "anthropic"))
    assert content == "alpha\ufffd beta gamma", "httpx's line decoder replaces the byte"


def test_invalid_utf8_after_needs_a_text_value():
    from tests.provider_server import _wire_faults

    with pytest.raises(ValueError, match="no text value"):
        _wire_faults("openai", synthetic(tokens=2, invalid_utf8_after=0), [b"data: [DONE]\n\n"])


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_end_after_ends_the_body_cleanly_without_a_finish(litellm, srv, provider):
    srv.enqueue(provider, synthetic(tokens=10, end_after=4))
    status, headers, data = raw(srv, provider)
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert b"[DONE]" not in data and b"message_stop" not in data and b'"done":true' not in data
    [request] = srv.requests()
    assert request.wait_done(2)
    assert request.chunks_sent == 4 and request.completed_at is not None and request.client_closed_at is None

    srv.enqueue(provider, synthetic(tokens=10, end_after=4))
    response = complete(litellm, srv, provider)
    content, _, _ = drain(response)
    assert synthetic_text(10).startswith(content) and content != synthetic_text(10)
    assert response.received_finish_reason is None, "LiteLLM saw no finish reason"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_cut_after_sends_half_a_chunk_then_ends_cleanly(srv, provider):
    srv.enqueue(provider, replay(DEFAULT_RECORDING[provider], cut_after=3))
    _, _, whole = raw(srv, provider)
    srv.enqueue(provider, replay(DEFAULT_RECORDING[provider], end_after=3))
    _, _, three = raw(srv, provider)
    assert whole.startswith(three) and len(whole) > len(three)
    tail = whole[len(three) :]
    assert not tail.endswith(b"\n"), "the fourth chunk is cut inside, before its line ends"


def test_sse_extras_surround_every_event_with_lines_a_client_skips(litellm, srv):
    recording = DEFAULT_RECORDING["anthropic"]
    srv.enqueue("anthropic", replay(recording, sse_extras=True))
    _, _, data = raw(srv, "anthropic")
    events = len(load_recording(recording).chunks)
    assert data.count(b": ping\n\n") == events
    assert data.count(b"data:\n\n") == events
    assert b"id: 0\nretry: 3000\n" in data and f"id: {events - 1}\n".encode() in data
    assert srv.requests()[0].chunks_sent == events
    srv.enqueue("anthropic", replay(recording, sse_extras=True))
    content, _, usage = drain(complete(litellm, srv, "anthropic"))
    assert content == expected_text(recording)
    assert usage_numbers(usage) == expected_usage(recording)


def test_sse_extras_leave_ndjson_alone(srv):
    srv.enqueue("ollama", synthetic(tokens=3, sse_extras=True))
    _, _, data = raw(srv, "ollama")
    assert b"ping" not in data and all(json.loads(line) for line in data.splitlines())


@pytest.mark.parametrize("stream", [True, False])
def test_short_by_sends_less_than_the_content_length_then_closes(srv, stream):
    srv.enqueue("openai", synthetic(tokens=10, short_by=25))
    _, headers, data = raw(srv, "openai", {"model": "m", "messages": MESSAGES, "stream": stream})
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) == len(data) + 25
    [request] = srv.requests()
    assert request.wait_done(2) and request.completed_at is None


def test_redirect_answers_with_the_status_and_location_only(srv):
    srv.enqueue("openai", redirect("http://127.0.0.1:9/v1/chat/completions", 308))
    status, headers, data = raw(srv, "openai")
    assert (status, headers["location"], data) == (308, "http://127.0.0.1:9/v1/chat/completions", b"")
    with pytest.raises(ValueError, match="3xx"):
        redirect("http://elsewhere", 200)


def test_page_sends_the_body_as_is_under_any_status(litellm, srv):
    srv.enqueue("anthropic", page("<html><title>Hi</title></html>"))
    status, headers, data = raw(srv, "anthropic")
    assert (status, headers["content-type"], data) == (
        200,
        "text/html; charset=utf-8",
        b"<html><title>Hi</title></html>",
    )
    srv.enqueue("openai", page('{"error": {"message": "no"}}', status=413, content_type="application/json"))
    status, headers, data = raw(srv, "openai")
    assert (status, headers["content-type"], data) == (413, "application/json", b'{"error": {"message": "no"}}')


def test_new_faults_can_be_queued_out_of_process(srv):
    fields = {"end_after": 2, "cut_after": None, "invalid_utf8_after": None, "sse_extras": True, "short_by": None}
    request = urllib.request.Request(
        srv.base_url + "/__enqueue__",
        data=json.dumps({"provider": "openai", "replies": [{"tokens": 5, **fields}]}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert json.load(reply) == {"queued": 1}
    _, _, data = raw(srv, "openai")
    assert data.count(b": ping") == 2 and b"[DONE]" not in data

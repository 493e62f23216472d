"""core/provider/llm.py without Blender: the guarded HTTP client every LiteLLM request goes through, the
finish reason a stream really ended with, the redirect policy of netgate, and how a job reads both.

HTTP goes to the loopback server (tests/provider_server.py), through real LiteLLM where the point is what
LiteLLM makes of it; the SSE filter and the small parsers are tested on their own.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from screenwriter_llm.core.jobs.job import Job
from screenwriter_llm.core.jobs.plan import Plan
from screenwriter_llm.core.provider import llm, netgate
from screenwriter_llm.core.provider.llm import (
    LLMRequest,
    ProviderResponseError,
    Usage,
    http_client,
    import_litellm,
    litellm_client_for,
    provider_error_in,
    stream_completion,
)
from screenwriter_llm.core.provider.retry import RetryPolicy
from tests.provider_server import (
    DEFAULT_RECORDINGS,
    ProviderServer,
    expected_text,
    page,
    redirect,
    replay,
    synthetic,
    synthetic_pieces,
)

MESSAGES = ({"role": "user", "content": "Say something."},)
MODELS = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-sonnet-4-5", "ollama": "ollama_chat/llama3.1"}
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "ollama": "/api/chat"}
KEY = "sk-test-llm-0000000000000000wxyz"


@pytest.fixture(scope="module")
def server():
    with ProviderServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def other():
    """A second server on another port: another origin."""
    with ProviderServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean_queues(server, other):
    server.clear_queues()
    other.clear_queues()


def request_for(server: ProviderServer, provider: str, stream: bool = True, **fields: Any) -> LLMRequest:
    return LLMRequest(
        model=fields.pop("model", MODELS[provider]),
        messages=fields.pop("messages", MESSAGES),
        stream=stream,
        api_base=fields.pop("api_base", server.api_base(provider)),
        api_key=KEY,
        read_timeout=10,
        **fields,
    )


def collect(request: LLMRequest) -> tuple[str, list[Any]]:
    """Run ``stream_completion``; returns (the text, every event)."""
    events = list(stream_completion(request, threading.Event()))
    return "".join(e.text for e in events if isinstance(e, llm.TextDelta)), events


def post(server: ProviderServer, provider: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """POST a chat request with :func:`http_client` (the guarded client), reading the whole body."""
    payload = body if body is not None else {"model": "m", "messages": list(MESSAGES), "stream": True}
    return http_client().post(server.base_url + PATHS[provider], json=payload, timeout=10)


# --- ProviderResponseError -------------------------------------------------------------------------------------


def test_provider_response_error_carries_its_kind_and_message():
    exc = ProviderResponseError("what came back", "bad_response")
    assert (str(exc), exc.screenwriter_kind) == ("what came back", "bad_response")


def test_provider_error_in_finds_it_anywhere_in_a_chain():
    ours = ProviderResponseError("x", "incomplete")
    try:
        try:
            raise ours
        except ProviderResponseError:
            raise RuntimeError("wrapped") from None  # only the context keeps it
    except RuntimeError as wrapped:
        outer = ValueError("outer")
        outer.original_exception = wrapped  # type: ignore[attr-defined]  # LiteLLM's wrappers do this
        assert provider_error_in(outer) is ours
    assert provider_error_in(ValueError("plain")) is None


# --- netgate: the redirect policy ------------------------------------------------------------------------------


def test_origin_and_same_origin():
    assert netgate.origin("HTTP://Example.COM/v1") == ("http", "example.com", 80)
    assert netgate.origin("https://h:8443/x") == ("https", "h", 8443)
    assert netgate.origin("localhost:11434") == ("", "localhost", 11434)
    assert netgate.origin("http://h:notaport/") == ("http", "h", 80)
    assert netgate.same_origin("http://a/x", "http://a:80/y")
    assert not netgate.same_origin("http://a/x", "https://a/x")
    assert not netgate.same_origin("http://127.0.0.1:1/x", "http://127.0.0.1:2/x")


def test_display_url_leaves_out_what_may_hold_a_key():
    assert (
        netgate.display_url("https://user:pw@h.example:8443/v1/x?key=AIzaSECRET#f") == "https://h.example:8443/v1/x?…"
    )
    assert netgate.display_url("http://[::1]:11434/api/chat") == "http://[::1]:11434/api/chat"
    assert netgate.display_url("h/p") == "//h/p"
    assert netgate.display_url("http://h:bad/p") == "http://h/p"


@pytest.mark.parametrize("status", [307, 308])
def test_a_body_keeping_redirect_to_the_same_origin_may_be_followed(status):
    assert netgate.redirect_refusal("http://127.0.0.1:8000/v1/chat", "http://127.0.0.1:8000/v2/chat", status) is None


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_refused_and_named(status):
    message = netgate.redirect_refusal("http://127.0.0.1:8000/v1", "https://api.example.com/v1?token=abc", status)
    assert message is not None
    assert f"(HTTP {status}) to https://api.example.com/v1?…" in message
    assert "does not follow redirects to another server" in message and "token" not in message
    assert "API Base" in message


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_drops_the_body_is_refused_even_on_the_same_origin(status):
    message = netgate.redirect_refusal("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/", status)
    assert message is not None and "without its body" in message


# --- the SSE filter and the small parsers ----------------------------------------------------------------------


def sse(text: str, pieces: int = 1) -> str:
    """``text`` through an _SSEFilter, fed in ``pieces`` parts (so lines split across reads)."""
    f = llm._SSEFilter()
    size = max(1, len(text) // pieces)
    out = "".join(f.feed(text[i : i + size]) for i in range(0, len(text), size))
    return out + f.flush()


@pytest.mark.parametrize("pieces", [1, 3, 50])
def test_the_sse_filter_drops_what_a_client_must_skip(pieces):
    stream = (
        ": ping\n\n"
        'id: 1\nretry: 3000\nevent: content_block_delta\ndata: {"a": 1}\n\n'
        "data:\n\n"
        "event: ping\ndata:\n\n"
        "id: 2\n\n"
        "foo: bar\ndata: [DONE]\r\n\r\n"
    )
    assert sse(stream, pieces) == 'event: content_block_delta\ndata: {"a": 1}\n\ndata: [DONE]\n\n'


def test_the_sse_filter_keeps_multi_line_data_and_an_unterminated_tail():
    assert sse("data:\ndata: {\ndata:\ndata: }\n\n") == "data: {\ndata:\ndata: }\n\n"
    assert sse('data: {"choices": [{"delta": {"content": "to') == 'data: {"choices": [{"delta": {"content": "to'
    assert sse('data: {"x": 1}\n') == 'data: {"x": 1}\n', "an event without its blank line stays unterminated"


def test_error_object_tells_an_error_from_a_model_response():
    assert llm._error_object('{"error": {"message": "no such model", "type": "invalid_request_error"}}') == (
        "no such model",
        "bad_response",
    )
    assert llm._error_object('{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}') == (
        "Overloaded",
        "unavailable",
    )
    assert llm._error_object('{"error": {"message": "slow down", "code": 429}}') == ("slow down", "rate_limit")
    assert llm._error_object('{"error": "Rate limit reached"}') == ("Rate limit reached", "rate_limit")
    assert llm._error_object('{"error": {"code": 7}}') == ("7", "bad_response")
    long = llm._error_object(json.dumps({"error": "x" * 500}))
    assert long is not None and len(long[0]) == 300
    for fine in ('{"choices": [], "error": "x"}', '{"error": null}', "[1]", "not json", '{"message": {}}'):
        assert llm._error_object(fine) is None


def test_html_title_and_media_type():
    assert llm._html_title("<html><head><title>\n 502 &amp; Bad\n</title></head></html>") == "502 & Bad"
    assert llm._html_title("<body><h1>Sign <b>in</b></h1></body>") == "Sign in"
    assert llm._html_title("<p>nothing</p>") == ""
    assert len(llm._html_title("<title>" + "t" * 200 + "</title>")) == 80
    assert llm._media_type({"content-type": 'Text/Event-Stream; Charset="UTF-8"'}) == ("text/event-stream", "utf-8")
    assert llm._media_type({}) == ("", "")


# --- the guarded client, on the wire ---------------------------------------------------------------------------


def test_import_litellm_installs_the_guarded_client_for_the_openai_route():
    litellm = import_litellm()
    assert litellm.client_session is http_client()
    assert http_client().follow_redirects is True and http_client().max_redirects == 3


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_redirect_to_another_origin_never_reaches_it(server, other, provider):
    target = other.base_url + PATHS[provider]
    server.enqueue(provider, redirect(target, 307))
    with pytest.raises(ProviderResponseError) as raised:
        post(server, provider)
    assert raised.value.screenwriter_kind == "bad_response"
    assert f"redirected the request (HTTP 307) to {target}" in str(raised.value)
    assert other.requests() == []


def test_a_redirect_to_the_same_origin_is_followed_with_the_body(server):
    server.enqueue("openai", redirect(server.base_url + "/chat/completions", 308), synthetic(text="moved"))
    before = len(server.requests())
    response = post(server, "openai")
    assert response.status_code == 200 and b"moved" in response.content
    first, second = server.requests()[before:]
    assert (first.path, second.path) == ("/v1/chat/completions", "/chat/completions")
    assert second.body == first.body


def test_an_html_page_under_200_is_named_by_its_title(server):
    server.enqueue("anthropic", page("<html><head><title>Sign in &ndash; Hotel</title></head>" + "x" * 300_000))
    with pytest.raises(ProviderResponseError) as raised:
        post(server, "anthropic")
    assert raised.value.screenwriter_kind == "bad_response"
    assert f'{server.base_url}/v1/messages answered (HTTP 200) with an HTML page titled "Sign in – Hotel"' in str(
        raised.value
    )
    server.enqueue("anthropic", page("<p>no title</p>"))
    with pytest.raises(ProviderResponseError, match="with an HTML page instead of a model response"):
        post(server, "anthropic")


def test_a_json_error_object_under_200_raises_when_read_and_keys_are_redacted(server):
    llm._current.request = LLMRequest(model="m", messages=MESSAGES, api_key=KEY)
    try:
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}", "type": "auth"}})
        server.enqueue("openai", page(body, content_type="application/json"))
        with pytest.raises(ProviderResponseError) as raised:
            post(server, "openai")
    finally:
        llm._current.request = None
    assert "answered (HTTP 200) with an error instead of a model response: Incorrect API key" in str(raised.value)
    assert KEY not in str(raised.value) and "wxyz" in str(raised.value)


def test_a_model_answer_in_json_passes_untouched(server):
    server.enqueue("openai", synthetic(text="plain answer"))
    response = post(server, "openai", {"model": "m", "messages": list(MESSAGES), "stream": False})
    assert response.json()["choices"][0]["message"]["content"] == "plain answer"


def test_bytes_that_are_not_utf8_become_u_fffd_on_the_wire(server):
    server.enqueue("openai", synthetic(text="alpha beta gamma", invalid_utf8_after=2))
    data = post(server, "openai").content
    assert b"\xff" not in data and '"content":"\ufffd beta"'.encode() in data
    data.decode("utf-8")  # strict: the OpenAI SDK's SSE decoder would have failed on the raw bytes


def test_sse_extras_are_filtered_on_the_wire(server):
    server.enqueue("openai", replay(DEFAULT_RECORDINGS["openai"], sse_extras=True))
    data = post(server, "openai").content.decode()
    assert ": ping" not in data and "id:" not in data and "retry:" not in data and "data:\n" not in data
    assert data.count("\n\n") == data.count("data: ")


@pytest.mark.parametrize("stream", [True, False])
def test_a_body_shorter_than_its_content_length_says_it_was_cut_off(server, stream):
    server.enqueue("ollama", synthetic(text="alpha beta gamma", short_by=10))
    with pytest.raises(ProviderResponseError) as raised:
        post(server, "ollama", {"model": "m", "messages": list(MESSAGES), "stream": stream})
    assert raised.value.screenwriter_kind == "incomplete"
    assert re.search(
        r"The answer was cut off: .*/api/chat announced [\d,]+ bytes \(Content-Length\)", str(raised.value)
    )


def test_a_dropped_chunked_stream_stays_httpx_s_error(server):
    server.enqueue("openai", synthetic(tokens=20, close_after=3))
    with pytest.raises(httpx.RemoteProtocolError):
        post(server, "openai")


def test_error_statuses_are_left_to_litellm_and_the_error_taxonomy(server):
    server.enqueue("openai", page("<html><title>413 Request Entity Too Large</title></html>", status=413))
    response = post(server, "openai")
    assert response.status_code == 413 and b"<title>413" in response.content


def mock_client(response: httpx.Response) -> httpx.Client:
    """An httpx client with the guard's response hook in front of a transport that answers ``response``."""
    return httpx.Client(
        transport=httpx.MockTransport(lambda request: response), event_hooks={"response": [llm._on_response]}
    )


def test_a_content_encoded_body_passes_unchanged():
    body = gzip.compress(b'data: {"a": "\xff"}\n\n: ping\n\n')
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream", "content-encoding": "gzip"}, content=body
    )
    with mock_client(response) as client:
        assert client.get("http://x/").content == b'data: {"a": "\xff"}\n\n: ping\n\n'


def test_a_body_in_another_charset_is_not_recoded():
    response = httpx.Response(200, headers={"content-type": "application/json; charset=latin-1"}, content=b'"\xe9"')
    with mock_client(response) as client:
        assert client.get("http://x/").content == b'"\xe9"'


def test_http_client_is_rebuilt_once_closed():
    first = http_client()
    first.close()
    try:
        second = http_client()
        assert second is not first and not second.is_closed
    finally:
        import_litellm()  # LiteLLM's OpenAI route takes the new client
    assert import_litellm().client_session is http_client()


# --- which client LiteLLM gets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "gets_handler"),
    [
        ("openai/gpt-4o-mini", False),
        ("gpt-4o-mini", False),
        ("lm_studio/qwen", False),
        ("azure/gpt-4o", False),
        ("anthropic/claude-sonnet-4-5", True),
        ("ollama_chat/llama3.1", True),
        ("ollama/llama3.1", True),
        ("groq/llama-3.1-8b-instant", True),
        ("gemini/gemini-2.0-flash", True),
    ],
)
def test_litellm_client_for_routes(model, gets_handler):
    litellm = import_litellm()
    client = litellm_client_for(litellm, LLMRequest(model=model, messages=MESSAGES, api_base="http://127.0.0.1:1"))
    if gets_handler:
        from litellm.llms.custom_httpx.http_handler import HTTPHandler

        assert isinstance(client, HTTPHandler) and client.client is http_client()
        assert litellm_client_for(litellm, LLMRequest(model=model, messages=MESSAGES)) is client, "one, reused"
    else:
        assert client is None


def test_no_client_for_mock_answers_or_unknown_providers():
    litellm = import_litellm()
    assert litellm_client_for(litellm, LLMRequest(model="anthropic/x", messages=MESSAGES, mock_response="hi")) is None
    assert litellm_client_for(litellm, LLMRequest(model="frobnicate/model-x", messages=MESSAGES)) is None


def test_own_http_branch_matches_litellm_main():
    """Providers that LiteLLM lists as OpenAI-compatible but dispatches to their own branch before the OpenAI
    one (LiteLLM 1.106.2's main.py ``completion``): if an upgrade moves one, this fails."""
    litellm = import_litellm()
    source = (Path(litellm.__file__).parent / "main.py").read_text(encoding="utf-8")
    start = source.index('        if custom_llm_provider == "azure":')
    end = source.index("# A known OpenAI model name only decides", start)
    earlier = set(re.findall(r'custom_llm_provider == "([\w\-]+)"', source[start:end]))
    assert set(litellm.openai_compatible_providers) & earlier == llm.OWN_HTTP_BRANCH


# --- stream_completion through real LiteLLM --------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_the_real_recordings_finish_with_a_reason(server, provider):
    server.enqueue(provider, replay(DEFAULT_RECORDINGS[provider]))
    text, events = collect(request_for(server, provider))
    assert text == expected_text(DEFAULT_RECORDINGS[provider])
    assert events[-1].finish_reason == "stop"
    assert any(isinstance(e, Usage) for e in events)


@pytest.mark.parametrize("fault", ["end_after", "cut_after"])
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_stream_ending_without_a_reason_finishes_with_none(server, provider, fault):
    server.enqueue(provider, synthetic(tokens=10, **{fault: 5}))
    text, events = collect(request_for(server, provider))
    assert text and isinstance(events[-1], llm.Finished) and events[-1].finish_reason is None


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_what_the_guard_raises_arrives_unwrapped(server, other, provider):
    server.enqueue(provider, redirect(other.base_url + PATHS[provider]))
    with pytest.raises(ProviderResponseError) as raised:
        collect(request_for(server, provider))
    assert raised.value.screenwriter_kind == "bad_response" and "redirected" in str(raised.value)
    assert raised.value.__cause__ is None and "Original exception" not in str(raised.value)
    assert other.requests() == []


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_unusual_sse_lines_and_bad_bytes_keep_the_answer(server, provider):
    server.enqueue(provider, replay(DEFAULT_RECORDINGS[provider], sse_extras=True))
    text, events = collect(request_for(server, provider))
    assert text == expected_text(DEFAULT_RECORDINGS[provider]) and events[-1].finish_reason == "stop"
    words = "one two three four"
    server.enqueue(provider, synthetic(text=words, invalid_utf8_after={"openai": 2, "anthropic": 4}[provider]))
    text, _ = collect(request_for(server, provider))
    pieces = synthetic_pieces(text=words)
    assert text == pieces[0] + "\ufffd" + "".join(pieces[1:])


def test_a_mock_answer_sends_nothing(server):
    before = len(server.requests())
    text, events = collect(LLMRequest(model="anthropic/claude-sonnet-4-5", messages=MESSAGES, mock_response="Hi."))
    assert text == "Hi." and isinstance(events[-1], llm.Finished)
    assert len(server.requests()) == before


# --- how a job reads it ----------------------------------------------------------------------------------------


def run(job: Job, timeout: float = 30.0) -> str:
    job.start()
    pieces = []
    deadline = time.monotonic() + timeout
    while job.outcome is None:
        assert time.monotonic() < deadline, "job did not end"
        job.wait_for_event(0.05)
        pieces.append(job.drain().text)
    return "".join(pieces)


FAST = RetryPolicy(max_retries=2, base_delay=0.01)


def test_a_job_reports_a_stream_without_a_finish_reason_as_incomplete(server):
    server.enqueue("openai", synthetic(tokens=10, end_after=4))
    job = Job(Plan.for_request(request_for(server, "openai"), policy=FAST))
    text = run(job)
    assert text == "tok0 tok1 tok2"
    assert job.outcome.kind == "incomplete" and "may be cut off" in job.outcome.message
    assert "ended without the provider saying it was finished" in job.outcome.message


def test_a_job_with_nothing_before_the_end_says_so(server):
    server.enqueue("anthropic", synthetic(tokens=10, end_after=1))
    job = Job(Plan.for_request(request_for(server, "anthropic"), policy=FAST))
    assert run(job) == ""
    assert job.outcome.kind == "incomplete" and "without an answer" in job.outcome.message


def test_a_mock_answer_without_a_reason_still_counts_as_finished():
    def stream(request, cancelled, on_response):
        yield llm.TextDelta("demo")
        yield llm.Finished(None, request.model)

    request = LLMRequest(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="demo")
    job = Job(Plan.for_request(request), stream_fn=stream)
    assert run(job) == "demo" and isinstance(job.outcome, llm.Finished)


def test_a_job_retries_an_overloaded_error_object_and_not_a_redirect(server, other):
    overloaded = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    server.enqueue("anthropic", page(overloaded, content_type="application/json"), replay())
    before = len(server.requests())
    job = Job(Plan.for_request(request_for(server, "anthropic"), policy=FAST))
    assert run(job) == expected_text(DEFAULT_RECORDINGS["anthropic"])
    assert len(server.requests()) - before == 2

    server.enqueue("anthropic", redirect(other.base_url + "/v1/messages"), replay())
    before = len(server.requests())
    job = Job(Plan.for_request(request_for(server, "anthropic"), policy=FAST))
    run(job)
    assert job.outcome.kind == "bad_response" and "redirected" in job.outcome.message
    assert len(server.requests()) - before == 1 and other.requests() == []


def test_a_job_reports_the_guards_message_after_text_was_shown(server):
    server.enqueue("openai", synthetic(tokens=30, short_by=30))
    job = Job(Plan.for_request(request_for(server, "openai"), policy=FAST))
    text = run(job)
    assert text.startswith("tok0")
    assert job.outcome.kind == "incomplete" and job.outcome.message.startswith("The answer was cut off:")


def long_messages(words: int) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": "Rain on the roof. " * (words // 4)},)


def test_a_prompt_over_the_window_is_refused_before_sending(server):
    before = len(server.requests())
    job = Job(Plan.for_request(request_for(server, "openai", messages=long_messages(200_000)), policy=FAST))
    assert run(job) == ""
    assert job.outcome.kind == "context_window"
    message = job.outcome.message
    assert "context window of 128,000 tokens" in message and "nothing was sent" in message
    tokens = int(re.search(r"about ([\d,]+) tokens", message).group(1).replace(",", ""))
    assert tokens > 128_000
    assert "Shorten the scene" in message and "larger context window" in message and "Max Tokens" not in message
    assert len(server.requests()) == before


def test_a_prompt_over_one_window_falls_back_to_a_larger_one(server):
    server.enqueue("openai", replay())
    small = request_for(server, "openai", model="openai/gpt-4-0613", messages=long_messages(20_000))
    large = request_for(server, "openai", model="openai/gpt-4o-mini", messages=long_messages(20_000))
    before = len(server.requests())
    job = Job(Plan(requests=(small, large), policy=FAST))
    assert run(job) == expected_text(DEFAULT_RECORDINGS["openai"])
    assert len(server.requests()) - before == 1


def test_a_prompt_that_fits_is_never_counted(server, monkeypatch):
    from screenwriter_llm.core.accounting import cost

    monkeypatch.setattr(cost, "count_tokens", lambda *a, **k: pytest.fail("counted a prompt that fits"))
    server.enqueue("openai", replay())
    job = Job(Plan.for_request(request_for(server, "openai", messages=long_messages(20_000)), policy=FAST))
    assert run(job) == expected_text(DEFAULT_RECORDINGS["openai"])


def test_a_tokenizer_failure_lets_the_request_go(server, monkeypatch):
    from screenwriter_llm.core.accounting import cost

    def broken(*args, **kwargs):
        raise RuntimeError("no tokenizer")

    monkeypatch.setattr(cost, "count_tokens", broken)
    server.enqueue("openai", replay())
    job = Job(Plan.for_request(request_for(server, "openai", messages=long_messages(200_000)), policy=FAST))
    assert run(job) == expected_text(DEFAULT_RECORDINGS["openai"])


def test_a_model_litellm_does_not_know_is_measured_against_the_default_window(server):
    from screenwriter_llm.core.accounting.accountant import Accounting

    messages = long_messages(20_000)
    before = len(server.requests())
    job = Job(Plan.for_request(request_for(server, "ollama", messages=messages), policy=FAST))
    run(job)
    assert job.outcome.kind == "context_window" and len(server.requests()) == before
    assert "the 8,192-token context window assumed for ollama_chat/llama3.1" in job.outcome.message
    assert "raise Default Context Window" in job.outcome.message

    server.enqueue("ollama", replay())
    roomy = Accounting(default_window=131_072)
    job = Job(Plan.for_request(request_for(server, "ollama", messages=messages), policy=FAST, accounting=roomy))
    assert run(job) == expected_text(DEFAULT_RECORDINGS["ollama"])

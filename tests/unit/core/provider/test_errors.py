"""core/provider/errors.py: ErrorKind, classify() and describe() on the exceptions LiteLLM really raises.

Most cases call the real ``litellm.completion`` against a loopback server (the recorded provider answers
of ``../shared/provider-streams/`` through :mod:`tests.provider_server`, or a raw handler for bodies sent
under HTTP 200), so each exception is exactly what LiteLLM raises, chain included. The rest build LiteLLM's
exception classes directly, the way LiteLLM's own code does, for the paths no server can reach.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import httpx
import pytest

from screenwriter_llm.core.provider import errors, netgate, redact, retry
from screenwriter_llm.core.provider.errors import ErrorKind, classify, describe, describe_exception
from screenwriter_llm.core.provider.llm import import_litellm
from screenwriter_llm.core.tasks.context import ContextTooLarge
from tests.provider_server import ProviderServer, error, synthetic

SECRET = "sk-proj-Zq8rT2vW9xY4uB7nM3kL6pQ1sD5fG0hJwxyz"
MESSAGES = [{"role": "user", "content": "Say something."}]
HTML_PAGE = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n"
    "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)

# Blender icon names that exist from Blender 3.4 (Debian's, tier 3) to 5.x (checked with both).
BLENDER_ICONS = {"ERROR", "INFO", "CANCEL", "LOCKED", "QUESTION", "TIME", "UNLINKED", "WORLD", "PREFERENCES"}


# --- the loopback servers ------------------------------------------------------------------------


class _RawHandler(BaseHTTPRequestHandler):
    """Answers every POST with the reply set on the server: any status, body and content type (the
    recorded-provider server sends bodies only with error statuses)."""

    protocol_version = "HTTP/1.1"
    server: _RawServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, content_type, body = self.server.reply
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _RawServer(ThreadingHTTPServer):
    reply: tuple[int, str, str] = (200, "application/json", "{}")

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture(scope="module")
def litellm() -> ModuleType:
    return import_litellm()


@pytest.fixture(scope="module")
def server() -> Iterator[ProviderServer]:
    with ProviderServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def raw() -> Iterator[_RawServer]:
    srv = _RawServer(("127.0.0.1", 0), _RawHandler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in {*errors.PROVIDER_KEY_ENV.values(), *errors.OTHER_KEY_ENV}:
        monkeypatch.delenv(name, raising=False)


def raised(litellm: ModuleType, **kwargs: Any) -> BaseException:
    """What ``litellm.completion(**kwargs)`` raises (a stream is read to its end)."""
    kwargs = {"messages": MESSAGES, "max_retries": 0, "timeout": 5, "stream": True, **kwargs}
    try:
        response = litellm.completion(**kwargs)
        if kwargs["stream"]:
            for _ in response:
                pass
    except Exception as exc:  # noqa: BLE001 - the point of the helper
        return exc
    raise AssertionError(f"LiteLLM raised nothing for {kwargs}")


def openai_error(litellm: ModuleType, server: ProviderServer, reply: Any, **kwargs: Any) -> BaseException:
    server.enqueue("openai", reply)
    kwargs = {"model": "openai/gpt-4o-mini", "api_base": server.api_base("openai"), "api_key": SECRET, **kwargs}
    return raised(litellm, **kwargs)


def anthropic_error(litellm: ModuleType, server: ProviderServer, reply: Any, **kwargs: Any) -> BaseException:
    server.enqueue("anthropic", reply)
    kwargs = {
        "model": "anthropic/claude-sonnet-4-5",
        "api_base": server.api_base("anthropic"),
        "api_key": "sk-ant-api03-Lm4Nq7Rs0Tu3Vw6Xy9Za2Bc5De8Fg1HiJk4Lm7No0Pq3Rs6Tu9-abcd",
        **kwargs,
    }
    return raised(litellm, **kwargs)


def openai_json(status: int, message: str, **fields: Any) -> str:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, **fields}})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def said(exc: BaseException, model: str = "openai/gpt-4o-mini", api_base: str | None = None) -> str:
    message, kind = describe_exception(exc, model, api_base, (SECRET,))
    assert kind is classify(exc)
    return message


def assert_clean(message: str) -> None:
    """Nothing a person should never see: a key, a traceback, LiteLLM's repeated chain, class prefixes."""
    assert SECRET not in message
    assert "Traceback" not in message and "Original exception" not in message
    assert "litellm." not in message and "Exception -" not in message
    assert "<html" not in message.lower() and "\n" not in message


# --- ErrorKind -------------------------------------------------------------------------------------


def test_error_kind_values_are_the_stored_strings():
    assert [kind.value for kind in ErrorKind] == [
        "auth",
        "not_found",
        "context_window",
        "rate_limit",
        "unavailable",
        "connection",
        "timeout",
        "bad_request",
        "error",
        "budget",
        "online_access",
        "no_key",
        "cancelled",
        "incomplete",
        "bad_response",
        "too_large",
        "unknown_provider",
        "invalid_setting",
        "not_allowed",
    ]
    assert ErrorKind.AUTH == "auth" and str(ErrorKind.RATE_LIMIT) == "rate_limit" and f"{ErrorKind.NO_KEY}" == "no_key"
    assert ErrorKind("context_window") is ErrorKind.CONTEXT_WINDOW
    assert {"auth": 1}[ErrorKind.AUTH] == 1, "hashes like the plain string"


def test_only_rate_limit_overload_and_connection_are_retried():
    assert {kind for kind in ErrorKind if kind.retryable} == {
        ErrorKind.RATE_LIMIT,
        ErrorKind.UNAVAILABLE,
        ErrorKind.CONNECTION,
    }


def test_fallback_kinds_are_todays_plus_no_key_and_not_allowed():
    assert {kind for kind in ErrorKind if kind.falls_back} == {
        "auth",
        "not_found",
        "rate_limit",
        "unavailable",
        "connection",
        "context_window",
        "no_key",
        "not_allowed",
    }
    assert retry.FALLBACK_KINDS == errors.FALLBACK
    assert "auth" in retry.FALLBACK_KINDS and "timeout" not in retry.FALLBACK_KINDS


def test_every_kind_has_a_blender_icon_and_a_title():
    for kind in ErrorKind:
        assert kind.icon in BLENDER_ICONS, kind
        assert kind.title and kind.title[0].isupper() and kind.title != kind.value, kind
    assert ErrorKind.AUTH.title == "Key rejected"
    assert ErrorKind.CANCELLED.icon == "CANCEL" and ErrorKind.INCOMPLETE.icon == "INFO"
    assert ErrorKind.UNAVAILABLE.icon == "ERROR" and ErrorKind.BAD_RESPONSE.icon == "ERROR"
    assert len({kind.title for kind in ErrorKind}) == len(ErrorKind)


def test_coerce_reads_stored_strings_and_never_raises():
    assert ErrorKind.coerce("rate_limit") is ErrorKind.RATE_LIMIT
    assert ErrorKind.coerce(ErrorKind.AUTH) is ErrorKind.AUTH
    assert ErrorKind.coerce("no such kind") is ErrorKind.ERROR
    assert ErrorKind.coerce(None) is ErrorKind.ERROR


# --- classify + describe, as LiteLLM raises them -------------------------------------------------


def test_401_recording(litellm, server):
    exc = openai_error(litellm, server, error("openai_401_invalid_api_key.json"))
    assert classify(exc) is ErrorKind.AUTH and errors.http_status(exc) == 401
    message = said(exc)
    assert message.startswith("The provider rejected the API key for openai/gpt-4o-mini (HTTP 401).")
    assert "OPENAI_API_KEY" in message and "Incorrect API key provided: test_api_key" in message
    assert_clean(message)


def test_a_401_that_echoes_the_key_shows_only_its_last_four_characters(litellm, server):
    body = openai_json(401, f"Incorrect API key provided: {SECRET}. You can find your API key at ...")
    exc = openai_error(litellm, server, error(401, body=body))
    assert SECRET in str(exc), "LiteLLM's own message carries the key"
    message = said(exc)
    assert SECRET not in message and "Zq8rT2vW9xY4uB7nM3kL6pQ1sD5fG0hJ" not in message
    assert "Incorrect API key provided: sk-proj-…wxyz." in message


def test_a_401_echoing_a_key_known_only_from_the_environment_is_redacted(litellm, server, monkeypatch):
    env_key = "gsk_" + "Env0Key1Only2In3The4Environment5" + "9876"
    monkeypatch.setenv("GROQ_API_KEY", env_key)
    exc = openai_error(litellm, server, error(401, body=openai_json(401, f"bad key {env_key}")))
    message, kind = describe_exception(exc, "openai/gpt-4o-mini")  # no secrets passed
    assert kind is ErrorKind.AUTH
    assert env_key not in message and "gsk_…9876" in message


def test_403_is_auth_although_litellm_raises_an_api_error(litellm, server):
    exc = openai_error(
        litellm, server, error(403, body=openai_json(403, "Country, region, or territory not supported"))
    )
    assert type(exc).__name__ in ("APIError", "BadRequestError"), "not LiteLLM's PermissionDeniedError"
    assert classify(exc) is ErrorKind.AUTH
    message = said(exc)
    assert message.startswith("The provider refused access to openai/gpt-4o-mini (HTTP 403): Country, region")
    assert_clean(message)


def test_anthropic_529_recording_is_overload_not_http_500(litellm, server):
    exc = anthropic_error(litellm, server, error("anthropic_529_overloaded.json"))
    assert type(exc).__name__ == "InternalServerError" and exc.status_code == 500, "what LiteLLM reports"
    assert classify(exc) is ErrorKind.UNAVAILABLE and classify(exc).retryable
    assert errors.http_status(exc) == 529
    message = said(exc, "anthropic/claude-sonnet-4-5")
    assert "unavailable or overloaded (HTTP 529)" in message and "HTTP 500" not in message
    assert message.endswith("Details: Overloaded")
    assert_clean(message)


def test_anthropic_overloaded_sent_in_the_stream_under_200(litellm, server):
    exc = anthropic_error(litellm, server, synthetic(tokens=5, error_after=0))
    assert type(exc).__name__ == "MidStreamFallbackError" and "Original exception" in str(exc)
    assert classify(exc) is ErrorKind.UNAVAILABLE and errors.http_status(exc) is None
    message = said(exc, "anthropic/claude-sonnet-4-5")
    assert "HTTP" not in message and message.endswith("Details: Overloaded")
    assert_clean(message)


def test_500_keeps_the_wording_the_status_line_tests_read(litellm, server):
    exc = openai_error(litellm, server, error(500))
    assert classify(exc) is ErrorKind.UNAVAILABLE
    assert said(exc).startswith("The provider is unavailable or overloaded (HTTP 500). Try again shortly")


@pytest.mark.parametrize(
    ("status", "title", "kind"),
    [
        (502, "502 Bad Gateway", ErrorKind.UNAVAILABLE),
        (503, "503 Service Temporarily Unavailable", ErrorKind.UNAVAILABLE),
        (504, "504 Gateway Time-out", ErrorKind.UNAVAILABLE),
        (413, "413 Request Entity Too Large", ErrorKind.TOO_LARGE),
    ],
)
def test_an_html_error_page_is_summarised_as_status_and_title(litellm, server, status, title, kind):
    page = HTML_PAGE.format(title)
    exc = openai_error(litellm, server, error(status, body=page, headers={"Content-Type": "text/html"}))
    assert "<title>" in str(exc), "LiteLLM's message carries the whole page"
    assert classify(exc) is kind
    message = said(exc, api_base=server.api_base("openai"))
    assert f"(HTTP {status})" in message and f'an HTML page titled "{title}"' in message
    assert "nginx" not in message and "<" not in message
    assert_clean(message)


def test_a_gateway_504_is_not_a_read_timeout(litellm, server):
    exc = openai_error(litellm, server, error(504, body=HTML_PAGE.format("504 Gateway Time-out")))
    assert type(exc).__name__ == "Timeout", "LiteLLM raises a 504 as its Timeout"
    assert not errors.is_timeout(exc) and retry.is_retryable(exc)


def test_413_says_the_request_was_too_large_and_what_to_shorten(litellm, server):
    exc = anthropic_error(
        litellm,
        server,
        error(
            413,
            body='{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}',
        ),
    )
    assert type(exc).__name__ == "BadRequestError" and exc.status_code == 400, "LiteLLM reports a 400"
    assert classify(exc) is ErrorKind.TOO_LARGE and not classify(exc).retryable
    message = said(exc, "anthropic/claude-sonnet-4-5", server.api_base("anthropic"))
    assert "was too large" in message and "(HTTP 413)" in message and "shorter scene" in message
    assert "Max Tokens" not in message and message.endswith("Details: Request exceeds the maximum size")


def test_openai_tpm_413_is_too_large_not_a_rate_limit(litellm, server):
    body = openai_json(
        413,
        "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 50000.",
        type="tokens",
        code="rate_limit_exceeded",
    )
    exc = openai_error(litellm, server, error(413, body=body))
    assert type(exc).__name__ == "RateLimitError", "LiteLLM calls it a rate limit"
    assert classify(exc) is ErrorKind.TOO_LARGE and not retry.is_retryable(exc)


def test_429_is_a_rate_limit_with_its_retry_after(litellm, server):
    body = openai_json(429, "Rate limit reached for requests", code="rate_limit_exceeded")
    exc = openai_error(litellm, server, error(429, body=body, headers={"Retry-After": "7"}))
    assert classify(exc) is ErrorKind.RATE_LIMIT
    assert retry.retry_after_seconds(exc) == 7.0
    message = said(exc)
    assert message.startswith("openai/gpt-4o-mini is rate-limited (HTTP 429).") and "Rate limit reached" in message


def test_429_out_of_quota_and_402_are_spending_limits(litellm, server):
    quota = openai_json(429, "You exceeded your current quota, please check your plan.", code="insufficient_quota")
    for exc in (
        openai_error(litellm, server, error(429, body=quota)),
        openai_error(litellm, server, error(402, body='{"error": {"message": "Insufficient credits", "code": 402}}')),
    ):
        assert classify(exc) is ErrorKind.BUDGET and not classify(exc).retryable
        message = said(exc)
        assert "no credit or quota left" in message and "HTTP 4" in message


def test_404_model_not_found(litellm, server):
    exc = openai_error(litellm, server, error(404, body=openai_json(404, "The model `gpt-9` does not exist")))
    assert classify(exc) is ErrorKind.NOT_FOUND
    message = said(exc, api_base=server.api_base("openai"))
    assert f"Model 'openai/gpt-4o-mini' was not found at {server.api_base('openai')} (HTTP 404)." in message
    assert "ollama pull" not in message and message.endswith("Details: The model `gpt-9` does not exist")


def test_ollama_404_says_how_to_download_the_model(litellm, server):
    server.enqueue("ollama", error(404, body='{"error":"model \'llama3.1\' not found, try pulling it first"}'))
    exc = raised(litellm, model="ollama_chat/llama3.1", api_base=server.api_base("ollama"))
    assert classify(exc) is ErrorKind.NOT_FOUND
    assert "'ollama pull llama3.1'" in said(exc, "ollama_chat/llama3.1", server.api_base("ollama"))


def test_context_window_keeps_the_numbers(litellm, server):
    body = openai_json(400, "This model's maximum context length is 8192 tokens. However, you sent 9000 tokens.")
    exc = openai_error(litellm, server, error(400, body=body))
    assert classify(exc) is ErrorKind.CONTEXT_WINDOW
    message = said(exc)
    assert "too long for openai/gpt-4o-mini's context window" in message and "8192" in message and "9000" in message
    assert message.count("ContextWindowExceededError") == 0


def test_400_naming_a_setting_is_an_invalid_setting(litellm, server):
    body = openai_json(400, "Invalid value for 'temperature': must be at most 2.", param="temperature")
    exc = openai_error(litellm, server, error(400, body=body))
    assert classify(exc) is ErrorKind.INVALID_SETTING
    assert "Check Temperature and Max Tokens" in said(exc)


@pytest.mark.parametrize("status", [400, 422])
def test_other_4xx_are_bad_requests(litellm, server, status):
    exc = openai_error(litellm, server, error(status, body=openai_json(status, "Unrecognized request argument")))
    assert classify(exc) is ErrorKind.BAD_REQUEST
    assert said(exc) == (
        f"The provider refused the request for openai/gpt-4o-mini (HTTP {status}): Unrecognized request argument"
    )


def test_408_from_the_server_is_a_timeout(litellm, server):
    exc = openai_error(litellm, server, error(408))
    assert classify(exc) is ErrorKind.TIMEOUT and errors.is_timeout(exc)
    assert "did not answer in time (HTTP 408)" in said(exc)


@pytest.mark.parametrize(
    ("model", "suffix", "detail"),
    [
        ("openai/gpt-4o-mini", "/v1", "Connection error."),  # LiteLLM: InternalServerError 500
        ("anthropic/claude-sonnet-4-5", "", "[Errno 111] Connection refused"),  # InternalServerError 500
        ("ollama_chat/llama3.1", "", "[Errno 111] Connection refused"),  # APIConnectionError
    ],
)
def test_a_refused_connection(litellm, model, suffix, detail):
    api_base = f"http://127.0.0.1:{free_port()}{suffix}"
    exc = raised(litellm, model=model, api_base=api_base, api_key=SECRET)
    assert classify(exc) is ErrorKind.CONNECTION and errors.is_connection_error(exc) and not errors.is_timeout(exc)
    assert errors.http_status(exc) is None, "LiteLLM's 500 is not what a server said"
    message = said(exc, model, api_base)
    assert message.startswith(f"Could not connect to {api_base}. Check that the server is running")
    assert message.endswith(f"Details: {detail}") and "HTTP" not in message


def test_a_connection_dropped_mid_body(litellm, server):
    exc = openai_error(litellm, server, synthetic(tokens=20, close_after=0))
    assert type(exc).__name__ == "MidStreamFallbackError"
    assert classify(exc) is ErrorKind.CONNECTION
    message = said(exc, api_base=server.api_base("openai"))
    assert message.startswith(f"The connection to {server.api_base('openai')} was dropped before the answer")
    assert "incomplete chunked read" in message
    assert_clean(message)


def test_a_read_timeout_before_the_first_byte(litellm, server):
    exc = openai_error(litellm, server, synthetic(tokens=5, first_byte_delay=3), timeout=0.3)
    assert classify(exc) is ErrorKind.TIMEOUT and errors.is_timeout(exc) and not retry.is_retryable(exc)
    message = said(exc)
    assert message.startswith("openai/gpt-4o-mini did not answer in time.") and "HTTP" not in message
    assert message.endswith("Details: Request timed out.")


def test_a_read_timeout_mid_stream_is_a_timeout(litellm, server):
    exc = openai_error(litellm, server, synthetic(tokens=20, stall_after=3, stall_seconds=3), timeout=0.3)
    assert type(exc).__name__ == "MidStreamFallbackError" and "Original exception" in str(exc)
    assert classify(exc) is ErrorKind.TIMEOUT and errors.is_timeout(exc)
    message = said(exc)
    assert message.endswith("Details: timed out")
    assert_clean(message)


# Bodies under HTTP 200 through LiteLLM: ``llm`` may name them itself (``ProviderResponseError``, which
# classify() honours) or leave them to LiteLLM's parsers (classified from the chain); either way:


def test_an_html_page_under_200_is_a_bad_response_not_http_500(litellm, raw):
    raw.reply = (
        200,
        "text/html",
        "<html><head><title>Sign in &ndash; Studio Portal</title></head><body>x</body></html>",
    )
    exc = raised(litellm, model="openai/gpt-4o-mini", api_base=raw.api_base, api_key=SECRET, stream=False)
    assert classify(exc) is ErrorKind.BAD_RESPONSE and not classify(exc).retryable
    message = said(exc, api_base=raw.api_base)
    assert "(HTTP 200)" in message and "HTTP 500" not in message
    assert "Sign in – Studio Portal" in message and "<" not in message
    assert_clean(message)


def test_a_json_error_body_under_200(litellm, raw):
    raw.reply = (200, "application/json", json.dumps({"error": {"message": "upstream failed", "code": 500}}))
    exc = raised(litellm, model="openai/gpt-4o-mini", api_base=raw.api_base, api_key=SECRET, stream=False)
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    message = said(exc)
    assert "upstream failed" in message and "(HTTP 200)" in message and "HTTP 500" not in message
    assert_clean(message)


def test_a_json_rate_limit_body_under_200_is_a_rate_limit(litellm, raw):
    raw.reply = (200, "application/json", json.dumps({"error": {"message": "Slow down", "code": 429}}))
    exc = raised(litellm, model="openai/gpt-4o-mini", api_base=raw.api_base, api_key=SECRET, stream=False)
    assert classify(exc) is ErrorKind.RATE_LIMIT and retry.is_retryable(exc)
    message = said(exc)
    assert "Slow down" in message and "HTTP 429" not in message and "HTTP 500" not in message


def test_a_body_that_is_not_json(litellm, raw):
    raw.reply = (200, "application/json", "not json at all")
    exc = raised(litellm, model="openai/gpt-4o-mini", api_base=raw.api_base, api_key=SECRET, stream=False)
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    message = said(exc)
    assert "HTTP 500" not in message and "APIResponse" not in message
    assert_clean(message)


def test_an_error_event_in_an_openai_stream(litellm, server):
    exc = openai_error(litellm, server, synthetic(tokens=5, error_after=2))
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    message = said(exc)
    assert "injected in-band error from ProviderServer" in message and "HTTP 500" not in message
    assert_clean(message)


def test_a_broken_json_line_in_a_stream(litellm, server):
    exc = openai_error(litellm, server, synthetic(tokens=5, malformed_after=2))
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    assert_clean(said(exc))


def test_an_ollama_error_line_under_200(litellm, server):
    server.enqueue("ollama", synthetic(tokens=5, error_after=0))
    exc = raised(litellm, model="ollama_chat/llama3.1", api_base=server.api_base("ollama"))
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    message = said(exc, "ollama_chat/llama3.1", server.api_base("ollama"))
    assert "injected in-band error from ProviderServer" in message and "HTTP 400" not in message
    assert_clean(message)


# The same bodies as LiteLLM 1.106.2 itself raises them (its own messages and chains, no response hook):


def litellm_raise(outer: BaseException, *inner: BaseException) -> BaseException:
    """``outer`` raised while handling ``inner[0]``, raised while handling ``inner[1]``...: the
    implicit ``__context__`` chain LiteLLM's ``except`` blocks leave."""

    def throw(links: tuple[BaseException, ...]) -> None:
        if not links:
            return
        try:
            throw(links[1:])
        finally:
            raise links[0]

    try:
        throw((outer, *inner))
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("unreachable")


def provider_error(litellm: ModuleType, message: str, status: int = 500) -> BaseException:
    from litellm.llms.openai.common_utils import OpenAIError

    return OpenAIError(status_code=status, message=message)


def test_litellm_html_page_under_200(litellm):
    page = "<html><head><title>Sign in &ndash; Studio Portal</title></head><body>x</body></html>"
    text = f"Empty or invalid response from LLM endpoint. Received: {page!r}. Check the reverse proxy or model server."
    exc = litellm_raise(
        litellm.exceptions.InternalServerError(
            f"InternalServerError: OpenAIException - {text}", "openai", "gpt-4o-mini"
        ),
        provider_error(litellm, text),
    )
    assert exc.status_code == 500 and classify(exc) is ErrorKind.BAD_RESPONSE
    message = said(exc, api_base="http://127.0.0.1:8000/v1")
    assert message == (
        'http://127.0.0.1:8000/v1 answered (HTTP 200) but not with a model response: an HTML page titled "Sign in '
        '– Studio Portal". Check the endpoint in the add-on preferences: a proxy, a sign-in page or a server that '
        "does not speak the provider's API may be in the way."
    )


def test_litellm_json_error_body_under_200(litellm):
    body_error = Exception()
    body_error.status_code = 500  # type: ignore[attr-defined]  # as convert_dict_to_response sets them
    body_error.message = "upstream failed"  # type: ignore[attr-defined]
    exc = litellm_raise(
        litellm.exceptions.InternalServerError("InternalServerError: OpenAIException - ", "openai", "gpt-4o-mini"),
        provider_error(litellm, ""),
        body_error,
    )
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    assert said(exc) == (
        "The openai service answered (HTTP 200) with an error instead of a model response: upstream failed. "
        "Try again; if it keeps happening, check the server."
    )
    body_error.status_code = 429  # type: ignore[attr-defined]
    assert classify(exc) is ErrorKind.RATE_LIMIT
    assert said(exc).startswith("openai/gpt-4o-mini is rate-limited. Wait a minute"), "no HTTP 429 it never sent"


def test_litellm_body_that_is_not_json(litellm):
    decode = json.JSONDecodeError("Expecting value", "not json at all", 0)
    exc = litellm_raise(
        litellm.exceptions.InternalServerError(
            "InternalServerError: OpenAIException - error - Expecting value: line 1 column 1 (char 0), Received "
            "response - <APIResponse [200 OK] type=<class 'ChatCompletion'>>, Type of response - <class 'x'>",
            "openai",
            "gpt-4o-mini",
        ),
        provider_error(litellm, "error - Expecting value: line 1 column 1 (char 0)"),
        decode,
    )
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    message = said(exc)
    assert "but not with a model response: the body is not valid JSON (Expecting value: line 1 column 1 (char 0))" in (
        message
    )
    assert "APIResponse" not in message


def test_litellm_error_event_in_a_stream(litellm):
    import openai

    event = openai.APIError("upstream failed", httpx.Request("POST", "https://x"), body={"message": "upstream failed"})
    connection = litellm_raise(
        litellm.exceptions.APIConnectionError("APIConnectionError: OpenAIException - upstream failed", "openai", "gpt"),
        event,
    )
    exc = litellm.exceptions.MidStreamFallbackError(
        f"litellm.APIConnectionError: {connection}", "gpt-4o-mini", "openai", original_exception=connection
    )
    assert "Original exception" in str(exc)
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    assert said(exc).startswith(
        "The openai service answered (HTTP 200) with an error instead of a model response: upstream failed."
    )


def test_litellm_ollama_error_line(litellm, monkeypatch):
    monkeypatch.delenv("OLLAMA_API_BASE", raising=False)
    from litellm.llms.ollama.common_utils import OllamaError

    text = "KeyError: 'message', Got unexpected response from Ollama: {'error': 'llama runner crashed'}"
    exc = litellm_raise(
        litellm.exceptions.BadRequestError(f"Ollama_chatException - {text}", "llama3.1", "ollama_chat"),
        OllamaError(status_code=400, message=text, headers={}),
        KeyError("message"),
    )
    assert classify(exc) is ErrorKind.BAD_RESPONSE
    assert said(exc, "ollama_chat/llama3.1") == (
        "http://localhost:11434 answered (HTTP 200) with an error instead of a model response: llama runner "
        "crashed. Try again; if it keeps happening, check the server."
    )


def test_an_unknown_provider_shows_the_form_and_that_nothing_was_sent(litellm):
    exc = raised(litellm, model="claude/sonnet", api_key=SECRET)
    assert classify(exc) is ErrorKind.UNKNOWN_PROVIDER and not classify(exc).falls_back
    message = said(exc, "claude/sonnet")
    assert "'claude/sonnet' ('claude')" in message and "nothing was sent" in message
    assert "'provider/model'" in message and "anthropic/claude-sonnet-4-5" in message
    assert "Huggingface" not in message, "not LiteLLM's own advice"


def test_a_temperature_of_nan_is_an_invalid_setting(litellm, server):
    exc = openai_error(litellm, server, synthetic(tokens=2), temperature=float("nan"))
    assert exc.status_code == 500, "what LiteLLM reports"
    assert classify(exc) is ErrorKind.INVALID_SETTING
    message = said(exc)
    assert "not a finite number" in message and "JSON compliant" not in message and "HTTP" not in message


@pytest.mark.parametrize(
    ("model", "route"),
    [("openai/gpt-4o-mini", "openai"), ("anthropic/claude-sonnet-4-5", "anthropic")],
)
def test_no_key_is_no_key_and_nothing_was_sent(litellm, server, no_env_keys, model, route):
    before = len(server.requests())
    exc = raised(litellm, model=model, api_base=server.api_base(route))
    assert classify(exc) is ErrorKind.NO_KEY and classify(exc).falls_back
    assert len(server.requests()) == before
    message = said(exc, model)
    assert "nothing was sent" in message and errors.key_env_var(model) in message and "keyring" in message


# --- classify + describe, LiteLLM's classes built as LiteLLM builds them -------------------------


def _response(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("POST", "https://api.example.invalid/v1"))


def direct(litellm: ModuleType) -> list[tuple[BaseException, ErrorKind]]:
    ex = litellm.exceptions
    wrapped = ex.MidStreamFallbackError(
        "x", "gpt-4o-mini", "openai", original_exception=ex.RateLimitError("slow down", "openai", "gpt-4o-mini")
    )
    return [
        (ex.AuthenticationError("bad key", "openai", "gpt-4o-mini"), ErrorKind.AUTH),
        (ex.PermissionDeniedError("no", "openai", "gpt-4o-mini", response=_response(403)), ErrorKind.AUTH),
        (ex.NotFoundError("no model", "gpt-9", "openai"), ErrorKind.NOT_FOUND),
        (ex.RateLimitError("slow down", "openai", "gpt-4o-mini"), ErrorKind.RATE_LIMIT),
        (ex.RateLimitError("You exceeded your current quota", "openai", "gpt-4o-mini"), ErrorKind.BUDGET),
        (ex.ContextWindowExceededError("too long", "gpt-4o-mini", "openai"), ErrorKind.CONTEXT_WINDOW),
        (ex.UnsupportedParamsError("o1 does not support temperature", "openai", "o1"), ErrorKind.INVALID_SETTING),
        (ex.PaymentRequiredError("pay", "gpt-4o-mini", "openrouter"), ErrorKind.BUDGET),
        (ex.BudgetExceededError(current_cost=2.0, max_budget=1.0), ErrorKind.BUDGET),
        (ex.ServiceUnavailableError("down", "openai", "gpt-4o-mini"), ErrorKind.UNAVAILABLE),
        (ex.InternalServerError("boom", "openai", "gpt-4o-mini"), ErrorKind.UNAVAILABLE),
        (ex.BadGatewayError("gateway", "openai", "gpt-4o-mini"), ErrorKind.UNAVAILABLE),
        (ex.APIError(529, "busy", "anthropic", "claude"), ErrorKind.UNAVAILABLE),
        (ex.APIError(500, "The model is overloaded", "openai", "gpt"), ErrorKind.UNAVAILABLE),
        (ex.APIError(418, "teapot", "openai", "gpt"), ErrorKind.BAD_REQUEST),
        (ex.Timeout("slow", "gpt-4o-mini", "openai"), ErrorKind.TIMEOUT),
        (ex.Timeout("gateway", "gpt-4o-mini", "openai", exception_status_code=504), ErrorKind.UNAVAILABLE),
        (ex.APIConnectionError("reset", "openai", "gpt-4o-mini"), ErrorKind.CONNECTION),
        (ex.BadRequestError("Invalid Message passed in", "gpt-4o-mini", "openai"), ErrorKind.BAD_REQUEST),
        (ex.LiteLLMUnknownProvider("foo/bar"), ErrorKind.UNKNOWN_PROVIDER),
        (wrapped, ErrorKind.RATE_LIMIT),
        (netgate.OnlineAccessDisabled("Online access is off ..."), ErrorKind.ONLINE_ACCESS),
        (ContextTooLarge("The message is more than the window"), ErrorKind.CONTEXT_WINDOW),
        (asyncio.CancelledError(), ErrorKind.CANCELLED),
        (TimeoutError("No answer within 30 s"), ErrorKind.TIMEOUT),
        (ConnectionResetError(104, "Connection reset by peer"), ErrorKind.CONNECTION),
        (ValueError("something else"), ErrorKind.ERROR),
        (RuntimeError(""), ErrorKind.ERROR),
    ]


def test_litellm_classes_built_without_a_response(litellm):
    for exc, kind in direct(litellm):
        assert classify(exc) is kind, (type(exc).__name__, str(exc))
        message = describe(exc, classify(exc), "openai/gpt-4o-mini")
        assert message and "\n" not in message and "litellm." not in message, message


def test_a_status_is_shown_only_when_a_server_could_have_sent_it(litellm):
    ex = litellm.exceptions
    assert "(HTTP 429)" in said(ex.RateLimitError("slow down", "openai", "gpt-4o-mini"))
    assert "(HTTP 401)" in said(ex.AuthenticationError("bad key", "openai", "gpt-4o-mini"))
    unavailable = said(ex.InternalServerError("boom", "openai", "gpt-4o-mini"))
    assert "HTTP" not in unavailable and unavailable.endswith("Details: boom")
    refused = said(ex.BadRequestError("Invalid Message passed in", "gpt-4o-mini", "openai"))
    assert refused == "The request for openai/gpt-4o-mini was refused: Invalid Message passed in"


def test_special_kinds_say_what_happened(litellm):
    ex = litellm.exceptions
    model = "openai/gpt-4o-mini"
    budget = describe(ex.BudgetExceededError(2.0, 1.0), ErrorKind.BUDGET, model)
    assert budget.startswith("A spending limit was reached, so nothing was sent to openai/gpt-4o-mini: Budget has")
    gate = netgate.OnlineAccessDisabled(netgate.ONLINE_ACCESS_OFF_MESSAGE.format(host="api.openai.com"))
    assert describe(gate, classify(gate), model) == str(gate)
    assert "Allow Online Access" in describe(ValueError("x"), ErrorKind.ONLINE_ACCESS, model, "https://x.example")
    assert (
        describe(asyncio.CancelledError(), ErrorKind.CANCELLED, model)
        == "The request to openai/gpt-4o-mini was cancelled."
    )
    cut = describe(ex.APIConnectionError("peer closed connection", "openai", "gpt"), ErrorKind.INCOMPLETE, model)
    assert cut.startswith(
        "The answer from openai/gpt-4o-mini broke off before it was complete (peer closed connection)"
    )
    settings = describe(
        ex.UnsupportedParamsError(
            "o1 does not support parameters: ['temperature']. To drop these, "
            "set `litellm.drop_params=True` or for proxy:",
            "openai",
            "o1",
        ),
        ErrorKind.INVALID_SETTING,
        "openai/o1",
    )
    assert settings.startswith("openai/o1 cannot take one of the request's settings: o1 does not support parameters")
    assert "drop_params" not in settings
    other = describe(ValueError("something else"), ErrorKind.ERROR, model)
    assert other == "The request to openai/gpt-4o-mini failed (ValueError): something else"
    assert (
        describe(RuntimeError(""), "error", model)
        == "The request to openai/gpt-4o-mini failed (RuntimeError): RuntimeError"
    )
    assert describe(ValueError("x"), "no such kind", model).startswith("The request to openai/gpt-4o-mini failed")


def test_describe_exception_is_describe_of_classify(litellm):
    for exc, _ in direct(litellm):
        message, kind = describe_exception(exc, "anthropic/claude-sonnet-4-5", None, (SECRET, None))
        assert isinstance(kind, ErrorKind) and kind is classify(exc)
        assert message == describe(exc, kind, "anthropic/claude-sonnet-4-5", None, (SECRET,))


# --- the details -----------------------------------------------------------------------------------


def test_a_traceback_inside_an_exception_message_is_never_shown(litellm):
    exc = litellm.exceptions.APIConnectionError(
        'Missing Gemini endpoint.\nTraceback (most recent call last):\n  File "x.py", line 1', "gemini", "gemini-2.0"
    )
    message = said(exc, "gemini/gemini-2.0-flash")
    assert message.endswith("Details: Missing Gemini endpoint.") and "File" not in message


def test_details_decode_bytes_literals_json_and_python_dicts(litellm):
    ex = litellm.exceptions
    as_bytes = ex.BadGatewayError(
        'AnthropicException BadGatewayError - b\'{"error": {"message": "caf\\xc3\\xa9"}}\'', "anthropic", "claude"
    )
    assert said(as_bytes).endswith("Details: café")
    as_repr = ex.APIError(
        418, "Error code: 418 - {'error': {'message': 'I am a teapot', 'code': 418}}", "openai", "gpt"
    )
    assert said(as_repr).endswith(": I am a teapot")
    plain_error = ex.InternalServerError('{"error": "model is loading"}', "huggingface", "x")
    assert said(plain_error).endswith("Details: model is loading")
    detail_key = ex.InternalServerError('{"detail": "Not ready"}', "x", "y")
    assert said(detail_key).endswith("Details: Not ready")
    nested = ex.InternalServerError('{"error": {"message": {"reason": "nested"}}}', "x", "y")
    assert said(nested).endswith('Details: {"reason": "nested"}')
    not_an_error_object = ex.InternalServerError('{"unexpected": 1}', "x", "y")
    assert said(not_an_error_object).endswith('Details: {"unexpected": 1}')
    broken = ex.InternalServerError("half an object {'error': ", "x", "y")
    assert said(broken).endswith("Details: half an object {'error':")


def test_html_pages_without_a_title_and_with_long_titles(litellm):
    ex = litellm.exceptions
    heading = ex.InternalServerError("<html><body><h1>Service <b>down</b></h1></body></html>", "x", "y")
    assert said(heading).endswith('Details: an HTML page titled "Service down"')
    bare = ex.InternalServerError("<!DOCTYPE html><html><body><p>nothing</p></body></html>", "x", "y")
    assert said(bare).endswith("Details: an HTML page")
    long = ex.InternalServerError(f"<html><title>{'x' * 200}</title></html>", "x", "y")
    assert said(long).endswith(f'Details: an HTML page titled "{"x" * 79}…"')


def test_long_details_are_cut(litellm):
    exc = litellm.exceptions.InternalServerError("word " * 200, "x", "y")
    detail = said(exc).split("Details: ", 1)[1]
    assert len(detail) == 300 and detail.endswith("…")


def test_litellm_retry_counts_and_handle_with_advice_are_dropped(litellm):
    exc = litellm.exceptions.RateLimitError(
        "slow down. Handle with `litellm.RateLimitError`.", "openai", "gpt", num_retries=2, max_retries=3
    )
    assert "LiteLLM Retried" in str(exc)
    assert said(exc).endswith("Details: slow down")


def test_cause_summary_is_the_innermost_cause_redacted(litellm):
    ex = litellm.exceptions
    inner = ex.APIConnectionError(f"OpenAIException - peer closed connection ({SECRET})", "openai", "gpt")
    outer = ex.MidStreamFallbackError("litellm.APIConnectionError: ...", "gpt", "openai", original_exception=inner)
    assert errors.cause_summary(outer, secrets=(SECRET,)) == "peer closed connection (sk-proj-…wxyz)"
    assert errors.cause_summary(ValueError("x" * 500), limit=20) == "x" * 19 + "…"
    assert errors.cause_summary(RuntimeError()) == "RuntimeError"
    try:
        try:
            raise OSError("disk full")
        except OSError as cause:
            raise RuntimeError("could not write") from cause
    except RuntimeError as exc:
        assert errors.cause_summary(exc) == "disk full"


def test_http_status_reads_the_response_not_litellm(litellm):
    assert errors.http_status(ValueError("x")) is None
    assert errors.http_status(litellm.exceptions.InternalServerError("boom", "openai", "gpt")) is None
    status_error = httpx.HTTPStatusError("529", request=httpx.Request("POST", "https://x"), response=_response(529))
    try:
        try:
            raise status_error
        except httpx.HTTPStatusError:
            raise litellm.exceptions.InternalServerError("overloaded", "anthropic", "claude") from None
    except Exception as exc:  # noqa: BLE001
        assert errors.http_status(exc) is None, "a suppressed context is not followed"
    try:
        try:
            raise status_error
        except httpx.HTTPStatusError:
            raise litellm.exceptions.InternalServerError("overloaded", "anthropic", "claude")  # noqa: B904
    except Exception as exc:  # noqa: BLE001
        assert errors.http_status(exc) == 529 and classify(exc) is ErrorKind.UNAVAILABLE


def test_a_cyclic_chain_ends(litellm):
    first, second = ValueError("first"), ValueError("second")
    first.__context__, second.__context__ = second, first
    assert classify(first) is ErrorKind.ERROR


def test_is_timeout_and_is_connection_error_agree_with_classify(litellm):
    for exc, kind in direct(litellm):
        assert errors.is_timeout(exc) is (kind is ErrorKind.TIMEOUT)
        assert errors.is_connection_error(exc) is (kind is ErrorKind.CONNECTION)


# --- keys and the one redactor -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "env_var"),
    [
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
        ("gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
        ("cohere/command-r", "COHERE_API_KEY"),
        ("cohere_chat/command-r", "COHERE_API_KEY"),
        ("together_ai/meta-llama/Llama-3-8b", "TOGETHERAI_API_KEY"),
        ("fireworks_ai/accounts/fireworks/models/llama", "FIREWORKS_AI_API_KEY"),
        ("perplexity/sonar", "PERPLEXITYAI_API_KEY"),
        ("huggingface/bigcode/starcoder", "HUGGINGFACE_API_KEY"),
        ("litellm_proxy/gpt-4o", "LITELLM_PROXY_API_KEY"),
        ("newprovider/model", "NEWPROVIDER_API_KEY"),
    ],
)
def test_key_env_var(model, env_var):
    assert errors.key_env_var(model) == env_var


def test_errors_and_keys_share_the_one_redactor():
    from screenwriter_llm.core.provider import keys

    assert errors.redact is redact.redact and errors.redact_key is redact.redact_key
    assert keys.redact_key is redact.redact_key


def test_an_endpoint_is_named_without_its_query_or_user_info(litellm):
    exc = litellm.exceptions.APIConnectionError("Connection refused", "openai", "gpt")
    message = said(exc, api_base=f"https://proxy.example/v1?key={SECRET}#frag")
    assert message.startswith("Could not connect to https://proxy.example/v1. Check") and SECRET not in message
    message = said(exc, api_base="http://studio:hunter2@10.0.0.5:4000/v1")
    assert message.startswith("Could not connect to http://10.0.0.5:4000/v1. Check") and "hunter2" not in message
    message = said(exc, api_base="proxy.example:4000?token=abc")
    assert message.startswith("Could not connect to proxy.example:4000. Check")


def test_redaction_applies_to_the_whole_message(litellm):
    exc = litellm.exceptions.RateLimitError("slow down", "openai", "gpt")
    message = said(exc, f"openai/{SECRET}")
    assert SECRET not in message and "sk-proj-…wxyz" in message


class _Verdict(Exception):
    """Like ``llm.ProviderResponseError``: classified where the raw response was seen."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.screenwriter_kind = kind


def test_an_exception_that_carries_its_kind_and_message_wins(litellm):
    verdict = _Verdict(f"http://127.0.0.1:9/v1 sent an HTML page titled 'Login' ({SECRET})", "bad_response")
    try:
        try:
            raise verdict
        except _Verdict:
            raise litellm.exceptions.APIConnectionError("Connection error.", "openai", "gpt")  # noqa: B904
    except Exception as exc:  # noqa: BLE001
        assert classify(exc) is ErrorKind.BAD_RESPONSE, "not the connection error LiteLLM made of it"
        message, kind = describe_exception(exc, "openai/gpt-4o-mini", None, (SECRET,))
        assert kind is ErrorKind.BAD_RESPONSE
        assert message == "http://127.0.0.1:9/v1 sent an HTML page titled 'Login' (sk-proj-…wxyz)"
        assert describe(exc, ErrorKind.INCOMPLETE, "openai/gpt-4o-mini").startswith("The answer from")
    assert classify(_Verdict("x", "incomplete")) is ErrorKind.INCOMPLETE
    assert classify(_Verdict("Connection refused", "not a kind")) is ErrorKind.CONNECTION, "an unknown value is ignored"


class _Status(Exception):
    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def test_the_rarer_branches(litellm):
    import openai

    request = httpx.Request("POST", "https://api.example.invalid/v1")
    quota = openai.RateLimitError(
        "Rate limited", response=httpx.Response(429, request=request), body={"code": "insufficient_quota"}
    )
    assert errors.http_status(quota) == 429 and classify(quota) is ErrorKind.BUDGET, "the body's code says so"
    assert classify(_Status("moved", 302)) is ErrorKind.BAD_RESPONSE, "a redirect is not a model response"
    overloaded = Exception()
    overloaded.status_code, overloaded.message = 200, "Model overloaded, try later"  # type: ignore[attr-defined]
    assert classify(overloaded) is ErrorKind.UNAVAILABLE
    assert classify(_Status("The engine is overloaded", 400)) is ErrorKind.UNAVAILABLE
    assert classify(openai.APIConnectionError(message="network down", request=request)) is ErrorKind.CONNECTION
    assert classify(_Status("odd", 400)) is ErrorKind.BAD_REQUEST


def test_odd_details_stay_readable(litellm):
    ex = litellm.exceptions
    huge = "{" + '"error": "x", ' * 3000 + '"end": 1}'
    assert len(huge) > 20_000
    assert said(ex.APIError(418, huge, "x", "y")).endswith("…"), "too long to parse: cut, not read"
    no_message = ex.APIError(418, '{"error": {"code": 5}}', "x", "y")
    assert said(no_message).endswith(': {"error": {"code": 5}}')
    not_bytes = ex.APIError(418, "b'it's broken'", "x", "y")
    assert said(not_bytes).endswith(": b'it's broken'")


def test_cause_summary_survives_a_cycle():
    first, second = RuntimeError("first"), RuntimeError("second")
    first.__cause__, second.__cause__ = second, first
    assert errors.cause_summary(first) in ("first", "second")

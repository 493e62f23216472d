"""One call to LiteLLM: a request in, a stream of events out.

This module never imports ``bpy``. LiteLLM itself is imported lazily by :func:`import_litellm`, which is
only ever called on a worker thread: importing it costs about 3 s and 165 MB (DESIGN.md, "Rules").

Every HTTP request LiteLLM sends for us goes through one guarded ``httpx.Client`` (:func:`http_client`):
LiteLLM's OpenAI route (the OpenAI SDK, for ``openai/...`` and the OpenAI-compatible providers) takes it as
``litellm.client_session``; its own HTTP handler (Anthropic, Ollama and most other providers) gets it per
call through ``completion(client=...)``. Its response hook refuses redirects to another origin
(:func:`.netgate.redirect_refusal`), names an HTML page or a JSON error object sent as a 2xx, and wraps the
body so that bytes that are not UTF-8 become U+FFFD, SSE lines a client must skip (comments, ``id:``,
``retry:``, empty ``data:``) never reach LiteLLM's parsers, and a body shorter than its Content-Length says
so. Where LiteLLM gives no usable exception this module raises :class:`ProviderResponseError`.
"""

from __future__ import annotations

import atexit
import codecs
import gc
import html
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from ..events import Cancelled, Event, Failed, Finished, GatewayReport, TextDelta, Thinking, Usage
from . import gateway, netgate
from .redact import redact

_import_lock = threading.Lock()


class ProviderResponseError(Exception):
    """What came back is not a model answer, or not all of one, and LiteLLM would report it as something
    else (a connection error, an empty answer, a JSON parse error).

    ``str(exc)`` is the message for the user: what came back, from where, and what to do; redacted (the
    request's key and every key-shaped string). ``screenwriter_kind`` is an
    :class:`~.errors.ErrorKind` value: ``"bad_response"`` (a redirect refused, an HTML page or an error
    object under HTTP 2xx), ``"incomplete"`` (a body shorter than its Content-Length), ``"unavailable"``
    or ``"rate_limit"`` (an error object under HTTP 200 that says the provider is overloaded or
    rate-limited: retried like the status it stands for).
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.screenwriter_kind = kind


def import_litellm() -> ModuleType:
    """Import LiteLLM configured for an embedded, private, offline-safe use and return the module.

    Before the import: ``LITELLM_MODE=PRODUCTION`` (otherwise LiteLLM loads a ``.env`` file from the
    working directory) and ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (otherwise it fetches the cost map
    over the network at import). After it: telemetry and debug banners off, no callbacks, and
    ``litellm.client_session`` set to :func:`http_client` (the OpenAI route's HTTP client; see the module
    notes).

    Call only from a worker thread; it blocks for seconds on first use. Thread-safe.
    """
    with _import_lock:
        os.environ["LITELLM_MODE"] = "PRODUCTION"
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        first = "litellm" not in sys.modules
        collecting = gc.isenabled()
        if first:
            # The cold import allocates so much that generation-2 collections run on this worker while it holds
            # the GIL: 88-130 ms each, the main loop's worst gaps (scripts/bench.py, import anatomy). Collect
            # after the import instead, and freeze what it made (it lives as long as Blender).
            gc.disable()
        try:
            import litellm
        finally:
            if first:
                gc.freeze()
                # Back to normal before Python finalises: Blender 4.2 as a module crashed at exit (SIGSEGV)
                # with LiteLLM's objects still frozen.
                atexit.register(gc.unfreeze)
                if collecting:
                    gc.enable()

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        # No per-chunk logging task while streaming (we register no callbacks to feed), and no tokenizer
        # downloads from huggingface.co, which would bypass Blender's online-access setting.
        litellm.disable_streaming_logging = True
        litellm.disable_hf_tokenizer_download = True
        litellm.callbacks = []
        litellm.success_callback = []
        litellm.failure_callback = []
        _install_http_client(litellm)
        return litellm


@dataclass(frozen=True)
class LLMRequest:
    """A snapshot of everything one completion needs, taken on the main thread.

    ``messages`` are OpenAI-style ``{"role": ..., "content": ...}`` dicts. ``temperature`` is 0-2,
    ``max_tokens`` is the completion-token cap, ``read_timeout`` is seconds per read (LiteLLM's
    ``timeout`` is per read, not a deadline). ``api_key`` is never shown in ``repr``.
    ``mock_response`` makes LiteLLM answer with that text without any network call (offline demo).
    ``user``/``tags``: the attribution a studio gateway's spend logs record (the artist; ``screenwriter``, the
    task id...: :func:`.gateway.attribution`), sent only to gateways.
    """

    model: str
    messages: tuple[dict[str, str], ...]
    temperature: float = 0.7
    max_tokens: int = 2048
    stream: bool = True
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    mock_response: str | None = None
    read_timeout: float = 120.0
    user: str | None = None
    tags: tuple[str, ...] = ()

    def completion_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``litellm.completion``.

        Always ``stream_options={"include_usage": True}`` when streaming (DESIGN.md), and
        ``max_retries=0`` so the OpenAI SDK inside LiteLLM does not retry silently: retry policy is
        decided by the job, in one place.
        """
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in self.messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": self.stream,
            "timeout": self.read_timeout,
            "max_retries": 0,
        }
        if self.stream:
            kwargs["stream_options"] = {"include_usage": True}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.mock_response is not None:
            kwargs["mock_response"] = self.mock_response
        kwargs.update(gateway.request_fields(self.user, self.tags))
        return kwargs


# The events this module yields live with every other job event in core/events.py (re-exported here).
__all__ = [
    "Cancelled",
    "Event",
    "Failed",
    "Finished",
    "LLMRequest",
    "ProviderResponseError",
    "TextDelta",
    "Thinking",
    "Usage",
    "close_stream",
    "http_client",
    "import_litellm",
    "litellm_client_for",
    "provider_error_in",
    "stream_completion",
]


# --- the guarded HTTP client ----------------------------------------------------------------------------

#: Providers LiteLLM 1.106.2 sends through the OpenAI SDK (``OpenAIChatCompletion`` / ``AzureChatCompletion``,
#: whose sync ``http_client`` is ``litellm.client_session``; llms/openai/common_utils.py,
#: ``_get_sync_http_client``): a ``client=`` for them must be an ``openai.OpenAI``, so they get none.
_OPENAI_SDK_PROVIDERS = frozenset({"openai", "custom_openai", "azure", "azure_text", "text-completion-openai"})
#: Providers in ``litellm.openai_compatible_providers`` that main.py's ``completion`` dispatches to a branch of
#: their own, before the OpenAI one (``_complete_groq`` ...), and that take LiteLLM's ``HTTPHandler``.
#: tests/unit/core/provider/test_llm.py checks this list against LiteLLM's main.py.
OWN_HTTP_BRANCH = frozenset(
    {
        "azure_ai",
        "cometapi",
        "deepseek",
        "edenai",
        "fireworks_ai",
        "groq",
        "hosted_vllm",
        "ragflow",
        "together_ai",
        "xai",
    }
)
#: Bytes of a 2xx HTML page or JSON body read to say what it is (a title, an error message).
_SNIFF_LIMIT = 256 * 1024
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_JSON_TYPES = frozenset({"application/json", "text/json"})
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_OVERLOADED = re.compile(r"overload", re.IGNORECASE)
_RATE_LIMITED = re.compile(r"rate[ _-]?limit|too many requests", re.IGNORECASE)

_client_lock = threading.Lock()
_client: Any = None  # httpx.Client, built on first use (httpx is imported with LiteLLM, on a worker)
_handler: Any = None  # litellm.llms.custom_httpx.http_handler.HTTPHandler around _client
_current = threading.local()  # .request: the LLMRequest being sent on this thread (its key is redacted);
# .figures: the GatewayFigures of its last 2xx response, when a studio gateway sent x-litellm-* headers


def _media_type(headers: Any) -> tuple[str, str]:
    """(media type, charset) of a Content-Type header value, both lower-case; charset '' when absent."""
    value = str(headers.get("content-type") or "")
    media, _, params = value.partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip("\"'").lower()
    return media.strip().lower(), charset


def _html_title(text: str) -> str:
    """The ``<title>`` (else the first ``<h1>``) of an HTML page, unescaped, in one line, at most 80
    characters; '' when it has neither."""
    match = _TITLE.search(text) or _H1.search(text)
    title = " ".join(html.unescape(_TAG.sub(" ", match.group(1))).split()) if match else ""
    return title if len(title) <= 80 else title[:79] + "…"


def _error_object(text: str) -> tuple[str, str] | None:
    """(message, kind) when ``text`` is a provider's error object rather than a model response:
    ``{"error": {"message": ...}}``, ``{"error": "..."}``, Anthropic's ``{"type": "error", "error": {...}}``,
    without ``choices``, ``content`` or ``message``. None otherwise (a model response, not JSON, too long)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not obj.get("error") or any(k in obj for k in ("choices", "content", "message")):
        return None
    error = obj["error"]
    message = ""
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("type") or error.get("code") or "")
        code = str(error.get("code") or error.get("status") or error.get("type") or "")
    else:
        message, code = str(error), ""
    message = " ".join(message.split()) or json.dumps(error)[:200]
    if len(message) > 300:
        message = message[:299] + "…"
    said = f"{message} {code}"
    kind = (
        "unavailable"
        if _OVERLOADED.search(said)
        else "rate_limit"
        if _RATE_LIMITED.search(said) or code == "429"
        else ""
    )
    return message, kind or "bad_response"


def _secrets() -> tuple[str | None, ...]:
    request = getattr(_current, "request", None)
    return (request.api_key,) if request is not None else ()


def _refuse(message: str, kind: str) -> ProviderResponseError:
    return ProviderResponseError(redact(message, _secrets()), kind)


def _subject(url: str) -> str:
    """How a message names the endpoint: its URL without query (keys hide there)."""
    return netgate.display_url(url)


class _SSEFilter:
    """Removes from an SSE text stream the lines a client must skip and LiteLLM's parsers may not: comments
    (``: ping``), ``id:``, ``retry:`` and unknown fields, empty ``data:`` lines before an event's data, and
    events with no data at all (which the OpenAI SDK would hand to ``json.loads("")``). ``event:`` lines are
    held until their event's first data line. Lines end with LF (CRLF is normalised); a line not ended
    when the stream ends is passed on as is (the event stays unterminated, as it came)."""

    def __init__(self) -> None:
        self._partial = ""
        self._event: str | None = None
        self._data = False

    def feed(self, text: str) -> str:
        """The filtered text for ``text`` (complete lines only; the rest waits for more)."""
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        out: list[str] = []
        for raw in lines:
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line:
                if self._data:
                    out.append("\n")
                self._event, self._data = None, False
                continue
            name, _, value = line.partition(":")
            if name == "event" and not line.startswith(":"):
                self._event = line + "\n"
            elif name == "data" and (self._data or value.strip()):
                if self._event is not None:
                    out.append(self._event)
                    self._event = None
                out.append(line + "\n")
                self._data = True
        return "".join(out)

    def flush(self) -> str:
        """What is left when the stream ends: the unterminated last line, unchanged."""
        tail, self._partial = self._partial, ""
        return tail


class _BodyGuard:
    """The checks on one 2xx response body, as it is read (:meth:`wrap` turns raw chunks into what LiteLLM
    reads): text bodies (JSON, NDJSON, SSE; UTF-8, not content-encoded) are decoded with U+FFFD for bytes
    that are not UTF-8 and encoded again; SSE goes through :class:`_SSEFilter`; a JSON body that is an
    error object raises at its end; a body shorter than its Content-Length raises instead of httpx's
    ``RemoteProtocolError`` (h11's "peer closed connection without sending complete message body")."""

    def __init__(self, response: Any) -> None:
        media, charset = _media_type(response.headers)
        encoded = str(response.headers.get("content-encoding") or "identity").lower() not in ("", "identity")
        self.text = (not encoded and charset in ("", "utf-8", "utf8")) and (
            media in _JSON_TYPES or media == "text/event-stream" or media.endswith(("ndjson", "jsonl", "+json"))
        )
        self.sse = self.text and media == "text/event-stream"
        self.json = self.text and media in _JSON_TYPES
        try:
            self.expected: int | None = int(response.headers.get("content-length"))
        except (TypeError, ValueError):
            self.expected = None
        self.url = str(response.request.url)
        self.status = int(response.status_code)

    def wrap(self, chunks: Iterable[bytes], protocol_error: type[BaseException]) -> Iterator[bytes]:
        """Yield ``chunks`` checked and repaired. Raises :class:`ProviderResponseError` (see the class)."""
        received = 0
        decoder = codecs.getincrementaldecoder("utf-8")("replace") if self.text else None
        sse = _SSEFilter() if self.sse else None
        sniff: list[str] | None = [] if self.json else None
        sniffed = 0
        try:
            for chunk in chunks:
                received += len(chunk)
                if decoder is None:
                    yield chunk
                    continue
                piece = decoder.decode(chunk)
                if sniff is not None:
                    sniffed += len(piece)
                    if sniffed <= _SNIFF_LIMIT:
                        sniff.append(piece)
                    else:
                        sniff = None  # too long for an error object: a model answer
                if sse is not None:
                    piece = sse.feed(piece)
                if piece:
                    yield piece.encode("utf-8")
        except protocol_error as exc:
            if self.expected is not None and received < self.expected:
                raise _refuse(
                    f"The answer was cut off: {_subject(self.url)} announced {self.expected:,} bytes "
                    f"(Content-Length) but closed the connection after {received:,}. Run it again for a full "
                    "answer; if it keeps happening, check the server or the proxy in between.",
                    "incomplete",
                ) from exc
            raise
        if decoder is None:
            return
        piece = decoder.decode(b"", final=True)
        if sse is not None:
            piece = sse.feed(piece) + sse.flush()
        if sniff is not None:
            found = _error_object("".join(sniff) + piece)
            if found is not None:
                message, kind = found
                raise _refuse(
                    f"{_subject(self.url)} answered (HTTP {self.status}) with an error instead of a model "
                    f"response: {message}. Try again; if it keeps happening, check the server.",
                    kind,
                )
        if piece:
            yield piece.encode("utf-8")


_stream_class: Any = None


def _guarded_stream(inner: Any, response: Any) -> Any:
    """An ``httpx.SyncByteStream`` (httpx requires one: ``Response.iter_raw``) reading ``inner``, a response's
    raw stream, through a :class:`_BodyGuard`; closing it closes ``inner``."""
    global _stream_class
    if _stream_class is None:
        import httpx

        class GuardedStream(httpx.SyncByteStream):
            def __init__(self, inner: Any, guard: _BodyGuard) -> None:
                self._inner, self._guard = inner, guard

            def __iter__(self) -> Iterator[bytes]:
                return self._guard.wrap(self._inner, httpx.RemoteProtocolError)

            def close(self) -> None:
                self._inner.close()

        _stream_class = GuardedStream
    return _stream_class(inner, _BodyGuard(response))


def _on_response(response: Any) -> None:
    """httpx response hook of :func:`http_client`, run before httpx follows a redirect or reads the body.

    Raises :class:`ProviderResponseError` for a redirect that :func:`.netgate.redirect_refusal` refuses
    (so httpx never looks up or contacts its target) and for a 2xx HTML page (named by its title). Wraps
    the body of every other 2xx response (:func:`_guarded_stream`)."""
    request = response.request
    status = response.status_code
    if response.has_redirect_location:
        target = str(request.url.join(response.headers["location"]))
        refusal = netgate.redirect_refusal(str(request.url), target, status)
        if refusal is not None:
            response.close()
            raise _refuse(refusal, "bad_response")
        return
    if not 200 <= status < 300:
        return
    figures = gateway.GatewayFigures.from_headers(response.headers)
    if figures is not None:
        _current.figures = figures
    media, _ = _media_type(response.headers)
    if media in _HTML_TYPES:
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= _SNIFF_LIMIT:
                break
        response.close()
        title = _html_title(body.decode("utf-8", "replace"))
        page = f'an HTML page titled "{title}"' if title else "an HTML page"
        raise _refuse(
            f"{_subject(str(request.url))} answered (HTTP {status}) with {page} instead of a model response. "
            "Check the endpoint (API Base) in the add-on preferences: a sign-in page, a proxy or a server "
            "that does not speak the provider's API may be in the way.",
            "bad_response",
        )
    response.stream = _guarded_stream(response.stream, response)


def http_client() -> Any:
    """The one ``httpx.Client`` our LiteLLM requests use (built on first use, rebuilt if closed; shared
    across threads, so connections are reused).

    Redirects: httpx follows only what the response hook lets through (a 307/308 to the same origin, at
    most 3); others raise :class:`ProviderResponseError` before the target is looked up. Cookies: none
    stored or sent (as LiteLLM's own clients: ``blocked_cookie_jar``). TLS: LiteLLM's
    ``get_ssl_configuration()`` (``SSL_CERT_FILE``, ``litellm.ssl_verify``), proxies from the environment.
    Worker thread only (imports httpx and LiteLLM's HTTP handler)."""
    global _client
    if "litellm" not in sys.modules:
        # Its HTTP handler below imports the litellm package: through import_litellm, never bare (a bare import
        # would fetch the cost map over the network and read a .env file; see import_litellm).
        import_litellm()
    with _client_lock:
        if _client is None or _client.is_closed:
            import http.cookiejar

            import httpx

            try:
                from litellm.llms.custom_httpx.http_handler import get_ssl_configuration

                verify: Any = get_ssl_configuration()
            except Exception:  # noqa: BLE001 - an older LiteLLM: httpx's default verification
                verify = True
            _client = httpx.Client(
                verify=verify,
                timeout=httpx.Timeout(600.0, connect=5.0),
                follow_redirects=True,
                max_redirects=3,
                cookies=http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=())),
                event_hooks={"request": [], "response": [_on_response]},
            )
        return _client


def _install_http_client(litellm: ModuleType) -> None:
    """Make LiteLLM's OpenAI route use :func:`http_client` (``litellm.client_session``). Whenever that changes
    (the first time, or after the client was closed and rebuilt), drop the OpenAI SDK clients LiteLLM cached
    (``litellm.in_memory_llm_clients_cache``): they hold the client they were built with, which would follow
    redirects, or be closed."""
    client = http_client()
    if getattr(litellm, "client_session", None) is client:
        return
    setattr(litellm, "client_session", client)  # noqa: B010 - a module attribute mypy's stubs do not list
    cache = getattr(litellm, "in_memory_llm_clients_cache", None)
    if cache is not None and callable(getattr(cache, "flush_cache", None)):
        cache.flush_cache()


def litellm_client_for(litellm: ModuleType, request: LLMRequest) -> Any:
    """The ``client=`` to give ``litellm.completion`` for ``request``: LiteLLM's ``HTTPHandler`` around
    :func:`http_client` for providers on LiteLLM's own HTTP handler (Anthropic, Ollama, ...), None for those
    on the OpenAI route (they use ``litellm.client_session``), for mock answers (nothing is sent) and for
    model strings LiteLLM cannot place (``litellm.get_llm_provider`` raises; ``completion`` then says so)."""
    global _handler
    if request.mock_response is not None:
        return None
    try:
        _, provider, _, _ = litellm.get_llm_provider(model=request.model, api_base=request.api_base)
    except Exception:  # noqa: BLE001 - unknown provider: completion raises the error the user sees
        return None
    compatible = set(getattr(litellm, "openai_compatible_providers", ()) or ())
    if provider in _OPENAI_SDK_PROVIDERS or (provider in compatible and provider not in OWN_HTTP_BRANCH):
        return None
    client = http_client()
    with _client_lock:
        if _handler is None or getattr(_handler, "_client", None) is not client:
            from litellm.llms.custom_httpx.http_handler import HTTPHandler

            _handler = HTTPHandler(client=client)
        return _handler


def _links(exc: BaseException) -> Iterable[BaseException]:
    """``exc`` and every exception it wraps (``original_exception``, ``__cause__``, ``__context__``)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 32:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (getattr(current, "original_exception", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)


def provider_error_in(exc: BaseException) -> ProviderResponseError | None:
    """The :class:`ProviderResponseError` inside ``exc`` (LiteLLM and the OpenAI SDK wrap what the response
    hook raises in their own classes: ``APIConnectionError``, ``InternalServerError``,
    ``MidStreamFallbackError``), or None."""
    return next((link for link in _links(exc) if isinstance(link, ProviderResponseError)), None)


def _usage_from(obj: Any) -> Usage | None:
    usage = getattr(obj, "usage", None)
    if not usage:
        return None
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    if prompt is None and completion is None:
        return None
    # A LiteLLM Proxy puts its own price in the usage object ("cost", USD; kept by LiteLLM's Usage type).
    cost = gateway.positive_usd(getattr(usage, "cost", None))
    return Usage(int(prompt or 0), int(completion or 0), cost_usd=cost)


def close_stream(response: Any) -> None:
    """Close a LiteLLM streaming response's HTTP stream so the provider stops generating.

    LiteLLM's ``CustomStreamWrapper`` keeps the provider stream in ``completion_stream`` and has no
    synchronous ``close()`` of its own. For OpenAI-compatible providers that stream is the OpenAI SDK's
    ``Stream``, whose ``close()`` closes the HTTP response; for Anthropic and Ollama it is LiteLLM's
    iterator, whose ``streaming_response`` is the httpx response (checked against LiteLLM 1.106.2 with
    the loopback server). Errors are swallowed: the caller already knows it is cancelling, and the
    read error this causes in the worker is ignored (DESIGN.md).
    """
    stream = getattr(response, "completion_stream", None)
    for candidate in (stream, getattr(stream, "streaming_response", None), getattr(stream, "response", None)):
        close = getattr(candidate, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001, S110 - best effort while cancelling
                pass
            return


def stream_completion(
    request: LLMRequest,
    cancelled: threading.Event,
    on_response: Callable[[Any], None] = lambda response: None,
) -> Iterator[Event]:
    """Run one completion and yield its events: text deltas, thinking, usage, then ``Finished``.

    Streaming and non-streaming requests yield the same kinds of events (a non-streaming answer arrives
    as one ``TextDelta``). Reasoning (``delta.reasoning_content``) is reported as ``Thinking`` and never
    as text. Stops early, without a ``Finished`` event, once ``cancelled`` is set.
    ``on_response`` receives the streaming response object so another thread can close it.

    ``Finished.finish_reason`` is what the provider sent (``stop``, ``length``, ``end_turn`` mapped to
    ``stop``...), or None when a stream ended without any: LiteLLM's ``CustomStreamWrapper`` then puts a
    made-up ``"stop"`` on its last chunk, so the wrapper's ``received_finish_reason`` /
    ``intermittent_finish_reason`` decide (litellm_core_utils/streaming_handler.py,
    ``finish_reason_handler``). The worker reports such an answer as incomplete.

    Raises :class:`ProviderResponseError` when the guarded HTTP client refused or explained the response
    (unwrapped from LiteLLM's exception), else whatever LiteLLM raises (``litellm.exceptions.*``); the job
    turns it into a ``Failed``. Runs on a worker thread only (imports LiteLLM).
    """
    litellm = import_litellm()
    kwargs = request.completion_kwargs()
    client = litellm_client_for(litellm, request)
    if client is not None:
        kwargs["client"] = client
    _current.request = request
    _current.figures = None
    try:
        yield from _events(litellm, request, kwargs, cancelled, on_response)
    except Exception as exc:
        found = provider_error_in(exc)
        if found is None or found is exc:
            raise
        raise ProviderResponseError(redact(str(found), (request.api_key,)), found.screenwriter_kind) from None
    finally:
        _current.request = _current.figures = None


def _gateway_events(usage: Usage | None) -> Iterator[Event]:
    """``usage`` with the cost a studio gateway priced it at, and the gateway's figures of this thread's last
    response; from other endpoints, ``usage`` without a cost (LiteLLM prices some answers itself and puts that in
    ``usage.cost`` too; only a gateway's figure counts, and a LiteLLM Proxy always sends ``x-litellm-*`` headers).
    The cost is the provider-reported usage's ``cost`` (a stream's final chunk), else the cost header (a
    non-streamed answer)."""
    figures = getattr(_current, "figures", None)
    if usage is not None:
        cost = None
        if figures is not None:
            cost = (None if usage.estimated else usage.cost_usd) or figures.response_cost_usd
        yield replace(usage, cost_usd=cost)
    if figures is not None:
        yield GatewayReport(figures)


def _events(
    litellm: ModuleType,
    request: LLMRequest,
    kwargs: dict[str, Any],
    cancelled: threading.Event,
    on_response: Callable[[Any], None],
) -> Iterator[Event]:
    response = litellm.completion(**kwargs)
    if not request.stream:
        choice = response.choices[0] if response.choices else None
        message = getattr(choice, "message", None)
        reasoning = getattr(message, "reasoning_content", None)
        if reasoning:
            yield Thinking(len(reasoning))
        content = getattr(message, "content", None) or ""
        if content:
            yield TextDelta(content)
        yield from _gateway_events(_usage_from(response))
        yield Finished(getattr(choice, "finish_reason", None), str(getattr(response, "model", request.model)))
        return

    on_response(response)
    try:
        yield from _stream_events(request, response, cancelled)
    finally:
        # Close the HTTP stream here, on the worker, whatever ended the answer: a stream left for the garbage
        # collector is closed by whichever thread collects it, and httpcore then takes its pool lock from inside
        # another request that holds it (a deadlock seen on CPython 3.13 in tests/unit/test_provider_server.py).
        close_stream(response)


def _stream_events(request: LLMRequest, response: Any, cancelled: threading.Event) -> Iterator[Event]:
    """The events of a streaming ``response`` (see :func:`stream_completion`)."""
    finish_reason: str | None = None
    usage: Usage | None = None
    model = request.model
    for chunk in response:
        if cancelled.is_set():
            return
        # The include_usage chunk carries an empty choices list (DESIGN.md): guard it.
        for choice in (getattr(chunk, "choices", None) or [])[:1]:
            delta = getattr(choice, "delta", None)
            reasoning = getattr(delta, "reasoning_content", None)
            if reasoning:
                yield Thinking(len(reasoning))
            content = getattr(delta, "content", None)
            if content:
                yield TextDelta(content)
            if getattr(choice, "finish_reason", None):
                finish_reason = choice.finish_reason
        usage = _usage_from(chunk) or usage
        model = str(getattr(chunk, "model", None) or model)
    if usage is not None:
        # Provider usage shows in the wrapper's raw chunks; LiteLLM's own estimate does not.
        reported = any(getattr(c, "usage", None) for c in getattr(response, "chunks", None) or ())
        usage = replace(usage, estimated=not reported)
    if not cancelled.is_set():
        yield from _gateway_events(usage)
    if hasattr(response, "received_finish_reason") and not (
        response.received_finish_reason or getattr(response, "intermittent_finish_reason", None)
    ):
        finish_reason = None  # LiteLLM's made-up "stop": the provider never said the answer was finished
    if not cancelled.is_set():
        yield Finished(finish_reason, model)

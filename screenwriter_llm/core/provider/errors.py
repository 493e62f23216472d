"""One error taxonomy: what went wrong (:class:`ErrorKind`, decided once per exception by
:func:`classify`) and what to tell a screenwriter about it (:func:`describe`), keys kept out.

LiteLLM raises every provider error as an OpenAI-compatible ``litellm.exceptions.*`` class, but the
class and its ``status_code`` are not always what the server said (checked against LiteLLM 1.106.2
with a loopback server replaying real provider answers):

- a refused connection is an ``InternalServerError`` (500) "Connection error." (OpenAI SDK) or
  "[Errno 111] Connection refused" (Anthropic); a read timeout mid-stream is a
  ``MidStreamFallbackError`` whose ``original_exception`` is an ``APIConnectionError`` "timed out";
- Anthropic's 529 "overloaded" is an ``InternalServerError`` (500) whose cause has status 529; a 413
  is a ``BadRequestError`` (400); a 504 is a ``Timeout``; a 403 from OpenAI is an ``APIError``;
- an HTTP 200 whose body is an HTML page, an ``{"error": ...}`` object or not JSON at all becomes an
  ``InternalServerError`` (500), an ``APIConnectionError`` or a ``BadRequestError`` (Ollama);
- a temperature of NaN is an ``InternalServerError`` (500) "Out of range float values ...".

So :func:`classify` walks the chain (``original_exception``, ``__cause__``, ``__context__``) and
trusts the status of the HTTP response itself (``httpx.HTTPStatusError``, the OpenAI SDK's
``APIStatusError``) over LiteLLM's class; an exception that already carries its kind
(:data:`KIND_ATTRIBUTE`, set where the raw response was seen) wins over both. Nothing here imports
LiteLLM, httpx or ``bpy``: classes are recognised by name and module.
"""

from __future__ import annotations

import ast
import enum
import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import gateway, netgate
from .providers import OTHER_KEY_ENV, PROVIDER_KEY_ENV
from .redact import redact, redact_key

__all__ = [
    "FALLBACK",
    "KIND_ATTRIBUTE",
    "OTHER_KEY_ENV",
    "PROVIDER_KEY_ENV",
    "ErrorKind",
    "cause_summary",
    "classify",
    "describe",
    "describe_exception",
    "http_status",
    "is_connection_error",
    "is_timeout",
    "key_env_var",
    "redact",
    "redact_key",
]

class ErrorKind(enum.StrEnum):
    """What went wrong, as a short stable string (stored in ``Failed.error_type``; compares equal
    to the plain strings used before this enum existed: ``ErrorKind.AUTH == "auth"``).

    Each kind knows, in one place, whether waiting and retrying may help (:attr:`retryable`),
    whether the next fallback model is worth trying (:attr:`falls_back`), the Blender icon the
    interface shows (:attr:`icon`) and a short human :attr:`title`.
    """

    AUTH = "auth"
    """The provider rejected the key (HTTP 401) or refused access (HTTP 403)."""
    NOT_FOUND = "not_found"
    """No such model or endpoint (HTTP 404)."""
    CONTEXT_WINDOW = "context_window"
    """The prompt is longer than the model's context window."""
    RATE_LIMIT = "rate_limit"
    """The provider asked us to slow down (HTTP 429)."""
    UNAVAILABLE = "unavailable"
    """The provider is down or overloaded (HTTP 5xx, Anthropic's 529)."""
    CONNECTION = "connection"
    """The server could not be reached, or dropped the connection."""
    TIMEOUT = "timeout"
    """No answer in time (a read timeout, or one of the job's deadlines)."""
    BAD_REQUEST = "bad_request"
    """The request was refused as malformed (HTTP 400, 422...)."""
    ERROR = "error"
    """Anything else."""
    BUDGET = "budget"
    """A spending limit: the add-on's budget, LiteLLM's, or the provider account's credit (402)."""
    ONLINE_ACCESS = "online_access"
    """Blender's online access is off and the request would have left this machine."""
    NO_KEY = "no_key"
    """No API key for the provider, so nothing was sent."""
    CANCELLED = "cancelled"
    """The user or Blender's lifecycle cancelled the job."""
    INCOMPLETE = "incomplete"
    """The answer was cut off before it was complete."""
    BAD_RESPONSE = "bad_response"
    """HTTP 200 with an HTML page or an error object, or a body not in the expected format."""
    TOO_LARGE = "too_large"
    """The request body was too large for the server (HTTP 413)."""
    UNKNOWN_PROVIDER = "unknown_provider"
    """LiteLLM does not know the model string's provider; nothing was sent."""
    INVALID_SETTING = "invalid_setting"
    """A setting the model or the wire cannot take (temperature NaN, an unsupported parameter)."""
    NOT_ALLOWED = "not_allowed"
    """A gateway (LiteLLM Proxy) does not let this key use this model."""

    @property
    def retryable(self) -> bool:
        """True when waiting and sending the same request again may succeed."""
        return self in _RETRYABLE

    @property
    def falls_back(self) -> bool:
        """True when the next fallback model is worth trying (the request itself may be fine)."""
        return self in FALLBACK

    @property
    def icon(self) -> str:
        """The Blender icon name for this outcome (exists in Blender 3.4 to 5.x)."""
        return _ICONS.get(self, "ERROR")

    @property
    def title(self) -> str:  # type: ignore[override]  # a short phrase, not str.title()
        """A short human phrase, e.g. "Key rejected"."""
        return _TITLES[self]

    @classmethod
    def coerce(cls, value: str | None) -> ErrorKind:
        """The kind named by ``value`` (a stored string); :attr:`ERROR` for anything unknown."""
        try:
            return cls(value) if value is not None else cls.ERROR
        except ValueError:
            return cls.ERROR


_VALUES = frozenset(kind.value for kind in ErrorKind)
_RETRYABLE = frozenset({ErrorKind.RATE_LIMIT, ErrorKind.UNAVAILABLE, ErrorKind.CONNECTION})
#: Kinds after which the next fallback model is worth trying. ``no_key`` falls back like ``auth``
#: (it was reported as ``auth`` before it had a name): another provider's model may have a key.
FALLBACK: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.AUTH,
        ErrorKind.NOT_FOUND,
        ErrorKind.RATE_LIMIT,
        ErrorKind.UNAVAILABLE,
        ErrorKind.CONNECTION,
        ErrorKind.CONTEXT_WINDOW,
        ErrorKind.NO_KEY,
        ErrorKind.NOT_ALLOWED,
    }
)
_ICONS: dict[ErrorKind, str] = {
    ErrorKind.AUTH: "LOCKED",
    ErrorKind.NO_KEY: "LOCKED",
    ErrorKind.NOT_FOUND: "QUESTION",
    ErrorKind.UNKNOWN_PROVIDER: "QUESTION",
    ErrorKind.RATE_LIMIT: "TIME",
    ErrorKind.TIMEOUT: "TIME",
    ErrorKind.CONNECTION: "UNLINKED",
    ErrorKind.ONLINE_ACCESS: "WORLD",
    ErrorKind.INVALID_SETTING: "PREFERENCES",
    ErrorKind.CANCELLED: "CANCEL",
    ErrorKind.INCOMPLETE: "INFO",
    ErrorKind.NOT_ALLOWED: "LOCKED",
}
_TITLES: dict[ErrorKind, str] = {
    ErrorKind.AUTH: "Key rejected",
    ErrorKind.NOT_FOUND: "Model not found",
    ErrorKind.CONTEXT_WINDOW: "Too long for the model",
    ErrorKind.RATE_LIMIT: "Rate-limited",
    ErrorKind.UNAVAILABLE: "Provider unavailable",
    ErrorKind.CONNECTION: "Cannot connect",
    ErrorKind.TIMEOUT: "No answer in time",
    ErrorKind.BAD_REQUEST: "Request refused",
    ErrorKind.ERROR: "Request failed",
    ErrorKind.BUDGET: "Spending limit reached",
    ErrorKind.ONLINE_ACCESS: "Online access is off",
    ErrorKind.NO_KEY: "No API key",
    ErrorKind.CANCELLED: "Cancelled",
    ErrorKind.INCOMPLETE: "Answer incomplete",
    ErrorKind.BAD_RESPONSE: "Unexpected response",
    ErrorKind.TOO_LARGE: "Request too large",
    ErrorKind.UNKNOWN_PROVIDER: "Unknown provider",
    ErrorKind.INVALID_SETTING: "Invalid setting",
    ErrorKind.NOT_ALLOWED: "Model not allowed",
}


def key_env_var(model: str) -> str:
    """The environment variable that holds the key for ``model``'s provider (e.g. ``OPENAI_API_KEY``);
    models without a provider prefix are OpenAI's in LiteLLM."""
    prefix = model.split("/", 1)[0] if "/" in model else "openai"
    return PROVIDER_KEY_ENV.get(prefix, f"{prefix.upper()}_API_KEY")


# --- the chain of an exception -------------------------------------------------------------------

_CHAIN_LIMIT = 16


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first: ``original_exception`` (LiteLLM's wrappers), else
    ``__cause__``, else ``__context__`` (LiteLLM re-raises inside ``except`` blocks, so the HTTP
    error is usually only the context)."""
    links: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(links) < _CHAIN_LIMIT:
        seen.add(id(current))
        links.append(current)
        inner = getattr(current, "original_exception", None)
        if not isinstance(inner, BaseException):
            inner = current.__cause__
            if inner is None and not current.__suppress_context__:
                inner = current.__context__
        current = inner
    return links


def _names(link: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(link).__mro__}


def _all_names(chain: list[BaseException]) -> set[str]:
    names: set[str] = set()
    for link in chain:
        names |= _names(link)
    return names


def _all_texts(chain: list[BaseException]) -> str:
    return "\n".join(_text(link) for link in chain)


def _package(link: BaseException) -> str:
    return type(link).__module__.split(".", 1)[0]


def _status(link: BaseException) -> int | None:
    status = getattr(link, "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _text(link: BaseException) -> str:
    text = str(link)
    if not text.strip():
        message = getattr(link, "message", None)
        text = message if isinstance(message, str) else ""
    return text


def _wire_status(chain: list[BaseException]) -> int | None:
    """The status of the HTTP response the server actually sent (the innermost
    ``httpx.HTTPStatusError`` or OpenAI SDK ``APIStatusError``), or None when no error response was
    received (connection failures, timeouts, HTTP 200 with a bad body, LiteLLM's own checks)."""
    found: int | None = None
    for link in chain:
        status: int | None = None
        if any(cls.__name__ == "HTTPStatusError" and cls.__module__.startswith("httpx") for cls in type(link).__mro__):
            code = getattr(getattr(link, "response", None), "status_code", None)
            status = code if isinstance(code, int) else None
        elif _package(link) == "openai" and "APIStatusError" in _names(link):
            status = _status(link)
        if status is not None:
            found = status
    return found


def http_status(exc: BaseException) -> int | None:
    """The HTTP status the server answered ``exc``'s request with, or None when it sent no error
    status (never LiteLLM's stand-in 500 for a connection error or a bad HTTP 200 body)."""
    return _wire_status(_chain(exc))


# --- classification ------------------------------------------------------------------------------

_TIMEOUT_NAMES = frozenset(
    {"Timeout", "APITimeoutError", "TimeoutException", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout"}
)
_CONNECTION_NAMES = frozenset(
    {"ConnectError", "ConnectionError", "RemoteProtocolError", "ReadError", "WriteError", "NetworkError"}
)
_CONNECTION_TEXT = re.compile(
    r"connection error|connection refused|connection reset|connection aborted|name or service not known|"
    r"nodename nor servname|getaddrinfo failed|temporary failure in name resolution|no route to host|"
    r"network is unreachable|failed to establish a new connection",
    re.IGNORECASE,
)
_NO_KEY_TEXT = re.compile(
    r"missing\b[^.\n]{0,40}\b(?:api[ _-]?key|credentials)|api_key client option must be set"
    r"|no api key (?:was )?(?:set|provided)",
    re.IGNORECASE,
)
_UNKNOWN_PROVIDER_TEXT = re.compile(r"LLM Provider NOT provided|Unmapped LLM provider", re.IGNORECASE)
_NOT_FINITE_TEXT = "Out of range float values are not JSON compliant"
_BAD_BODY_TEXT = re.compile(
    r"Empty or invalid response from LLM endpoint|Got unexpected response from|Error in response object", re.IGNORECASE
)
_QUOTA_TEXT = re.compile(r"insufficient_quota|exceeded your current quota|credit balance is too low", re.IGNORECASE)
_OVERLOADED_TEXT = re.compile(r"overload", re.IGNORECASE)
_RATE_LIMIT_TEXT = re.compile(r"rate[ _-]?limit", re.IGNORECASE)
#: Request parameters that are the user's settings: a 400 naming one is an invalid setting.
_SETTING_PARAMS = frozenset(
    {"temperature", "max_tokens", "max_completion_tokens", "top_p", "frequency_penalty", "presence_penalty"}
)


#: An exception (anywhere in the chain) with this attribute was classified where the raw response was
#: seen (``llm.ProviderResponseError``: an HTML page under HTTP 200, a short body): its value, an
#: :class:`ErrorKind` value, is the kind, and ``str()`` of it the message.
KIND_ATTRIBUTE = "screenwriter_kind"


def _own_verdict(chain: list[BaseException]) -> BaseException | None:
    for link in chain:
        value = getattr(link, KIND_ATTRIBUTE, None)
        if isinstance(value, str) and value in _VALUES:
            return link
    return None


def _in_band_error(chain: list[BaseException]) -> BaseException | None:
    """The error object a server sent under HTTP 200: the OpenAI SDK's plain ``APIError`` (an SSE
    ``{"error": ...}`` event) or LiteLLM's bare ``Exception`` with ``status_code`` and ``message``
    (a whole ``{"error": ...}`` body)."""
    for link in chain:
        if _package(link) == "openai" and type(link).__name__ == "APIError":
            return link
        if type(link) is Exception and hasattr(link, "message") and hasattr(link, "status_code"):
            return link
    return None


def _bad_body(chain: list[BaseException]) -> bool:
    """True when a body arrived (HTTP 200) that is not a model response: an HTML page, invalid JSON,
    an unexpected shape."""
    return any("JSONDecodeError" in _names(link) or _BAD_BODY_TEXT.search(_text(link)) for link in chain)


def _error_body(chain: list[BaseException]) -> Any:
    """The parsed error body a server sent (the OpenAI SDK's ``body``: the ``error`` object), or None."""
    for link in chain:
        body = getattr(link, "body", None)
        if isinstance(body, dict):
            return body
    return None


def response_headers(exc: BaseException) -> dict[str, Any]:
    """The response headers of ``exc`` or of the first exception in its chain that has any, with lower-case
    names (LiteLLM's ``litellm_response_headers``, the SDK's ``response.headers``, ``headers``); {} if none."""
    for link in _chain(exc):
        for headers in (
            getattr(link, "litellm_response_headers", None),
            getattr(getattr(link, "response", None), "headers", None),
            getattr(link, "headers", None),
        ):
            if headers:
                try:
                    return {str(k).lower(): v for k, v in dict(headers).items()}
                except (TypeError, ValueError, AttributeError):
                    continue
    return {}


def _gateway_refusal(chain: list[BaseException], model: str, api_base: str | None) -> gateway.Refusal | None:
    """A LiteLLM Proxy's own refusal in ``chain`` (budget, key, model access, rate limit), or None."""
    body = _error_body(chain)
    wire = _wire_status(chain)
    if body is None and wire != 429:
        return None
    if not gateway.is_gateway(model) and not str((body or {}).get("type", "")).endswith(
        ("budget_exceeded", "model_access_denied", "no_db_connection")
    ):
        return None
    return gateway.refusal(wire, body, response_headers(chain[0]), _where(model, api_base), model)


def _setting_param(chain: list[BaseException]) -> bool:
    for link in chain:
        body = getattr(link, "body", None)
        if isinstance(body, dict) and body.get("param") in _SETTING_PARAMS:
            return True
    return False


def _by_status(status: int, chain: list[BaseException], texts: str) -> ErrorKind:
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 402:
        return ErrorKind.BUDGET
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 408:
        return ErrorKind.TIMEOUT
    if status == 413:
        return ErrorKind.TOO_LARGE
    if status == 429:
        return ErrorKind.BUDGET if _QUOTA_TEXT.search(texts) or _quota_code(chain) else ErrorKind.RATE_LIMIT
    if status >= 500:
        return ErrorKind.UNAVAILABLE
    if status >= 400:
        return ErrorKind.BAD_REQUEST
    return ErrorKind.BAD_RESPONSE


def _quota_code(chain: list[BaseException]) -> bool:
    for link in chain:
        body = getattr(link, "body", None)
        if isinstance(body, dict) and "insufficient_quota" in (body.get("code"), body.get("type")):
            return True
    return False


def classify(exc: BaseException) -> ErrorKind:
    """What kind of failure ``exc`` is, decided once from its whole chain (see the module notes).

    Our own and LiteLLM's local refusals first (online access, budget, unknown provider, no key),
    then the HTTP status the server sent, then what happened without an error status (timeout,
    connection, a bad HTTP 200 body), then LiteLLM's class.
    """
    chain = _chain(exc)
    verdict = _own_verdict(chain)
    if verdict is not None:
        return ErrorKind.coerce(getattr(verdict, KIND_ATTRIBUTE))
    names = _all_names(chain)
    texts = _all_texts(chain)
    if names & {"CancelledError"}:
        return ErrorKind.CANCELLED
    if any(isinstance(link, netgate.OnlineAccessDisabled) for link in chain):
        return ErrorKind.ONLINE_ACCESS
    if "BudgetExceededError" in names:
        return ErrorKind.BUDGET
    if "LiteLLMUnknownProvider" in names or _UNKNOWN_PROVIDER_TEXT.search(texts):
        return ErrorKind.UNKNOWN_PROVIDER
    wire = _wire_status(chain)
    if wire is None and _NO_KEY_TEXT.search(texts):
        return ErrorKind.NO_KEY
    if names & {"ContextWindowExceededError", "ContextTooLarge"}:
        return ErrorKind.CONTEXT_WINDOW
    if "UnsupportedParamsError" in names or _NOT_FINITE_TEXT in texts:
        return ErrorKind.INVALID_SETTING
    if wire is not None:
        refused = _gateway_refusal(chain, "", None)
        if refused is not None:
            return ErrorKind(refused.kind)
        if wire in (400, 422) and _setting_param(chain):
            return ErrorKind.INVALID_SETTING
        return _by_status(wire, chain, texts)
    if _timed_out(chain):
        return ErrorKind.TIMEOUT
    if _connection_failed(chain):
        return ErrorKind.CONNECTION
    in_band = _in_band_error(chain)
    if in_band is not None or _bad_body(chain):
        band = _text(in_band) if in_band is not None else texts
        if _OVERLOADED_TEXT.search(band):
            return ErrorKind.UNAVAILABLE
        if (in_band is not None and _status(in_band) == 429) or _RATE_LIMIT_TEXT.search(band):
            return ErrorKind.RATE_LIMIT
        return ErrorKind.BAD_RESPONSE
    return _by_class(chain, names, texts)


def _timed_out(chain: list[BaseException]) -> bool:
    for link in chain:
        status = _status(link)
        if _package(link) == "litellm" and status is not None and status >= 500 and "Timeout" in _names(link):
            continue  # LiteLLM raises a gateway's 504 as a Timeout: the server answered
        if _names(link) & _TIMEOUT_NAMES or isinstance(link, TimeoutError) or "timed out" in _text(link).lower():
            return True
    return False


def _connection_failed(chain: list[BaseException]) -> bool:
    for link in chain:
        names = _names(link)
        if names & _CONNECTION_NAMES or _CONNECTION_TEXT.search(_text(link)):
            return True
        if _package(link) == "openai" and "APIConnectionError" in names:
            return True
    return False


def _by_class(chain: list[BaseException], names: set[str], texts: str) -> ErrorKind:
    """LiteLLM's class and the status LiteLLM reported, for exceptions without a server status
    (raised by LiteLLM itself, or built without their cause)."""
    reported = next((s for s in (_status(link) for link in reversed(chain)) if s is not None), None)
    if names & {"AuthenticationError", "PermissionDeniedError"}:
        return ErrorKind.AUTH
    if "PaymentRequiredError" in names:
        return ErrorKind.BUDGET
    if "NotFoundError" in names:
        return ErrorKind.NOT_FOUND
    if "RateLimitError" in names:
        return ErrorKind.BUDGET if _QUOTA_TEXT.search(texts) else ErrorKind.RATE_LIMIT
    if "Timeout" in names or "APITimeoutError" in names:
        return ErrorKind.UNAVAILABLE if reported is not None and reported >= 500 else ErrorKind.TIMEOUT
    if "APIConnectionError" in names:
        return ErrorKind.CONNECTION
    if _OVERLOADED_TEXT.search(texts):
        return ErrorKind.UNAVAILABLE
    if reported is not None and reported not in (400, 422):
        return _by_status(reported, chain, texts)  # LiteLLM's 5xx classes all carry their status
    if names & {"BadRequestError", "UnprocessableEntityError"} or reported in (400, 422):
        return ErrorKind.BAD_REQUEST
    return ErrorKind.ERROR


def is_timeout(exc: BaseException) -> bool:
    """True when ``exc`` is a read or connect timeout (also wrapped mid-stream by LiteLLM's
    ``MidStreamFallbackError``), or a deadline's ``TimeoutError``; False for a gateway's HTTP 504."""
    return classify(exc) is ErrorKind.TIMEOUT


def is_connection_error(exc: BaseException) -> bool:
    """True when the server could not be reached or dropped the connection, however LiteLLM classed
    it (the OpenAI SDK's "Connection error." arrives as an ``InternalServerError``, status 500)."""
    return classify(exc) is ErrorKind.CONNECTION


# --- what happened, in words ---------------------------------------------------------------------

_DETAIL_LIMIT = 300
# LiteLLM's class-name prefixes: "litellm.BadGatewayError: AnthropicException BadGatewayError - ",
# "Timeout Error: OpenAIException - ", "Ollama_chatException - ", the SDK's "Error code: 402 - ".
_PREFIX = re.compile(
    r"^\s*(?:(?:litellm\.)?[A-Za-z_]*(?:Error|Exception)(?:\s+[A-Za-z_]+(?:Error|Exception))?\s*[:\-]\s*"
    r"|(?:litellm\.)?Timeout(?: Error)?:\s*|Error code:\s*\d+\s*-\s*)"
)
_NOISE = re.compile(
    r"\s*LiteLLM Retried: \d+ times|,?\s*LiteLLM Max Retries: \d+|\.?\s*Handle with `litellm\.\w+`\.?"
    r"|Request timed out\.\s*Error_str:\s*|,?\s*Received response - .*$"
    r"|\.?\s*To drop these, set `litellm\.drop_params=True`.*$",
    re.DOTALL,
)
_DROPPED_TEXT = re.compile(r"peer closed|incomplete chunked read|connection reset|connection aborted", re.IGNORECASE)
# Ollama's {"error": "..."} line under HTTP 200, as LiteLLM reports it.
_IN_BAND_TEXT = re.compile(r"Got unexpected response from \w+: \{['\"]error['\"]", re.IGNORECASE)
_HTML = re.compile(r"<\s*(?:!doctype\s+html|html|head|body|title)\b", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_HTML_H1 = re.compile(r"<h1[^>]*>(.*?)</h1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_BYTES_LITERAL = re.compile(r"""^b(['"]).*\1$""", re.DOTALL)
_LITERAL_LIMIT = 20_000


def _html_summary(text: str) -> str:
    """An HTML error page in a few words: ``an HTML page titled "502 Bad Gateway"``."""
    match = _HTML_TITLE.search(text) or _HTML_H1.search(text)
    title = " ".join(html.unescape(_TAG.sub(" ", match.group(1))).split()) if match else ""
    if len(title) > 80:
        title = title[:79] + "…"
    return f'an HTML page titled "{title}"' if title else "an HTML page"


def _literal(text: str) -> Any:
    """``text`` read as JSON or a Python literal (LiteLLM embeds both), or None."""
    if len(text) > _LITERAL_LIMIT:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _message_of(obj: Any) -> str | None:
    """The human message of a provider's error object (``{"error": {"message": ...}}``,
    ``{"error": "..."}``, ``{"message": ...}``, ``{"detail": ...}``)."""
    if not isinstance(obj, dict):
        return None
    error = obj.get("error")
    if isinstance(error, dict):
        message = error.get("message") or error.get("type")
        if isinstance(message, dict):
            return json.dumps(message)
        if isinstance(message, str) and message:
            return message
    if isinstance(error, str) and error:
        return error
    for key in ("message", "detail"):
        if isinstance(obj.get(key), str) and obj[key]:
            return str(obj[key])
    return None


def _clean(text: str) -> str:
    """One exception's text as a detail: no LiteLLM prefixes, no "Original exception" repeat, no
    traceback; a bytes literal decoded, an error object reduced to its message, an HTML page to its
    title."""
    text = text.split(" Original exception:", 1)[0]
    text = re.split(r"\n?Traceback \(most recent call last\)", text, maxsplit=1)[0]
    text = _NOISE.sub("", text)
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX.sub("", text, count=1)
    text = text.strip()
    if _BYTES_LITERAL.match(text):
        value = _literal(text)
        if isinstance(value, bytes):
            text = value.decode("utf-8", "replace").strip()
    if _HTML.search(text):
        return _html_summary(text)
    brace = text.find("{")
    if brace >= 0:
        message = _message_of(_literal(text[brace:].rstrip(". ")))
        if message:
            text = message
    return " ".join(text.split())


def _detail(chain: list[BaseException], limit: int = _DETAIL_LIMIT) -> str:
    """The most telling text of the chain, cleaned: the outermost one that says anything."""
    for link in chain:
        text = _clean(_text(link))
        if text:
            return text if len(text) <= limit else text[: limit - 1] + "…"
    return type(chain[0]).__name__


def cause_summary(exc: BaseException, limit: int = 160, secrets: Iterable[str | None] = ()) -> str:
    """The innermost cause of ``exc`` in a few words, without LiteLLM's class-name prefixes
    ("litellm.MidStreamFallbackError: litellm.APIConnectionError: OpenAIException - ..."), redacted."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "original_exception", None) or current.__cause__
        if not isinstance(inner, BaseException):
            break
        current = inner
    text = redact(_clean(_text(current)), secrets) or type(current).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _where(model: str, api_base: str | None) -> str:
    """The endpoint as a message names it: the URL without user info, query or fragment (keys hide
    there: Gemini's ``?key=``), or "the <provider> service"."""
    url = netgate.endpoint_for(model, api_base)
    if not url:
        return netgate.describe_host(model, api_base)
    parts = urlsplit(url if "//" in url else "//" + url)
    if not (parts.query or parts.fragment or "@" in parts.netloc):
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", "")).removeprefix("//")


#: Kinds whose LiteLLM class always carries the status the provider sent: shown even without the
#: HTTP response in the chain. Other kinds show a status only when the server sent it.
_CLASS_STATUS = {ErrorKind.AUTH: (401, 403), ErrorKind.NOT_FOUND: (404,), ErrorKind.RATE_LIMIT: (429,)}


def _shown_status(chain: list[BaseException], kind: ErrorKind) -> int | None:
    wire = _wire_status(chain)
    if wire is not None:
        return wire
    status = _status(chain[0])
    if status in _CLASS_STATUS.get(kind, ()) and _in_band_error(chain) is None:
        return status
    return None


def describe(
    exc: BaseException,
    kind: ErrorKind | str,
    model: str,
    api_base: str | None = None,
    secrets: Iterable[str | None] = (),
) -> str:
    """What happened and what to do, for ``exc`` of ``kind`` (normally :func:`classify`'s answer)
    while calling ``model`` at ``api_base``. Redacted (``secrets`` too: keys that came from the
    keyring or the preferences), one paragraph, no traceback, no repeated "Original exception", an
    HTTP status only when the server sent it."""
    kind = ErrorKind.coerce(kind)
    chain = _chain(exc)
    verdict = _own_verdict(chain)
    if verdict is not None and ErrorKind.coerce(getattr(verdict, KIND_ATTRIBUTE)) is kind and str(verdict).strip():
        return redact(" ".join(str(verdict).split()), secrets)
    detail = _detail(chain)
    status = _shown_status(chain, kind)
    http = f" (HTTP {status})" if status is not None else ""
    where = _where(model, api_base)
    env = key_env_var(model)
    message: str
    refused = _gateway_refusal(chain, model, api_base) if status is not None else None
    if refused is not None and refused.kind == kind:
        message = refused.message
    elif gateway.is_gateway(model) and kind is ErrorKind.CONNECTION and not _DROPPED_TEXT.search(detail):
        message = gateway.down_message(where, detail)
    elif gateway.is_gateway(model) and kind is ErrorKind.UNAVAILABLE:
        message = (
            f"The studio gateway at {where} could not get an answer from the model behind "
            f"'{gateway.alias(model)}'{http}: {detail}. Try again shortly, or choose another model it offers."
        )
    elif kind is ErrorKind.AUTH and status == 403:
        message = (
            f"The provider refused access to {model} (HTTP 403): {detail}. Check that the key's account "
            "may use this model, or choose another model."
        )
    elif kind is ErrorKind.AUTH:
        message = (
            f"The provider rejected the API key for {model}{http}. Set {env} to a valid key (in the "
            "environment Blender starts from, the system keyring or the add-on preferences), then try "
            f"again. Details: {detail}"
        )
    elif kind is ErrorKind.NO_KEY:
        message = (
            f"No API key for {model}, so nothing was sent. Set the {env} environment variable before "
            "starting Blender, store the key in the system keyring, or enter it in the add-on preferences "
            "(Edit > Preferences > Add-ons > Screenwriter LLM)."
        )
    elif kind is ErrorKind.NOT_FOUND:
        pull = ""
        if model.startswith(("ollama/", "ollama_chat/")):
            pull = f"; for Ollama, download it first with 'ollama pull {model.split('/', 1)[1]}'"
        message = (
            f"Model '{model}' was not found at {where}{http}. Check the model name in the Screenwriter "
            f"sidebar (LiteLLM form 'provider/model'){pull}. Details: {detail}"
        )
    elif kind is ErrorKind.CONTEXT_WINDOW:
        message = (
            f"The scene is too long for {model}'s context window. Choose a model with a larger window "
            f"or lower Max Tokens. Details: {detail}"
        )
    elif kind is ErrorKind.TOO_LARGE:
        message = (
            f"The request to {model} was too large for {where}{http}. Analyze a shorter scene or send "
            f"less context (a smaller selection, fewer chat turns), then try again. Details: {detail}"
        )
    elif kind is ErrorKind.RATE_LIMIT:
        message = f"{model} is rate-limited{http}. Wait a minute and try again. Details: {detail}"
    elif kind is ErrorKind.BUDGET and "BudgetExceededError" in _all_names(chain):
        message = f"A spending limit was reached, so nothing was sent to {model}: {detail}"
    elif kind is ErrorKind.BUDGET:
        message = (
            f"The provider says the account behind the key for {model} has no credit or quota left{http}. "
            f"Add credit or raise the quota with the provider, or choose another model. Details: {detail}"
        )
    elif kind is ErrorKind.UNAVAILABLE:
        message = (
            f"The provider is unavailable or overloaded{http}. Try again shortly, or choose another "
            f"model. Details: {detail}"
        )
    elif kind is ErrorKind.CONNECTION and _DROPPED_TEXT.search(detail):
        message = (
            f"The connection to {where} was dropped before the answer was complete. Try again; if it keeps "
            f"happening, check the server or the proxy in between. Details: {detail}"
        )
    elif kind is ErrorKind.CONNECTION:
        message = (
            f"Could not connect to {where}. Check that the server is running and the endpoint in the "
            f"add-on preferences is right. Details: {detail}"
        )
    elif kind is ErrorKind.TIMEOUT:
        message = f"{model} did not answer in time{http}. Try again, or check {where}. Details: {detail}"
    elif kind is ErrorKind.BAD_RESPONSE:
        undecodable = next((link for link in chain if "JSONDecodeError" in _names(link)), None)
        if undecodable is not None and not detail.startswith("an HTML page"):
            detail = f"the body is not valid JSON ({undecodable})"
        subject = where[:1].upper() + where[1:] if where.startswith("the ") else where
        if _in_band_error(chain) is not None or (undecodable is None and _IN_BAND_TEXT.search(_all_texts(chain))):
            message = (
                f"{subject} answered (HTTP {status or 200}) with an error instead of a model response: "
                f"{detail}. Try again; if it keeps happening, check the server."
            )
        else:
            message = (
                f"{subject} answered (HTTP {status or 200}) but not with a model response: {detail}. Check "
                "the endpoint in the add-on preferences: a proxy, a sign-in page or a server that does not "
                "speak the provider's API may be in the way."
            )
    elif kind is ErrorKind.UNKNOWN_PROVIDER:
        provider = model.split("/", 1)[0] if "/" in model else model
        message = (
            f"LiteLLM does not know the provider of '{model}' ('{provider}'), so nothing was sent. Write the "
            "model as 'provider/model', for example 'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5' or "
            "'ollama_chat/llama3.1'."
        )
    elif kind is ErrorKind.NOT_ALLOWED:
        message = f"The endpoint does not let this key use {model}{http}: {detail}"
    elif kind is ErrorKind.INVALID_SETTING:
        if _NOT_FINITE_TEXT in detail:
            detail = "a setting is not a finite number (NaN or infinity)"
        message = (
            f"{model} cannot take one of the request's settings: {detail}. Check Temperature and Max "
            "Tokens in the Screenwriter sidebar."
        )
    elif kind is ErrorKind.ONLINE_ACCESS:
        if isinstance(exc, netgate.OnlineAccessDisabled):
            message = str(exc)
        else:
            message = netgate.ONLINE_ACCESS_OFF_MESSAGE.format(host=netgate.describe_host(model, api_base))
    elif kind is ErrorKind.CANCELLED:
        message = f"The request to {model} was cancelled."
    elif kind is ErrorKind.INCOMPLETE:
        message = (
            f"The answer from {model} broke off before it was complete ({detail}). The text above is "
            "what arrived; run it again for a full answer."
        )
    elif kind is ErrorKind.BAD_REQUEST and status is not None:
        message = f"The provider refused the request for {model}{http}: {detail}"
    elif kind is ErrorKind.BAD_REQUEST:
        message = f"The request for {model} was refused: {detail}"
    else:
        message = f"The request to {model} failed ({type(exc).__name__}): {detail}"
    return redact(message, secrets)


def describe_exception(
    exc: BaseException, model: str, api_base: str | None = None, secrets: Iterable[str | None] = ()
) -> tuple[str, ErrorKind]:
    """``(message, kind)`` for an exception raised while calling ``model``: :func:`describe` of
    :func:`classify`. Online-access refusals normally never get here (``netgate`` refuses them
    before a job exists), but are described if they do."""
    kind = classify(exc)
    if gateway.is_gateway(model):
        # A gateway's refusals are told apart by what it said (classify knows only the body's type).
        refused = _gateway_refusal(_chain(exc), model, api_base)
        if refused is not None:
            kind = ErrorKind(refused.kind)
    return describe(exc, kind, model, api_base, secrets), kind

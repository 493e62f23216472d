"""Turn exceptions into messages a screenwriter can act on; keep secrets out of every message.

Maps LiteLLM's exception classes (LiteLLM docs, "Exception Mapping": every provider error is raised
as an OpenAI-compatible ``litellm.exceptions.*`` class with ``status_code``) to one sentence of what
happened and one of what to do. Never returns a traceback or a key.
"""

from __future__ import annotations

import os
import re

#: Environment variables LiteLLM reads for each provider prefix (LiteLLM docs, "Providers").
PROVIDER_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
}

# Shapes of provider keys: OpenAI/Anthropic style "sk-...", Google "AIza...", long bearer tokens.
_KEY_PATTERNS = (
    re.compile(r"\b(sk-[A-Za-z0-9_\-]{2})[A-Za-z0-9_\-]{6,}([A-Za-z0-9]{4})\b"),
    re.compile(r"\b(AIza)[A-Za-z0-9_\-]{20,}([A-Za-z0-9]{4})\b"),
)


def key_env_var(model: str) -> str:
    """The environment variable that holds the key for ``model``'s provider (e.g. ``OPENAI_API_KEY``);
    models without a provider prefix are OpenAI's in LiteLLM."""
    prefix = model.split("/", 1)[0] if "/" in model else "openai"
    return PROVIDER_KEY_ENV.get(prefix, f"{prefix.upper()}_API_KEY")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace anything that looks like an API key, and each of ``secrets`` (plus the values of the
    known key environment variables), by a short redacted form such as ``sk-…abcd``."""
    values = [s for s in secrets if s and len(s) >= 8]
    values += [v for v in (os.environ.get(name) for name in PROVIDER_KEY_ENV.values()) if v and len(v) >= 8]
    for value in sorted(set(values), key=len, reverse=True):
        text = text.replace(value, f"{value[:3]}…{value[-4:]}")
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}…{m.group(2)}", text)
    return text


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # LiteLLM prefixes messages with "litellm.AuthenticationError: ..." and provider names; keep it short.
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PREFIXES = re.compile(r"^(?:(?:litellm\.)?[A-Za-z]+(?:Error|Exception)\s*[:-]\s*)+")


def cause_summary(exc: BaseException, limit: int = 160, secrets: tuple[str | None, ...] = ()) -> str:
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
    text = _PREFIXES.sub("", _first_line(current, 1000)).split(" Original exception:")[0].strip()
    text = redact(text, tuple(s for s in secrets if s)) or type(current).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_timeout(exc: BaseException) -> bool:
    """True when ``exc`` is a read or connect timeout, also when LiteLLM wrapped it mid-stream
    (``MidStreamFallbackError`` keeps the cause in ``original_exception``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in ("Timeout", "APITimeoutError", "ReadTimeout") or isinstance(current, TimeoutError):
            return True
        if "timed out" in str(current).lower():
            return True
        current = getattr(current, "original_exception", None) or current.__cause__
    return False


def is_connection_error(exc: BaseException) -> bool:
    """True when the server could not be reached (refused, reset, DNS), however LiteLLM classed it:
    the OpenAI SDK's "Connection error." arrives as an ``InternalServerError`` (status 500)."""
    text = str(exc)
    return (
        type(exc).__name__ == "APIConnectionError"
        or isinstance(exc, ConnectionError)
        or "Connection error" in text
        or "Connection refused" in text
    )


def describe_exception(
    exc: BaseException, model: str, api_base: str | None = None, secrets: tuple[str | None, ...] = ()
) -> tuple[str, str]:
    """Return ``(message, error_type)`` for an exception raised while calling ``model``.

    ``message`` says what happened and what to do, is redacted (``secrets`` too: keys that came from
    the keyring or the preferences), and has no traceback.
    ``error_type`` is a short stable name (``auth``, ``not_found``, ``context_window``, ``rate_limit``,
    ``unavailable``, ``connection``, ``timeout``, ``bad_request``, ``error``; online-access refusals
    never get here: ``core.netgate`` refuses them before a job exists).
    """
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    detail = redact(_first_line(exc), tuple(s for s in secrets if s))
    where = api_base or "the provider"
    if name == "AuthenticationError" or status == 401:
        env = key_env_var(model)
        return (
            f"The provider rejected the API key for {model} (HTTP 401). Set {env} in the environment "
            f"Blender starts from to a valid key, then try again. Details: {detail}",
            "auth",
        )
    if name == "PermissionDeniedError" or status == 403:
        return f"The provider refused access to {model} (HTTP 403): {detail}", "auth"
    if name == "NotFoundError" or status == 404:
        return (
            f"Model '{model}' was not found at {where} (HTTP 404). Check the model name in the "
            f"Screenwriter sidebar (LiteLLM form 'provider/model'). Details: {detail}",
            "not_found",
        )
    if name == "ContextWindowExceededError":
        return (
            f"The scene is too long for {model}'s context window. Choose a model with a larger window "
            f"or lower Max Tokens. Details: {detail}",
            "context_window",
        )
    if name == "RateLimitError" or status == 429:
        return f"{model} is rate-limited (HTTP 429). Wait a minute and try again. Details: {detail}", "rate_limit"
    if getattr(exc, "status_code", None) in (None, 500) and is_connection_error(exc):
        return (
            f"Could not connect to {where}. Check that the server is running and the endpoint in the "
            f"add-on preferences is right. Details: {detail}",
            "connection",
        )
    if name in ("ServiceUnavailableError", "InternalServerError", "BadGatewayError") or (
        isinstance(status, int) and status >= 500
    ):
        return (
            f"The provider is unavailable or overloaded (HTTP {status}). Try again shortly, or choose "
            f"another model. Details: {detail}",
            "unavailable",
        )
    if name == "Timeout" or isinstance(exc, TimeoutError):
        return f"{model} did not answer in time. Try again, or check {where}. Details: {detail}", "timeout"
    if name == "APIConnectionError" or isinstance(exc, ConnectionError):
        return (
            f"Could not connect to {where}. Check that the server is running and the endpoint in the "
            f"add-on preferences is right. Details: {detail}",
            "connection",
        )
    if name in ("BadRequestError", "UnsupportedParamsError", "LiteLLMUnknownProvider") or status == 400:
        return f"The provider refused the request for {model} (HTTP 400): {detail}", "bad_request"
    return f"The request to {model} failed ({name}): {detail}", "error"

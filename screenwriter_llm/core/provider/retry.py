"""The one place that decides what happens after a failed request: wait and retry, fall back to the
next model, or give up. Used only before the first token of an answer has been shown (after it, a
retry would repeat text: DESIGN.md, "Never retry after the first token").

Why our own: the OpenAI SDK inside LiteLLM retries silently (twice, honouring Retry-After) and
LiteLLM's ``num_retries`` neither shows the waits nor distinguishes fallbacks; the job turns both
off (``max_retries=0``) and applies this policy, so the status line can show every wait.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import errors

#: HTTP statuses retried with backoff: rate limit, server errors and Anthropic's 529 "overloaded".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
#: LiteLLM exception classes (by name, so this module needs no LiteLLM import) worth a retry.
RETRY_CLASSES = frozenset(
    {"RateLimitError", "ServiceUnavailableError", "InternalServerError", "BadGatewayError", "APIConnectionError"}
)
#: Failures after which the next fallback model is worth trying (the request itself may be fine).
FALLBACK_KINDS = frozenset({"auth", "not_found", "rate_limit", "unavailable", "connection", "context_window"})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter before the first token.

    ``max_retries`` retries per model (preference, default 5); delays ``base_delay`` * 1, 2, 4, 8, 16
    seconds, each with up to 25 % random jitter added, or the provider's ``Retry-After`` when it sends
    one; the waits of one model add up to at most ``max_total_wait`` seconds (about a minute).
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_total_wait: float = 60.0

    def delay(self, exc: BaseException, attempt: int, waited: float) -> float | None:
        """Seconds to wait before retry number ``attempt + 1`` after ``exc``, or None to stop retrying.

        ``attempt`` counts the retries already made (0 after the first failure); ``waited`` is the
        seconds already spent waiting for this model. Non-retryable errors (400, 401, 403, 404,
        context window) give None at once.
        """
        if attempt >= self.max_retries or not is_retryable(exc):
            return None
        delay = retry_after_seconds(exc)
        if delay is None:
            backoff = self.base_delay * 2**attempt
            delay = backoff + random.uniform(0, backoff / 4)  # noqa: S311 - jitter, not cryptography
        if waited + delay > self.max_total_wait:
            return None
        return delay


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a provider error, or None (connection errors, timeouts)."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable(exc: BaseException) -> bool:
    """True for rate limits, overload, 5xx and connection failures; False for bad requests, auth,
    not found, context-window errors and timeouts (a deadline the user set is not extended)."""
    name = type(exc).__name__
    if name in ("ContextWindowExceededError", "MidStreamFallbackError") or errors.is_timeout(exc):
        return False
    if errors.is_connection_error(exc):
        return True
    status = status_of(exc)
    if name in RETRY_CLASSES:
        return status is None or status in RETRY_STATUSES or name == "APIConnectionError"
    return status in RETRY_STATUSES or isinstance(exc, ConnectionError)


def _headers(exc: BaseException) -> Mapping[str, Any]:
    headers = getattr(exc, "litellm_response_headers", None)
    if not headers:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return {}
    return {str(k).lower(): v for k, v in dict(headers).items()}


def retry_after_seconds(exc: BaseException, now: float | None = None) -> float | None:
    """The provider's requested wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP
    date, RFC 9110 section 10.2.3), in seconds; None when absent or unreadable."""
    headers = _headers(exc)
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except (TypeError, ValueError):
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value)).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))

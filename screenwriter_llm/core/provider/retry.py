"""The one place that decides what happens after a failed request: wait and retry, fall back to the
next model, or give up. Used only before the first token of an answer has been shown (after it, a
retry would repeat text: DESIGN.md, "Never retry after the first token").

Why our own: the OpenAI SDK inside LiteLLM retries silently (twice, honouring Retry-After) and
LiteLLM's ``num_retries`` neither shows the waits nor distinguishes fallbacks; the job turns both
off (``max_retries=0``) and applies this policy, so the status line can show every wait.

What is worth a retry or a fallback is a property of the failure's kind
(:attr:`.errors.ErrorKind.retryable`, :attr:`.errors.ErrorKind.falls_back`), decided once by
:func:`.errors.classify`; this module only adds the waiting.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from . import errors, gateway
from .errors import ErrorKind

#: Failures after which the next fallback model is worth trying (the request itself may be fine).
FALLBACK_KINDS: frozenset[ErrorKind] = frozenset(kind for kind in ErrorKind if kind.falls_back)


#: Retries after a studio gateway could not be reached (it is down or restarting: one more try, then say so).
GATEWAY_CONNECTION_RETRIES = 1


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter before the first token.

    ``max_retries`` retries per model (preference, default 5); delays ``base_delay`` * 1, 2, 4, 8, 16
    seconds, each with up to 25 % random jitter added, or the provider's ``Retry-After`` when it sends
    a usable one; the waits of one model add up to at most ``max_total_wait`` seconds (about a minute).
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_total_wait: float = 60.0

    def delay(
        self,
        exc: BaseException,
        attempt: int,
        waited: float,
        kind: ErrorKind | str | None = None,
        through_gateway: bool = False,
    ) -> float | None:
        """Seconds to wait before retry number ``attempt + 1`` after ``exc``, or None to stop retrying.

        ``attempt`` counts the retries already made (0 after the first failure); ``waited`` is the
        seconds already spent waiting for this model; ``kind`` is ``exc``'s kind when the caller has
        already classified it (:func:`.errors.classify` otherwise). Kinds that are not
        :attr:`~.errors.ErrorKind.retryable` (bad request, auth, not found, context window, timeout:
        a deadline the user set is not extended) give None at once. ``through_gateway``: the request went to a
        studio gateway (LiteLLM Proxy): its rate limit's ``reset_at`` header sets the wait, and a gateway that
        cannot be reached is tried once more only (many artists retrying a down gateway would be a storm).
        """
        if attempt >= self.max_retries:
            return None
        kind = errors.classify(exc) if kind is None else ErrorKind.coerce(kind)
        if not kind.retryable:
            return None
        if through_gateway and kind is ErrorKind.CONNECTION and attempt >= GATEWAY_CONNECTION_RETRIES:
            return None
        delay = gateway.reset_seconds(_headers(exc)) if kind is ErrorKind.RATE_LIMIT else None
        delay = delay if delay is not None else retry_after_seconds(exc)
        if delay is None:
            backoff = self.base_delay * 2**attempt
            delay = backoff + random.uniform(0, backoff / 4)  # noqa: S311 - jitter, not cryptography
        if waited + delay > self.max_total_wait:
            return None
        return delay


def status_of(exc: BaseException) -> int | None:
    """The HTTP status the server answered with, or None (connection errors, timeouts, a bad HTTP 200
    body): :func:`.errors.http_status`."""
    return errors.http_status(exc)


def is_retryable(exc: BaseException) -> bool:
    """True for rate limits, overload, 5xx and connection failures; False for bad requests, auth,
    not found, context-window errors and timeouts (``classify(exc).retryable``)."""
    return errors.classify(exc).retryable


def _headers(exc: BaseException) -> Mapping[str, Any]:
    """The response headers of ``exc``'s chain, with lower-case names (:func:`.errors.response_headers`)."""
    return errors.response_headers(exc)


def _positive_seconds(value: Any, scale: float = 1.0) -> float | None:
    """``value`` as a finite number of seconds greater than zero, or None."""
    try:
        seconds = float(str(value).strip()) * scale
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def retry_after_seconds(exc: BaseException, now: float | None = None) -> float | None:
    """The provider's requested wait from ``retry-after-ms`` or ``Retry-After`` (delay-seconds or an
    HTTP-date, RFC 9110 section 10.2.3), in seconds.

    None when absent or not usable: zero, negative, not a number, or a date that is not in the future
    (``now``: epoch seconds, default the current time) count as absent, so the normal backoff applies;
    they never mean "retry at once".
    """
    headers = _headers(exc)
    if "retry-after-ms" in headers:
        seconds = _positive_seconds(headers["retry-after-ms"], 1 / 1000)
        if seconds is not None:
            return seconds
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _positive_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(str(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    remaining = when.timestamp() - (time.time() if now is None else now)
    return remaining if remaining > 0 else None

"""core/provider/retry.py: RetryPolicy.delay on every branch, and Retry-After as RFC 9110 section 10.2.3 has it
(delay-seconds or an HTTP-date; a value that is not a positive wait counts as absent, never as "retry now")."""

from __future__ import annotations

import email.utils
import random
from types import ModuleType
from typing import Any

import httpx
import pytest

from screenwriter_llm.core.provider import errors, retry
from screenwriter_llm.core.provider.errors import ErrorKind
from screenwriter_llm.core.provider.llm import import_litellm
from screenwriter_llm.core.provider.retry import RetryPolicy, retry_after_seconds
from tests.provider_server import ProviderServer, error

NOW = 1_800_000_000.0  # a fixed "now" for HTTP dates (2027-01-15)


@pytest.fixture(scope="module")
def litellm() -> ModuleType:
    return import_litellm()


def rate_limited(litellm: ModuleType, headers: dict[str, str] | None = None) -> BaseException:
    """A 429 as LiteLLM builds it: a RateLimitError keeping the provider response's headers."""
    response = httpx.Response(429, headers=headers or {}, request=httpx.Request("POST", "https://api.example.invalid"))
    return litellm.exceptions.RateLimitError("Rate limit reached", "openai", "gpt-4o-mini", response=response)


class HeaderCarrier(Exception):
    """An exception with headers in one of the places LiteLLM puts them."""

    def __init__(self, **attributes: Any) -> None:
        super().__init__("carrier")
        for name, value in attributes.items():
            setattr(self, name, value)


def http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


# --- Retry-After -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the finer header wins
        ({"retry-after-ms": "0", "retry-after": "9"}, 9.0),  # zero ms: absent, Retry-After decides
        ({"retry-after-ms": "-20", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "nan", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "inf"}, None),
        ({"retry-after-ms": "0"}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": " 2 "}, 2.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "0"}, None),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "garbage"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "NaN"}, None),
        ({"Retry-After": http_date(NOW + 42)}, 42.0),
        ({"Retry-After": http_date(NOW - 42)}, None),  # in the past: absent, not "now"
        ({"Retry-After": http_date(NOW)}, None),
        ({"Retry-After": "Fri, 15 Jan 2027 08:00:42 -0000"}, 42.0),  # parses without a zone: GMT all the same
        ({"Retry-After": "Fri, 99 Foo 2027 25:61:61 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(litellm, headers, seconds):
    assert retry_after_seconds(rate_limited(litellm, headers), now=NOW) == seconds


def test_an_http_date_is_measured_from_the_clock_by_default(litellm, monkeypatch):
    monkeypatch.setattr(retry.time, "time", lambda: NOW)
    assert retry_after_seconds(rate_limited(litellm, {"Retry-After": http_date(NOW + 30)})) == 30.0


def test_headers_are_found_wherever_litellm_keeps_them(litellm):
    assert retry_after_seconds(HeaderCarrier(litellm_response_headers={"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(HeaderCarrier(headers={"retry-after": "4"})) == 4.0
    assert retry_after_seconds(HeaderCarrier(litellm_response_headers=["not", "a", "mapping"])) is None
    inner = HeaderCarrier(headers={"Retry-After": "5"})
    outer = litellm.exceptions.MidStreamFallbackError("x", "gpt", "openai", original_exception=inner)
    assert retry_after_seconds(outer) == 5.0, "from the cause when the wrapper has none"
    try:
        try:
            raise HeaderCarrier(headers={"Retry-After": "6"})
        except HeaderCarrier as cause:
            raise RuntimeError("wrapped") from cause
    except RuntimeError as exc:
        assert retry_after_seconds(exc) == 6.0
    assert retry_after_seconds(ValueError("no headers anywhere")) is None


def test_retry_after_from_a_real_429_through_litellm(litellm):
    with ProviderServer() as server:
        server.enqueue("openai", error(429, headers={"Retry-After": "3", "retry-after-ms": "2500"}))
        try:
            litellm.completion(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "Hi."}],
                api_base=server.api_base("openai"),
                api_key="sk-test",
                max_retries=0,
                timeout=5,
            )
        except Exception as exc:  # noqa: BLE001
            assert retry_after_seconds(exc) == 2.5
            assert RetryPolicy().delay(exc, 0, 0.0) == 2.5
        else:
            pytest.fail("no RateLimitError")


# --- RetryPolicy.delay -------------------------------------------------------------------------------


def test_backoff_doubles_with_at_most_a_quarter_of_jitter(litellm, monkeypatch):
    exc = rate_limited(litellm)
    policy = RetryPolicy(max_retries=5, base_delay=1.0, max_total_wait=1000.0)
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: low)
    assert [policy.delay(exc, attempt, 0.0) for attempt in range(5)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)
    assert [policy.delay(exc, attempt, 0.0) for attempt in range(5)] == [1.25, 2.5, 5.0, 10.0, 20.0]


def test_jitter_stays_within_its_bounds_and_varies(litellm):
    exc = rate_limited(litellm)
    policy = RetryPolicy(base_delay=0.5, max_total_wait=1000.0)
    random.seed(7)
    delays = [policy.delay(exc, 2, 0.0) for _ in range(500)]
    assert all(d is not None and 2.0 <= d <= 2.5 for d in delays)
    assert len(set(delays)) > 400, "jitter, so that clients do not retry in step"
    assert max(delays) - min(delays) > 0.4


def test_retry_after_replaces_the_backoff(litellm):
    policy = RetryPolicy(base_delay=10.0)
    assert policy.delay(rate_limited(litellm, {"Retry-After": "2"}), 3, 0.0) == 2.0


@pytest.mark.parametrize("value", ["0", "-1", "garbage", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_an_unusable_retry_after_falls_back_to_backoff_not_to_zero(litellm, monkeypatch, value):
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: 0.0)
    delay = RetryPolicy(base_delay=1.0).delay(rate_limited(litellm, {"Retry-After": value}), 1, 0.0)
    assert delay == 2.0


def test_max_retries(litellm):
    exc = rate_limited(litellm, {"Retry-After": "1"})
    policy = RetryPolicy(max_retries=2)
    assert policy.delay(exc, 0, 0.0) == 1.0
    assert policy.delay(exc, 1, 1.0) == 1.0
    assert policy.delay(exc, 2, 2.0) is None
    assert RetryPolicy(max_retries=0).delay(exc, 0, 0.0) is None


def test_max_total_wait(litellm):
    exc = rate_limited(litellm, {"Retry-After": "10"})
    policy = RetryPolicy(max_total_wait=30.0)
    assert policy.delay(exc, 0, 20.0) == 10.0, "exactly the limit is allowed"
    assert policy.delay(exc, 0, 20.5) is None
    assert policy.delay(rate_limited(litellm, {"Retry-After": "3600"}), 0, 0.0) is None, "a wait beyond the limit"


@pytest.mark.parametrize("kind", [kind for kind in ErrorKind if not kind.retryable])
def test_non_retryable_kinds_give_none(litellm, kind):
    exc = rate_limited(litellm, {"Retry-After": "1"})
    assert RetryPolicy().delay(exc, 0, 0.0, kind) is None
    assert RetryPolicy().delay(exc, 0, 0.0, str(kind)) is None, "a stored string works too"


@pytest.mark.parametrize("kind", [kind for kind in ErrorKind if kind.retryable])
def test_retryable_kinds_wait(litellm, kind):
    exc = ValueError("classified by the caller")
    assert RetryPolicy(base_delay=1.0).delay(exc, 0, 0.0, kind) is not None
    assert RetryPolicy(base_delay=1.0).delay(exc, 0, 0.0) is None, "ValueError alone is not retryable"


def test_without_a_kind_the_exception_is_classified(litellm):
    ex = litellm.exceptions
    policy = RetryPolicy(base_delay=1.0)
    assert policy.delay(ex.ServiceUnavailableError("down", "openai", "gpt"), 0, 0.0) is not None
    assert policy.delay(ex.APIConnectionError("refused", "openai", "gpt"), 0, 0.0) is not None
    assert policy.delay(ex.AuthenticationError("bad key", "openai", "gpt"), 0, 0.0) is None
    assert policy.delay(ex.ContextWindowExceededError("too long", "gpt", "openai"), 0, 0.0) is None
    assert policy.delay(ex.Timeout("slow", "gpt", "openai"), 0, 0.0) is None, "a deadline is not extended"
    assert policy.delay(TimeoutError("first-token deadline"), 0, 0.0) is None


def test_a_passed_kind_wins_over_the_exception(litellm):
    exc = rate_limited(litellm, {"Retry-After": "1"})
    assert RetryPolicy().delay(exc, 0, 0.0, ErrorKind.AUTH) is None
    assert RetryPolicy().delay(exc, 0, 0.0, ErrorKind.RATE_LIMIT) == 1.0


# --- the helpers -------------------------------------------------------------------------------------


def test_is_retryable_reads_the_kind(litellm):
    ex = litellm.exceptions
    assert retry.is_retryable(rate_limited(litellm))
    assert retry.is_retryable(ex.InternalServerError("boom", "openai", "gpt"))
    assert retry.is_retryable(ConnectionRefusedError(111, "Connection refused"))
    assert not retry.is_retryable(ex.BadRequestError("bad", "gpt", "openai"))
    assert not retry.is_retryable(ex.NotFoundError("no", "gpt", "openai"))
    assert not retry.is_retryable(ValueError("x"))
    for exc, kind in [
        (rate_limited(litellm), ErrorKind.RATE_LIMIT),
        (ex.AuthenticationError("bad key", "openai", "gpt"), ErrorKind.AUTH),
    ]:
        assert retry.is_retryable(exc) is kind.retryable is errors.classify(exc).retryable


def test_fallback_kinds_come_from_the_taxonomy():
    assert retry.FALLBACK_KINDS == frozenset(kind for kind in ErrorKind if kind.falls_back)
    assert all(isinstance(kind, ErrorKind) for kind in retry.FALLBACK_KINDS)
    assert {"auth", "not_found", "rate_limit", "unavailable", "connection", "context_window"} <= retry.FALLBACK_KINDS
    assert not {"bad_request", "timeout", "error", "cancelled", "budget"} & retry.FALLBACK_KINDS


def test_status_of_is_the_status_the_server_sent(litellm):
    assert retry.status_of(litellm.exceptions.InternalServerError("Connection error.", "openai", "gpt")) is None
    assert retry.status_of(ValueError("x")) is None
    with ProviderServer() as server:
        server.enqueue("anthropic", error("anthropic_529_overloaded.json"))
        try:
            litellm.completion(
                model="anthropic/claude-sonnet-4-5",
                messages=[{"role": "user", "content": "Hi."}],
                api_base=server.api_base("anthropic"),
                api_key="sk-ant-test",
                max_retries=0,
                timeout=5,
            )
        except Exception as exc:  # noqa: BLE001
            assert retry.status_of(exc) == 529 and retry.is_retryable(exc)
        else:
            pytest.fail("no error")

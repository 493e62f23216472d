"""The studio gateway, a LiteLLM Proxy: what the add-on tells it (who asks, for which task), what it reports back
(the cost it priced, the key's spend, rate-limit headroom) and what its refusals mean to an artist.

A model is sent through the gateway when it is written in LiteLLM's ``litellm_proxy/<alias>`` form, with the
gateway's URL as API Base (LiteLLM docs, "LiteLLM Proxy (LLM Gateway)" provider page); the key is
``LITELLM_PROXY_API_KEY`` (the add-on's usual key rules: environment, keyring, preferences).

The shapes below were read off LiteLLM 1.106.2's proxy and checked against a real one on loopback:

- errors are ``ProxyException`` bodies, ``{"error": {"message", "type", "param", "code"}}``
  (``litellm/proxy/_types.py``). Types: ``no_db_connection`` (a proxy without its database answers every key but
  the master key with HTTP 400 "No connected db."), ``auth_error``, ``budget_exceeded``, ``*_model_access_denied``
  (``ProxyErrorTypes``); budget messages name whose budget ("Budget has been exceeded! Key=... Current cost: x,
  Max budget: y", "ExceededBudget: User=... over budget. Spend=x, Budget=y", ``auth/auth_checks.py``);
- the rate limiter's 429 says "Rate limit exceeded for <descriptor>: <value>. Limit type: ... Limit resets at:
  YYYY-MM-DD HH:MM:SS UTC" with the headers ``retry-after`` and ``reset_at`` (``hooks/parallel_request_limiter_v3``);
- response headers: ``x-litellm-key-spend`` (USD), ``x-litellm-response-cost`` (USD, non-streamed answers only: a
  stream's cost headers say 0.0 and its final usage chunk carries ``"cost"``), ``x-ratelimit-remaining-requests``
  / ``-tokens`` and ``x-ratelimit-limit-*`` (LiteLLM docs, "Response Headers").

Tags go in the ``x-litellm-tags`` header, the artist in the OpenAI ``user`` field (LiteLLM docs, "Spend Tracking":
per end user and per tag). Pure Python: no LiteLLM, no ``bpy``.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: LiteLLM's provider prefix for a LiteLLM Proxy.
PREFIX = "litellm_proxy/"
#: The request header the proxy reads request tags from (comma-separated).
TAG_HEADER = "x-litellm-tags"
#: The tag every request of the add-on carries.
ADDON_TAG = "screenwriter"
#: Characters a tag may hold (the header is a comma-separated list; a Text name may hold anything).
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 ._:/@+-]+")


def is_gateway(model: str) -> bool:
    """True for a model sent through a LiteLLM Proxy (``litellm_proxy/<alias>``)."""
    return model.strip().startswith(PREFIX)


def alias(model: str) -> str:
    """The gateway's name for ``model``: ``litellm_proxy/studio-writer`` -> ``studio-writer``; other models as they
    are."""
    model = model.strip()
    return model[len(PREFIX) :] if model.startswith(PREFIX) else model


def tag(value: str, limit: int = 64) -> str:
    """``value`` as one request tag: ASCII (an HTTP header carries it; accents are dropped from their letters,
    ``Épisode`` -> ``Episode``), no commas or control characters, at most ``limit`` characters."""
    ascii_only = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    cleaned = " ".join(_TAG_UNSAFE.sub(" ", ascii_only).split())
    return cleaned[:limit]


def attribution(artist: str, task: str, script: str = "") -> tuple[str | None, tuple[str, ...]]:
    """``(user, tags)`` for one request through the gateway: the artist (``user``; None when blank) and the tags
    ``screenwriter``, the task id and, only when given (the writer opted in), ``script:<title>``."""
    tags = [ADDON_TAG]
    if task and tag(task):
        tags.append(tag(task))
    if script and tag(script):
        tags.append("script:" + tag(script))
    user = artist.strip()[:128] or None
    return user, tuple(dict.fromkeys(tags))


def request_fields(user: str | None, tags: tuple[str, ...]) -> dict[str, Any]:
    """Keyword arguments for ``litellm.completion`` that carry the attribution: ``user`` and the tag header."""
    fields: dict[str, Any] = {}
    if user:
        fields["user"] = user
    if tags:
        fields["extra_headers"] = {TAG_HEADER: ",".join(tags)}
    return fields


# --- what the gateway reports -----------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def positive_usd(value: Any) -> float | None:
    """``value`` as a price in USD when it is a finite number above zero, else None (a gateway's 0.0 means "not
    priced here")."""
    number = _number(value)
    return number if number else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


@dataclass(frozen=True)
class GatewayFigures:
    """What a gateway's response headers said: ``key_spend_usd`` (the key's spend so far, USD), ``response_cost_usd``
    (this answer, USD; only for answers that were not streamed), rate-limit headroom (``remaining_requests``,
    ``remaining_tokens`` of ``limit_requests``/``limit_tokens``). None where a header was absent or not a number."""

    key_spend_usd: float | None = None
    response_cost_usd: float | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    limit_requests: int | None = None
    limit_tokens: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any]) -> GatewayFigures | None:
        """The figures in ``headers`` (any case), or None when they carry no ``x-litellm-*`` header (not a gateway).
        A streamed answer's ``x-litellm-response-cost`` is 0.0 before it was priced: read it only when positive."""
        lower = {str(k).lower(): v for k, v in headers.items()}
        if not any(k.startswith("x-litellm-") for k in lower):
            return None
        cost = _number(lower.get("x-litellm-response-cost"))
        return cls(
            key_spend_usd=_number(lower.get("x-litellm-key-spend")),
            response_cost_usd=cost if cost else None,
            remaining_requests=_count(lower.get("x-ratelimit-remaining-requests")),
            remaining_tokens=_count(lower.get("x-ratelimit-remaining-tokens")),
            limit_requests=_count(lower.get("x-ratelimit-limit-requests")),
            limit_tokens=_count(lower.get("x-ratelimit-limit-tokens")),
        )

    def describe(self) -> list[str]:
        """Lines for the Usage panel, e.g. ``["Key spend (gateway): $0.0123", "Rate limit left: 9,999 requests"]``."""
        lines = []
        if self.key_spend_usd is not None:
            lines.append(f"Key spend (gateway): ${self.key_spend_usd:,.4f}")
        left = []
        if self.remaining_requests is not None:
            of = f" of {self.limit_requests:,}" if self.limit_requests is not None else ""
            left.append(f"{self.remaining_requests:,}{of} requests")
        if self.remaining_tokens is not None:
            of = f" of {self.limit_tokens:,}" if self.limit_tokens is not None else ""
            left.append(f"{self.remaining_tokens:,}{of} tokens")
        if left:
            lines.append("Rate limit left: " + ", ".join(left))
        return lines


# --- what its refusals mean -------------------------------------------------------------------------------------

_BUDGET_TYPES = frozenset({"budget_exceeded"})
_AUTH_TYPES = frozenset({"no_db_connection", "auth_error", "token_not_found_in_db", "expired_key"})
_WHOSE = re.compile(
    r"\b(End User|TeamMember|Team Member|User|Team|Key|Tag|Organization|Project|Model access group)=([^\s,]+)"
)
_WINDOW = re.compile(r"over (\w+) budget")
_SPENT = re.compile(r"(?:Current cost|Spend)[:=]\s*\$?(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")
_LIMIT = re.compile(r"(?:Max budget|Budget|Limit)[:=]\s*\$?(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")
_RESETS = re.compile(
    r"resets? (?:at|on)[:\s]+(\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?(?:\.\d+)?(?: ?UTC|Z|[+-]\d\d:?\d\d)?)"
)
_NOT_ALLOWED = re.compile(
    r"not (?:available for this API key|allowed to access model|in the allowed models)", re.IGNORECASE
)
_RATE_FOR = re.compile(r"Rate limit exceeded for ([^:]+): ([^.\s]+)\. Limit type: (\w+)\. Current limit: (\d+)")


def _when(text: str) -> datetime | None:
    """A reset time as the proxy writes it (``2026-12-01 23:00:00 UTC``, ISO 8601), aware; None if not one."""
    text = text.strip().replace(" UTC", "+00:00").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def reset_seconds(headers: Mapping[str, Any], now: float | None = None) -> float | None:
    """Seconds until the gateway's rate limit resets, from its ``reset_at`` header (``YYYY-MM-DD HH:MM:SS UTC``), or
    None when absent, not a time, or not in the future (``now``: epoch seconds)."""
    lower = {str(k).lower(): v for k, v in headers.items()}
    value = lower.get("reset_at") or lower.get("x-ratelimit-reset")
    moment = _when(str(value)) if value else None
    if moment is None:
        return None
    remaining = moment.timestamp() - (time.time() if now is None else now)
    return remaining if remaining > 0 else None


@dataclass(frozen=True)
class Refusal:
    """A gateway's refusal, understood: ``kind`` (an :class:`~.errors.ErrorKind` value: ``auth``, ``budget``,
    ``not_allowed``, ``not_found``, ``rate_limit``) and the ``message`` for the artist."""

    kind: str
    message: str


def error_fields(body: Any) -> tuple[str, str]:
    """(message, type) of a proxy error body (the whole ``{"error": {...}}`` or the inner object, or FastAPI's
    ``{"detail": ...}``)."""
    if not isinstance(body, dict):
        return "", ""
    inner = body.get("error", body)
    if isinstance(inner, str):
        return inner, ""
    if not isinstance(inner, dict):
        return "", ""
    message = inner.get("message") or inner.get("detail") or body.get("detail") or ""
    if isinstance(message, dict):
        message = message.get("error") or message.get("message") or ""
    return " ".join(str(message).split()), str(inner.get("type") or "")


def _budget_message(message: str, body: Any, where: str) -> str:
    whose_match = _WHOSE.search(message)
    window = _WINDOW.search(message)
    if whose_match:
        kind, name = whose_match.groups()
        label = {"Key": "your key", "TeamMember": "your share of the team", "Team Member": "your share of the team"}
        whose = label.get(kind, f"{kind.lower()} {name}")
        if kind in ("User", "End User"):
            whose = f"the artist '{name}'" if kind == "End User" else f"user {name}"
    else:
        whose = "your key"
    if window:
        whose += f" ({window.group(1)} budget)"
    spent, limit = _SPENT.search(message), _LIMIT.search(message)
    figures = ""
    if spent and limit:
        figures = f" (spent ${float(spent.group(1)):,.4f} of ${float(limit.group(1)):,.2f})"
    reset = None
    for candidate in (
        (body.get("error") or {}).get("budget_reset_at") if isinstance(body, dict) else None,
        body.get("budget_reset_at") if isinstance(body, dict) else None,
    ):
        if isinstance(candidate, str):
            reset = _when(candidate)
    found = _RESETS.search(message)
    if reset is None and found:
        reset = _when(found.group(1))
    when = f"; it resets at {_local(reset)}" if reset is not None else ""
    return (
        f"The studio gateway at {where} refused the request: the budget of {whose} is used up{figures}{when}. "
        "Nothing was sent to a model. Ask whoever runs the gateway (your pipeline TD) to raise the budget"
        + (", or wait until it resets." if when else ".")
    )


def refusal(
    status: int | None, body: Any, headers: Mapping[str, Any], where: str, model: str, key_source: str = ""
) -> Refusal | None:
    """What the gateway at ``where`` meant by an error answer to a request for ``model``, or None when it is not one
    of its own refusals (an upstream provider's error it passed on is described as usual).

    ``body``: the parsed error body; ``headers``: the response headers; ``key_source``: where the key came from,
    for the message ("LITELLM_PROXY_API_KEY" ...).
    """
    message, kind = error_fields(body)
    name = alias(model)
    key = key_source or "LITELLM_PROXY_API_KEY, the system keyring or the add-on preferences' Proxy API Key"
    if kind in _BUDGET_TYPES or "Budget has been exceeded" in message or message.startswith("ExceededBudget"):
        return Refusal("budget", _budget_message(message, body, where))
    if kind.endswith("model_access_denied") or _NOT_ALLOWED.search(message):
        return Refusal(
            "not_allowed",
            f"The studio gateway at {where} does not let your key use '{name}': {message or kind}. Choose one of "
            "the models it lists (Refresh Models in the Screenwriter sidebar), or ask whoever runs the gateway for "
            "access.",
        )
    if "Invalid model name passed" in message:
        return Refusal(
            "not_found",
            f"The studio gateway at {where} does not offer '{name}'. Choose one of the models it lists (Refresh "
            "Models in the Screenwriter sidebar lists them; write them as litellm_proxy/<name>).",
        )
    if kind == "no_db_connection" or "No connected db" in message:
        return Refusal(
            "auth",
            f'The studio gateway at {where} rejected the key (it answered "{message or kind}"). A gateway '
            "without its database knows only its master key, so any other key gets this answer. Check the key "
            f"({key}) against the one your studio gave you.",
        )
    if kind in _AUTH_TYPES or status in (401, 403) or message.startswith("Authentication Error"):
        return Refusal(
            "auth",
            f"The studio gateway at {where} rejected the key: {message or 'HTTP ' + str(status)}. Check the key "
            f"({key}) against the virtual key your studio gave you; it may have expired or been blocked.",
        )
    if status == 429:
        found = _RATE_FOR.search(message)
        whose = f"the {found.group(1).replace('_', ' ')}'s {found.group(3)} limit" if found else "its rate limit"
        wait = reset_seconds(headers)
        retry_after = _number({str(k).lower(): v for k, v in headers.items()}.get("retry-after"))
        seconds = wait if wait is not None else retry_after
        when = f"; it resets in about {math.ceil(seconds)} s" if seconds else ""
        return Refusal(
            "rate_limit",
            f"The studio gateway at {where} is holding requests back: {whose} is reached{when}. Every request of "
            "this run waits for the reset together. Try again then, or ask whoever runs the gateway for a higher "
            f"limit. ({message or 'HTTP 429'})",
        )
    return None


def down_message(where: str, detail: str) -> str:
    """The message for a gateway that does not answer at all (connection refused, no such host)."""
    return (
        f"The studio gateway at {where} is not answering ({detail}): it may be down or restarting. Nothing was "
        "sent. Try again in a minute; if it stays down, tell whoever runs it (your pipeline TD), and check API "
        "Base in the add-on preferences."
    )

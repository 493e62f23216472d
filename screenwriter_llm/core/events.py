"""Every event a job puts on its queue, in one module: what the worker thread tells the main thread.

Events are frozen dataclasses of plain data (no LiteLLM objects, no bpy). The provider call
(:mod:`.provider.llm`) yields the first six; the worker adds the rest. The main thread drains them
(:meth:`.jobs.job.Job.drain`) into a :class:`Batch` per tick. This module imports nothing of the
project, so every core package may use it.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- from the provider ------------------------------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer, to be appended as is."""

    text: str


@dataclass(frozen=True)
class Thinking:
    """The model is reasoning; ``chars`` characters of reasoning arrived. Never written as the answer."""

    chars: int


@dataclass(frozen=True)
class Usage:
    """Token usage (LiteLLM's ``usage``): prompt and completion tokens. ``estimated`` is True when the
    provider reported none and LiteLLM counted the tokens itself (it fills in ``usage`` at the end of
    a stream that asked for it either way). ``cost_usd``: what a studio gateway (LiteLLM Proxy) priced the answer
    at, USD, when it said (its final usage chunk's ``cost``, or the ``x-litellm-response-cost`` header); None
    otherwise."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Finished:
    """The answer ended normally. ``finish_reason`` as the provider gave it (``stop``, ``length``...);
    ``model``: the model that answered (after a fallback, not the one asked first)."""

    finish_reason: str | None
    model: str


@dataclass(frozen=True)
class Failed:
    """The request failed. ``message`` is safe to show a person (no key, no traceback);
    ``error_type``: the error's kind (a :class:`~.provider.errors.ErrorKind`, a ``str``)."""

    message: str
    error_type: str

    @property
    def kind(self) -> str:
        """The error's kind (same as ``error_type``)."""
        return self.error_type


@dataclass(frozen=True)
class Cancelled:
    """The job was cancelled by the user or by Blender's lifecycle (file load, add-on disable)."""

    reason: str


# --- from the worker --------------------------------------------------------------------------


@dataclass(frozen=True)
class Retrying:
    """Waiting ``delay`` seconds before retry ``attempt`` of ``max_retries`` for ``model``; ``reason`` says
    why (shown to the user), ``kind`` is the error's kind (coverage runs back off together on
    ``rate_limit``)."""

    model: str
    attempt: int
    max_retries: int
    delay: float
    reason: str
    kind: str = "error"


@dataclass(frozen=True)
class FallingBack:
    """``failed_model`` failed before its first token (``reason``); ``next_model`` is tried now."""

    failed_model: str
    next_model: str
    reason: str


@dataclass(frozen=True)
class GatewayReport:
    """What a studio gateway's response headers said (a :class:`~.provider.gateway.GatewayFigures`: the key's
    spend, rate-limit headroom); yielded before ``Finished``."""

    figures: object


@dataclass(frozen=True)
class Priced:
    """What the answer cost (tokens and USD, a :class:`~.accounting.cost.Cost`); queued just before the
    outcome."""

    cost: object


@dataclass(frozen=True)
class Notice:
    """Something the user should read that does not stop the job (a budget warning, a cache bypass)."""

    text: str


@dataclass(frozen=True)
class ContextReport:
    """What a chat request carries: tokens used of the window, turns sent, dropped or summarised."""

    text: str


Event = TextDelta | Thinking | Usage | GatewayReport | Finished | Failed | Cancelled
Outcome = Finished | Failed | Cancelled
JobEvent = Event | Retrying | FallingBack | Priced | Notice | ContextReport


@dataclass
class Batch:
    """What one drain of a job's queue produced, coalesced for a single write.

    ``text`` is every text delta joined in order; ``deltas`` how many there were; ``outcome`` is set
    once the job has ended and everything before it was drained.
    """

    text: str = ""
    deltas: int = 0
    thinking: bool = False
    usage: Usage | None = None
    outcome: Outcome | None = None

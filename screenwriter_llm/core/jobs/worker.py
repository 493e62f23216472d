"""The worker thread of one job: the models in order, the retry policy, fallbacks, and the outcome.

Runs on a daemon thread started by :meth:`~.job.Job.start`; never touches bpy. It gets a
:class:`~.plan.Plan` and gives back events (:mod:`..events`) through ``put``. Worker-only state (what was
received, which model answered) lives here; what it shares with the main thread is in
:class:`~.control.Control`.

Two checks are the worker's own: a prompt whose estimated tokens alone exceed a model's context window is
refused before anything is sent (:meth:`Worker._too_long`; the chat task fits itself through
``plan.prepare``), and a stream that ended without the provider's finish reason (``Finished.finish_reason``
None, :func:`..provider.llm.stream_completion`) is reported as ``Failed(..., "incomplete")``, the text
received kept. Exceptions that carry ``screenwriter_kind`` (:class:`..provider.llm.ProviderResponseError`)
are taken at their word: that kind, and ``str(exc)`` as the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from ..accounting import cost as costs
from ..accounting.accountant import Accountant, cached_events
from ..accounting.cost import Cost
from ..events import (
    Cancelled,
    ContextReport,
    Event,
    Failed,
    FallingBack,
    Finished,
    JobEvent,
    Outcome,
    Retrying,
    TextDelta,
    Usage,
)
from ..provider import errors, gateway
from ..provider.llm import LLMRequest
from ..tasks.context import ContextTooLarge
from .control import Control
from .plan import Deadlines, Plan

#: The provider call: ``(request, cancelled, on_response) -> events`` (:func:`..provider.llm.stream_completion`).
StreamFn = Callable[[LLMRequest, Any, Callable[[Any], None]], Iterator[Event]]

#: Kinds of our own exceptions (``screenwriter_kind``) worth waiting and sending again (before the first token).
RETRYABLE_OWN_KINDS = frozenset({"unavailable", "rate_limit", "connection"})
#: Per-message and per-request token overhead of a chat prompt, at most (LiteLLM's ``token_counter`` adds
#: 3-4 per message and 3 per request): with it, the UTF-8 size of the messages bounds their token count
#: from above (every tiktoken token is at least one byte), so most prompts need no counting at all.
_MESSAGE_OVERHEAD = 8
#: Tokens no model's context window is smaller than: a prompt bounded below it is never looked at.
_SMALLEST_WINDOW = 4096


def own_kind(exc: BaseException) -> str | None:
    """``exc.screenwriter_kind`` when ``exc`` says its own kind (a :class:`..provider.llm.ProviderResponseError`),
    else None."""
    kind = getattr(exc, "screenwriter_kind", None)
    return kind if isinstance(kind, str) and kind else None


def incomplete_message(model: str, text_shown: bool) -> str:
    """What an answer that ended without the provider's finish reason says, with what to do."""
    if text_shown:
        return (
            f"The answer from {model} ended without the provider saying it was finished, so it may be cut off; "
            "run it again for a full answer."
        )
    return (
        f"The stream from {model} ended without an answer or the provider saying it was finished, so an answer "
        "may be cut off; run it again."
    )


def too_long_message(model: str, tokens: int, window: int, known: bool = True) -> str:
    """What a prompt over ``model``'s context window says (``tokens`` estimated, ``window`` in tokens;
    ``known``: the window is LiteLLM's, not the Default Context Window preference)."""
    advice = (
        "Shorten the scene (split a long scene at a new scene heading) or choose a model with a larger context window"
    )
    if known:
        return (
            f"The prompt is about {tokens:,} tokens, more than {model}'s context window of {window:,} tokens, "
            f"so nothing was sent. {advice}."
        )
    return (
        f"The prompt is about {tokens:,} tokens, more than the {window:,}-token context window assumed for "
        f"{model} (LiteLLM does not know its window; Default Context Window in the add-on preferences), so "
        f"nothing was sent. {advice}, or raise Default Context Window if {model} takes more."
    )


def timeout_message(model: str, deadlines: Deadlines, text_shown: bool) -> str:
    """What a first-token or stall timeout says (seconds from ``deadlines``), with what to do."""
    if text_shown:
        return (
            f"{model} stopped sending for {deadlines.stall:.0f} s (stall timeout); the answer is "
            "incomplete. Try again, or raise the Stall Timeout in the add-on preferences."
        )
    return (
        f"No answer from {model} within {deadlines.first_token:.0f} s (first-token timeout). The "
        "provider may be overloaded: try again, choose another model, or raise the First Token Timeout "
        "in the add-on preferences."
    )


class Worker:
    """Runs one plan to its outcome. :meth:`run` is the whole thread body; it returns after queueing the
    outcome, which is always the last event."""

    def __init__(
        self, plan: Plan, control: Control, put: Callable[[JobEvent], None], stream_fn: StreamFn, started_at: float
    ) -> None:
        self.plan = plan
        self.control = control
        self._put = put
        self._stream_fn = stream_fn
        self._started_at = started_at
        self._accountant = Accountant(plan.accounting, put)
        self.requests_sent = 0
        self._answered: LLMRequest | None = None
        self._finished: Finished | None = None
        self._answer_parts: list[str] = []
        self._usage: Usage | None = None
        self._cost: Cost | None = None
        self._first_text_at: float | None = None

    def run(self) -> None:
        """Serve from the cache or run the models; account; queue the outcome. Never raises."""
        final: Outcome | None = None
        try:
            final = self._from_cache() or self._run_models()
        except BaseException as exc:  # noqa: BLE001 - a defect must still end the job with a message
            message, kind = self._describe(exc, self.plan.request)
            final = Failed(message, kind)
        finally:
            if self.control.cancelled.is_set():
                # The read error caused by closing the stream is expected and ignored (DESIGN.md).
                final = Cancelled(self.control.reason or "Cancelled")
            if final is None:
                final = Failed("The request ended without an answer or an error; please try again.", "error")
            # Account before the outcome is queued, so whoever sees the outcome also sees the ledger row.
            self._accountant.account(
                final,
                self._answered or self.plan.request,
                "".join(self._answer_parts),
                self._usage,
                self._cost,
                self._started_at,
                self._first_text_at,
            )
            self._put(final)
            self.control.forget_response()

    def _from_cache(self) -> Outcome | None:
        request = self.plan.request
        reply = self._accountant.from_cache(request)
        if reply is None:
            return None
        self._answered = request
        self._answer_parts.append(reply.text)
        self._usage, self._cost = reply.usage, reply.cost
        for event in cached_events(reply):
            self._put(event)
        return Finished("stop", request.model)

    def _run_models(self) -> Outcome | None:
        """Try the model, then each fallback, each with the retry policy; stop at the first answer, the first
        failure after text was shown, cancellation or an expired deadline."""
        candidates = self.plan.requests
        for index, request in enumerate(candidates):
            if self.plan.prepare is not None:
                try:
                    request, report = self.plan.prepare(request)
                except ContextTooLarge as too_large:
                    return Failed(str(too_large), "context_window")
                self._put(ContextReport(report))
            too_long = None if self.plan.prepare is not None else self._too_long(request)
            if too_long is None:
                refusal = self._accountant.refusal(request)
                if refusal is not None:
                    return refusal
                exc = self._run_with_retries(request)
                if self.control.cancelled.is_set():
                    return None
                if exc is None:
                    return self._outcome(request)
                message, kind = self._explain(exc, request)
            else:
                message, kind = too_long, "context_window"
            has_next = index + 1 < len(candidates)
            falls_back = kind in errors_fallback_kinds()
            if self.control.text_shown or self.control.expired or not has_next or not falls_back:
                return Failed(message, kind)
            self._put(FallingBack(request.model, candidates[index + 1].model, message))
        return None

    def _outcome(self, request: LLMRequest) -> Outcome | None:
        """The answer's outcome: its ``Finished``, or ``Failed(..., "incomplete")`` when a real stream (not a
        mock answer) ended without the provider's finish reason (the text received stays)."""
        finished = self._finished
        if finished is not None and finished.finish_reason is None and request.mock_response is None:
            return Failed(incomplete_message(request.model, self.control.text_shown), "incomplete")
        return finished

    def _too_long(self, request: LLMRequest) -> str | None:
        """The message refusing ``request`` when its prompt alone is over the model's context window
        (estimated with :func:`..accounting.cost.count_tokens`, LiteLLM's offline tokenizer; the window as
        :func:`..accounting.cost.context_window` takes it: LiteLLM's offline map through
        :func:`..accounting.cost.lookup_model`, else the Default Context Window preference, which the
        message then names), else None.
        Prompts whose UTF-8 size and overhead fit the window are never counted (a token is at least a
        byte). Mock answers are never refused; a tokenizer failure lets the request go (the provider
        decides)."""
        if request.mock_response is not None:
            return None
        size = sum(len(str(m.get("content") or "").encode("utf-8")) for m in request.messages)
        bound = size + _MESSAGE_OVERHEAD * (len(request.messages) + 1)
        if bound <= _SMALLEST_WINDOW:
            return None
        try:
            info = costs.lookup_model(request.model)
            mapped = info.max_input_tokens if info is not None else None
            known = bool(mapped)
            window = int(mapped) if mapped else self.plan.accounting.default_window
            if bound <= window:
                return None
            tokens = costs.count_tokens(request.model, request.messages)
        except Exception:  # noqa: BLE001 - the estimate is a courtesy; the provider still checks
            return None
        return too_long_message(request.model, tokens, window, known) if tokens > window else None

    def _run_with_retries(self, request: LLMRequest) -> BaseException | None:
        """Run ``request`` until it answers (None) or fails for good (the last exception)."""
        request = replace(request, read_timeout=min(request.read_timeout, self.plan.deadlines.read_timeout))
        policy = self.plan.policy
        attempt = 0
        waited = 0.0
        while True:
            try:
                self._attempt(request)
                return None
            except BaseException as exc:  # noqa: BLE001 - classified below, never swallowed silently
                if self.control.cancelled.is_set() or self.control.text_shown or self.control.expired:
                    return exc
                own = own_kind(exc)
                if own is not None and own not in RETRYABLE_OWN_KINDS:
                    return exc
                delay = policy.delay(exc, attempt, waited, own, gateway.is_gateway(request.model))
                if delay is None:
                    return exc
                attempt += 1
                message, kind = self._describe(exc, request)
                self._put(Retrying(request.model, attempt, policy.max_retries, delay, message, str(kind)))
                if self.control.cancelled.wait(delay):
                    return exc
                waited += delay

    def _attempt(self, request: LLMRequest) -> None:
        """One request: stream its events into the queue. Raises what LiteLLM raises; raises
        ``TimeoutError`` when a deadline expired (the deadline check closed the stream)."""
        self.requests_sent += 1
        control = self.control
        control.attempt_started()
        for event in self._stream_fn(request, control.cancelled, control.remember_response):
            is_text = isinstance(event, TextDelta)
            if is_text and self._first_text_at is None:
                self._first_text_at = time.monotonic()
            control.chunk_arrived(is_text)
            if control.cancelled.is_set():
                return
            if control.expired:
                raise TimeoutError(control.expired)
            if isinstance(event, TextDelta):
                self._answer_parts.append(event.text)
            elif isinstance(event, Usage):
                self._usage = event
            elif isinstance(event, Finished):
                # Held back: the worker queues it last, after pricing (see run).
                self._finished = Finished(event.finish_reason, request.model)
                self._answered = request
                continue
            self._put(event)
        if control.expired:
            raise TimeoutError(control.expired)

    def _explain(self, exc: BaseException, request: LLMRequest) -> tuple[str, str]:
        """A message and kind for a final failure, with the deadline or the partial answer in mind."""
        if self.control.expired:
            return self.control.expired, "timeout"
        if own_kind(exc) is not None:
            return self._describe(exc, request)
        if errors.is_timeout(exc):
            return timeout_message(request.model, self.plan.deadlines, self.control.text_shown), "timeout"
        message, kind = errors.describe_exception(exc, request.model, request.api_base, (request.api_key,))
        if self.control.text_shown:
            cause = errors.cause_summary(exc, secrets=(request.api_key,))
            return (
                f"The answer from {request.model} broke off before it was complete ({cause}). "
                "The text above is what arrived; run it again for a full answer.",
                kind,
            )
        return message, kind

    @staticmethod
    def _describe(exc: BaseException, request: LLMRequest) -> tuple[str, str]:
        """``(message, kind)`` of ``exc``: its own (``screenwriter_kind``, ``str(exc)``, redacted) when it
        says them, else :func:`..provider.errors.describe_exception`."""
        kind = own_kind(exc)
        if kind is not None:
            return errors.redact(str(exc), (request.api_key,)), kind
        message, error_kind = errors.describe_exception(exc, request.model, request.api_base, (request.api_key,))
        return message, str(error_kind)


def errors_fallback_kinds() -> frozenset[str]:
    """The kinds of failure after which the next fallback model is worth trying (the retry module's list)."""
    from ..provider.retry import FALLBACK_KINDS

    return frozenset(str(kind) for kind in FALLBACK_KINDS)

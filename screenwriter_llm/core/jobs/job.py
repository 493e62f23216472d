"""Background jobs: one worker thread per request, events on a queue, cancellation, and the drain
that the main-thread pump calls.

Never imports ``bpy``: the worker gets a plain :class:`~.llm.LLMRequest` snapshot and gives back
events; only the main thread writes Blender data (DESIGN.md, "Data flows one way").
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from ..accounting.budget import Limits
from ..accounting.cost import Cost, tokens_per_second
from ..provider import errors
from ..provider.llm import (
    Cancelled,
    Event,
    Failed,
    Finished,
    LLMRequest,
    TextDelta,
    Thinking,
    Usage,
    close_stream,
    stream_completion,
)
from ..provider.retry import FALLBACK_KINDS, RetryPolicy
from ..tasks.context import ContextTooLarge

THREAD_NAME_PREFIX = "screenwriter-job-"
_ids = itertools.count(1)

Outcome = Finished | Failed | Cancelled
StreamFn = Callable[[LLMRequest, threading.Event, Callable[[Any], None]], Iterator[Event]]


@dataclass(frozen=True)
class Retrying:
    """Waiting ``delay`` seconds before retry ``attempt`` of ``max_retries`` for ``model``."""

    model: str
    attempt: int
    max_retries: int
    delay: float
    reason: str


@dataclass(frozen=True)
class FallingBack:
    """``failed_model`` failed before its first token (``reason``); ``next_model`` is tried now."""

    failed_model: str
    next_model: str
    reason: str


@dataclass(frozen=True)
class Priced:
    """What the answer cost (tokens and USD, see :class:`~.cost.Cost`); queued just before ``Finished``."""

    cost: Cost


@dataclass(frozen=True)
class Notice:
    """Something the user should read that does not stop the job (a budget warning, what the chat's
    context kept or dropped)."""

    text: str


@dataclass(frozen=True)
class ContextReport:
    """What a chat request carries: tokens used of the window, turns sent, dropped or summarised."""

    text: str


@dataclass(frozen=True)
class Accounting:
    """How a job accounts for itself, on its worker thread.

    ``operator``/``script`` label the ledger row; ``ledger_path``: the SQLite usage ledger (None: no
    ledger); ``cache_path``: the opt-in response cache (None: off); ``limits``: budgets checked before
    sending; ``custom_rates``: (USD per input token, USD per output token) for models not in LiteLLM's
    map; ``default_window``: tokens, for models LiteLLM does not know; ``price``: price the answer
    even without a ledger.
    """

    operator: str = ""
    script: str = ""
    ledger_path: str | None = None
    cache_path: str | None = None
    limits: Limits | None = None
    custom_rates: tuple[float, float] | None = None
    default_window: int = 8192
    price: bool = False


@dataclass(frozen=True)
class Deadlines:
    """Deadlines the job owns, in seconds (LiteLLM's ``timeout`` is per read, not a deadline).

    ``first_token``: from the start of an attempt to its first text (preference, default 30);
    ``stall``: the longest silence between chunks once text flows; ``total``: the whole job.
    LiteLLM's per-read timeout is set to the smaller of the first two, so a connection on which the
    provider never answers is abandoned in time even before any response object exists.
    """

    first_token: float = 30.0
    stall: float = 30.0
    total: float = 600.0

    @property
    def read_timeout(self) -> float:
        """The per-read timeout passed to LiteLLM."""
        return min(self.first_token, self.stall)


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


@dataclass
class Job:
    """One request to a model, run on a daemon worker thread named ``screenwriter-job-<n>``.

    The owner calls :meth:`start`, then :meth:`drain` on the main thread until :attr:`outcome` is set.
    :meth:`cancel` may be called from any thread. Timing fields are ``time.monotonic()`` seconds.
    ``label`` and ``target`` are free-form (the bpy layer uses them for the source and output Text).
    """

    request: LLMRequest
    label: str = ""
    target: str = ""
    fallbacks: tuple[LLMRequest, ...] = ()
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    deadlines: Deadlines = field(default_factory=Deadlines)
    accounting: Accounting = field(default_factory=lambda: Accounting())
    prepare: Callable[[LLMRequest], tuple[LLMRequest, str]] | None = field(default=None, repr=False)
    on_outcome: Callable[[Job], None] | None = field(default=None, repr=False)
    stream_fn: StreamFn = stream_completion
    id: int = field(default_factory=lambda: next(_ids))
    events: queue.Queue[JobEvent] = field(default_factory=queue.Queue, repr=False)
    started_at: float | None = None
    first_token_at: float | None = None
    ended_at: float | None = None
    deltas_received: int = 0
    chars_received: int = 0
    thinking: bool = False
    usage: Usage | None = None
    outcome: Outcome | None = None
    answered_by: str = ""
    retry: Retrying | None = None
    retry_until: float | None = None
    fallback: FallingBack | None = None
    requests_sent: int = 0
    retries_made: int = 0
    cost: Cost | None = None
    notices: list[str] = field(default_factory=list)
    context_report: str = ""
    received: list[str] = field(default_factory=list, repr=False)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _cancel_reason: str = ""
    _thread: threading.Thread | None = field(default=None, repr=False)
    _response: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _expired: str = ""
    _finished: Finished | None = None
    _answered: LLMRequest | None = None
    _answer_parts: list[str] = field(default_factory=list, repr=False)
    _usage_seen: Usage | None = None
    _first_text_at: float | None = None
    _cost: Cost | None = None
    _cache_key: str | None = None
    _refused: bool = False
    _attempt_started_at: float = 0.0
    _last_chunk_at: float = 0.0
    _text_shown: bool = False

    # --- worker side ---------------------------------------------------------------------------

    def start(self) -> Job:
        """Start the worker thread; returns self. Never blocks: the new thread waits until ``start``
        has returned, so it cannot take the GIL from the caller for a switch interval (5 ms) right
        away (measured in scripts/bench.py as most of the add-on's time-to-first-token overhead)."""
        self.started_at = time.monotonic()
        go = threading.Event()
        self._thread = threading.Thread(
            target=self._run_when, args=(go,), name=f"{THREAD_NAME_PREFIX}{self.id}", daemon=True
        )
        self._thread.start()
        go.set()
        return self

    def _run_when(self, go: threading.Event) -> None:
        go.wait()
        self._run()

    def _remember_response(self, response: Any) -> None:
        with self._lock:
            self._response = response
            cancelled = self._cancel.is_set()
        if cancelled:
            close_stream(response)

    def _run(self) -> None:
        final: Outcome | None = None
        try:
            final = self._work()
        except BaseException as exc:  # noqa: BLE001 - a defect must still end the job with a message
            message, kind = errors.describe_exception(
                exc, self.request.model, self.request.api_base, (self.request.api_key,)
            )
            final = Failed(message, kind)
        finally:
            if self._cancel.is_set():
                # The read error caused by closing the stream is expected and ignored (DESIGN.md).
                final = Cancelled(self._cancel_reason or "Cancelled")
            if final is None:
                final = Failed("The request ended without an answer or an error; please try again.", "error")
            # Account before the outcome is queued, so whoever sees the outcome also sees the ledger row.
            self._account(final)
            self.events.put(final)
            with self._lock:
                self._response = None

    def _work(self) -> Outcome | None:
        """Serve from the cache, check the budget, then run the models. Returns the outcome (None when
        cancelled)."""
        cached = self._from_cache()
        if cached is not None:
            return cached
        return self._run_models()

    def _run_models(self) -> Outcome | None:
        """Try the primary model, then each fallback, each with the retry policy; stop at the first
        answer, the first failure after text was shown, cancellation or an expired deadline."""
        candidates = (self.request, *self.fallbacks)
        for index, request in enumerate(candidates):
            if self.prepare is not None:
                try:
                    request, report = self.prepare(request)
                except ContextTooLarge as too_large:
                    return Failed(str(too_large), "context_window")
                self.events.put(ContextReport(report))
            refusal = self._budget_refusal(request)
            if refusal is not None:
                return refusal
            exc = self._run_with_retries(request)
            if self._cancel.is_set():
                return None
            if exc is None:
                return self._finished
            message, kind = self._explain(exc, request)
            has_next = index + 1 < len(candidates)
            if self._text_shown or self._expired or not has_next or kind not in FALLBACK_KINDS:
                return Failed(message, kind)
            self.events.put(FallingBack(request.model, candidates[index + 1].model, message))
        return None

    # --- accounting (worker thread; LiteLLM only through core.cost) ------------------------------

    def _from_cache(self) -> Outcome | None:
        """Answer from the local response cache (opt-in, temperature 0 only) without any request."""
        acc = self.accounting
        if not acc.cache_path or self.request.mock_response is not None:
            return None
        from ..accounting.cache import ResponseCache, request_key

        request = self.request
        self._cache_key = request_key(
            request.model, list(request.messages), request.temperature, request.max_tokens, request.api_base
        )
        if self._cache_key is None:
            return None
        hit = ResponseCache(acc.cache_path).get(self._cache_key)
        if hit is None:
            return None
        self._answered = request
        self._answer_parts.append(hit.text)
        self._usage_seen = Usage(hit.prompt_tokens or 0, hit.completion_tokens or 0)
        self._cost = Cost.cached(hit.prompt_tokens, hit.completion_tokens)
        self.events.put(TextDelta(hit.text))
        self.events.put(self._usage_seen)
        return Finished("stop", request.model)

    def _budget_refusal(self, request: LLMRequest) -> Failed | None:
        """Refuse before sending when the estimate would take a budget over its limit; warn at 75/90 %."""
        acc = self.accounting
        if acc.limits is None or not acc.limits.active() or not acc.ledger_path:
            return None
        from ..accounting import budget, cost
        from ..accounting.usage import UsageLedger

        estimate = cost.estimate_request(
            request.model, request.messages, request.max_tokens, acc.default_window, acc.custom_rates
        )
        decision = budget.check(UsageLedger(acc.ledger_path), acc.limits, estimate.cost)
        if decision.status == "refused":
            self._refused = True
            return Failed(decision.message, "budget")
        if decision.message:
            self.events.put(Notice(decision.message))
        return None

    def _account(self, final: Outcome) -> None:
        """Price the answer (provider usage, else counted and marked estimated), queue it as ``Priced``
        and write the ledger row. Never raises: accounting must not cost the user their answer."""
        acc = self.accounting
        if not acc.ledger_path and not acc.cache_path and not acc.price:
            return
        if self._refused:
            return  # nothing was sent
        from ..accounting import cost as costs
        from ..accounting.usage import UsageLedger, UsageRecord

        request = self._answered or self.request
        answer = "".join(self._answer_parts)
        try:
            if self._cost is None:
                usage = self._usage_seen if self._usage_seen and not self._usage_seen.estimated else None
                self._cost = costs.cost_of_answer(
                    request.model,
                    request.messages,
                    answer,
                    usage.prompt_tokens if usage else None,
                    usage.completion_tokens if usage else None,
                    acc.custom_rates,
                )
            self.events.put(Priced(self._cost))
            outcome = "finished" if isinstance(final, Finished) else type(final).__name__.lower()
            if self._cost.pricing == "cached":
                outcome = "cached"
            if acc.ledger_path:
                ttft = None if self._first_text_at is None else self._first_text_at - (self.started_at or 0.0)
                UsageLedger(acc.ledger_path).record(
                    UsageRecord.from_cost(
                        self._cost,
                        model=request.model,
                        outcome=outcome,
                        operator=acc.operator,
                        script=acc.script,
                        ttft_s=ttft,
                        duration_s=time.monotonic() - (self.started_at or time.monotonic()),
                    )
                )
            if acc.cache_path and self._cache_key and outcome == "finished" and answer:
                from ..accounting.cache import ResponseCache

                ResponseCache(acc.cache_path).put(
                    self._cache_key, answer, request.model, self._cost.input_tokens, self._cost.output_tokens
                )
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self.events.put(Notice(f"Usage could not be recorded: {errors.cause_summary(exc)}"))

    def _run_with_retries(self, request: LLMRequest) -> BaseException | None:
        """Run ``request`` until it answers (None) or fails for good (the last exception)."""
        request = replace(request, read_timeout=min(request.read_timeout, self.deadlines.read_timeout))
        attempt = 0
        waited = 0.0
        while True:
            try:
                self._attempt(request)
                return None
            except BaseException as exc:  # noqa: BLE001 - classified below, never swallowed silently
                if self._cancel.is_set() or self._text_shown or self._expired:
                    return exc
                delay = self.policy.delay(exc, attempt, waited)
                if delay is None:
                    return exc
                attempt += 1
                message, _ = errors.describe_exception(exc, request.model, request.api_base, (request.api_key,))
                self.events.put(Retrying(request.model, attempt, self.policy.max_retries, delay, message))
                if self._cancel.wait(delay):
                    return exc
                waited += delay

    def _attempt(self, request: LLMRequest) -> None:
        """One request: stream its events into the queue. Raises what LiteLLM raises; raises
        ``TimeoutError`` when a deadline expired (the pump closed the stream)."""
        self.requests_sent += 1
        self._attempt_started_at = self._last_chunk_at = time.monotonic()
        for event in self.stream_fn(request, self._cancel, self._remember_response):
            self._last_chunk_at = time.monotonic()
            if self._cancel.is_set():
                return
            if self._expired:
                raise TimeoutError(self._expired)
            if isinstance(event, TextDelta):
                if not self._text_shown:
                    self._first_text_at = time.monotonic()
                self._text_shown = True
                self._answer_parts.append(event.text)
            elif isinstance(event, Usage):
                self._usage_seen = event
            elif isinstance(event, Finished):
                # Held back: the job queues it last, after pricing (see _run).
                self._finished = Finished(event.finish_reason, request.model)
                self._answered = request
                continue
            self.events.put(event)
        if self._expired:
            raise TimeoutError(self._expired)

    def _explain(self, exc: BaseException, request: LLMRequest) -> tuple[str, str]:
        """A message for a final failure, with the deadline or the partial answer in mind."""
        if self._expired:
            return self._expired, "timeout"
        if errors.is_timeout(exc):
            return self._timeout_message(request.model), "timeout"
        message, kind = errors.describe_exception(exc, request.model, request.api_base, (request.api_key,))
        if self._text_shown:
            cause = errors.cause_summary(exc, secrets=(request.api_key,))
            return (
                f"The answer from {request.model} broke off before it was complete ({cause}). "
                "The text above is what arrived; run it again for a full answer.",
                kind,
            )
        return message, kind

    def _timeout_message(self, model: str) -> str:
        if self._text_shown:
            return (
                f"{model} stopped sending for {self.deadlines.stall:.0f} s (stall timeout); the answer is "
                "incomplete. Try again, or raise the Stall Timeout in the add-on preferences."
            )
        return (
            f"No answer from {model} within {self.deadlines.first_token:.0f} s (first-token timeout). The "
            "provider may be overloaded: try again, choose another model, or raise the First Token Timeout "
            "in the add-on preferences."
        )

    def check_deadlines(self, now: float | None = None) -> None:
        """Enforce the deadlines (called by the pump on every tick, in both drivers). An expired job
        has its HTTP stream closed; the worker then reports the timeout as its outcome."""
        if self.outcome is not None or self._expired or self._cancel.is_set() or self.started_at is None:
            return
        now = time.monotonic() if now is None else now
        message = ""
        if now - self.started_at > self.deadlines.total:
            message = (
                f"The analysis took longer than {self.deadlines.total:.0f} s (the total limit) and was stopped. "
                "Lower Max Tokens or raise the limit in the add-on preferences."
            )
        elif self.retry_until is not None and now < self.retry_until:
            return  # waiting to retry is not silence
        elif (
            not self._text_shown
            and self._attempt_started_at
            and now - self._attempt_started_at > (self.deadlines.first_token)
        ):
            message = self._timeout_message(self.request.model)
        elif self._text_shown and now - self._last_chunk_at > self.deadlines.stall:
            message = self._timeout_message(self.request.model)
        if message:
            self._expired = message
            with self._lock:
                response = self._response
            if response is not None:
                close_stream(response)

    # --- any thread ----------------------------------------------------------------------------

    def cancel(self, reason: str = "Cancelled") -> None:
        """Ask the job to stop: sets the flag and closes the HTTP stream so the provider stops too.
        Idempotent; returns at once (use :meth:`join` to wait)."""
        with self._lock:
            if self._cancel.is_set():
                return
            self._cancel_reason = reason
            self._cancel.set()
            response = self._response
        if response is not None:
            close_stream(response)

    @property
    def cancel_requested(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the worker thread; True when it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def worker_alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # --- main thread ---------------------------------------------------------------------------

    def wait_for_event(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds until an event is queued (the synchronous pump driver uses
        this instead of sleeping). The event stays queued for :meth:`drain`."""
        if not self.events.empty():
            return
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        # Put it back at the front: queue.Queue has no peek, so re-queue through the internal deque.
        with self.events.mutex:
            self.events.queue.appendleft(event)
            self.events.not_empty.notify()

    def drain(self, max_events: int = 100_000) -> Batch:
        """Take every queued event (up to ``max_events``) and coalesce them into one :class:`Batch`.

        Updates the job's counters and timing. Call from the main thread (the pump).
        """
        batch = Batch()
        pieces: list[str] = []
        # Take everything queued in one step under the queue's lock (one get_nowait() per event costs
        # ~0.7 us each in lock round trips; measured in scripts/bench.py). Events after an outcome never
        # exist: the outcome is the worker's last event.
        with self.events.mutex:
            waiting = self.events.queue
            taken = [waiting.popleft() for _ in range(min(len(waiting), max_events))]
            if taken:
                self.events.not_full.notify_all()
        for event in taken:
            if isinstance(event, TextDelta):
                if self.first_token_at is None:
                    self.first_token_at = time.monotonic()
                    self.retry = self.retry_until = None
                pieces.append(event.text)
                batch.deltas += 1
            elif isinstance(event, Thinking):
                batch.thinking = self.thinking = True
            elif isinstance(event, Usage):
                batch.usage = self.usage = event
            elif isinstance(event, Retrying):
                self.retries_made += 1
                self.retry = event
                self.retry_until = time.monotonic() + event.delay
            elif isinstance(event, Priced):
                self.cost = event.cost
            elif isinstance(event, Notice):
                self.notices.append(event.text)
            elif isinstance(event, ContextReport):
                self.context_report = event.text
            elif isinstance(event, FallingBack):
                self.fallback = event
                self.retry = self.retry_until = None
            elif isinstance(event, (Finished, Failed, Cancelled)):
                if isinstance(event, Finished):
                    self.answered_by = event.model
                batch.outcome = self.outcome = event
                self.ended_at = time.monotonic()
                break
        batch.text = "".join(pieces)
        if batch.text:
            self.received.append(batch.text)
        self.deltas_received += batch.deltas
        self.chars_received += len(batch.text)
        return batch

    def fail_if_silent(self) -> None:
        """Queue a ``Failed`` event if the worker has ended without leaving an outcome (a defect, but the
        drivers must never wait forever for one)."""
        if self.outcome is None and not self.worker_alive and self.events.empty():
            self.events.put(Failed("The request ended without an answer or an error; please try again.", "error"))

    # --- presentation --------------------------------------------------------------------------

    @property
    def time_to_first_token(self) -> float | None:
        """Seconds from start to the first text delta, or None before it."""
        if self.first_token_at is None or self.started_at is None:
            return None
        return self.first_token_at - self.started_at

    @property
    def duration(self) -> float:
        """Seconds from start to end (or to now while running)."""
        if self.started_at is None:
            return 0.0
        return (self.ended_at or time.monotonic()) - self.started_at

    def status_line(self) -> str:
        """One line for the sidebar and the status bar: waiting / retrying in N s / thinking… /
        streaming N tokens / done with tokens in and out, time to first token, duration and the model
        that answered / the error and what to do."""
        outcome = self.outcome
        model = self.fallback.next_model if self.fallback else self.request.model
        if outcome is None:
            if self.cancel_requested:
                return "Cancelling…"
            if self.deltas_received:
                return f"Streaming… {self.deltas_received} tokens from {model}"
            if self.retry is not None and self.retry_until is not None:
                left = max(0, round(self.retry_until - time.monotonic()))
                return f"Provider busy — retrying in {left} s ({self.retry.attempt}/{self.retry.max_retries})"
            if self.thinking:
                return "Thinking…"
            if self.fallback is not None:
                return f"{self.fallback.failed_model} failed; trying fallback {model}…"
            return f"Waiting for {model}…"
        if isinstance(outcome, Failed):
            return f"Error: {outcome.message}"
        if isinstance(outcome, Cancelled):
            return f"{outcome.reason}: kept {self.deltas_received} tokens already written"
        parts = []
        if self.cost is not None:
            parts.append(self.cost.describe())
        elif self.usage:
            parts.append(f"{self.usage.prompt_tokens} in / {self.usage.completion_tokens} out tokens")
        else:
            parts.append(f"{self.deltas_received} tokens")
        ttft = self.time_to_first_token
        if ttft is not None:
            parts.append(f"first token {ttft:.2f} s")
        parts.append(f"{self.duration:.1f} s")
        output_tokens = self.cost.output_tokens if self.cost else (self.usage.completion_tokens if self.usage else 0)
        rate = tokens_per_second(output_tokens, ttft, self.duration)
        if rate is not None and ttft is not None:
            parts.append(f"{rate:.0f} tokens/s")
        if outcome.finish_reason == "length":
            parts.append("stopped at Max Tokens")
        by = self.answered_by or self.request.model
        if self.fallback is not None:
            by += " (fallback)"
        if self.retries_made:
            by += f" after {self.retries_made} {'retry' if self.retries_made == 1 else 'retries'}"
        return f"Done by {by}: " + ", ".join(parts)


class JobRegistry:
    """The running jobs of the add-on, keyed by job id. Main thread only."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}

    def add(self, job: Job) -> Job:
        """Track ``job`` until :meth:`discard`."""
        self._jobs[job.id] = job
        return job

    def discard(self, job: Job) -> None:
        """Stop tracking ``job`` (after its outcome was handled)."""
        self._jobs.pop(job.id, None)

    def jobs(self) -> list[Job]:
        """The tracked jobs, oldest first."""
        return list(self._jobs.values())

    def for_target(self, target: str) -> Job | None:
        """The tracked job writing into ``target``, if any."""
        return next((j for j in self._jobs.values() if j.target == target), None)

    def cancel_all(self, reason: str, join_timeout: float = 2.0) -> list[Job]:
        """Cancel every job, wait for their workers within one shared deadline of ``join_timeout``
        seconds, and return the jobs whose workers are still alive after it (normally none)."""
        jobs = self.jobs()
        for job in jobs:
            job.cancel(reason)
        deadline = time.monotonic() + join_timeout
        for job in jobs:
            job.join(max(0.0, deadline - time.monotonic()))
        return [j for j in jobs if j.worker_alive]

"""The handle of one job: start, cancel, join, deadlines, and the drain the main-thread pump calls.

A :class:`Job` runs a :class:`~.plan.Plan` on a daemon worker thread (:class:`~.worker.Worker`) and shows
its progress through events on a queue. The fields below are the main thread's view, updated only by
:meth:`Job.drain`; what both threads share lives on :class:`~.control.Control`. Never imports ``bpy``:
the worker gets plain data and gives back events (DESIGN.md, "Data flows one way").
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from typing import Any

from ..events import (
    Batch,
    Cancelled,
    ContextReport,
    Failed,
    FallingBack,
    Finished,
    GatewayReport,
    JobEvent,
    Notice,
    Outcome,
    Priced,
    Retrying,
    TextDelta,
    Thinking,
    Usage,
)
from ..provider.llm import LLMRequest, stream_completion
from .control import Control
from .plan import Plan
from .status import describe
from .worker import StreamFn, Worker, timeout_message

THREAD_NAME_PREFIX = "screenwriter-job-"
_ids = itertools.count(1)


class EventQueue:
    """A FIFO of job events the worker puts into and the main thread takes from in one step.

    Our own (a deque under a condition) because the drain takes everything at once and the synchronous
    driver waits for the next event without taking it; ``queue.Queue`` offers neither without reaching
    into its internals.
    """

    def __init__(self) -> None:
        self._items: collections.deque[JobEvent] = collections.deque()
        self._ready = threading.Condition(threading.Lock())

    def put(self, event: JobEvent) -> None:
        """Queue ``event`` (any thread)."""
        with self._ready:
            self._items.append(event)
            self._ready.notify_all()

    def take(self, limit: int) -> list[JobEvent]:
        """Take up to ``limit`` events, oldest first, in one step."""
        with self._ready:
            count = min(len(self._items), limit)
            return [self._items.popleft() for _ in range(count)]

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until an event is queued; True when one is (it stays queued)."""
        with self._ready:
            return self._ready.wait_for(lambda: bool(self._items), timeout)

    def empty(self) -> bool:
        """True when nothing is queued."""
        with self._ready:
            return not self._items


class Job:
    """One planned request, run on a daemon worker thread named ``screenwriter-job-<n>``.

    The owner calls :meth:`start`, then :meth:`drain` on the main thread until :attr:`outcome` is set.
    :meth:`cancel` may be called from any thread. Timing fields are ``time.monotonic()`` seconds.
    """

    def __init__(self, plan: Plan, stream_fn: StreamFn = stream_completion) -> None:
        self.plan = plan
        self.id = next(_ids)
        self.events = EventQueue()
        self.control = Control()
        self._stream_fn = stream_fn
        self._thread: threading.Thread | None = None
        self.worker: Worker | None = None
        # The main thread's view, updated by drain().
        self.started_at: float | None = None
        self.first_token_at: float | None = None
        self.ended_at: float | None = None
        self.deltas_received = 0
        self.chars_received = 0
        self.thinking = False
        self.usage: Usage | None = None
        self.outcome: Outcome | None = None
        self.answered_by = ""
        self.retry: Retrying | None = None
        self.retry_until: float | None = None
        self.fallback: FallingBack | None = None
        self.retries_made = 0
        self.cost: Any = None
        self.gateway: Any = None  # GatewayFigures of the last response, when a gateway sent them
        self.notices: list[str] = []
        self.context_report = ""
        self.received: list[str] = []

    def __repr__(self) -> str:
        return f"Job(id={self.id}, task={self.plan.task!r}, model={self.request.model!r}, target={self.target!r})"

    @property
    def request(self) -> LLMRequest:
        """The first model's request."""
        return self.plan.request

    @property
    def label(self) -> str:
        """The source Text the job works for (where its status shows)."""
        return self.plan.label

    @property
    def target(self) -> str:
        """The output Text the answer goes into ('' when it goes nowhere)."""
        return self.plan.target

    @property
    def model(self) -> str:
        """The model that answered, else the one being tried now."""
        if self.answered_by:
            return self.answered_by
        return self.fallback.next_model if self.fallback else self.request.model

    # --- lifecycle (main thread) ----------------------------------------------------------------

    def start(self) -> Job:
        """Start the worker thread; returns self. Never blocks: the new thread waits until ``start``
        has returned, so it cannot take the GIL from the caller for a switch interval (5 ms) right
        away (measured in scripts/bench.py as most of the add-on's time-to-first-token overhead)."""
        self.started_at = time.monotonic()
        self.worker = Worker(self.plan, self.control, self.events.put, self._stream_fn, self.started_at)
        go = threading.Event()
        self._thread = threading.Thread(
            target=self._run_when, args=(go, self.worker), name=f"{THREAD_NAME_PREFIX}{self.id}", daemon=True
        )
        self._thread.start()
        go.set()
        return self

    @staticmethod
    def _run_when(go: threading.Event, worker: Worker) -> None:
        go.wait()
        worker.run()

    def check_deadlines(self, now: float | None = None) -> None:
        """Enforce the deadlines (called by the pump on every tick, in both drivers). An expired job has its
        HTTP stream closed; the worker then reports the timeout as its outcome."""
        control = self.control
        if self.outcome is not None or control.expired or control.cancelled.is_set() or self.started_at is None:
            return
        now = time.monotonic() if now is None else now
        deadlines = self.plan.deadlines
        attempt_started, last_chunk, text_shown = control.timing()
        message = ""
        if now - self.started_at > deadlines.total:
            message = (
                f"The request took longer than {deadlines.total:.0f} s (the total limit) and was stopped. "
                "Lower Max Tokens or raise the limit in the add-on preferences."
            )
        elif self.retry_until is not None and now < self.retry_until:
            return  # waiting to retry is not silence
        elif not text_shown and attempt_started and now - attempt_started > deadlines.first_token:
            message = timeout_message(self.model, deadlines, text_shown)
        elif text_shown and now - last_chunk > deadlines.stall:
            message = timeout_message(self.model, deadlines, text_shown)
        if message:
            control.expire(message)

    # --- any thread -------------------------------------------------------------------------------

    def cancel(self, reason: str = "Cancelled") -> None:
        """Ask the job to stop: sets the flag and closes the HTTP stream so the provider stops too.
        Idempotent; returns at once (use :meth:`join` to wait)."""
        self.control.cancel(reason)

    @property
    def cancel_requested(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self.control.cancelled.is_set()

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

    # --- main thread ----------------------------------------------------------------------------

    def wait_for_event(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds until an event is queued (the synchronous driver uses this instead
        of sleeping). The event stays queued for :meth:`drain`."""
        self.events.wait(timeout)

    def drain(self, max_events: int = 100_000) -> Batch:
        """Take every queued event (up to ``max_events``) and coalesce them into one :class:`Batch`.

        Updates the job's counters and timing. Main thread (the pump).
        """
        batch = Batch()
        pieces: list[str] = []
        # Events after an outcome never exist: the outcome is the worker's last event.
        for event in self.events.take(max_events):
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
            elif isinstance(event, GatewayReport):
                self.gateway = event.figures
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

    @property
    def answer(self) -> str:
        """The answer text drained so far."""
        return "".join(self.received)

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
        """The one-line status (see :func:`.status.describe`)."""
        return describe(self).text


class JobRegistry:
    """Running jobs keyed by id, oldest first. Main thread only."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}

    def add(self, job: Job) -> Job:
        """Track ``job`` until :meth:`discard`."""
        self._jobs[job.id] = job
        return job

    def discard(self, job: Job) -> None:
        """Stop tracking ``job``."""
        self._jobs.pop(job.id, None)

    def jobs(self) -> list[Job]:
        """The tracked jobs, oldest first."""
        return list(self._jobs.values())

    def for_target(self, target: str) -> Job | None:
        """The tracked job writing into ``target``, if any."""
        return next((j for j in self._jobs.values() if target and j.target == target), None)

    def cancel_all(self, reason: str, join_timeout: float = 2.0) -> list[Job]:
        """Cancel every job, wait for their workers within one shared deadline of ``join_timeout`` seconds,
        and return the jobs whose workers are still alive after it (normally none)."""
        jobs = self.jobs()
        for job in jobs:
            job.cancel(reason)
        deadline = time.monotonic() + join_timeout
        for job in jobs:
            job.join(max(0.0, deadline - time.monotonic()))
        return [j for j in jobs if j.worker_alive]

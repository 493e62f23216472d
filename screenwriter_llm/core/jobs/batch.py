"""Whole-script runs: many planned jobs (one per scene) with bounded concurrency and a shared backoff.

Pure Python (no bpy). Every job of the run is planned before the run starts (:class:`BatchItem`); the run
only decides when each starts: at most ``concurrency`` at once, and when any job is told by the provider
to slow down (a rate limit), none starts until that wait is over, so the whole batch backs off together
instead of every worker hammering the limit. The pump that drains the jobs steps the run and starts what
:meth:`BatchRun.step` hands back; nothing here calls back into the Blender layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..events import Failed, Finished
from .job import Job

#: Failure kinds after which no other scene of the run can fare better (the same budget, model and endpoint serve
#: them all): the run stops starting scenes instead of sending every one to the same refusal. A rejected key is not
#: among them: one 401 may be a gateway's or load balancer's glitch, and costs one quick request per scene.
STOPS_RUN = frozenset({"no_key", "budget", "not_allowed", "online_access", "connection", "unknown_provider"})


@dataclass
class BatchItem:
    """One planned job of a run: ``number`` (the scene number), the job (not started) and what the caller
    needs to start it (its sink), opaque here."""

    number: int
    job: Job
    payload: object = None


@dataclass
class BatchRun:
    """Planned ``pending`` items in order, the ``running`` ones, and what became of the others.

    ``done``/``failed`` collect scene numbers (failed: number -> message); ``skipped``: scenes not run
    (already analysed); ``paused_until``: the shared backoff deadline (``time.monotonic()`` seconds);
    ``payload``: what the caller keeps with the run (its report sink); ``stopped``: why the run stopped
    starting scenes (a failure of a kind in :data:`STOPS_RUN`; the scenes not sent are failed with that reason,
    so the next run retries them).
    """

    pending: list[BatchItem]
    concurrency: int = 4
    label: str = ""
    skipped: list[int] = field(default_factory=list)
    payload: object = None
    running: dict[int, BatchItem] = field(default_factory=dict)
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    paused_until: float = 0.0
    total: int = 0
    cancelled: bool = False
    stopped: str = ""

    def __post_init__(self) -> None:
        self.total = self.total or len(self.pending) + len(self.skipped)
        self.concurrency = max(1, self.concurrency)

    def step(self, now: float | None = None) -> list[BatchItem]:
        """Collect ended jobs, share any rate-limit wait, and return the items to start now (they count as
        running from here). Call after the pump drained the running jobs."""
        now = time.monotonic() if now is None else now
        for number, item in list(self.running.items()):
            job = item.job
            if job.retry is not None and job.retry_until and str(job.retry.kind) == "rate_limit":
                self.paused_until = max(self.paused_until, job.retry_until)
            if job.outcome is None:
                continue
            del self.running[number]
            if isinstance(job.outcome, Finished):
                self.done.append(number)
            else:
                self.failed[number] = job.outcome.message if isinstance(job.outcome, Failed) else "cancelled"
                kind = str(job.outcome.error_type) if isinstance(job.outcome, Failed) else ""
                # A connection dropped mid-answer says nothing of the other scenes; one never made does.
                if kind in STOPS_RUN and not (kind == "connection" and job.chars_received):
                    self._stop(number, self.failed[number])
        if self.cancelled or self.stopped or now < self.paused_until:
            return []
        started = []
        while self.pending and len(self.running) < self.concurrency:
            item = self.pending.pop(0)
            self.running[item.number] = item
            started.append(item)
        return started

    def _stop(self, number: int, message: str) -> None:
        """Start no more scenes after scene ``number`` failed with ``message``; the pending ones are failed as
        not sent."""
        if self.stopped:
            return
        self.stopped = message
        for item in self.pending:
            self.failed[item.number] = f"Not sent: the run stopped after scene {number} failed: {message}"
        self.pending.clear()

    def cancel(self, reason: str = "Cancelled") -> None:
        """Start nothing more and cancel the running jobs (what they wrote stays)."""
        self.cancelled = True
        self.pending.clear()
        for item in self.running.values():
            item.job.cancel(reason)

    @property
    def finished(self) -> bool:
        """True when nothing is pending or running."""
        return not self.pending and not self.running

    @property
    def progress(self) -> float:
        """Fraction of scenes finished (done, failed or skipped), 0-1."""
        if not self.total:
            return 1.0
        return (len(self.done) + len(self.failed) + len(self.skipped)) / self.total

    def status_line(self, now: float | None = None) -> str:
        """ "Coverage: 37/190 scenes (8 running, 1 failed)" or the shared wait."""
        now = time.monotonic() if now is None else now
        finished = len(self.done) + len(self.failed) + len(self.skipped)
        line = f"Coverage: {finished}/{self.total} scenes"
        extras = []
        if self.running:
            extras.append(f"{len(self.running)} running")
        if self.failed:
            extras.append(f"{len(self.failed)} failed")
        if self.skipped:
            extras.append(f"{len(self.skipped)} already done")
        if self.stopped:
            extras.append("stopped: " + self.stopped[:80])
        elif now < self.paused_until:
            extras.append(f"rate-limited, waiting {self.paused_until - now:.0f} s")
        return line + (f" ({', '.join(extras)})" if extras else "")

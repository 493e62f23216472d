"""Whole-script coverage: analyse many scenes with bounded concurrency and a shared backoff.

Pure Python (no bpy): the runner starts :class:`~.jobs.Job` objects through a callback, at most
``concurrency`` at once, and is stepped by the same pump that drains the jobs (a timer in a window,
a loop headless). When any job is told by the provider to slow down (HTTP 429), no new job starts
until that wait is over, so the whole batch backs off together instead of every worker hammering
the rate limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..provider.llm import Failed, Finished
from .job import Job


@dataclass
class CoverageRun:
    """Scenes still to analyse (``pending``, scene numbers in script order) and the jobs running.

    ``start_job(scene_number) -> Job`` builds and starts one scene's job (the bpy layer's callback).
    ``done``/``failed`` collect finished scene numbers; ``paused_until`` is the shared backoff
    deadline (``time.monotonic()`` seconds).
    """

    pending: list[int]
    start_job: Callable[[int], Job]
    concurrency: int = 4
    label: str = ""
    on_finished: Callable[[CoverageRun], None] | None = None
    running: dict[int, Job] = field(default_factory=dict)
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    paused_until: float = 0.0
    total: int = 0
    cancelled: bool = False

    def __post_init__(self) -> None:
        self.total = self.total or len(self.pending) + len(self.skipped)

    def step(self, now: float | None = None) -> None:
        """Collect ended jobs, share any rate-limit wait, and start jobs up to the concurrency.

        Call after the pump drained the running jobs (their ``outcome`` is set by the drain).
        """
        now = time.monotonic() if now is None else now
        for number, job in list(self.running.items()):
            if job.retry is not None and job.retry_until and "HTTP 429" in job.retry.reason:
                self.paused_until = max(self.paused_until, job.retry_until)
            if job.outcome is None:
                continue
            del self.running[number]
            if isinstance(job.outcome, Finished):
                self.done.append(number)
            else:
                self.failed[number] = job.outcome.message if isinstance(job.outcome, Failed) else "cancelled"
        if self.cancelled or now < self.paused_until:
            return
        while self.pending and len(self.running) < self.concurrency:
            number = self.pending.pop(0)
            self.running[number] = self.start_job(number)

    def cancel(self, reason: str = "Cancelled") -> None:
        """Start nothing more and cancel the running jobs (what they wrote stays)."""
        self.cancelled = True
        self.pending.clear()
        for job in self.running.values():
            job.cancel(reason)

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
        if now < self.paused_until:
            extras.append(f"rate-limited, waiting {self.paused_until - now:.0f} s")
        return line + (f" ({', '.join(extras)})" if extras else "")

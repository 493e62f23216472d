"""The status presenter: one line a person reads about a job, and how grave it is.

Shown in the sidebar, the status bar and the CLI. The wording counts tokens when the provider or LiteLLM
counted them; while streaming it counts the pieces that arrived ("chunks"), which are not tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from ..accounting.cost import tokens_per_second
from ..events import Cancelled, Failed, FallingBack, Outcome, Retrying, Usage


class JobView(Protocol):
    """What the presenter reads of a job (:class:`~.job.Job` has it; tests may pass anything alike)."""

    outcome: Outcome | None
    deltas_received: int
    retry: Retrying | None
    retry_until: float | None
    thinking: bool
    fallback: FallingBack | None
    cost: Any
    usage: Usage | None
    answered_by: str
    retries_made: int

    @property
    def model(self) -> str: ...  # noqa: D102
    @property
    def cancel_requested(self) -> bool: ...  # noqa: D102
    @property
    def time_to_first_token(self) -> float | None: ...  # noqa: D102
    @property
    def duration(self) -> float: ...  # noqa: D102
    @property
    def request(self) -> Any: ...  # noqa: D102


@dataclass(frozen=True)
class Status:
    """``text``: the line; ``level``: ``waiting`` (nothing yet), ``busy`` (streaming, retrying), ``done``,
    ``warning`` (cancelled, incomplete) or ``error``. The UI picks its icon from the level."""

    text: str
    level: str = "waiting"

    #: Blender icon per level (the sidebar's status box).
    ICONS = {"waiting": "SORTTIME", "busy": "SORTTIME", "done": "CHECKMARK", "warning": "ERROR", "error": "ERROR"}

    @property
    def icon(self) -> str:
        """The Blender icon name for this level."""
        return self.ICONS.get(self.level, "INFO")


def describe(job: JobView) -> Status:
    """The status of ``job``: waiting / retrying in N s / thinking… / streaming N chunks / done with tokens in
    and out, time to first token, duration and the model that answered / the error and what to do."""
    outcome = job.outcome
    model = job.model
    if outcome is None:
        if job.cancel_requested:
            return Status("Cancelling…", "busy")
        if job.deltas_received:
            return Status(f"Streaming… {job.deltas_received} chunks from {model}", "busy")
        if job.retry is not None and job.retry_until is not None:
            left = max(0, round(job.retry_until - time.monotonic()))
            return Status(f"Provider busy — retrying in {left} s ({job.retry.attempt}/{job.retry.max_retries})", "busy")
        if job.thinking:
            return Status("Thinking…", "busy")
        if job.fallback is not None:
            return Status(f"{job.fallback.failed_model} failed; trying fallback {model}…", "busy")
        return Status(f"Waiting for {model}…", "waiting")
    if isinstance(outcome, Failed):
        return Status(f"Error: {outcome.message}", "error")
    if isinstance(outcome, Cancelled):
        return Status(f"{outcome.reason}: kept the {job.deltas_received} chunks already written", "warning")
    parts = []
    if job.cost is not None:
        parts.append(job.cost.describe())
    elif job.usage:
        parts.append(f"{job.usage.prompt_tokens} in / {job.usage.completion_tokens} out tokens")
    else:
        parts.append(f"{job.deltas_received} chunks")
    ttft = job.time_to_first_token
    if ttft is not None:
        parts.append(f"first token {ttft:.2f} s")
    parts.append(f"{job.duration:.1f} s")
    output_tokens = job.cost.output_tokens if job.cost else (job.usage.completion_tokens if job.usage else 0)
    rate = tokens_per_second(output_tokens, ttft, job.duration)
    if rate is not None and ttft is not None:
        parts.append(f"{rate:.0f} tokens/s")
    if outcome.finish_reason == "length":
        parts.append("stopped at Max Tokens")
    by = job.answered_by or job.request.model
    if job.fallback is not None:
        by += " (fallback)"
    if job.retries_made:
        by += f" after {job.retries_made} {'retry' if job.retries_made == 1 else 'retries'}"
    return Status(f"Done by {by}: " + ", ".join(parts), "done")

"""What runs now, in one object: the jobs and their sinks, whole-script runs, status lines, parsed
screenplays, estimates and listeners.

One :class:`Runtime` exists while the add-on is registered (:func:`get`; :func:`reset` at unregister drops
it, so nothing survives a disable). Panels read it and never compute on draw; operators and the API add to
it through the pump. Main thread only, except the estimator's own threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .core.accounting.cost import Estimator
from .core.jobs.batch import BatchRun
from .core.jobs.job import Job
from .core.jobs.status import Status
from .core.screenplay import fountain

if TYPE_CHECKING:
    import bpy

    from .core.events import Batch
    from .sinks import ReportSink, Sink

#: Status key of the connection probe (shown in the add-on preferences).
CONNECTION_TEST = "Connection test"


@dataclass
class Running:
    """A started job and the sink its output goes to."""

    job: Job
    sink: Sink


@dataclass
class Runtime:
    """The add-on's state while it runs.

    ``jobs``: running jobs by id, oldest first; ``runs``: whole-script runs; ``statuses``: the last status per
    source Text name (kept after a job ends); ``listeners``: callables ``(job, batch)`` told of every batch after
    it was written (the headless CLI echoes the text; tests hook in), run on the main thread; ``estimator``:
    request estimates counted off the main thread.
    """

    jobs: dict[int, Running] = field(default_factory=dict)
    runs: list[BatchRun] = field(default_factory=list)
    statuses: dict[str, Status] = field(default_factory=dict)
    listeners: list[Callable[[Job, Batch], None]] = field(default_factory=list)
    estimator: Estimator = field(default_factory=lambda: Estimator(keep=16))
    _screenplays: dict[str, tuple[int, fountain.Screenplay]] = field(default_factory=dict)

    # --- jobs ------------------------------------------------------------------------------------

    def running(self) -> list[Job]:
        """The running jobs, oldest first."""
        return [entry.job for entry in self.jobs.values()]

    def sink_of(self, job: Job) -> Sink | None:
        """The sink of a running job."""
        entry = self.jobs.get(job.id)
        return entry.sink if entry else None

    def job_for_target(self, target: str) -> Job | None:
        """The running job writing into the Text ``target``, if any."""
        if not target:
            return None
        return next((e.job for e in self.jobs.values() if e.sink.target == target), None)

    def jobs_for(self, label: str) -> list[Job]:
        """The running jobs working for the source Text ``label`` (or the probe's label)."""
        return [e.job for e in self.jobs.values() if e.job.label == label]

    def run_for(self, label: str) -> BatchRun | None:
        """The whole-script run of the source Text ``label``, if one runs."""
        return next((run for run in self.runs if run.label == label), None)

    def report_sink(self, run: BatchRun) -> ReportSink | None:
        """The sink that writes ``run``'s report."""
        return run.payload  # type: ignore[return-value]

    def status(self, label: str) -> Status | None:
        """The status line to show for ``label``: a running run's or job's, else the last one kept."""
        run = self.run_for(label)
        if run is not None:
            return Status(run.status_line(), "busy")
        jobs = self.jobs_for(label)
        if jobs:
            from .core.jobs.status import describe

            return describe(jobs[0])
        return self.statuses.get(label)

    @property
    def busy(self) -> bool:
        """True while any job or run is in progress."""
        return bool(self.jobs or self.runs)

    # --- parsed screenplays (never parsed twice for the same content) -----------------------------

    def screenplay(self, text: bpy.types.Text) -> fountain.Screenplay:
        """The parsed screenplay of ``text``, cached by name and content."""
        content = text.as_string()
        key = hash(content)
        cached = self._screenplays.get(text.name)
        if cached is None or cached[0] != key:
            cached = (key, fountain.parse(content))
            self._screenplays[text.name] = cached
        return cached[1]


_runtime: list[Runtime] = []


def get() -> Runtime:
    """The add-on's runtime state (made on first use)."""
    if not _runtime:
        _runtime.append(Runtime())
    return _runtime[0]


def reset() -> Runtime | None:
    """Forget the runtime state (unregister); returns the one dropped, if any."""
    return _runtime.pop() if _runtime else None

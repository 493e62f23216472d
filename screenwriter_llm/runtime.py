"""What runs now, in one object: the jobs and their sinks, whole-script runs, status lines, parsed
screenplays, estimates and listeners.

One :class:`Runtime` exists while the add-on is registered (:func:`get`; :func:`reset` at unregister drops
it, so nothing survives a disable). Panels read it and never compute on draw; operators and the API add to
it through the pump. Main thread only, except the estimator's own threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core.accounting.cost import Estimator
from .core.jobs.batch import BatchRun
from .core.jobs.job import Job
from .core.jobs.status import Status
from .core.screenplay import fountain
from .core.screenplay.stats import ScriptStats
from .core.tasks.task import TaskCatalog, load_tasks

if TYPE_CHECKING:
    import bpy

    from .core.events import Batch
    from .sinks import ReportSink, Sink

#: Status key of the connection probe (shown in the add-on preferences).
CONNECTION_TEST = "Connection test"
#: Seconds a script must stay unchanged before it is parsed again: fountain-py takes ~45 ms on a feature script
#: (pure Python, holding the GIL even on a thread), so while the writer types the panels show the last parse.
PARSE_PAUSE = 0.25
#: Seconds between checks of the task folders for changed files.
TASKS_CHECK_INTERVAL = 2.0


@dataclass
class _Parsed:
    """What was last computed from a Text (``value``; ``key``: the hash of the content it was made from) and the
    newest content seen (``seen_key``, at ``seen_at``, ``time.monotonic()`` seconds)."""

    key: Hashable
    value: Any
    seen_key: Hashable
    seen_at: float


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
    _screenplays: dict[str, _Parsed] = field(default_factory=dict)
    _tasks: tuple[float, tuple[object, ...], TaskCatalog] | None = None
    _stats: dict[str, _Parsed] = field(default_factory=dict)
    #: Called when a script changed and will be parsed after the pause (a window registers a redraw timer).
    on_parse_pending: Callable[[], None] | None = None

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

    def _after_pause(
        self,
        cache: dict[str, _Parsed],
        text: bpy.types.Text,
        extra: Hashable,
        compute: Callable[[str], Any],
        fresh: bool,
        now: float | None,
    ) -> Any:
        """``compute(content)`` of ``text``, made on first use and then again only once the text has not changed for
        :data:`PARSE_PAUSE` seconds (measured from the last change seen here); until then the last value is
        returned, so a keystroke costs one ``Text.as_string`` and a hash. ``extra`` is part of the key (a change
        of it recomputes at once); ``fresh``: recompute now if the text changed (commands)."""
        now = time.monotonic() if now is None else now
        content = text.as_string()
        key = (hash(content), extra)
        cached = cache.get(text.name)
        if cached is not None and cached.key == key:
            return cached.value
        if cached is not None and not fresh and cached.key[1] == extra:  # type: ignore[index]
            if cached.seen_key != key:
                cached.seen_key, cached.seen_at = key, now
                if self.on_parse_pending is not None:
                    self.on_parse_pending()
            if now - cached.seen_at < PARSE_PAUSE:
                return cached.value
        parsed = _Parsed(key, compute(content), key, now)
        cache[text.name] = parsed
        return parsed.value

    def screenplay(self, text: bpy.types.Text, *, fresh: bool = False, now: float | None = None) -> fountain.Screenplay:
        """The parsed screenplay of ``text``, cheap enough for a panel's ``draw``: parsed on first use and then
        only after the text has been unchanged for :data:`PARSE_PAUSE` seconds (see :meth:`_after_pause`);
        ``fresh``: parse now if it changed (commands, which must work on the text as it is)."""
        return self._after_pause(self._screenplays, text, None, fountain.parse, fresh, now)

    def script_stats(
        self, text: bpy.types.Text, seconds_per_page: float = 60.0, *, fresh: bool = False, now: float | None = None
    ) -> ScriptStats:
        """Pages, eighths, runtime, characters and locations of ``text`` (``core.screenplay.stats``), cheap enough
        for a panel's ``draw``, with the same pause as :meth:`screenplay` (one parse and pagination per change,
        about 50 ms for a feature script); ``fresh``: compute now if it changed (commands). Raises ``ValueError``
        for a ``seconds_per_page`` that is not positive."""
        from .core.screenplay.stats import script_stats

        return self._after_pause(
            self._stats, text, seconds_per_page, lambda content: script_stats(content, seconds_per_page), fresh, now
        )

    def tasks(self, user_dir: Path | None, now: float | None = None) -> TaskCatalog:
        """Every task, built-in and the user's, loaded once and again when a task file changed (checked at most
        every :data:`TASKS_CHECK_INTERVAL` seconds, by file names, sizes and modification times)."""
        now = time.monotonic() if now is None else now
        if self._tasks is not None and now - self._tasks[0] < TASKS_CHECK_INTERVAL:
            return self._tasks[2]
        stamp = _folder_stamp(user_dir)
        if self._tasks is None or self._tasks[1] != stamp:
            self._tasks = (now, stamp, load_tasks(user_dir))
        else:
            self._tasks = (now, stamp, self._tasks[2])
        return self._tasks[2]


def _folder_stamp(folder: Path | None) -> tuple[object, ...]:
    """What changes when a task file in ``folder`` is added, removed or edited."""
    if folder is None:
        return ()
    try:
        return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.glob("*.md")))
    except OSError:
        return ("unreadable",)


_runtime: list[Runtime] = []


def get() -> Runtime:
    """The add-on's runtime state (made on first use)."""
    if not _runtime:
        _runtime.append(Runtime())
    return _runtime[0]


def current() -> Runtime | None:
    """The runtime state if the add-on is registered, else None (never makes one)."""
    return _runtime[0] if _runtime else None


def reset() -> Runtime | None:
    """Forget the runtime state (unregister); returns the one dropped, if any."""
    return _runtime.pop() if _runtime else None

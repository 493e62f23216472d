"""What runs now, in one object: the jobs and their sinks, whole-script runs, status lines, parsed
screenplays, estimates and listeners.

One :class:`Runtime` exists while the add-on is registered (:func:`get`; :func:`reset` at unregister drops
it, so nothing survives a disable). Panels read it and never compute on draw; operators and the API add to
it through the pump. Main thread only, except the estimator's and the parser's own threads
(:attr:`Runtime.estimator`, :attr:`Runtime.background`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

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
#: Seconds between the redraws asked for while a parse made after the pause runs on the worker thread (a parse of a
#: feature script takes ~50 ms, its statistics ~75 ms more): each such redraw shows the result if it is ready.
PARSE_POLL = 0.04
#: Seconds between checks of the task folders for changed files.
TASKS_CHECK_INTERVAL = 2.0
#: Seconds that make one sidebar redraw (every panel drawn once takes a few milliseconds; a keystroke comes tens of
#: milliseconds after the redraw before it): within them the panels after the first share what it read of a Text
#: (:meth:`TextReads.read`).
READ_REUSE = 0.05


@dataclass
class _Read:
    """What the panels last saw of one Text (times: ``time.monotonic()`` seconds).

    ``mark``: what a keystroke changes and is cheap to read (:func:`_mark`), as of ``at``; ``content``: the newest
    content read (``Text.as_string()``); ``current``: it was read at ``at`` with this ``mark`` (False: the cursor
    moved or the Text was edited since, so the content is unknown until it is read again); ``changed_at``: when a
    change was last seen (a new ``mark``, or a read that differed from one made with the same mark); ``line``:
    ``Text.current_line_index`` once asked with this mark (Blender walks the lines for it: 10 µs on a feature
    script, 0.25 ms when its lines are not in the CPU's caches); ``line_at``: the cursor line's pointer and the
    index last asked for it, kept over keystrokes until the next read.
    """

    name: str
    mark: tuple[object, ...]
    at: float
    content: str
    current: bool
    changed_at: float
    line: int | None = None
    line_at: tuple[int, int] | None = None


@dataclass
class _Parsed:
    """What was last computed from a Text: ``value``, from ``content`` with ``extra`` (a parameter such as the
    seconds per page)."""

    content: str
    extra: Hashable
    value: Any


@dataclass
class Running:
    """A started job and the sink its output goes to."""

    job: Job
    sink: Sink


class TextReads:
    """What the panels last saw of each Text, by its pointer (at most 16 Texts): whether the writer is at work in
    it (a keystroke changes the cursor's line, column or selection end: cheap to look at, no copy of the script),
    its content when it was last read, and the cursor's line index. Main thread only."""

    def __init__(self) -> None:
        self._reads: dict[int, _Read] = {}

    def memo(self, text: bpy.types.Text) -> _Read:
        """What was last seen of ``text`` (it was read before: :meth:`read` or :meth:`read_now`)."""
        return self._reads[text.as_pointer()]

    def read(self, text: bpy.types.Text, *, reuse: bool = False, now: float | None = None) -> str | None:
        """The content of ``text`` for a panel's ``draw``, or None while the writer is at work in it.

        None when the cursor's line (its pointer or body), column or selection end changed since the last call
        for this Text (a keystroke: it costs ~2 µs to see, no copy of the script), and for the rest of that
        redraw (:data:`READ_REUSE` seconds): the caller shows what it computed before and asks for a redraw
        (:meth:`Runtime._after_pause`). Otherwise ``Text.as_string()`` (a copy of the whole script, 0.05-0.3 ms for
        143 KB); with ``reuse`` the content read less than :data:`READ_REUSE` seconds before with the same mark
        instead (the panels after the first of one redraw, where nothing edits the Text in between; the first,
        ``SCREENWRITER_PT_main``, reads it). ``now``: ``time.monotonic()`` seconds. Commands use
        :meth:`read_now`."""
        now = time.monotonic() if now is None else now
        mark = _mark(text)
        memo = self._reads.get(text.as_pointer())
        if memo is None or memo.name != text.name:
            return self.read_now(text, now=now)
        if memo.mark != mark:
            memo.mark, memo.at, memo.current, memo.changed_at, memo.line = mark, now, False, now, None
            return None
        same_redraw = 0.0 <= now - memo.at < READ_REUSE
        if same_redraw and not memo.current:
            return None
        if same_redraw and reuse:
            return memo.content
        return self._store(text, mark, now)

    def typing(self, text: bpy.types.Text, *, now: float | None = None) -> bool:
        """True while this redraw follows a keystroke in ``text`` (its last :meth:`read`, within :data:`READ_REUSE`
        seconds, saw the cursor move and read nothing): the panels may show what they drew last without asking
        Blender for anything else (their settings cannot change in the same instant; the redraw after the pause
        reads everything again)."""
        memo = self._reads.get(text.as_pointer())
        now = time.monotonic() if now is None else now
        return memo is not None and not memo.current and 0.0 <= now - memo.at < READ_REUSE

    def read_now(self, text: bpy.types.Text, *, now: float | None = None) -> str:
        """``Text.as_string()`` of ``text``, noted for :meth:`read` (commands, which work on the text as it is)."""
        return self._store(text, _mark(text), time.monotonic() if now is None else now)

    def _store(self, text: bpy.types.Text, mark: tuple[object, ...], now: float) -> str:
        content = text.as_string()
        pointer = text.as_pointer()
        memo = self._reads.get(pointer)
        if memo is None or memo.name != text.name:
            self._reads[pointer] = _Read(text.name, mark, now, content, True, now)
            if len(self._reads) > 16:  # Texts removed or no longer drawn
                del self._reads[next(iter(self._reads))]
            return content
        if memo.content == content:
            # The same string object as before: later comparisons are identity checks, and its hash (a key of the
            # worker's parse, see _after_pause) is computed once, not on every redraw while the worker runs.
            content = memo.content
        elif memo.current and memo.mark == mark:
            memo.changed_at = now  # edited without the cursor moving (a script, Find & Replace)
        memo.mark, memo.at, memo.content, memo.current, memo.line, memo.line_at = mark, now, content, True, None, None
        return content

    def current_line(self, text: bpy.types.Text, *, now: float | None = None) -> int:
        """``text.current_line_index`` (0-based) for a panel's ``draw``. Blender finds it by walking the lines, so
        it is kept: for the rest of the redraw (the mark :meth:`read` saw, :data:`READ_REUSE` seconds), and while
        the writer types on one line (the same line pointer, the content not read since), for which the panels
        show the last parse anyway. The next read of the content (:meth:`read`) asks Blender again."""
        now = time.monotonic() if now is None else now
        memo = self._reads.get(text.as_pointer())
        if memo is None or memo.name != text.name:
            return text.current_line_index
        mark = _mark(text)
        same_redraw = memo.mark == mark and 0.0 <= now - memo.at < READ_REUSE
        if same_redraw and memo.line is not None:
            return memo.line
        pointer = mark[0]
        if memo.line_at is not None and memo.line_at[0] == pointer and not memo.current:
            line = memo.line_at[1]
        else:
            line = text.current_line_index
            memo.line_at = (cast(int, pointer), line)
        if same_redraw:
            memo.line = line
        return line


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
    #: What the panels last saw of each Text (the cursor, the content): :class:`TextReads`.
    reads: TextReads = field(default_factory=TextReads)
    #: The parses and statistics made once the writer paused, each on this one worker thread (by kind, Text name,
    #: parameter and content), so no redraw waits ~50-125 ms for fountain-py: see :meth:`_after_pause`.
    background: Estimator = field(default_factory=lambda: Estimator(keep=4, thread_name="screenwriter-parse"))
    #: Called with a delay in seconds when a panel shows an older parse of a script than its content: a redraw
    #: that many seconds later will show the new one (a window registers a one-shot redraw timer).
    on_parse_pending: Callable[[float], None] | None = None

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

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for each background thread's queued and running work (the estimates,
        then the parses): at quit and at unregister, since a thread frozen mid-import would deadlock Python's
        finalisation (``pump._on_exit``)."""
        self.estimator.join(timeout)
        self.background.join(timeout)

    @property
    def busy(self) -> bool:
        """True while any job or run is in progress."""
        return bool(self.jobs or self.runs)

    # --- parsed screenplays (never parsed twice for the same content) -----------------------------

    def _after_pause(
        self,
        kind: str,
        cache: dict[str, _Parsed],
        text: bpy.types.Text,
        extra: Hashable,
        compute: Callable[[str], Any],
        fresh: bool,
        reuse: bool,
        now: float | None,
    ) -> Any:
        """``compute(content)`` of ``text`` (``kind`` names it), made on first use and then again only once the text
        has not changed for :data:`PARSE_PAUSE` seconds (from the last change :meth:`TextReads.read` saw; ``now``:
        ``time.monotonic()`` seconds), and then on the worker thread (:attr:`background`): until its result is
        ready the last value is returned and :attr:`Runtime.on_parse_pending` is told when to redraw (when the pause
        ends, then every :data:`PARSE_POLL` seconds while the worker runs). A keystroke costs a look at the cursor
        (:meth:`TextReads.read`); a redraw without one, a read (``reuse``: see there) and a comparison of two strings.
        ``extra`` is compared too (a change of it, like the first use, computes at once: there is nothing older to
        show); ``fresh``: read the Text and compute now if it changed (commands). The worker holds the GIL while
        fountain-py runs, but Python hands it back every ``sys.getswitchinterval()`` (5 ms), so the window's
        redraws go on while the writer pauses. An error raised on the worker is raised here, by computing again."""
        now = time.monotonic() if now is None else now
        content = self.reads.read_now(text, now=now) if fresh else self.reads.read(text, reuse=reuse, now=now)
        cached = cache.get(text.name)
        if cached is not None and content is not None and cached.extra == extra and cached.content == content:
            return cached.value
        if cached is not None and not fresh and cached.extra == extra:
            memo = self.reads.memo(text)
            wait = memo.changed_at + PARSE_PAUSE - now
            if wait <= 0 and content is not None:
                key = (kind, text.name, extra, content)
                value = self.background.get(key, functools.partial(compute, content))
                if value is not None:
                    cache[text.name] = _Parsed(content, extra, value)
                    return value
                if self.background.error(key) is None:
                    wait = PARSE_POLL
                else:
                    wait = -1.0  # the worker's computation raised: make it here, where the error is seen
            if wait > 0 or content is None:
                if self.on_parse_pending is not None:
                    self.on_parse_pending(max(wait, 0.0))
                return cached.value
        if content is None:
            content = self.reads.read_now(text, now=now)
        value = compute(content)
        cache[text.name] = _Parsed(content, extra, value)
        return value

    def screenplay(
        self, text: bpy.types.Text, *, fresh: bool = False, reuse: bool = False, now: float | None = None
    ) -> fountain.Screenplay:
        """The parsed screenplay of ``text``, cheap enough for a panel's ``draw``: parsed on first use and then
        only after the text has been unchanged for :data:`PARSE_PAUSE` seconds (see :meth:`_after_pause`);
        ``fresh``: parse now if it changed (commands, which must work on the text as it is); ``reuse``: take
        the content another panel of this redraw read (:meth:`TextReads.read`)."""
        return self._after_pause("screenplay", self._screenplays, text, None, fountain.parse, fresh, reuse, now)

    def script_stats(
        self,
        text: bpy.types.Text,
        seconds_per_page: float = 60.0,
        *,
        fresh: bool = False,
        reuse: bool = False,
        now: float | None = None,
    ) -> ScriptStats:
        """Pages, eighths, runtime, characters and locations of ``text`` (``core.screenplay.stats``), cheap enough
        for a panel's ``draw``, with the same pause as :meth:`screenplay` (one parse and pagination per change, about
        75 ms for a feature script, made on the worker thread after the pause); ``fresh``: compute now if it
        changed (commands); ``reuse``: as for :meth:`screenplay`. Raises ``ValueError`` for a ``seconds_per_page``
        that is not positive."""
        from .core.screenplay.stats import script_stats

        return self._after_pause(
            "statistics",
            self._stats,
            text,
            seconds_per_page,
            lambda content: script_stats(content, seconds_per_page),
            fresh,
            reuse,
            now,
        )

    def tasks(self, user_dir: Path | None | Callable[[], Path | None], now: float | None = None) -> TaskCatalog:
        """Every task, built-in and the user's, loaded once and again when a task file changed (checked at most
        every :data:`TASKS_CHECK_INTERVAL` seconds, by file names, sizes and modification times). ``user_dir``:
        the user's task folder, or a function giving it, called only when a check is due (a panel's draw then
        does not look the folder up: that takes file-system calls)."""
        now = time.monotonic() if now is None else now
        if self._tasks is not None and now - self._tasks[0] < TASKS_CHECK_INTERVAL:
            return self._tasks[2]
        if callable(user_dir):
            user_dir = user_dir()
        stamp = _folder_stamp(user_dir)
        if self._tasks is None or self._tasks[1] != stamp:
            self._tasks = (now, stamp, load_tasks(user_dir))
        else:
            self._tasks = (now, stamp, self._tasks[2])
        return self._tasks[2]


def _mark(text: bpy.types.Text) -> tuple[object, ...]:
    """What every keystroke in ``text`` changes and is cheap to read (~1 µs): the cursor's line (its pointer and
    body), the cursor's column and the selection's end column. (Not the line index: Blender walks the lines for
    it, nor the line count: the same.)"""
    line = text.current_line
    return (line.as_pointer(), line.body, text.current_character, text.select_end_character)


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

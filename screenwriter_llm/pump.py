"""The pump: the only code that moves model output into Blender data. One tick function, two drivers.

In a window a ``bpy.app.timers`` timer calls :func:`tick` every :data:`INTERVAL` seconds; in background mode
(``blender -b``, ``bpy`` from PyPI) timers never fire, so :func:`drive` calls the same :func:`tick` in a loop
until what it waits for is done (DESIGN.md, "One pump, two drivers"). Each tick drains every running job
into its sink (:mod:`.texts`) in one guarded place (:func:`pump_job`), steps the whole-script runs and starts
what they hand back. No exception ever escapes the timer function: Blender unregisters a timer that raises,
and every other job would stop.
"""

from __future__ import annotations

import atexit
import sys
import time
import traceback
from collections.abc import Callable, Collection

import bpy
from bpy.app.handlers import persistent

from . import endpoints, runtime
from .core.events import Batch, Failed
from .core.jobs.batch import BatchRun
from .core.jobs.job import Job
from .core.jobs.status import Status, describe
from .sinks import Sink, SinkError

__all__ = [
    "INTERVAL",
    "cancel_all",
    "drive",
    "pump_job",
    "run_batch_until_done",
    "run_until_done",
    "start",
    "start_run",
    "tick",
]

#: Seconds between pump ticks in a window: 20 Hz is smooth to the eye and costs the main loop little.
INTERVAL = 0.05
#: Seconds between redraws of a sidebar status line while text streams (its words change every tick;
#: twice a second reads as live and costs a software-rendered Blender far less, see PERFORMANCE.md).
STATUS_REDRAW_INTERVAL = 0.5
#: The longest the timer backs off to when Blender's main loop is slow (seconds).
MAX_INTERVAL = 0.25
#: Late comebacks of the main loop in a row that make the timer back off (one is a hiccup: a collection, a save).
LATE_TICKS_TO_BACK_OFF = 2
#: On-time comebacks in a row, while backed off, after which the timer tries :data:`INTERVAL` again.
ON_TIME_TICKS_TO_RECOVER = 8
#: When the timer last ran (``time.monotonic()``; 0: not since it was idle), the wait it asked for then (seconds),
#: whether it is backed off, the late and on-time comebacks in a row, and when it last redrew the status lines.
_tick_state = {"last": 0.0, "asked": INTERVAL, "backed_off": 0, "late": 0, "on_time": 0, "status_redrawn": 0.0}
#: How many synchronous drivers are running now (an operator in background mode, the API): the add-on must not
#: free its operator classes under a running operator (disabling it from a listener crashed Blender).
_driving = [0]


def driving() -> bool:
    """True while :func:`drive` runs (an operator or API call is inside the pump)."""
    return _driving[0] > 0


def _guarded(what: str, call: Callable[[], object]) -> str:
    """Run one sink (or listener) call: the one place their failures are caught. Returns '' or the message
    of what went wrong; never raises (a defect in a sink must not stop the pump or the other jobs)."""
    try:
        call()
    except SinkError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        traceback.print_exc(file=sys.stderr)
        return f"Screenwriter LLM could not {what}: {type(exc).__name__}: {exc}"
    return ""


def start(job: Job, sink: Sink) -> Job:
    """Open ``sink`` (it may refuse: :class:`~.texts.SinkError` propagates, nothing started), track and start
    ``job``; in a window, make sure the timer pump runs."""
    state = runtime.get()
    sink.open(job, lambda name: state.job_for_target(name) is not None)
    state.jobs[job.id] = runtime.Running(job, sink)
    job.start()
    state.statuses[job.label] = describe(job)
    _ensure_timer()
    return job


def start_run(run: BatchRun) -> BatchRun:
    """Track ``run`` and start its first jobs; in a window, make sure the timer pump runs."""
    runtime.get().runs.append(run)
    _step(run)
    _ensure_timer()
    return run


def _ensure_timer() -> None:
    if not bpy.app.background and not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=INTERVAL)


def pump_job(job: Job) -> Batch:
    """Drain ``job``'s events into its sink and update its status; when the batch carries the outcome, close
    the sink and stop tracking the job. Main thread only; never raises for a sink's failure."""
    state = runtime.get()
    entry = state.jobs.get(job.id)
    job.check_deadlines()
    batch = job.drain()
    error = ""
    ended = job.outcome is not None
    if entry is not None:
        sink = entry.sink
        error = _guarded("write the answer", lambda: sink.write(job, batch))
        if error:
            job.cancel(error)
        if ended and (error or not sink.pending):
            error = _guarded("finish the answer", lambda: sink.close(job)) or error
            state.jobs.pop(job.id, None)
    elif ended:
        state.jobs.pop(job.id, None)
    state.statuses[job.label] = Status(f"Error: {error}", "error") if error else describe(job)
    if ended and job.gateway is not None:
        endpoints.keep_figures(job.gateway)
    for listener in list(state.listeners):
        failed = _guarded("run a listener", lambda listener=listener: listener(job, batch))  # type: ignore[misc]
        if failed:
            print(f"Screenwriter LLM: {failed}", file=sys.stderr)
    return batch


def _step(run: BatchRun) -> None:
    """Advance a whole-script run: start what it hands back (each item's sink opened first); when it has
    finished, let its report sink write the report and forget the run."""
    state = runtime.get()
    for item in run.step():
        sink = item.payload
        try:
            start(item.job, sink)  # type: ignore[arg-type]
        except SinkError as exc:
            item.job.cancel(str(exc))
            run.running.pop(item.number, None)
            run.failed[item.number] = str(exc)
    state.statuses[run.label] = Status(run.status_line(), "busy" if not run.finished else "done")
    if run.finished and run in state.runs:
        state.runs.remove(run)
        report = state.report_sink(run)
        error = _guarded("write the report", lambda: report.close(run)) if report is not None else ""
        if error:
            state.statuses[run.label] = Status(f"Error: {error}", "error")


def tick() -> tuple[set[str], set[str], set[str]]:
    """One pump pass: every running job, then every run.

    Returns:
        ``(outputs, changed, streaming)``: the output Texts written to; the source Texts whose status changed
        in a way to show now (an outcome, thinking, usage, a run ending); those whose status only counts on.
    """
    state = runtime.get()
    outputs: set[str] = set()
    changed: set[str] = set()
    streaming: set[str] = set()
    for job in state.running():
        entry = state.jobs.get(job.id)
        batch = pump_job(job)
        if entry is not None and (batch.text or batch.outcome):
            outputs.add(entry.sink.target)
        if batch.outcome or batch.thinking or batch.usage:
            changed.add(job.label)
        elif batch.deltas:
            streaming.add(job.label)
    for run in list(state.runs):
        _step(run)
        (changed if run.finished else streaming).add(run.label)
    return outputs, changed, streaming


def redraw(
    outputs: Collection[str] = frozenset(), sources: Collection[str] = frozenset(), every_sidebar: bool = False
) -> None:
    """The one window walker: redraw Text Editors showing an output Text in ``outputs``, and only the sidebar of
    editors showing a screenplay in ``sources`` (where the status line is; a full redraw of a long script costs
    far more); ``every_sidebar``: every Text Editor's sidebar (a new estimate or parse is ready)."""
    wm = bpy.context.window_manager
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            space = area.spaces.active
            if not isinstance(space, bpy.types.SpaceTextEditor):
                continue
            name = space.text.name if space.text is not None else None
            if name in outputs:
                area.tag_redraw()
            elif (every_sidebar or name in sources) and space.show_region_ui:
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


_redraw = redraw  # the name scripts/bench_window.py times


def _timer() -> float | None:
    """The timer driver: one :func:`tick`; unregisters itself when idle. Never raises.

    Adapts to Blender: when the main loop comes back more than one :data:`INTERVAL` later than the wait this timer
    asked for (slow redraws, software rendering) :data:`LATE_TICKS_TO_BACK_OFF` times in a row, the timer backs
    off to :data:`MAX_INTERVAL`, so the pump never keeps a struggling UI saturated; after
    :data:`ON_TIME_TICKS_TO_RECOVER` on-time comebacks in a row it tries :data:`INTERVAL` again. One late comeback
    (a collection, a save) changes nothing. (Before, one late comeback backed the timer off for the rest of the
    answer, as each backed-off wait was itself a long gap: display latency p95 111 ms against 55. Backing off by
    the gap instead of to the maximum ticked every 180 ms in a software-rendered window and made its main-loop p99
    1.43x the floor's, against 1.07-1.23x at 250 ms: ``docs/PERFORMANCE.md``.)
    """
    try:
        now = time.monotonic()
        # How much later than the wait it asked for the main loop came back (none for the first tick after idle).
        late = now - _tick_state["last"] - _tick_state["asked"] if _tick_state["last"] else 0.0
        _tick_state["last"] = now
        outputs, sources, streaming = tick()
        if streaming and now - _tick_state["status_redrawn"] >= STATUS_REDRAW_INTERVAL:
            sources |= streaming
        if sources:
            _tick_state["status_redrawn"] = now
        if outputs or sources:
            _redraw(outputs, sources)
        if not runtime.get().busy:
            _tick_state.update(last=0.0, asked=INTERVAL, backed_off=0, late=0, on_time=0)
            return None
        wait = _next_wait(late)
        _tick_state["asked"] = wait
        return wait
    except Exception:  # noqa: BLE001 - an exception would unregister the timer and stop every job
        traceback.print_exc(file=sys.stderr)
        _tick_state["asked"] = INTERVAL
        return INTERVAL


def _next_wait(late: float) -> float:
    """The timer's next wait (seconds) after the main loop came back ``late`` seconds later than the last tick
    asked it to (see :func:`_timer`)."""
    state = _tick_state
    if late > INTERVAL:
        state["late"], state["on_time"] = state["late"] + 1, 0
        if state["late"] >= LATE_TICKS_TO_BACK_OFF:
            state["backed_off"] = 1
    else:
        state["late"], state["on_time"] = 0, state["on_time"] + 1
        if state["backed_off"] and state["on_time"] >= ON_TIME_TICKS_TO_RECOVER:
            state["backed_off"], state["on_time"] = 0, 0
            return INTERVAL
    return MAX_INTERVAL if state["backed_off"] else INTERVAL


# Kept for tools that time the timer function (scripts/bench_window.py).
_tick = _timer


def drive(done: Callable[[], bool], poll: float = INTERVAL) -> None:
    """The synchronous driver (background mode, scripts): :func:`tick` until ``done()``, waking as soon as a
    running job has events (at most every ``poll`` seconds). Ctrl-C cancels every job and run; what arrived
    stays."""
    state = runtime.get()
    _driving[0] += 1
    try:
        _drive(state, done, poll)
    finally:
        _driving[0] -= 1


def _drive(state: runtime.Runtime, done: Callable[[], bool], poll: float) -> None:
    while not done():
        if runtime.current() is not state:
            return  # the add-on was disabled (and its jobs cancelled) from inside this drive
        try:
            jobs = state.running()
            waiting = [job for job in jobs if job.outcome is None]
            if waiting and len(waiting) == len(jobs):
                waiting[0].wait_for_event(poll / max(1, len(waiting)))
            elif jobs:
                pass  # an ended job still writing its text: no wait
            elif state.runs:
                wait = min(run.paused_until for run in state.runs) - time.monotonic()
                time.sleep(min(poll, max(0.0, wait)))
            else:
                return
            tick()
            for job in state.running():
                job.fail_if_silent()
        except KeyboardInterrupt:
            for run in state.runs:
                run.cancel("Cancelled from the terminal")
            for job in state.running():
                job.cancel("Cancelled from the terminal")


def run_until_done(job: Job, poll: float = INTERVAL) -> Job:
    """Drive until ``job`` has ended (its outcome written)."""
    drive(lambda: job.outcome is not None and job.id not in runtime.get().jobs, poll)
    if job.outcome is None:  # never started or dropped: end it with a message
        job.fail_if_silent()
        job.drain()
    return job


def run_batch_until_done(run: BatchRun, poll: float = INTERVAL) -> BatchRun:
    """Drive until the whole-script ``run`` has finished (its report written)."""
    drive(lambda: run not in runtime.get().runs, poll)
    return run


def cancel_all(reason: str, join_timeout: float = 2.0, write: bool = True) -> list[Job]:
    """Cancel every run and job, join the workers (within ``join_timeout`` seconds in all) and, with ``write``,
    pump what they left (the closing notes). Returns the jobs whose workers are still alive (normally none)."""
    state = runtime.get()
    for run in state.runs:
        run.cancel(reason)
    jobs = state.running()
    for job in jobs:
        job.cancel(reason)
    deadline = time.monotonic() + join_timeout
    for job in jobs:
        job.join(max(0.0, deadline - time.monotonic()))
    if write:
        for job in jobs:
            pump_job(job)  # writes the closing note if the Cancelled event is in
    for job in jobs:
        if job.outcome is None:
            job.events.put(Failed(reason, "cancelled"))
        state.jobs.pop(job.id, None)
    state.runs.clear()
    return [job for job in jobs if job.worker_alive]


def _on_exit() -> None:
    """Blender (or a script using bpy) is quitting: stop every worker before Python finalises.

    Without this, a daemon worker frozen mid-import at shutdown deadlocks finalisation: LiteLLM's HTTP handlers
    import modules in ``__del__`` during the final garbage collection and wait forever for the import lock the
    frozen worker holds (seen in tests/blender/test_reliability.py). Blender data may already be gone, so
    nothing is written.
    """
    state = runtime.get()
    for run in state.runs:
        run.cancel("Stopped because Blender is quitting")
    jobs = state.running()
    for job in jobs:
        job.cancel("Stopped because Blender is quitting")
    deadline = time.monotonic() + 1.0
    for job in jobs:
        job.join(max(0.0, deadline - time.monotonic()))
    state.join(1.0)


@persistent
def _on_load_pre(*_args: object) -> None:
    """Opening another file: the running jobs' Texts are about to go away, so stop the jobs."""
    try:
        cancel_all("Stopped because another file was opened")
    except Exception:  # noqa: BLE001 - a handler that raises would break file loading
        traceback.print_exc(file=sys.stderr)


def register() -> None:
    """Install the ``load_pre`` handler and the quit hook."""
    runtime.get()
    if _on_load_pre not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_on_load_pre)
    atexit.register(_on_exit)


def unregister() -> None:
    """Cancel and join every worker (bounded), remove the timer, the handler and the quit hook; forget the
    runtime state."""
    cancel_all("Stopped because the Screenwriter LLM add-on was disabled")
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    atexit.unregister(_on_exit)
    runtime.get().join(1.0)
    runtime.reset()

"""The pump and the Text sink: the only code that moves model output into Blender data.

One pump, two drivers (DESIGN.md): in a window a ``bpy.app.timers`` timer calls :func:`pump_job` for
every running job every :data:`INTERVAL` seconds; in background mode (``blender -b``, ``bpy`` from PyPI)
timers never fire, so :func:`run_until_done` calls the same function in a loop until the job ends.
Everything drained in one tick goes into the Text in one write, appended at the end.
"""

from __future__ import annotations

import atexit
import json
import time
from collections.abc import Callable

import bpy
from bpy.app.handlers import persistent

from .core.accounting.cost import Estimator
from .core.jobs.batch import CoverageRun
from .core.jobs.job import Batch, Job, JobRegistry

__all__ = ["Batch", "Job", "REGISTRY", "STATUS", "LISTENERS", "start", "run_until_done", "pump_job", "cancel_all"]
from .core.provider.llm import Cancelled, Failed, Finished

#: Seconds between pump ticks in a window: 20 Hz is smooth to the eye and costs the main loop little.
INTERVAL = 0.05
#: Largest ``int`` RNA accepts; Blender clamps a cursor position to the end of the line.
_END_OF_LINE = 2**31 - 1
#: Marker kept on Texts the add-on writes (an ID property; it holds no secret).
OUTPUT_MARKER = "screenwriter_output"
#: Set on an output Text once its answer finished normally (whole-script coverage skips those);
#: with ``screenwriter_tokens`` = [prompt, completion] tokens when the provider reported usage.
COMPLETE_MARKER = "screenwriter_complete"
TOKENS_KEY = "screenwriter_tokens"
#: The answer's metadata, kept with it (JSON): model, tokens, estimated flag, USD and rates, timing.
USAGE_KEY = "screenwriter_usage"

REGISTRY = JobRegistry()
#: Last status line per source Text name, shown in the sidebar after a job ends.
STATUS: dict[str, str] = {}
#: Estimates of the next request for the sidebar, computed off the main thread (LiteLLM counts tokens).
ESTIMATOR = Estimator(keep=16)
#: Whole-script coverage runs in progress, stepped by the pump after it drains their jobs.
RUNS: list[CoverageRun] = []
#: Callables ``(job, batch)`` told of every batch after it was written (the headless CLI echoes the
#: text to the terminal with one). Add and remove them yourself; they run on the main thread.
LISTENERS: list[Callable[[Job, Batch], None]] = []


def append_to_text(text: bpy.types.Text, piece: str) -> None:
    """Append ``piece`` at the end of ``text``.

    ``Text.write`` inserts at the cursor (replacing any selection), so the cursor is first collapsed
    to the end of the last line: the user may have clicked into the output Text meanwhile.
    ``cursor_set`` takes a line and a byte offset that Blender clamps to the last line and its length
    (``txt_move_to`` in ``text.cc``); a character count would land inside a multi-byte UTF-8
    character, so the largest values are passed and clamped instead.
    """
    # Line and byte offset both clamp, so no ``len(text.lines)`` (which builds every line: O(lines) per
    # tick, measured in scripts/bench.py as the cause of super-linear growth on long answers).
    text.cursor_set(_END_OF_LINE, character=_END_OF_LINE)
    text.write(piece)


def answer_metadata(job: Job) -> dict[str, object]:
    """What an answer cost and how fast it came, as stored on its Text (tokens, USD, seconds)."""
    cost = job.cost
    return {
        "model": job.answered_by or job.request.model,
        "input_tokens": cost.input_tokens if cost else None,
        "output_tokens": cost.output_tokens if cost else None,
        "estimated_tokens": cost.estimated_tokens if cost else None,
        "cost_usd": cost.usd if cost else None,
        "rates_usd_per_token": list(cost.rates) if cost and cost.rates else None,
        "pricing": cost.pricing if cost else None,
        "time_to_first_token_s": job.time_to_first_token,
        "duration_s": job.duration,
    }


def closing_note(job: Job) -> str:
    """The note written after the answer when it did not end normally ('' when it did).

    The answer already written stays; the note says what stopped it and marks it as incomplete.
    """
    outcome = job.outcome
    lead = "\n\n" if job.chars_received else ""
    if isinstance(outcome, Failed):
        what = "The answer above is incomplete." if job.chars_received else "No answer was received."
        return f"{lead}[Screenwriter LLM: stopped. {what} {outcome.message}]\n"
    if isinstance(outcome, Cancelled):
        what = "the answer above is incomplete" if job.chars_received else "nothing had arrived yet"
        return f"{lead}[Screenwriter LLM: {outcome.reason}; {what}.]\n"
    if isinstance(outcome, Finished) and not job.chars_received:
        return "[Screenwriter LLM: the model returned an empty answer.]\n"
    return ""


def pump_job(job: Job) -> Batch:
    """Drain ``job``'s events into its output Text (looked up by name now: it may have been deleted
    or renamed since the last tick) and update its status. Main thread only.

    When the batch carries the outcome, writes the closing note and stops tracking the job.
    """
    job.check_deadlines()
    batch = job.drain()
    text = bpy.data.texts.get(job.target) if job.target else None
    if job.target and text is None and job.outcome is None:
        job.cancel(f"Stopped because the output Text '{job.target}' was deleted or renamed")
    if text is not None:
        piece = batch.text + (closing_note(job) if batch.outcome else "")
        if piece:
            append_to_text(text, piece)
        if isinstance(batch.outcome, Finished) and job.chars_received:
            text[COMPLETE_MARKER] = True
            if job.cost is not None:
                text[TOKENS_KEY] = [job.cost.input_tokens, job.cost.output_tokens]
                text[USAGE_KEY] = json.dumps(answer_metadata(job))
            elif job.usage is not None:
                text[TOKENS_KEY] = [job.usage.prompt_tokens, job.usage.completion_tokens]
    STATUS[job.label] = job.status_line()
    if batch.outcome is not None:
        REGISTRY.discard(job)
        if job.on_outcome is not None:
            job.on_outcome(job)
    for listener in LISTENERS:
        listener(job, batch)
    return batch


def _redraw(outputs: set[str], sources: set[str]) -> None:
    """Redraw Text Editors showing an output Text that changed, and only the sidebar of editors showing
    its screenplay (where the status line is): a full redraw of a long script costs far more."""
    wm = bpy.context.window_manager
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            space = area.spaces.active
            if not isinstance(space, bpy.types.SpaceTextEditor) or space.text is None:
                continue
            if space.text.name in outputs:
                area.tag_redraw()
            elif space.text.name in sources and space.show_region_ui:
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


#: Seconds between redraws of a sidebar status line while text streams (its words change every tick;
#: twice a second reads as live and costs a software-rendered Blender far less, see PERFORMANCE.md).
STATUS_REDRAW_INTERVAL = 0.5
#: The longest the timer backs off to when Blender's main loop is slow (seconds).
MAX_INTERVAL = 0.25
_tick_state = {"last": 0.0, "status_redrawn": 0.0}


def _tick() -> float | None:
    """The timer driver: one pump pass over every running job; unregisters itself when idle.

    Adapts to Blender: when the main loop took longer than two intervals to come back (slow redraws,
    software rendering), the next tick waits as long as that took, up to :data:`MAX_INTERVAL`, so the
    pump never keeps a struggling UI saturated; on a fast machine it stays at :data:`INTERVAL`.
    """
    now = time.monotonic()
    gap = now - _tick_state["last"] if _tick_state["last"] else INTERVAL
    _tick_state["last"] = now
    outputs: set[str] = set()
    sources: set[str] = set()
    for job in REGISTRY.jobs():
        batch = pump_job(job)
        if batch.text or batch.outcome:
            outputs.add(job.target)
        if batch.outcome or batch.thinking or batch.usage:
            sources.add(job.label)
        elif batch.deltas and now - _tick_state["status_redrawn"] >= STATUS_REDRAW_INTERVAL:
            sources.add(job.label)
    for run in list(RUNS):
        step_run(run)
        if now - _tick_state["status_redrawn"] >= STATUS_REDRAW_INTERVAL or not run.running:
            sources.add(run.label)
    if sources:
        _tick_state["status_redrawn"] = now
    if outputs or sources:
        _redraw(outputs, sources)
    if not (REGISTRY.jobs() or RUNS):
        _tick_state["last"] = 0.0
        return None
    return INTERVAL if gap <= 2 * INTERVAL else min(MAX_INTERVAL, gap)


def step_run(run: CoverageRun) -> None:
    """Advance a coverage run (start jobs, share backoff); when it has finished, let it write its
    report and forget it. Main thread only."""
    run.step()
    STATUS[run.label] = run.status_line()
    if run.finished and run in RUNS:
        RUNS.remove(run)
        if run.on_finished is not None:
            run.on_finished(run)


def start_run(run: CoverageRun) -> CoverageRun:
    """Track ``run`` and start its first jobs; in a window, make sure the timer pump runs."""
    RUNS.append(run)
    step_run(run)
    if not bpy.app.background and not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=INTERVAL)
    return run


def run_coverage_until_done(run: CoverageRun, poll: float = INTERVAL) -> CoverageRun:
    """The synchronous driver for a coverage run (background mode): pump its jobs and step it until
    every scene is done. Ctrl-C cancels the run; finished scenes stay."""
    while run in RUNS:
        try:
            jobs = list(run.running.values())
            if jobs:
                jobs[0].wait_for_event(poll / max(1, len(jobs)))
            else:
                time.sleep(min(poll, max(0.0, run.paused_until - time.monotonic())))
            for job in jobs:
                pump_job(job)
                if job.outcome is None and not job.worker_alive and job.events.empty():
                    job.fail_if_silent()
            step_run(run)
        except KeyboardInterrupt:
            run.cancel("Cancelled from the terminal")
    return run


def start(job: Job) -> Job:
    """Track and start ``job``; in a window, make sure the timer pump runs."""
    REGISTRY.add(job)
    job.start()
    STATUS[job.label] = job.status_line()
    if not bpy.app.background and not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=INTERVAL)
    return job


def run_until_done(job: Job, poll: float = INTERVAL) -> Job:
    """The synchronous driver (background mode): pump ``job`` until it ends, waking as soon as events
    arrive (at most every ``poll`` seconds). Ctrl-C cancels the job; the text received so far is kept."""
    while job.outcome is None:
        try:
            job.wait_for_event(poll)
            pump_job(job)
            if job.outcome is None and not job.worker_alive and job.events.empty():
                job.fail_if_silent()
        except KeyboardInterrupt:
            job.cancel("Cancelled from the terminal")
    return job


def cancel_all(reason: str, join_timeout: float = 2.0) -> None:
    """Cancel every job, join the workers (bounded), write what they left, forget them."""
    for run in RUNS:
        run.cancel(reason)
    RUNS.clear()
    REGISTRY.cancel_all(reason, join_timeout)
    for job in REGISTRY.jobs():
        pump_job(job)  # writes the closing note if the Cancelled event is in
        REGISTRY.discard(job)


def _on_exit() -> None:
    """Blender (or a script using bpy) is quitting: stop every worker before Python finalises.

    Without this, a daemon worker frozen mid-import at shutdown deadlocks finalisation: LiteLLM's
    HTTP handlers import modules in ``__del__`` during the final garbage collection and wait forever
    for the import lock the frozen worker holds (seen in tests/blender/test_reliability.py). Blender
    data may already be gone, so nothing is written.
    """
    for run in RUNS:
        run.cancel("Stopped because Blender is quitting")
    REGISTRY.cancel_all("Stopped because Blender is quitting", join_timeout=1.0)
    ESTIMATOR.join(1.0)


@persistent
def _on_load_pre(*_args: object) -> None:
    """Opening another file: the running jobs' Texts are about to go away, so stop the jobs."""
    cancel_all("Stopped because another file was opened")


def register() -> None:
    """Install the ``load_pre`` handler and the quit hook."""
    if _on_load_pre not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_on_load_pre)
    atexit.register(_on_exit)


def unregister() -> None:
    """Cancel and join every worker (bounded), remove the timer, the handler and the quit hook."""
    cancel_all("Stopped because the Screenwriter LLM add-on was disabled")
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    atexit.unregister(_on_exit)
    STATUS.clear()

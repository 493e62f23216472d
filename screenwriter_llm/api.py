"""The scripting door: the same tasks as the operators, for pipeline TDs, without ``bpy.ops``.

Every function plans its request through the same verbs the operators call (:mod:`.commands`), so a script and
a click give the same Text from the same answer. With ``wait=True`` (the default) a function drives the pump
until the answer is written and returns an :class:`Answer`; that blocks, so in a window pass ``wait=False``
and read :attr:`Handle.done` / :meth:`Handle.result` from a timer instead. The add-on must be registered
(enabled, or ``screenwriter_llm.register()`` in a script).

Example::

    import bpy
    from screenwriter_llm import api

    answer = api.analyze_scene("pilot.fountain", scene=3, model="ollama_chat/llama3.1")
    print(answer.content, answer.usage["output_tokens"], answer.usage["cost_usd"])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import bpy

from . import commands, pump, runtime, sinks, texts
from .core.events import Batch, Cancelled, Failed
from .core.jobs.job import Job

__all__ = [
    "Answer",
    "CommandError",
    "Handle",
    "RequestFailed",
    "analyze_all_scenes",
    "analyze_scene",
    "chat",
    "test_connection",
    "list_models",
    "script_stats",
    "build_story_reel",
    "plan_shots",
    "run_task",
]

#: Raised when a request cannot start (no script, no scene, no key, online access off...): nothing was sent.
CommandError = commands.CommandError


class RequestFailed(Exception):
    """The request started but did not finish (an error, a cancel, a timeout); ``answer`` holds what arrived
    (its Text keeps it too, with a note saying it is incomplete)."""

    def __init__(self, message: str, answer: Answer) -> None:
        super().__init__(message)
        self.answer = answer


@dataclass(frozen=True)
class Answer:
    """The result of one request.

    ``name``: the output Text's name ('' when the answer goes into no Text: the probe); ``content``: the
    answer's text as the model sent it; ``outcome``: ``"finished"``, ``"failed"`` or ``"cancelled"``;
    ``message``: the error or cancel reason ('' when finished); ``status``: the status line; ``model``: the
    model that answered; ``usage``: tokens in and out, USD, rates, time to first token and duration in seconds
    (the same dict kept on the Text as ``screenwriter_usage``).
    """

    name: str
    content: str
    outcome: str
    message: str
    status: str
    model: str
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> bpy.types.Text | None:
        """The output Text (looked up now; None if it was deleted or there is none)."""
        return bpy.data.texts.get(self.name) if self.name else None

    @property
    def ok(self) -> bool:
        """True when the answer finished normally."""
        return self.outcome == "finished"


class Handle:
    """A started request. :attr:`done` turns True once its answer is written (the pump writes it: a timer in a
    window; :meth:`wait` drives it synchronously)."""

    def __init__(self, job: Job, sink: sinks.Sink) -> None:
        self.job = job
        self.sink = sink

    @property
    def done(self) -> bool:
        """True once the job ended and its output is written."""
        return self.job.outcome is not None and self.job.id not in runtime.get().jobs

    def cancel(self) -> None:
        """Stop the request; what arrived stays."""
        self.job.cancel("Cancelled")

    def wait(self) -> Answer:
        """Drive the pump until the answer is written (blocks) and return it (see :meth:`result`)."""
        pump.run_until_done(self.job)
        return self.result(check=False)

    def result(self, check: bool = True) -> Answer:
        """The :class:`Answer`. Raises ``RuntimeError`` while not :attr:`done`, and with ``check``
        :class:`RequestFailed` when it did not finish."""
        if not self.done:
            raise RuntimeError("The request is still running; wait for Handle.done (or call Handle.wait()).")
        return _answer(self.job, self.sink.target, check)


def _answer(job: Job, name: str, check: bool) -> Answer:
    """The :class:`Answer` of an ended ``job`` whose output is the Text ``name``; with ``check``, raises
    :class:`RequestFailed` when it did not finish."""
    outcome = job.outcome
    kind, message = "finished", ""
    if isinstance(outcome, Failed):
        kind, message = "failed", outcome.message
    elif isinstance(outcome, Cancelled):
        kind, message = "cancelled", outcome.reason
    answer = Answer(
        name=name,
        content=job.answer,
        outcome=kind,
        message=message,
        status=job.status_line(),
        model=job.model,
        usage=texts.answer_metadata(job),
    )
    if check and kind != "finished":
        raise RequestFailed(message, answer)
    return answer


def _context() -> Any:
    if not hasattr(bpy.types.Scene, "screenwriter"):
        raise CommandError(
            "Screenwriter LLM is not registered: enable the add-on (or call screenwriter_llm.register()) first."
        )
    return bpy.context


def _text_name(text: str | bpy.types.Text) -> str:
    return text if isinstance(text, str) else text.name


def _run(
    prepared: commands.Prepared, wait: bool, check: bool, on_text: Callable[[str], None] | None
) -> Answer | Handle:
    listener = None
    if on_text is not None:
        job = prepared.job

        def listener(seen: Job, batch: Batch) -> None:
            if seen is job and batch.text:
                on_text(batch.text)

        runtime.get().listeners.append(listener)
    try:
        commands.start(prepared)
        handle = Handle(prepared.job, prepared.sink)
        if not wait:
            return handle
        handle.wait()
        return handle.result(check)
    finally:
        if listener is not None and wait:
            runtime.get().listeners.remove(listener)


def analyze_scene(
    text: str | bpy.types.Text,
    scene: int = 0,
    *,
    output: str = "",
    model: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool | None = None,
    fallbacks: tuple[str, ...] | None = None,
    api_base: str | None = None,
    mock_response: str = "",
    on_text: Callable[[str], None] | None = None,
    wait: bool = True,
    check: bool = True,
) -> Answer | Handle:
    """Analyse one scene into its own Text, as *Analyze Scene* does.

    Args:
        text: The screenplay Text (or its name).
        scene: The scene number, from 1 (0: the scene under the Text's cursor).
        output: The output Text's name (default ``"<script> - Scene N Analysis"``).
        model, temperature, max_tokens, stream, fallbacks, api_base: Replace the sidebar's settings and the
            preferences' API Base for this request (None: keep them).
        mock_response: LiteLLM answers with this text without any network call.
        on_text: Called with each piece of text as it is written (main thread).
        wait: Drive the request to its end and return the :class:`Answer` (False: return a :class:`Handle`).
        check: With ``wait``, raise :class:`RequestFailed` when it did not finish.

    Raises:
        CommandError: The request cannot start (nothing was sent).
        RequestFailed: It started and failed or was cancelled (``check``).
    """
    prepared = commands.analyze_scene(
        _context(),
        _text_name(text),
        scene,
        output,
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        stream=stream,
        fallbacks=fallbacks,
        api_base=api_base,
        mock_response=mock_response or None,
    )
    return _run(prepared, wait, check, on_text)


def chat(
    text: str | bpy.types.Text, message: str, *, on_text: Callable[[str], None] | None = None, wait: bool = True
) -> Answer | Handle:
    """Send ``message`` about the script; the turn is appended to ``"<script> - Chat"`` (see :func:`analyze_scene`
    for ``on_text``/``wait``). Raises :class:`CommandError` / :class:`RequestFailed`."""
    return _run(commands.chat_send(_context(), _text_name(text), message), wait, True, on_text)


def test_connection(*, wait: bool = True) -> Answer | Handle:
    """Send the tiny probe request to the sidebar's model through the same checks as any request. Raises
    :class:`CommandError` / :class:`RequestFailed`."""
    return _run(commands.test_connection(_context()), wait, True, None)


def list_models(model: str = "", api_base: str = "", *, timeout: float = 30.0) -> list[str]:
    """The models the endpoint offers, as *Refresh Models* lists them: a studio gateway's aliases
    (``GET /v1/models``), any OpenAI-compatible server's, a local Ollama's (``GET /api/tags``). Listed on a worker
    thread through the one network gate (this call waits up to ``timeout`` seconds for it) and kept, so the model
    field offers them and a model the endpoint does not list is flagged before sending.

    Args:
        model: Whose endpoint to ask (default: the sidebar's model), e.g. ``"litellm_proxy/studio-writer"``.
        api_base: The endpoint (default: API Base of the add-on preferences).

    Returns:
        The model ids in the add-on's form, sorted (``["litellm_proxy/studio-fast", "litellm_proxy/studio-writer"]``).

    Raises:
        CommandError: The endpoint has no listing, online access is off for it, it cannot be reached, refuses the
            key, does not answer within ``timeout``, or answers with something that is not a model list.
    """
    import concurrent.futures

    future = commands.refresh_models(_context(), model, api_base)
    try:
        listed = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise CommandError(f"The endpoint did not list its models within {timeout:.0f} s; try again.") from None
    except Exception as exc:  # noqa: BLE001 - DiscoveryError's message says what happened and what to do
        raise CommandError(str(exc)) from None
    return [entry.id if entry.id.startswith(listed.prefix) else listed.prefix + entry.id for entry in listed.models]


def analyze_all_scenes(
    text: str | bpy.types.Text, *, concurrency: int = 4, force: bool = False, mock_response: str = ""
) -> tuple[bpy.types.Text | None, dict[str, Any]]:
    """Analyse every scene (``concurrency`` at a time; scenes already analysed from the same text are skipped
    unless ``force``) and write the coverage report, as *Analyze All Scenes* does. Blocks until done.

    Returns:
        ``(report Text or None, summary)``: ``summary`` has ``done``, ``failed`` (scene number -> message),
        ``skipped`` and ``status``.

    Raises:
        CommandError: The run cannot start.
    """
    run, _info = commands.analyze_all_scenes(_context(), _text_name(text), concurrency, force, mock_response)
    pump.start_run(run)
    pump.run_batch_until_done(run)
    report = runtime.get().report_sink(run)
    status = runtime.get().statuses.get(run.label)
    summary = {
        "done": sorted(run.done),
        "failed": dict(run.failed),
        "skipped": sorted(run.skipped),
        "status": status.text if status else run.status_line(),
    }
    return (bpy.data.texts.get(report.target) if report is not None else None), summary


# --- previs (issue 12: from script to timeline) ------------------------------------------------------------------


def script_stats(text: str | bpy.types.Text, seconds_per_page: float = 60.0) -> dict[str, Any]:
    """Length, runtime estimate, characters and locations of a screenplay (``core.screenplay.stats``), as plain data.

    Returns:
        ``{"pages": float (eighths / 8), "page_count": int (printed pages), "eighths": int,
        "seconds_per_page": float, "runtime_seconds": float,
        "scenes": [{"scene": N, "heading", "first_line" (1-based), "eighths", "seconds", "int_ext", "location",
        "time_of_day", "characters": [...]}],
        "characters": {name: {"scenes", "speeches", "lines" (printed dialogue lines), "words"}},
        "locations": {name: {"scenes", "eighths", "int_ext": [...], "times_of_day": [...]}}}``

    Raises:
        CommandError: No such Text; ``seconds_per_page`` not positive.
    """
    from . import previs

    stats = previs.script_stats(_context(), _text_name(text), seconds_per_page)
    return {
        "pages": stats.pages,
        "page_count": stats.page_count,
        "eighths": stats.eighths,
        "seconds_per_page": stats.seconds_per_page,
        "runtime_seconds": stats.runtime_seconds,
        "scenes": [
            {
                "scene": s.scene_number,
                "heading": s.heading,
                "first_line": s.first_line,
                "eighths": s.eighths,
                "seconds": s.seconds,
                "int_ext": s.setting,
                "location": s.location,
                "time_of_day": s.time_of_day,
                "characters": list(s.characters),
            }
            for s in stats.scenes
        ],
        "characters": {
            name: {"scenes": c.scenes, "speeches": c.speeches, "lines": c.dialogue_lines, "words": c.words}
            for name, c in stats.characters.items()
        },
        "locations": {
            name: {
                "scenes": loc.scenes,
                "eighths": loc.eighths,
                "int_ext": list(loc.settings),
                "times_of_day": list(loc.times),
            }
            for name, loc in stats.locations.items()
        },
    }


def build_story_reel(
    text: str | bpy.types.Text, seconds_per_page: float = 60.0, reset_lengths: bool = False
) -> dict[str, Any]:
    """Build or update ``"<stem> - Story Reel"``, as *Build Story Reel* does (see ``screenwriter_llm.timeline``).

    Returns:
        The counts: ``scene`` (the reel's name), ``scenes``, ``added``, ``removed``, ``retimed``, ``moved``,
        ``renamed``, ``kept`` (hand-set lengths kept), ``changes``, ``frame_start``, ``frame_end``, ``frames``,
        ``created`` and ``message`` (``"3 scenes added, 1 removed, 12 retimed"``).

    Raises:
        CommandError: No such Text, no scene headings, ``seconds_per_page`` not positive, the name taken.
    """
    from . import previs

    return previs.build_story_reel(_context(), _text_name(text), seconds_per_page, reset_lengths).as_dict()


def plan_shots(text: str | bpy.types.Text, scene: int = 0, **settings: Any) -> dict[str, Any]:
    """Plan one scene's shots with the model, as *Plan Shots* does; blocks until done.

    ``settings``: the sidebar's settings as overrides (``model``, ``temperature``, ``max_tokens``, ``stream``,
    ``fallbacks``, ``api_base``).

    Returns:
        ``{"message", "scene" (its number), "text" (the shot list Text's name), "reel" (the story reel scene),
        "collection" (of the cameras), "cameras": [object names, in shot order], "markers": [(name, frame)]}``.

    Raises:
        CommandError: The request cannot start.
        RequestFailed: The answer was not a valid shot plan (after one repair) or the request failed; nothing was
            created and ``.answer.name`` is the Text keeping the raw answer.
    """
    from . import previs

    prepared = previs.plan_shots(_context(), _text_name(text), scene, **settings)
    previs.start(prepared)
    final = previs.run_until_done(prepared)
    job = final.job or prepared.job
    if final.result is None:
        answer = Answer(
            name=final.spec.raw_name,
            content=job.answer,
            outcome="failed",
            message=final.error or "The shot plan did not finish.",
            status=job.status_line(),
            model=job.model,
        )
        raise RequestFailed(answer.message, answer)
    return dict(final.details)


def run_task(
    task: str,
    text: str | bpy.types.Text = "",
    scene: int = 0,
    *,
    character: str = "",
    instruction: str = "",
    output: str = "",
    model: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    api_base: str | None = None,
    mock_response: str = "",
    model_notes: bool = False,
    check: bool = True,
) -> Answer:
    """Run any writing task as ``bpy.ops.screenwriter.run_task`` does and return its :class:`Answer` (blocks).

    ``task``: the task's id (``"punch_up"``, ``"rewrite"``, ``"continue_scene"``, ``"logline_synopsis"``,
    ``"character_arc"``, ``"beat_sheet"``, ``"coverage_report"``, ``"format_check"`` or a task file of your own);
    ``text``: the screenplay (empty: the active one); ``scene``: 1-based (0: under the cursor); ``character``,
    ``instruction``, ``output``, ``model_notes``: as the operator's. A proposal task's answer is the proposal Text
    (apply it with ``bpy.ops.screenwriter.apply_proposal``); Format Check needs no model (``model_notes``: it also
    asks the model how to fix what it found, and that answer is returned).

    Raises:
        CommandError: The task cannot start (nothing was sent).
        RequestFailed: It started and failed or was cancelled (``check``).
    """
    from . import toolset

    context = _context()
    try:
        launch = toolset.run_task(
            context, task, _text_name(text) if text else "", scene, character, instruction, output,
            operator="api.run_task", model_notes=model_notes, model=model, temperature=temperature,
            max_tokens=max_tokens, api_base=api_base, mock_response=mock_response or None,
        )
        toolset.start(launch)
    except toolset.ToolError as exc:
        raise CommandError(str(exc)) from exc
    job = toolset.wait(launch)
    if job is None:
        written = bpy.data.texts.get(launch.written or launch.target)
        if written is None or not launch.written:
            status = runtime.get().statuses.get(launch.run.label) if launch.run is not None else None
            raise CommandError(status.text.removeprefix("Error: ") if status else "The task wrote nothing.")
        return Answer(launch.written, written.as_string(), "finished", "", launch.info, "", {})
    sink_target = job.target or launch.target
    text_now = bpy.data.texts.get(sink_target)
    return _answer(job, text_now.name if text_now is not None else sink_target, check)

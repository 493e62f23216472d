"""The verbs: what each command does, shared by the operators (``operators/``) and the scripting API (``api``).

Each function reads the settings once (:func:`.settings.from_context`), picks its task, renders the task's
messages from the screenplay, plans the request through the one request path
(:func:`~.core.jobs.plan.plan_request`) and returns a :class:`Prepared`: the job (not started), its sink, and
what to tell the user. Starting it is :func:`start` (the pump opens the sink first). Nothing here reads an
operator, and nothing below calls back up (pose_library's rule: an operator calls one function that does the
thing). Main thread only.
"""

from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import bpy
from bpy.types import Context

from . import endpoints, pump, runtime, settings, sinks, texts, toolset
from .core.jobs.batch import BatchItem, BatchRun
from .core.jobs.discovery import DiscoveryError, ModelList
from .core.jobs.job import Job
from .core.jobs.plan import PlanError, RequestSettings, plan_request
from .core.provider import gateway, netgate
from .core.screenplay import fountain
from .core.tasks import chat, render
from .core.tasks.task import Task, TaskCatalog, TaskError

#: Where a user's own task files live by default, inside the add-on's user directory.
USER_TASKS_FOLDER = "tasks"


class CommandError(Exception):
    """A command cannot run; the message says why and what to do. Nothing was sent or changed."""


@dataclass
class Prepared:
    """A planned job (not started), the sink its output goes to, and messages for the user: ``info`` (what
    will happen) and ``warnings`` (fallbacks skipped)."""

    job: Job
    sink: sinks.Sink
    info: str = ""
    warnings: list[str] = field(default_factory=list)


# --- tasks -------------------------------------------------------------------------------------------


def user_tasks_folder(context: Context | None = None) -> Path | None:
    """The folder of the user's task files: the preference *Tasks Folder*, else ``tasks`` in the add-on's user
    directory (None when the add-on is not enabled through Blender)."""
    prefs = settings.preferences(context)
    if prefs is None:
        return None
    folder = str(getattr(prefs, "tasks_folder", "") or "").strip()
    return Path(bpy.path.abspath(folder)) if folder else settings.data_dir() / USER_TASKS_FOLDER


def catalog(context: Context | None = None) -> TaskCatalog:
    """Every task, built-in and the user's (a user task with a built-in id replaces it), from the runtime's copy
    (reloaded when a task file changes)."""
    return runtime.get().tasks(user_tasks_folder(context))


def task(task_id: str, context: Context | None = None) -> Task:
    """The task ``task_id``. Raises :class:`CommandError` when there is none (with the files that failed)."""
    try:
        return catalog(context).get(task_id)
    except KeyError as exc:
        raise CommandError(str(exc.args[0])) from None


def _plan(
    config: RequestSettings,
    chosen: Task,
    messages: tuple[dict[str, str], ...],
    *,
    operator: str,
    label: str,
    target: str,
    prepare: object = None,
) -> tuple[Job, list[str]]:
    try:
        plan, warnings = plan_request(
            config,
            messages,
            overrides=chosen.request,
            task=chosen.id,
            operator=operator,
            label=label,
            target=target,
            prepare=prepare,  # type: ignore[arg-type]
        )
    except PlanError as exc:
        raise CommandError(str(exc)) from exc
    return Job(plan), warnings


# --- screenplays --------------------------------------------------------------------------------------


def source_text(context: Context, name: str = "") -> bpy.types.Text | None:
    """The screenplay Text: by ``name``, else the Text in the active Text Editor, else the only Text."""
    if name:
        return bpy.data.texts.get(name)
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "TEXT_EDITOR" and space.text is not None:
        return space.text
    if len(bpy.data.texts) == 1:
        return bpy.data.texts[0]
    return None


def require_source(context: Context, name: str = "") -> bpy.types.Text:
    """:func:`source_text`, or :class:`CommandError` saying what is missing."""
    source = source_text(context, name)
    if source is None:
        raise CommandError(f"No Text named '{name}'." if name else "Open a screenplay in the Text Editor first.")
    return source


def pick_scene(source: bpy.types.Text, number: int) -> tuple[fountain.Screenplay, fountain.Scene]:
    """The parsed screenplay and its scene ``number`` (1-based; 0: the scene under the cursor, else the first).

    Raises:
        CommandError: No scene headings; a negative number; a number beyond the script (says how many scenes).
    """
    screenplay = runtime.get().screenplay(source, fresh=True)
    if not screenplay.scenes:
        raise CommandError(
            f"No scene headings found in '{source.name}'. A scene heading starts with INT. or EXT. "
            "(or '.' to force one) and stands alone between blank lines."
        )
    count = len(screenplay.scenes)
    if number < 0:
        raise CommandError(f"Scene {number} does not exist: scenes are numbered 1 to {count} (0: under the cursor).")
    if number > count:
        raise CommandError(f"'{source.name}' has {count} scenes; there is no scene {number}.")
    if number:
        return screenplay, screenplay.scenes[number - 1]
    return screenplay, screenplay.scene_at_line(source.current_line_index) or screenplay.scenes[0]


def title_of(source: bpy.types.Text, screenplay: fountain.Screenplay) -> str:
    """The script's title page title, else the Text's name without its file ending."""
    return texts.stem_title(source.name, screenplay.title)


# --- the commands ---------------------------------------------------------------------------------------


def analysis_messages(
    context: Context, source: bpy.types.Text, number: int
) -> tuple[Task, fountain.Scene, tuple[dict[str, str], ...]]:
    """The ``analyze_scene`` task, the chosen scene and its rendered messages (see :func:`pick_scene`)."""
    chosen = task("analyze_scene", context)
    screenplay, scene = pick_scene(source, number)
    try:
        messages = chosen.render(render.scene_values(screenplay, scene, title_of(source, screenplay)))
    except TaskError as exc:
        raise CommandError(str(exc)) from exc
    return chosen, scene, messages


def analyze_scene(
    context: Context, text: str = "", scene: int = 0, output: str = "", *, operator: str = "", **overrides: object
) -> Prepared:
    """Plan the analysis of one scene into its own Text (``"<script> - Scene N Analysis"`` or ``output``).

    ``overrides``: settings that replace the sidebar's (``model``, ``temperature``, ``max_tokens``, ``stream``,
    ``fallbacks``, ``mock_response``). Raises :class:`CommandError`.
    """
    source = require_source(context, text)
    chosen, picked, messages = analysis_messages(context, source, scene)
    config = settings.from_context(context, **overrides)
    target = output or texts.analysis_name(source.name, picked.number)
    job, warnings = _plan(
        config, chosen, messages, operator=operator or "screenwriter.analyze_scene", label=source.name, target=target
    )
    stored = {"task": chosen.id, "source": source.name, **config.as_stored(), "messages": list(messages)}
    sink = _answer_sink(chosen, target, source.name, stored, settings.secrets(context, config))
    info = f"Analysing scene {picked.number} ({picked.heading}) into '{target}'"
    return Prepared(job, sink, info, warnings)


def _answer_sink(
    chosen: Task, target: str, source: str, stored: dict[str, object], secrets: tuple[str, ...]
) -> sinks.AnswerSink:
    """The sink of an answer: grounded tasks check the answer's quotations against the script when it ends. The
    report is kept on the Text and shown in the sidebar; an analysis stays the model's answer word for word (the
    coverage report and Regenerate read it), other tasks get the report written under the answer."""
    if chosen.grounded:
        return toolset.GroundedAnswerSink(target, source, stored, secrets, append=chosen.id != "analyze_scene")
    return sinks.AnswerSink(target, source, stored, secrets)


def regenerate(context: Context, output: str = "", use_current_settings: bool = False) -> Prepared:
    """Plan the last request of an output Text again (the earlier answer is kept as "(previous)").

    Raises :class:`CommandError` when the Text holds no request or it cannot be read.
    """
    output_text = bpy.data.texts.get(output) if output else source_text(context, "")
    if output_text is None or not output_text.get(texts.REQUEST_KEY):
        name = output or (output_text.name if output_text else "")
        raise CommandError(f"'{name}' holds no Screenwriter LLM answer to regenerate.")
    try:
        stored = json.loads(output_text[texts.REQUEST_KEY])
        messages = tuple({"role": m["role"], "content": m["content"]} for m in stored["messages"])
        kept = {
            "model": str(stored["model"]),
            "fallbacks": tuple(stored.get("fallbacks", ())),
            "temperature": float(stored["temperature"]),
            "max_tokens": int(stored["max_tokens"]),
            "stream": bool(stored["stream"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise CommandError(f"The request stored with '{output_text.name}' cannot be read ({exc}).") from exc
    config = settings.from_context(context, **({} if use_current_settings else kept))
    chosen = task(str(stored.get("task") or "analyze_scene"), context)
    source_name = str(stored.get("source", ""))
    job, warnings = _plan(
        config, chosen, messages, operator="screenwriter.regenerate", label=source_name or output_text.name,
        target=output_text.name,
    )
    stored = {**stored, **config.as_stored()}
    secrets = settings.secrets(context, config)
    sink = toolset.regenerate_sink(output_text, source_name, stored, secrets) or _answer_sink(
        chosen, output_text.name, source_name, stored, secrets
    )
    return Prepared(job, sink, f"Regenerating '{output_text.name}' with {config.model}", warnings)


def chat_send(context: Context, text: str = "", message: str = "") -> Prepared:
    """Plan one chat turn about the script: the conversation (kept on its own Text with the .blend) plus the
    new ``message``, fitted to the model's window on the worker. Raises :class:`CommandError`."""
    source = require_source(context, text)
    if source.get(texts.CHAT_KEY):  # the chat Text itself is open: use its script
        source = bpy.data.texts.get(texts.load_conversation(source).source) or source
    message = message.strip()
    if not message:
        raise CommandError("Type a message to send.")
    chosen = task("chat", context)
    screenplay = runtime.get().screenplay(source, fresh=True)
    title = title_of(source, screenplay)
    include = settings.scene_settings(context).chat_include_scene
    current = screenplay.scene_at_line(source.current_line_index) if include else None
    try:
        system = chat.system_prompt(screenplay, title, current, chosen)
        conversation_text = texts.conversation_text(source, create=True)
    except (TaskError, texts.SinkError) as exc:
        raise CommandError(str(exc)) from exc
    assert conversation_text is not None
    if runtime.get().job_for_target(conversation_text.name) is not None:
        raise CommandError("The assistant is still answering; wait for it or cancel it first.")
    conversation = texts.load_conversation(conversation_text)
    messages = ({"role": "system", "content": system}, *conversation.turns, {"role": "user", "content": message})
    config = settings.from_context(context)
    prepare = chat.context_preparer(
        system, list(conversation.turns), message, conversation.summary, config.default_window
    )
    job, warnings = _plan(
        config, chosen, messages, operator="screenwriter.chat_send", label=source.name,
        target=conversation_text.name, prepare=prepare,
    )
    sink = sinks.ChatSink(conversation_text.name, source.name, title, message, settings.secrets(context, config))
    return Prepared(job, sink, f"Asking {config.model}…", warnings)


def chat_summarise(context: Context, text: str = "") -> Prepared:
    """Plan the summary of the older part of a conversation (retries, fallbacks and the cache apply like for
    any request). Raises :class:`CommandError` when there is nothing to summarise."""
    source = require_source(context, text)
    if source.get(texts.CHAT_KEY):
        source = bpy.data.texts.get(texts.load_conversation(source).source) or source
    name = texts.conversation_name(source.name)
    if runtime.get().job_for_target(name) is not None or any(
        j.plan.task == "summary" for j in runtime.get().jobs_for(source.name)
    ):
        raise CommandError("The conversation is being answered or summarised; wait for it or cancel it first.")
    chosen = task("summary", context)
    conversation = texts.load_conversation(bpy.data.texts.get(name))
    try:
        messages, covers = chat.summary_messages(conversation, task=chosen)
    except (ValueError, TaskError) as exc:
        raise CommandError(str(exc)) from exc
    config = settings.from_context(context)
    job, warnings = _plan(
        config, chosen, messages, operator="screenwriter.chat_summarise", label=source.name, target=""
    )
    return Prepared(job, sinks.SummarySink(name, covers), f"Summarising turns 1-{covers}…", warnings)


def test_connection(context: Context) -> Prepared:
    """Plan the connection probe (a tiny request through the same checks as any other).

    Raises :class:`CommandError`, also when a probe is already running (a second never cancels the first).
    """
    if runtime.get().jobs_for(runtime.CONNECTION_TEST):
        raise CommandError("A connection test is already running.")
    chosen = task("probe", context)
    config = settings.from_context(context)
    try:
        messages = chosen.render({})
    except TaskError as exc:
        raise CommandError(str(exc)) from exc
    job, warnings = _plan(
        config, chosen, messages, operator="screenwriter.test_connection", label=runtime.CONNECTION_TEST, target=""
    )
    if gateway.is_gateway(config.model):
        # Through a gateway the test also lists its models (in parallel with the probe): "gateway reached, N models".
        refresh_models(context)
    return Prepared(job, sinks.StatusSink(), f"Testing {config.model}…", warnings)


def refresh_models(context: Context, model: str = "", api_base: str = "") -> Future[ModelList]:
    """Start listing the models the sidebar model's endpoint offers (``model``/``api_base``: instead of the
    sidebar's and the preferences'), off the main thread (:mod:`.endpoints`). Raises :class:`CommandError` for an
    endpoint without a listing, or one online access forbids (nothing is sent then)."""
    config = settings.from_context(context, model=model or None, api_base=api_base or None)
    try:
        netgate.check_online_access(config.model, config.api_base, config.online)
        return endpoints.refresh(config.model, config.api_base, config.keys.get(config.model), config.online)
    except netgate.OnlineAccessDisabled as exc:
        raise CommandError(str(exc)) from exc
    except DiscoveryError as exc:
        raise CommandError(str(exc)) from exc


def connection_line(job: Job) -> str:
    """What a finished connection test says: ``"studio-writer answered in 0.4 s"``, and through a gateway
    ``"gateway reached, 2 models; ..."`` (the listing started with the test; without a window, waiting up to 10 s
    for it; in a window never: the main thread does not wait)."""
    line = f"{job.model} answered in {job.duration:.1f} s"
    api_base = job.plan.requests[0].api_base if job.plan.requests else None
    if not gateway.is_gateway(job.model):
        return line
    key = endpoints.key_of(job.model, api_base)
    future = endpoints.running(key) if key else None
    if future is not None and not future.done() and not bpy.app.background:
        return f"{line}; still listing the gateway's models"
    try:
        listed = future.result(timeout=10) if future is not None else endpoints.listed(job.model, api_base)
    except Exception as exc:  # noqa: BLE001 - the listing's own message says what went wrong
        return f"{line}; the gateway's model list failed: {exc}"
    if listed is None:
        return line
    flag = plan_warning(job.model, listed)
    return f"{listed.summary()}; {line}" + (f". {flag}" if flag else "")


def plan_warning(model: str, listed: ModelList) -> str:
    """The flag for a model its endpoint does not list ('' when it does)."""
    from .core.jobs.plan import unlisted_warning

    return unlisted_warning(model, listed.ids)


def analyze_all_scenes(
    context: Context, text: str = "", concurrency: int = 4, force: bool = False, mock_response: str = ""
) -> tuple[BatchRun, str]:
    """Plan the analysis of every scene (each into its own Text) as one run, and its coverage report.

    Scenes whose analysis Text is complete are skipped unless ``force``. Returns the run (not started) and the
    line to tell the user. Raises :class:`CommandError` (no script, no scenes, a run already going, the model,
    key or online access refused: checked once, before anything starts).
    """
    source = require_source(context, text)
    state = runtime.get()
    if state.run_for(source.name) is not None:
        raise CommandError(f"'{source.name}' is already being analysed; cancel it first.")
    screenplay = state.screenplay(source, fresh=True)
    if not screenplay.scenes:
        raise CommandError(f"No scene headings found in '{source.name}'.")
    chosen = task("analyze_scene", context)
    config = settings.from_context(context, mock_response=mock_response)
    title = title_of(source, screenplay)
    pending: list[BatchItem] = []
    skipped: list[int] = []
    known = settings.secrets(context, config)
    for scene in screenplay.scenes:
        target = texts.analysis_name(source.name, scene.number)
        try:
            messages = chosen.render(render.scene_values(screenplay, scene, title))
        except TaskError as exc:
            raise CommandError(str(exc)) from exc
        if not force and _analysed(bpy.data.texts.get(target), messages):
            skipped.append(scene.number)
            continue
        job, _ = _plan(
            config, chosen, messages, operator="screenwriter.analyze_all_scenes", label=source.name, target=target
        )
        stored = {"task": chosen.id, "source": source.name, **config.as_stored(), "messages": list(messages)}
        pending.append(BatchItem(scene.number, job, _answer_sink(chosen, target, source.name, stored, known)))
    report_name = texts.coverage_name(source.name)
    report = sinks.ReportSink(report_name, source.name, title, [(s.number, s.heading) for s in screenplay.scenes])
    run = BatchRun(pending, concurrency, label=source.name, skipped=skipped, payload=report)
    info = (
        f"Analysing {len(pending)} scenes of '{source.name}', {concurrency} at a time "
        f"({len(skipped)} already done); report: '{report_name}'"
    )
    return run, info


def _analysed(existing: bpy.types.Text | None, messages: tuple[dict[str, str], ...]) -> bool:
    """True when ``existing`` holds a complete analysis made from exactly these messages (the same scene text,
    title and task): an edited scene, or another draft's analysis, is analysed again."""
    if existing is None or not existing.get(texts.COMPLETE_MARKER):
        return False
    try:
        stored = json.loads(existing.get(texts.REQUEST_KEY) or "{}")
    except ValueError:
        return False
    return bool(stored.get("messages") == [dict(m) for m in messages])


def chat_clear(context: Context, text: str = "") -> str:
    """Start a script's conversation afresh (the old one is kept as "(previous)"); returns what to tell the user.

    Raises :class:`CommandError` when there is no conversation or it cannot be cleared.
    """
    source = source_text(context, text)
    name = texts.conversation_name(source.name) if source is not None else ""
    existing = bpy.data.texts.get(name) if name else None
    if source is None or existing is None or not existing.get(texts.CHAT_KEY):
        raise CommandError("No conversation to clear")
    try:
        output = texts.prepare_output(name, source, lambda n: runtime.get().job_for_target(n) is not None)
    except texts.SinkError as exc:
        raise CommandError(str(exc)) from exc
    output[texts.CHAT_KEY] = chat.Conversation(source=source.name).to_json()
    return f"Conversation cleared; the old one is in '{texts.previous_name(name)}'"


def start(prepared: Prepared) -> Job:
    """Start a prepared job through the pump (its sink is opened first). Raises :class:`CommandError` when the
    sink refuses (the output Text is the user's own, or busy)."""
    try:
        return pump.start(prepared.job, prepared.sink)
    except texts.SinkError as exc:
        raise CommandError(str(exc)) from exc

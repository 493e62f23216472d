"""Operators: Analyze Scene, Regenerate, Cancel, Go to Scene. Thin: they snapshot settings on the main thread,
hand a :class:`~.core.jobs.Job` to the pump, and report."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import TYPE_CHECKING

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty
from bpy.types import Context, Event, Operator
from bpy_extras.io_utils import ExportHelper

from . import compat, pump
from .core.accounting import budget
from .core.accounting.cost import estimate_key
from .core.accounting.usage import LedgerError, UsageLedger
from .core.jobs.batch import CoverageRun
from .core.jobs.job import Accounting, Deadlines, Job
from .core.provider import errors, keys, netgate
from .core.provider.llm import Failed, Finished, LLMRequest
from .core.provider.retry import RetryPolicy
from .core.screenplay import fountain
from .core.tasks import chat, prompts
from .props import data_dir, preferences, settings

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems as Result
else:
    Result = str

tip_ = bpy.app.translations.pgettext_tip

#: Blender limits ID names to 63 bytes before 5.0 (MAX_ID_NAME - 3); stay within it everywhere.
MAX_NAME_BYTES = 63
#: Placeholder key for OpenAI-compatible servers on this machine, which need none but whose SDK
#: refuses to start without one. Never sent anywhere but loopback.
LOCAL_PLACEHOLDER_KEY = "sk-local-no-key-needed"

#: Files in the add-on's user directory: the usage ledger and the opt-in response cache (SQLite).
LEDGER_FILE = "usage.sqlite3"
CACHE_FILE = "responses.sqlite3"
#: Status key of the Test Connection job (shown in the add-on preferences).
CONNECTION_TEST = "Connection test"
#: ID property on an output Text holding its last request as JSON (model, settings, messages; no key).
REQUEST_KEY = "screenwriter_request"

_parse_cache: dict[str, tuple[int, fountain.Screenplay]] = {}


def screenplay_of(text: bpy.types.Text) -> fountain.Screenplay:
    """The parsed screenplay of ``text``, cached by name and content (panels call this on draw)."""
    content = text.as_string()
    key = hash(content)
    cached = _parse_cache.get(text.name)
    if cached is None or cached[0] != key:
        cached = (key, fountain.parse(content))
        _parse_cache[text.name] = cached
    return cached[1]


def _clip_name(name: str) -> str:
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        name = name[:-1]
    return name


def default_output_name(source: str, scene_number: int) -> str:
    """``"<script stem> - Scene N Analysis"``, shortened to fit Blender's ID-name limit."""
    suffix = f" - Scene {scene_number} Analysis"
    stem = PurePath(source).stem if source.lower().endswith((".fountain", ".txt", ".spmd")) else source
    while len((stem + suffix).encode("utf-8")) > MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


def source_text(context: Context, name: str) -> bpy.types.Text | None:
    """The screenplay Text: by ``name``, else the Text in the active Text Editor, else the only Text."""
    if name:
        return bpy.data.texts.get(name)
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "TEXT_EDITOR" and space.text is not None:
        return space.text
    if len(bpy.data.texts) == 1:
        return bpy.data.texts[0]
    return None


def screenplay_property() -> object:
    """The ``text`` operator property every command that works on a screenplay takes."""
    return StringProperty(
        name="Screenplay",
        description="Name of the Text holding the screenplay (empty: the Text in the active editor)",
        options={"SKIP_SAVE"},
    )


class PrepareError(Exception):
    """A request cannot start; the message says why and what to do."""


def _api_key(model: str, api_base: str | None, offline_mock: bool, context: Context) -> str | None:
    """The key to pass to LiteLLM for ``model``, resolved on the main thread: environment variable,
    OS keyring, then the add-on preferences (``core.keys``); a LiteLLM Proxy key from the preferences
    when a custom endpoint is set; a placeholder for OpenAI-compatible servers on this machine.

    Returns None to let LiteLLM use the provider's other credentials (Azure AD, AWS, Vertex...).
    Raises :class:`PrepareError` when a provider that needs a key has none.
    """
    if offline_mock:
        return None
    prefs = preferences(context)
    resolved = keys.resolve_key(model, prefs.key_for if prefs else (lambda env_var: None), cached_keyring_get)
    if resolved is not None:
        return resolved.value
    if api_base and prefs is not None and prefs.proxy_api_key:
        return str(prefs.proxy_api_key)
    if netgate.is_loopback_endpoint(model, api_base):
        return LOCAL_PLACEHOLDER_KEY if model.split("/", 1)[0] in ("openai", "") or "/" not in model else None
    if api_base or model.split("/", 1)[0] not in errors.PROVIDER_KEY_ENV:
        return None  # a proxy or a provider with other credentials: let LiteLLM decide
    env = errors.key_env_var(model)
    raise PrepareError(
        f"No API key for {model}: set the {env} environment variable before starting Blender, store the key "
        "in the add-on preferences (Edit > Preferences > Add-ons > Screenwriter LLM), or choose a local "
        "model (for example ollama_chat/llama3.1)."
    )


_keyring_cache: dict[str, str | None] = {}


def cached_keyring_get(env_var: str) -> str | None:
    """:func:`core.keys.keyring_get`, remembered for the session (a keyring lookup can take a moment
    and panels ask on every redraw). :func:`forget_keyring_cache` after storing a key."""
    if env_var not in _keyring_cache:
        _keyring_cache[env_var] = keys.keyring_get(env_var)
    return _keyring_cache[env_var]


def forget_keyring_cache() -> None:
    """Drop remembered keyring lookups."""
    _keyring_cache.clear()


def prepare_output(name: str, source: bpy.types.Text | None) -> bpy.types.Text:
    """The output Text ``name``, created or emptied for a new answer.

    An earlier answer in it is kept as ``"<name> (previous)"``. Refuses (``PrepareError``) to write into
    the screenplay itself, into a Text the add-on did not create, or into one a job is writing.
    """
    existing = bpy.data.texts.get(name)
    if existing is None:
        text = bpy.data.texts.new(name)
        text[pump.OUTPUT_MARKER] = True
        return text
    if existing == source:
        raise PrepareError(f"The output Text '{name}' is the screenplay itself; choose another output name.")
    if not existing.get(pump.OUTPUT_MARKER):
        raise PrepareError(
            f"A Text named '{name}' already exists and was not written by Screenwriter LLM; "
            "choose another output name or rename that Text."
        )
    if pump.REGISTRY.for_target(name) is not None:
        raise PrepareError(f"An analysis is already streaming into '{name}'; cancel it first.")
    if existing.as_string().strip():
        previous_name = _clip_name(f"{name} (previous)")
        old = bpy.data.texts.get(previous_name)
        if old is not None and old.get(pump.OUTPUT_MARKER):
            bpy.data.texts.remove(old)
        keep = existing.copy()
        keep.name = previous_name
        if keep.get(REQUEST_KEY):
            del keep[REQUEST_KEY]  # Regenerate works on the current answer only
    existing.clear()
    return existing


@dataclass(frozen=True)
class Snapshot:
    """The settings of one request, read on the main thread (the worker never touches bpy)."""

    model: str
    fallbacks: tuple[str, ...]
    temperature: float
    max_tokens: int
    stream: bool

    @classmethod
    def from_scene(cls, context: Context) -> Snapshot:
        """The sidebar settings of the active scene."""
        config = settings(context)
        return cls(
            config.model.strip(), tuple(config.fallback_list()), config.temperature, config.max_tokens, config.stream
        )


def build_job(
    context: Context,
    snapshot: Snapshot,
    messages: tuple[dict[str, str], ...],
    source: bpy.types.Text | None,
    output_name: str,
    mock_response: str = "",
    operator: str = "screenwriter.analyze_scene",
    append: bool = False,
) -> tuple[Job, list[str]]:
    """Check and snapshot everything a request needs, prepare the output Text and return the job
    (not started) with warnings for the user (fallback models that had to be skipped).

    Raises :class:`PrepareError` (no model, online access off for a remote model, no key).
    The request is recorded on the output Text (``screenwriter_request``: model, settings, messages;
    never a key) so Regenerate can run it again.
    """
    if not snapshot.model:
        raise PrepareError("Set a model in the Screenwriter sidebar (for example openai/gpt-4o-mini).")
    prefs = preferences(context)
    api_base = (prefs.api_base.strip() if prefs else "") or None
    online = compat.online_access()
    offline_mock = bool(mock_response)
    requests: list[LLMRequest] = []
    warnings: list[str] = []
    for model in (snapshot.model, *snapshot.fallbacks):
        try:
            try:
                netgate.check_online_access(model, api_base, online, offline_mock)
            except netgate.OnlineAccessDisabled as exc:
                raise PrepareError(str(exc)) from exc
            api_key = _api_key(model, api_base, offline_mock, context)
        except PrepareError as exc:
            if not requests:
                raise
            warnings.append(f"Fallback {model} skipped: {exc}")
            continue
        requests.append(
            LLMRequest(
                model=model,
                messages=messages,
                temperature=snapshot.temperature,
                max_tokens=snapshot.max_tokens,
                stream=snapshot.stream,
                api_base=api_base,
                api_key=api_key,
                mock_response=mock_response or None,
            )
        )
    deadlines = Deadlines()
    policy = RetryPolicy()
    folder = None
    if prefs is not None:
        deadlines = Deadlines(prefs.first_token_timeout, prefs.stall_timeout, prefs.total_timeout)
        policy = RetryPolicy(max_retries=prefs.max_retries)
        folder = data_dir()
    accounting = Accounting(
        operator=operator,
        script=source.name if source else "",
        ledger_path=str(folder / LEDGER_FILE) if folder is not None and not mock_response else None,
        cache_path=str(folder / CACHE_FILE) if folder is not None and prefs is not None and prefs.use_cache else None,
        limits=prefs.limits() if prefs is not None else None,
        custom_rates=prefs.custom_rates() if prefs is not None else None,
        default_window=prefs.default_context_window if prefs is not None else Accounting.default_window,
        price=not mock_response,
    )
    if not output_name:  # a request with no output Text (Test Connection): one try, never cached
        accounting = replace(accounting, cache_path=None)
        return Job(
            request=requests[0],
            label=CONNECTION_TEST,
            policy=RetryPolicy(max_retries=0),
            deadlines=deadlines,
            accounting=accounting,
        ), warnings
    if append:  # a conversation: the answer is appended to the Text as it is
        output = bpy.data.texts.get(output_name) or bpy.data.texts.new(output_name)
        output[pump.OUTPUT_MARKER] = True
    else:
        output = prepare_output(output_name, source)
        output[pump.COMPLETE_MARKER] = False
        if output.get(pump.TOKENS_KEY) is not None:
            del output[pump.TOKENS_KEY]
        output[REQUEST_KEY] = json.dumps(
            {
                "source": source.name if source else "",
                "model": snapshot.model,
                "fallbacks": list(snapshot.fallbacks),
                "temperature": snapshot.temperature,
                "max_tokens": snapshot.max_tokens,
                "stream": snapshot.stream,
                "messages": list(messages),
            }
        )
    job = Job(
        request=requests[0],
        fallbacks=tuple(requests[1:]),
        label=source.name if source else output.name,
        target=output.name,
        policy=policy,
        deadlines=deadlines,
        accounting=accounting,
    )
    return job, warnings


class _StreamingOperator(Operator):
    """Shared driving of a job: synchronous in background mode, a timer pump plus a modal ESC watch in
    a window. Subclasses build the job in :meth:`make_job`."""

    _job: Job | None = None
    _timer: bpy.types.Timer | None = None

    def make_job(self, context: Context) -> tuple[Job, list[str]]:
        """Build the job (not started) and warnings; raise :class:`PrepareError` to refuse."""
        raise NotImplementedError

    def _start(self, context: Context, start: bool = True) -> Job | None:
        """Build (and with ``start``, start) the job; report and return None when it cannot start."""
        try:
            job, warnings = self.make_job(context)
        except PrepareError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        for warning in warnings:
            self.report({"WARNING"}, warning)
        if start:
            pump.start(job)
        return job

    def _report_outcome(self, job: Job) -> set[Result]:
        for notice in job.notices:
            self.report({"WARNING"}, notice)
        line = job.status_line()
        if isinstance(job.outcome, Finished):
            self.report({"INFO"}, tip_("'{}' written. {}").format(job.target, line))
            return {"FINISHED"}
        if isinstance(job.outcome, Failed):
            self.report({"ERROR"}, job.outcome.message)
            return {"CANCELLED"}
        self.report({"WARNING"}, line)
        return {"CANCELLED"}

    def execute(self, context: Context) -> set[Result]:
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        if bpy.app.background:
            # Timers never fire in background mode: drive the same pump synchronously (DESIGN.md).
            pump.run_until_done(job)
            return self._report_outcome(job)
        return {"FINISHED"}  # in a window the timer pump streams on; the sidebar shows progress

    def invoke(self, context: Context, event: Event) -> set[Result]:
        if bpy.app.background:
            return self.execute(context)
        job = self._start(context, start=False)
        if job is None:
            return {"CANCELLED"}
        self._job = job
        wm = context.window_manager
        assert wm is not None  # invoke runs in a window
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        pump.start(job)  # last: the worker may hold the GIL a while (importing LiteLLM) once it runs
        return {"RUNNING_MODAL"}

    def _over_text_editor(self, context: Context, event: Event) -> bool:
        screen = context.window.screen if context.window else None
        for area in screen.areas if screen else ():
            if area.type == "TEXT_EDITOR" and (
                area.x <= event.mouse_x < area.x + area.width and area.y <= event.mouse_y < area.y + area.height
            ):
                return True
        return False

    def modal(self, context: Context, event: Event) -> set[Result]:
        job = self._job
        if job is None:
            return {"CANCELLED"}
        # ESC cancels only over a Text Editor, so ESC elsewhere (ending a transform in the 3D view)
        # keeps its usual meaning and the analysis goes on.
        if event.type == "ESC" and event.value == "PRESS" and self._over_text_editor(context, event):
            job.cancel("Cancelled")
            return {"RUNNING_MODAL"}
        if job.outcome is not None or pump.REGISTRY.for_target(job.target) is not job:
            if job.outcome is None:  # dropped by a file load or add-on disable
                job.cancel("Cancelled")
            self._finish(context)
            return self._report_outcome(job)
        return {"PASS_THROUGH"}

    def _finish(self, context: Context) -> None:
        if self._timer is not None and context.window_manager is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None

    def cancel(self, context: Context) -> None:
        """Blender ends the modal operator (for example the window closes): stop the job too."""
        if self._job is not None:
            self._job.cancel("Cancelled")
        self._finish(context)


class SCREENWRITER_OT_analyze_scene(_StreamingOperator):
    """Stream a language model's craft-level analysis of one scene into a Text"""

    bl_idname = "screenwriter.analyze_scene"
    bl_label = "Analyze Scene"
    bl_options = {"REGISTER"}

    text: screenplay_property()  # type: ignore[valid-type]
    scene: IntProperty(  # type: ignore[valid-type]
        name="Scene",
        description="Scene number, counted from 1 (0: the scene under the cursor)",
        min=0,
        options={"SKIP_SAVE"},
    )
    output: StringProperty(  # type: ignore[valid-type]
        name="Output",
        description="Name of the Text to write the analysis into (empty: '<script> - Scene N Analysis')",
        options={"SKIP_SAVE"},
    )
    mock_response: StringProperty(  # type: ignore[valid-type]
        name="Mock Response",
        description="For scripts and demos: LiteLLM answers with this text instead of calling a provider",
        options={"SKIP_SAVE", "HIDDEN"},
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not bpy.data.texts:
            cls.poll_message_set("Open a screenplay in the Text Editor first")
            return False
        return True

    confirmed: BoolProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    def invoke(self, context: Context, event: Event) -> set[Result]:
        if not bpy.app.background and not self.confirmed:
            question = self._confirmation(context)
            if question:
                self.confirmed = True  # execute() runs next if the writer confirms
                try:  # Blender 4.1+: a titled dialog with the question
                    return context.window_manager.invoke_confirm(  # type: ignore[union-attr]
                        self, event, title="Expensive Request", message=question, icon="WARNING"
                    )
                except TypeError:
                    self.report({"WARNING"}, question)
                    return context.window_manager.invoke_confirm(self, event)  # type: ignore[union-attr]
        return super().invoke(context, event)

    def _confirmation(self, context: Context) -> str:
        """The question to ask when this one request could cost more than the preference *Confirm Over*,
        from the estimate counted off the main thread ("" when under it, off, or not counted yet: the
        worker still enforces the budgets)."""
        prefs = preferences(context)
        if prefs is None or not prefs.confirm_over_usd:
            return ""
        try:
            _source, _screenplay, _scene, messages = self._scene_request(context)
        except PrepareError:
            return ""
        config = settings(context)
        args = (config.model.strip(), messages, config.max_tokens, prefs.default_context_window, prefs.custom_rates())
        estimate = pump.ESTIMATOR.estimate(*args)
        if estimate is None and pump.ESTIMATOR.wait(estimate_key(*args), 0.3):  # brief; never a freeze
            estimate = pump.ESTIMATOR.estimate(*args)
        if estimate is None:
            return ""
        ledger = UsageLedger(data_dir() / LEDGER_FILE)
        decision = budget.check(ledger, prefs.limits(), estimate.cost)
        return decision.confirmation if decision.needs_confirmation else ""

    def _scene_request(
        self, context: Context
    ) -> tuple[bpy.types.Text, fountain.Screenplay, fountain.Scene, tuple[dict[str, str], ...]]:
        """The screenplay, the chosen scene and the messages of its analysis. Raises PrepareError."""
        source = source_text(context, self.text)
        if source is None:
            raise PrepareError(
                f"No Text named '{self.text}'." if self.text else "Open a screenplay in the Text Editor first."
            )
        screenplay = screenplay_of(source)
        if not screenplay.scenes:
            raise PrepareError(
                f"No scene headings found in '{source.name}'. A scene heading starts with INT. or EXT. "
                "(or '.' to force one) and stands alone between blank lines."
            )
        if self.scene:
            if self.scene > len(screenplay.scenes):
                raise PrepareError(
                    f"'{source.name}' has {len(screenplay.scenes)} scenes; there is no scene {self.scene}."
                )
            scene = screenplay.scenes[self.scene - 1]
        else:
            scene = screenplay.scene_at_line(source.current_line_index) or screenplay.scenes[0]
        title = screenplay.title or PurePath(source.name).stem
        return source, screenplay, scene, prompts.scene_analysis_messages(screenplay, scene, title)

    def make_job(self, context: Context) -> tuple[Job, list[str]]:
        source, screenplay, scene, messages = self._scene_request(context)
        output_name = self.output or default_output_name(source.name, scene.number)
        job, warnings = build_job(
            context, Snapshot.from_scene(context), messages, source, output_name, self.mock_response
        )
        self.output = job.target
        message = tip_("Analysing scene {} ({}) into '{}'").format(scene.number, scene.heading, job.target)
        self.report({"INFO"}, message)
        return job, warnings


def coverage_report(source_name: str, screenplay: fountain.Screenplay, report_name: str) -> bpy.types.Text:
    """Assemble (or rebuild) the coverage report Text from the per-scene analysis Texts: one section
    per scene in script order, then totals of tokens (cost once usage accounting lands)."""
    lines = [f"Coverage: {screenplay.title or PurePath(source_name).stem}", ""]
    analysed = prompt_total = completion_total = 0
    for scene in screenplay.scenes:
        text = bpy.data.texts.get(default_output_name(source_name, scene.number))
        lines.append(f"## Scene {scene.number}: {scene.heading}")
        lines.append("")
        if text is not None and text.get(pump.COMPLETE_MARKER):
            analysed += 1
            lines.append(text.as_string().strip())
            tokens = text.get(pump.TOKENS_KEY)
            if tokens is not None and len(tokens) == 2:
                prompt_total += int(tokens[0])
                completion_total += int(tokens[1])
        elif text is not None and text.as_string().strip():
            lines.append("[Not complete: " + text.as_string().strip().splitlines()[-1][:300] + "]")
        else:
            lines.append("[Not analysed yet]")
        lines.append("")
    lines.append(f"Scenes analysed: {analysed} of {len(screenplay.scenes)}")
    lines.append(f"Tokens: {prompt_total} in / {completion_total} out ({prompt_total + completion_total} total)")
    report = bpy.data.texts.get(report_name)
    if report is None:
        report = bpy.data.texts.new(report_name)
        report[pump.OUTPUT_MARKER] = True
    elif not report.get(pump.OUTPUT_MARKER):
        raise PrepareError(f"A Text named '{report_name}' exists and was not written by Screenwriter LLM.")
    report.from_string("\n".join(lines) + "\n")
    return report


class SCREENWRITER_OT_analyze_all_scenes(Operator):
    """Analyse every scene of the screenplay (several at once), each into its own Text, then assemble a
    coverage report. Scenes already analysed are skipped unless Re-analyse is on"""

    bl_idname = "screenwriter.analyze_all_scenes"
    bl_label = "Analyze All Scenes"
    bl_options = {"REGISTER"}

    text: screenplay_property()  # type: ignore[valid-type]
    concurrency: IntProperty(  # type: ignore[valid-type]
        name="Concurrency", description="Scenes analysed at the same time", default=4, min=1, max=16
    )
    force: BoolProperty(  # type: ignore[valid-type]
        name="Re-analyse",
        description="Analyse every scene again, even those already analysed",
        default=False,
        options={"SKIP_SAVE"},
    )
    mock_response: StringProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not bpy.data.texts:
            cls.poll_message_set("Open a screenplay in the Text Editor first")
            return False
        return True

    def execute(self, context: Context) -> set[Result]:
        source = source_text(context, self.text)
        if source is None:
            self.report({"ERROR"}, "Open a screenplay in the Text Editor first.")
            return {"CANCELLED"}
        if any(run.label == source.name for run in pump.RUNS):
            self.report({"ERROR"}, f"'{source.name}' is already being analysed; cancel it first.")
            return {"CANCELLED"}
        screenplay = screenplay_of(source)
        if not screenplay.scenes:
            self.report({"ERROR"}, f"No scene headings found in '{source.name}'.")
            return {"CANCELLED"}
        title = screenplay.title or PurePath(source.name).stem
        snapshot = Snapshot.from_scene(context)
        source_name = source.name
        report_name = _clip_name(
            f"{PurePath(source_name).stem if source_name.endswith('.fountain') else source_name} - Coverage"
        )
        pending: list[int] = []
        skipped: list[int] = []
        for scene in screenplay.scenes:
            existing = bpy.data.texts.get(default_output_name(source_name, scene.number))
            if not self.force and existing is not None and existing.get(pump.COMPLETE_MARKER):
                skipped.append(scene.number)
            else:
                pending.append(scene.number)
        try:  # check the model, key and online access once, before anything starts
            build_job(context, snapshot, ({"role": "user", "content": "check"},), None, "", self.mock_response)
        except PrepareError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        mock = self.mock_response

        def start_job(number: int) -> Job:
            scene = screenplay.scenes[number - 1]
            messages = prompts.scene_analysis_messages(screenplay, scene, title)
            job, _ = build_job(
                bpy.context,
                snapshot,
                messages,
                bpy.data.texts.get(source_name),
                default_output_name(source_name, number),
                mock,
                "screenwriter.analyze_all_scenes",
            )
            return pump.start(job)

        def finished(run: CoverageRun) -> None:
            coverage_report(source_name, screenplay, report_name)

        self.report(
            {"INFO"},
            tip_("Analysing {} scenes of '{}', {} at a time ({} already done); report: '{}'").format(
                len(pending), source_name, self.concurrency, len(skipped), report_name
            ),
        )
        run = CoverageRun(
            pending, start_job, self.concurrency, label=source_name, on_finished=finished, skipped=skipped
        )
        pump.start_run(run)
        if not bpy.app.background:
            return {"FINISHED"}
        pump.run_coverage_until_done(run)
        if run.failed:
            first = next(iter(run.failed.items()))
            self.report({"WARNING"}, f"{len(run.failed)} scene(s) failed; scene {first[0]}: {first[1]}")
        self.report({"INFO"}, run.status_line())
        return {"FINISHED"}


class SCREENWRITER_OT_regenerate(_StreamingOperator):
    """Run the last request of an output Text again, replacing its answer (the earlier answer is kept
    as '<name> (previous)')"""

    bl_idname = "screenwriter.regenerate"
    bl_label = "Regenerate"
    bl_options = {"REGISTER"}

    output: StringProperty(  # type: ignore[valid-type]
        name="Output",
        description="The output Text to regenerate (empty: the Text in the active editor)",
        options={"SKIP_SAVE"},
    )
    use_current_settings: BoolProperty(  # type: ignore[valid-type]
        name="Use Current Settings",
        description="Use the sidebar's model and settings now, instead of those of the earlier request",
        default=False,
        options={"SKIP_SAVE"},
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not any(t.get(REQUEST_KEY) for t in bpy.data.texts):
            cls.poll_message_set("No analysis to regenerate yet")
            return False
        return True

    def make_job(self, context: Context) -> tuple[Job, list[str]]:
        output = source_text(context, self.output)
        if output is None or not output.get(REQUEST_KEY):
            name = self.output or (output.name if output else "")
            raise PrepareError(f"'{name}' holds no Screenwriter LLM answer to regenerate.")
        try:
            stored = json.loads(output[REQUEST_KEY])
            messages = tuple({"role": m["role"], "content": m["content"]} for m in stored["messages"])
            snapshot = Snapshot(
                stored["model"],
                tuple(stored.get("fallbacks", ())),
                float(stored["temperature"]),
                int(stored["max_tokens"]),
                bool(stored["stream"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PrepareError(f"The request stored with '{output.name}' cannot be read ({exc}).") from exc
        if self.use_current_settings:
            snapshot = Snapshot.from_scene(context)
        source = bpy.data.texts.get(stored.get("source", ""))
        job, warnings = build_job(context, snapshot, messages, source, output.name, operator="screenwriter.regenerate")
        self.report({"INFO"}, tip_("Regenerating '{}' with {}").format(job.target, snapshot.model))
        return job, warnings


#: ID property on a conversation Text holding the chat (``core.chat.Conversation`` as JSON).
CHAT_KEY = "screenwriter_chat"


def conversation_name(source_name: str) -> str:
    """``"<script stem> - Chat"``, shortened to fit Blender's ID-name limit."""
    stem = PurePath(source_name).stem if source_name.lower().endswith((".fountain", ".txt")) else source_name
    return _clip_name(f"{stem} - Chat")


def load_conversation(text: bpy.types.Text | None) -> chat.Conversation:
    """The conversation stored on ``text`` (empty when there is none)."""
    return chat.Conversation.from_json(text.get(CHAT_KEY) if text is not None else None)


class SCREENWRITER_OT_chat_send(_StreamingOperator):
    """Send a message about the script to the model; the conversation streams into its own Text and is
    kept with the .blend"""

    bl_idname = "screenwriter.chat_send"
    bl_label = "Send"
    bl_options = {"REGISTER"}

    text: screenplay_property()  # type: ignore[valid-type]
    message: StringProperty(  # type: ignore[valid-type]
        name="Message", description="What to ask (empty: the message typed in the sidebar)", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not bpy.data.texts:
            cls.poll_message_set("Open a screenplay in the Text Editor first")
            return False
        return True

    def make_job(self, context: Context) -> tuple[Job, list[str]]:
        source = source_text(context, self.text)
        if source is not None and source.get(CHAT_KEY):  # the chat Text itself is open: use its script
            source = bpy.data.texts.get(load_conversation(source).source) or source
        if source is None:
            raise PrepareError("Open a screenplay in the Text Editor first.")
        wm = context.window_manager
        message = (self.message or (wm.screenwriter_chat_message if wm else "")).strip()  # type: ignore[attr-defined]
        if not message:
            raise PrepareError("Type a message to send.")
        screenplay = screenplay_of(source)
        title = screenplay.title or PurePath(source.name).stem
        current = screenplay.scene_at_line(source.current_line_index) if settings(context).chat_include_scene else None
        system = chat.system_prompt(screenplay, title, current)
        name = conversation_name(source.name)
        existing = bpy.data.texts.get(name)
        if existing is not None and not existing.get(pump.OUTPUT_MARKER):
            raise PrepareError(f"A Text named '{name}' exists and was not written by Screenwriter LLM.")
        if existing is not None and pump.REGISTRY.for_target(name) is not None:
            raise PrepareError("The assistant is still answering; wait for it or cancel it first.")
        conversation = load_conversation(existing)
        conversation.source = source.name
        messages = ({"role": "system", "content": system}, *conversation.turns, {"role": "user", "content": message})
        job, warnings = build_job(
            context,
            Snapshot.from_scene(context),
            messages,
            source,
            name,
            operator="screenwriter.chat_send",
            append=True,
        )
        prefs = preferences(context)
        window = prefs.default_context_window if prefs else 8192
        job.prepare = chat.context_preparer(system, list(conversation.turns), message, conversation.summary, window)
        output = bpy.data.texts[name]
        if not output.as_string().strip():
            output.from_string(f"Chat about {title}\n")
        pump.append_to_text(output, f"\nYOU: {message}\n\nASSISTANT: ")
        output[CHAT_KEY] = conversation.to_json()
        if wm is not None and not self.message:
            wm.screenwriter_chat_message = ""  # type: ignore[attr-defined]

        def remember(job: Job) -> None:
            text = bpy.data.texts.get(name)
            if text is None:
                return
            stored = load_conversation(text)
            answer = "".join(job.received)
            if isinstance(job.outcome, Finished) or answer:
                stored.turns.append({"role": "user", "content": message})
                stored.turns.append({"role": "assistant", "content": answer})
            stored.context = job.context_report or stored.context
            text[CHAT_KEY] = stored.to_json()
            pump.append_to_text(text, "\n")

        job.on_outcome = remember
        return job, warnings


class SCREENWRITER_OT_chat_clear(Operator):
    """Start the conversation about this script afresh (the old one is kept as '<name> (previous)')"""

    bl_idname = "screenwriter.chat_clear"
    bl_label = "Clear Conversation"
    bl_options = {"REGISTER"}

    text: StringProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        source = source_text(context, self.text)
        name = conversation_name(source.name) if source is not None else ""
        existing = bpy.data.texts.get(name) if name else None
        if existing is None or not existing.get(CHAT_KEY):
            self.report({"INFO"}, tip_("No conversation to clear"))
            return {"CANCELLED"}
        try:
            output = prepare_output(name, source)
        except PrepareError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        output[CHAT_KEY] = chat.Conversation(source=source.name if source else "").to_json()
        self.report({"INFO"}, tip_("Conversation cleared; the old one is in '{} (previous)'").format(name))
        return {"FINISHED"}


class SCREENWRITER_OT_chat_summarise(_StreamingOperator):
    """Summarise the older part of the conversation so later requests carry the summary instead of every
    old turn (the newest turns stay word for word)"""

    bl_idname = "screenwriter.chat_summarise"
    bl_label = "Summarise and Compress"
    bl_options = {"REGISTER"}

    text: StringProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def make_job(self, context: Context) -> tuple[Job, list[str]]:
        source = source_text(context, self.text)
        if source is None:
            raise PrepareError("Open a screenplay in the Text Editor first.")
        name = conversation_name(source.name)
        conversation = load_conversation(bpy.data.texts.get(name))
        try:
            messages, covers = chat.summary_messages(conversation)
        except ValueError as exc:
            raise PrepareError(str(exc)) from exc
        snapshot = Snapshot.from_scene(context)
        job, warnings = build_job(
            context,
            Snapshot(snapshot.model, snapshot.fallbacks, 0.2, 400, True),
            messages,
            source,
            "",
            operator="screenwriter.chat_summarise",
        )
        job.label = source.name

        def store(job: Job) -> None:
            text = bpy.data.texts.get(name)
            summary = "".join(job.received).strip()
            if text is None or not isinstance(job.outcome, Finished) or not summary:
                return
            stored = load_conversation(text)
            stored.summary = chat.ctx.ChatSummary(summary, covers)
            text[CHAT_KEY] = stored.to_json()
            pump.append_to_text(
                text,
                f"\n[Screenwriter LLM: turns 1-{covers} summarised; later requests carry "
                "the summary instead of those turns.]\n",
            )

        job.on_outcome = store
        return job, warnings


class SCREENWRITER_OT_test_connection(_StreamingOperator):
    """Send a tiny request to the model in the sidebar (through the same checks as an analysis) and
    report whether it answers. Runs in the background: Blender stays responsive"""

    bl_idname = "screenwriter.test_connection"
    bl_label = "Test Connection"
    bl_options = {"REGISTER"}

    def make_job(self, context: Context) -> tuple[Job, list[str]]:
        snapshot = Snapshot.from_scene(context)
        snapshot = Snapshot(snapshot.model, (), 0.0, 5, True)
        messages = ({"role": "user", "content": "Reply with the single word OK."},)
        if pump.REGISTRY.jobs() and any(j.label == CONNECTION_TEST for j in pump.REGISTRY.jobs()):
            raise PrepareError("A connection test is already running.")
        job, warnings = build_job(context, snapshot, messages, None, "", operator="screenwriter.test_connection")
        self.report({"INFO"}, tip_("Testing {}…").format(snapshot.model))
        return job, warnings

    def _report_outcome(self, job: Job) -> set[Result]:
        if isinstance(job.outcome, Finished):
            self.report({"INFO"}, tip_("{} answered in {:.1f} s").format(job.request.model, job.duration))
            return {"FINISHED"}
        return super()._report_outcome(job)


class SCREENWRITER_OT_store_key(Operator):
    """Move this key from the add-on preferences into the operating system's keyring (Keychain,
    Credential Locker, Secret Service) and clear the preference field"""

    bl_idname = "screenwriter.store_key"
    bl_label = "Store in System Keyring"
    bl_options = {"REGISTER", "INTERNAL"}

    env_var: StringProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        prefs = preferences(context)
        value = prefs.key_for(self.env_var) if prefs else None
        if prefs is None or not value:
            self.report({"WARNING"}, tip_("Enter the key in the field first"))
            return {"CANCELLED"}
        try:
            keys.keyring_set(self.env_var, value)
        except RuntimeError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        prefs.set_key(self.env_var, "")
        forget_keyring_cache()
        self.report({"INFO"}, tip_("{} stored in the system keyring ({})").format(self.env_var, keys.redact_key(value)))
        return {"FINISHED"}


class SCREENWRITER_OT_export_usage(Operator, ExportHelper):  # type: ignore[misc]
    """Export the usage ledger (one row per request: time, model, operator, script, tokens, cost,
    time to first token, duration, outcome) as a CSV file"""

    bl_idname = "screenwriter.export_usage"
    bl_label = "Export Usage as CSV"
    bl_options = {"REGISTER"}

    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv", options={"HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        path = data_dir() / LEDGER_FILE
        try:
            rows = UsageLedger(path).export_csv(self.filepath)  # type: ignore[attr-defined]
        except (LedgerError, OSError) as exc:
            self.report({"ERROR"}, tip_("Could not export the usage: {}").format(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_("{} requests written to {}").format(rows, self.filepath))  # type: ignore[attr-defined]
        return {"FINISHED"}


class SCREENWRITER_OT_cancel(Operator):
    """Stop the running analysis; the text that already arrived stays"""

    bl_idname = "screenwriter.cancel"
    bl_label = "Cancel Analysis"
    bl_options = {"REGISTER"}

    output: StringProperty(  # type: ignore[valid-type]
        name="Output",
        description="Output Text of the analysis to stop (empty: every running analysis)",
        options={"SKIP_SAVE"},
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not pump.REGISTRY.jobs() and not pump.RUNS:
            cls.poll_message_set("No analysis is running")
            return False
        return True

    def execute(self, context: Context) -> set[Result]:
        if not self.output:
            for run in pump.RUNS:
                run.cancel("Cancelled")
        jobs = [pump.REGISTRY.for_target(self.output)] if self.output else pump.REGISTRY.jobs()
        jobs = [j for j in jobs if j is not None]
        if not jobs:
            self.report({"WARNING"}, tip_("No analysis is streaming into '{}'").format(self.output))
            return {"CANCELLED"}
        for job in jobs:
            job.cancel("Cancelled")  # the pump writes the closing note when the job's worker confirms
        self.report({"INFO"}, tip_("Cancelled {} analysis(es); the text already written stays").format(len(jobs)))
        return {"FINISHED"}


class SCREENWRITER_OT_goto_scene(Operator):
    """Move the Text Editor's cursor to this scene heading"""

    bl_idname = "screenwriter.goto_scene"
    bl_label = "Go to Scene"
    bl_options = {"REGISTER"}

    text: StringProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]
    line: IntProperty(min=0, options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        text = bpy.data.texts.get(self.text)
        if text is None:
            self.report({"ERROR"}, tip_("No Text named '{}'").format(self.text))
            return {"CANCELLED"}
        text.cursor_set(min(self.line, len(text.lines) - 1), character=0)
        space = getattr(context, "space_data", None)
        if space is not None and space.type == "TEXT_EDITOR":
            space.text = text
            space.top = max(0, self.line - 3)
        return {"FINISHED"}


classes = (
    SCREENWRITER_OT_analyze_scene,
    SCREENWRITER_OT_export_usage,
    SCREENWRITER_OT_chat_send,
    SCREENWRITER_OT_chat_clear,
    SCREENWRITER_OT_chat_summarise,
    SCREENWRITER_OT_analyze_all_scenes,
    SCREENWRITER_OT_regenerate,
    SCREENWRITER_OT_test_connection,
    SCREENWRITER_OT_store_key,
    SCREENWRITER_OT_cancel,
    SCREENWRITER_OT_goto_scene,
)
register, unregister = bpy.utils.register_classes_factory(classes)

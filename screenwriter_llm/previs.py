"""The previs verbs: story reel, shot plan to cameras, breakdown CSV (shared by ``operators/previs.py`` and ``api``).

Each verb reads the settings once, parses the script once (:meth:`.runtime.Runtime.script_stats`: one fountain-py
parse and its pagination), and either does the work at once (the reel, the breakdown without a model) or plans a
request through the one request path (:func:`~.core.jobs.plan.plan_request`) with a :class:`StructuredSink`,
which parses and validates the JSON answer when the job ends (one repair request through the same path when it
is invalid, then a clear failure with the raw answer kept). Main thread only.

``response_format`` (constrained decoding) is decided on the worker, where LiteLLM may be imported:
:class:`_SchemaPrepare` is the plan's ``prepare`` hook and adds it only when
``litellm.supports_response_schema(model)`` says so; the prompt always carries the schema too.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
from bpy.types import Context

from . import commands, pump, runtime, settings, sinks, texts, timeline
from .core.events import Finished
from .core.jobs.batch import BatchItem, BatchRun
from .core.jobs.job import Job
from .core.jobs.plan import PlanError, RequestSettings, plan_request
from .core.provider.llm import LLMRequest
from .core.screenplay import fountain
from .core.screenplay.pages import format_eighths
from .core.screenplay.stats import ScriptStats
from .core.tasks import render, schema
from .core.tasks.grounding import ScriptIndex, words
from .core.tasks.task import Task, TaskError

__all__ = [
    "BREAKDOWN_FIELDS",
    "StructuredSink",
    "build_story_reel",
    "export_breakdown",
    "export_shot_list",
    "missing_assets",
    "numbered_scene_text",
    "plan_shots",
    "script_stats",
]

#: ID-property key on a shot plan Text: the validated plan as JSON (for CSV export), with scene and source.
SHOT_PLAN_KEY = "screenwriter_shot_plan"
#: The parser's columns of the breakdown CSV, in order.
BREAKDOWN_FIELDS = ("scene", "heading", "int_ext", "location", "time_of_day", "eighths", "pages", "speaking_cast")


# --- statistics and the reel ------------------------------------------------------------------------------------


def script_stats(context: Context, text: str = "", seconds_per_page: float = 60.0) -> ScriptStats:
    """The script's statistics (one parse, cached in the runtime). Raises :class:`~.commands.CommandError`."""
    source = commands.require_source(context, text)
    try:
        return runtime.get().script_stats(source, seconds_per_page, fresh=True)
    except ValueError as exc:
        raise commands.CommandError(str(exc)) from exc


def build_story_reel(
    context: Context, text: str = "", seconds_per_page: float = 60.0, reset_lengths: bool = False
) -> timeline.ReelReport:
    """Build or update ``"<stem> - Story Reel"`` (see :func:`.timeline.build_story_reel`).

    Raises:
        CommandError: No screenplay, no scene headings, seconds per page not positive, the name taken.
    """
    source = commands.require_source(context, text)
    stats = script_stats(context, source.name, seconds_per_page)
    current = context.scene
    if current is not None and timeline.is_reel(current):
        current = None  # building from inside a reel: keep its own format
    try:
        return timeline.build_story_reel(source, stats, current, seconds_per_page, reset_lengths)
    except timeline.ReelError as exc:
        raise commands.CommandError(str(exc)) from exc


# --- structured requests ----------------------------------------------------------------------------------------


def numbered_scene_text(screenplay: fountain.Screenplay, scene: fountain.Scene) -> str:
    """The scene's lines, each prefixed with its 1-based screenplay line number: ``"  71| INT. HOUSE - DAY"``."""
    width = len(str(scene.end_line + 1))
    lines = screenplay.lines[scene.start_line : scene.end_line + 1]
    return "\n".join(f"{number:>{width}}| {line}" for number, line in enumerate(lines, start=scene.start_line + 1))


@dataclass(frozen=True)
class StructuredRequest(LLMRequest):
    """An :class:`LLMRequest` that may carry ``response_format`` (set on the worker by :class:`_SchemaPrepare`)."""

    response_format: dict[str, Any] | None = None

    def completion_kwargs(self) -> dict[str, Any]:
        kwargs = super().completion_kwargs()
        if self.response_format is not None:
            kwargs["response_format"] = self.response_format
        return kwargs


class _SchemaPrepare:
    """The plan's ``prepare`` hook (runs on the worker): adds ``response_format`` where LiteLLM says the model
    supports a response schema. Any error in asking means no ``response_format`` (the prompt has the schema)."""

    def __init__(self, model_cls: type[schema.BaseModel]) -> None:
        self.model_cls = model_cls

    def __call__(self, request: LLMRequest) -> tuple[LLMRequest, str]:
        from .core.provider.llm import import_litellm

        supported = False
        if request.mock_response is None:
            try:
                supported = bool(import_litellm().supports_response_schema(model=request.model))
            except Exception:  # noqa: BLE001 - unknown model: the prompt carries the schema
                supported = False
        fmt = schema.response_format(self.model_cls) if supported else None
        fields = {name: getattr(request, name) for name in request.__dataclass_fields__}
        fields.pop("response_format", None)
        prepared = StructuredRequest(**fields, response_format=fmt)
        return prepared, ("Structured output: JSON schema enforced" if fmt else "Structured output: schema in prompt")


@dataclass
class Structured:
    """What one structured request needs to be repaired and applied: the task, settings, messages, and
    ``apply(value) -> dict`` (called with the validated model; returns ``message`` and what it made)."""

    task: Task
    config: RequestSettings
    messages: tuple[dict[str, str], ...]
    model_cls: type[schema.BaseModel]
    validate: Callable[[str], Any]
    apply: Callable[[Any], dict[str, Any]]
    raw_name: str
    label: str
    operator: str
    secrets: tuple[str, ...] = ()


def _plan_structured(spec: Structured, messages: tuple[dict[str, str], ...], target: str = "") -> Job:
    try:
        plan, _warnings = plan_request(
            spec.config,
            messages,
            overrides=spec.task.request,
            task=spec.task.id,
            operator=spec.operator,
            label=spec.label,
            target=target,
            prepare=_SchemaPrepare(spec.model_cls),
        )
    except PlanError as exc:
        raise commands.CommandError(str(exc)) from exc
    return Job(plan)


class StructuredSink(sinks.Sink):
    """Collects a structured answer; when the job ends, parses and validates it.

    Valid: ``spec.apply`` makes what the answer describes; :attr:`result` is its report line. Invalid, the first
    time: one repair request (:func:`~.core.tasks.schema.repair_messages`) goes through the same path with a
    sink of its own (:attr:`repair`). Invalid again, or the request failed: nothing is made, the raw answer is
    kept in the Text ``spec.raw_name`` and :meth:`close` raises :class:`~.texts.SinkError` with why (the pump
    shows it as the status). :attr:`done` turns True when the outcome (of the repair, if any) is known.
    """

    def __init__(self, spec: Structured, attempt: int = 1, earlier: str = "") -> None:
        self.spec = spec
        self.attempt = attempt
        self.earlier = earlier
        self.result: str | None = None
        #: What ``spec.apply`` returned (``message`` and what was made), on success.
        self.details: dict[str, Any] = {}
        self.error: str | None = None
        self.repair: StructuredSink | None = None
        self.job: Job | None = None

    @property
    def done(self) -> bool:
        """True once the final outcome is known (this sink's, or its repair's)."""
        if self.repair is not None:
            return self.repair.done
        return self.result is not None or self.error is not None

    @property
    def final(self) -> StructuredSink:
        """The sink holding the final outcome (this one, or the repair's)."""
        return self.repair.final if self.repair is not None else self

    def close(self, job: Job) -> None:
        self.job = job
        raw = job.answer
        if not isinstance(job.outcome, Finished):
            self._fail(f"The request did not finish: {job.status_line()}", raw)
        try:
            value = self.spec.validate(raw)
        except schema.StructuredOutputError as exc:
            if self.attempt == 1:
                messages = (*self.spec.messages, *schema.repair_messages(raw, exc, self.spec.model_cls))
                repair = StructuredSink(self.spec, attempt=2, earlier=f"{raw}\n\nProblems:\n{exc.errors_text()}")
                try:
                    pump.start(_plan_structured(self.spec, messages), repair)
                except (commands.CommandError, texts.SinkError) as start_error:
                    self._fail(f"The answer was not valid JSON and the repair could not start: {start_error}", raw)
                self.repair = repair
                return
            self._fail(f"The answer was not the JSON asked for, even after one repair:\n{exc.errors_text()}", raw)
        try:
            self.details = self.spec.apply(value)
            self.result = str(self.details.get("message", ""))
        except (timeline.ReelError, commands.CommandError, texts.SinkError) as exc:
            self._fail(str(exc), raw)

    def _fail(self, why: str, raw: str) -> None:
        kept = self._keep_raw(why, raw)
        self.error = f"{why.rstrip()} Nothing was created; the raw answer is in '{kept}'."
        raise texts.SinkError(self.error)

    def _keep_raw(self, why: str, raw: str) -> str:
        name = self.spec.raw_name
        text = bpy.data.texts.get(name)
        if text is not None and not texts.is_owned(text):
            name = texts.fit_name(name, "", key=name + "~")
            text = bpy.data.texts.get(name)
        if text is None:
            text = bpy.data.texts.new(name)
            text[texts.OUTPUT_MARKER] = True
        text[texts.SOURCE_KEY] = self.spec.label
        parts = []
        if self.earlier:
            parts.append(f"First answer:\n{self.earlier}\n")
        parts.append(f"{'Repair answer' if self.attempt > 1 else 'Answer'}:\n{raw}\n")
        parts.append(f"Why it was not used:\n{why}\n")
        kept = "\n".join(parts)
        if self.spec.secrets:
            from .core.provider.redact import redact

            kept = redact(kept, self.spec.secrets)
        text.from_string(texts.writable(kept))
        return text.name


@dataclass
class StructuredPrepared:
    """A planned structured request: the job (not started), its sink, what to tell the user."""

    job: Job
    sink: StructuredSink
    info: str = ""
    warnings: list[str] = field(default_factory=list)


def start(prepared: StructuredPrepared) -> Job:
    """Start a structured request through the pump. Raises :class:`~.commands.CommandError`."""
    try:
        return pump.start(prepared.job, prepared.sink)
    except texts.SinkError as exc:
        raise commands.CommandError(str(exc)) from exc


def run_until_done(prepared: StructuredPrepared) -> StructuredSink:
    """Drive the pump until the request (and its repair, if any) has ended; returns the final sink."""
    pump.drive(lambda: prepared.sink.done)
    return prepared.sink.final


def _structured_values(
    source: bpy.types.Text, screenplay: fountain.Screenplay, scene: fountain.Scene, model_cls: type[schema.BaseModel]
) -> dict[str, object]:
    values = render.scene_values(screenplay, scene, commands.title_of(source, screenplay))
    values["numbered_scene_text"] = numbered_scene_text(screenplay, scene)
    values["output_schema"] = json.dumps(schema.json_schema(model_cls), ensure_ascii=False, separators=(",", ":"))
    return values


# --- shot plan --------------------------------------------------------------------------------------------------


def shot_plan_name(source_name: str, number: int) -> str:
    """The shot list Text: ``"<stem> - Scene N Shot Plan"``."""
    return texts.output_name(source_name, f"Scene {number} Shot Plan")


def plan_shots(context: Context, text: str = "", scene: int = 0, **overrides: Any) -> StructuredPrepared:
    """Plan the shot plan request of one scene (0: the scene under the cursor).

    On success the sink writes the shot list Text ``"<stem> - Scene N Shot Plan"`` (a table; the plan as JSON on
    it for :func:`export_shot_list`), one camera per shot in ``"<stem> - Scene N Shots"`` (lens from
    :data:`~.core.tasks.schema.LENS_MM`, named ``"<N>-<shot> <size>"``) and camera-bound markers in the story reel
    (built first if missing) inside the scene's strip, at starts proportional to the shots' durations.
    ``overrides``: settings (``model``, ``temperature``, ``max_tokens``, ``stream``, ``api_base``...).

    Raises:
        CommandError: No screenplay or scene, the task missing, the request refused (model, key, online access).
    """
    source = commands.require_source(context, text)
    screenplay, picked = commands.pick_scene(source, scene)
    chosen = commands.task("shot_plan", context)
    try:
        messages = chosen.render(_structured_values(source, screenplay, picked, schema.ShotPlan))
    except TaskError as exc:
        raise commands.CommandError(str(exc)) from exc
    config = settings.from_context(context, **overrides)
    first, last = picked.start_line + 1, picked.end_line + 1
    source_name, number = source.name, picked.number
    current = context.scene

    sid = timeline.scene_ids([s.heading for s in screenplay.scenes])[number - 1]

    def apply(plan: schema.ShotPlan) -> dict[str, Any]:
        return _apply_shot_plan(source_name, sid, number, first, last, plan, current)

    spec = Structured(
        task=chosen,
        config=config,
        messages=messages,
        model_cls=schema.ShotPlan,
        validate=lambda raw: schema.validate_shot_plan(raw, first, last),
        apply=apply,
        raw_name=texts.output_name(source.name, f"Scene {number} Shot Plan (raw)"),
        label=source.name,
        operator="screenwriter.plan_shots",
        secrets=settings.secrets(context, config),
    )
    job = _plan_structured(spec, messages)
    return StructuredPrepared(job, StructuredSink(spec), f"Planning the shots of scene {number} ({picked.heading})…")


def _apply_shot_plan(
    source_name: str, sid: str, number: int, first: int, last: int, plan: schema.ShotPlan, current: Any
) -> dict[str, Any]:
    source = bpy.data.texts.get(source_name)
    if source is None:
        raise commands.CommandError(f"The screenplay Text '{source_name}' is gone.")
    if not plan.shots:
        raise commands.CommandError("The shot plan has no shots.")
    stats = runtime.get().script_stats(source, fresh=True)
    ids = timeline.scene_ids([s.heading for s in stats.scenes])
    if sid not in ids:
        raise commands.CommandError(f"Scene {number} of '{source_name}' changed while its shots were planned.")
    number = ids.index(sid) + 1
    table = texts.prepare_output(  # first: it may refuse (a Text of that name is the user's), nothing made yet
        shot_plan_name(source_name, number), source, lambda n: runtime.get().job_for_target(n) is not None
    )
    reel = timeline.reel_scene(source, current, create=False)
    if reel is None or sid not in timeline.scene_ranges(reel):
        timeline.build_story_reel(source, stats, current)
        reel = timeline.reel_scene(source, current, create=False)
    assert reel is not None
    cameras = [
        timeline.ShotCamera(f"{number}-{shot.number} {shot.size.value}", schema.LENS_MM[shot.size], shot.duration_s)
        for shot in plan.shots
    ]
    placed = timeline.place_shots(reel, source_name, sid, number, cameras)
    heading = stats.scenes[number - 1].heading
    table.from_string(texts.writable(shot_table(plan, f"Scene {number}: {heading} (lines {first}-{last})")))
    table[SHOT_PLAN_KEY] = json.dumps(
        {"source": source_name, "scene": number, "shots": plan.model_dump(mode="json")["shots"]}
    )
    collection = timeline.shot_collection_name(source_name, number)
    message = (
        f"{len(placed)} shots of scene {number}: cameras in '{collection}', markers in '{reel.name}', "
        f"the list in '{table.name}'"
    )
    return {
        "message": message,
        "scene": number,
        "text": table.name,
        "reel": reel.name,
        "collection": collection,
        "cameras": [obj.name for _name, _frame, obj in placed],
        "markers": [(name, frame) for name, frame, _obj in placed],
    }


SHOT_COLUMNS = (
    "shot",
    "size",
    "lens_mm",
    "angle",
    "movement",
    "duration_s",
    "first_line",
    "last_line",
    "subjects",
    "description",
)


def shot_rows(shots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per shot with :data:`SHOT_COLUMNS` (lens in mm, duration in seconds, 1-based lines)."""
    rows = []
    for shot in shots:
        size = schema.ShotSize(shot["size"])
        rows.append(
            {
                "shot": shot["number"],
                "size": size.value,
                "lens_mm": schema.LENS_MM[size],
                "angle": shot["angle"],
                "movement": shot["movement"],
                "duration_s": shot["duration_s"],
                "first_line": shot["first_line"],
                "last_line": shot["last_line"],
                "subjects": ", ".join(shot["subjects"]),
                "description": shot["description"],
            }
        )
    return rows


def shot_table(plan: schema.ShotPlan, title: str) -> str:
    """The shot list as a fixed-width table a person reads (columns shot, size, lens, angle, movement, seconds,
    lines, subjects, then the description on its own indented line)."""
    rows = shot_rows(plan.model_dump(mode="json")["shots"])
    lines = [
        f"Shot plan - {title}",
        "",
        f"{'Shot':>4}  {'Size':<4} {'Lens':>6}  {'Angle':<14} {'Movement':<14} {'Secs':>6}  {'Lines':<11} Subjects",
        "-" * 96,
    ]
    for row in rows:
        span = f"{row['first_line']}-{row['last_line']}"
        lines.append(
            f"{row['shot']:>4}  {row['size']:<4} {row['lens_mm']:>4.0f}mm  {row['angle'][:14]:<14} "
            f"{row['movement'][:14]:<14} {row['duration_s']:>6.1f}  {span:<11} {row['subjects']}"
        )
        lines.append(f"{'':6}{' '.join(row['description'].split())}")
    total = sum(row["duration_s"] for row in rows)
    lines += ["-" * 96, f"{len(rows)} shots, {total:.1f} s"]
    return "\n".join(lines) + "\n"


def export_shot_list(context: Context, filepath: str, text: str = "") -> int:
    """Write the shot plan stored on the shot list Text ``text`` (empty: the active editor's Text) as CSV with
    :data:`SHOT_COLUMNS`. Returns the rows written. Raises :class:`~.commands.CommandError` (no plan, I/O)."""
    plan_text = commands.require_source(context, text)
    stored = plan_text.get(SHOT_PLAN_KEY)
    if not stored:
        raise commands.CommandError(f"'{plan_text.name}' is not a shot list; run Plan Shots first.")
    rows = shot_rows(json.loads(stored)["shots"])
    try:
        with Path(bpy.path.abspath(filepath)).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, SHOT_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise commands.CommandError(f"Could not write '{filepath}': {exc.strerror or exc}") from exc
    return len(rows)


# --- breakdown --------------------------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return "".join(words(name))


def _id_names() -> list[str]:
    """Normalised names of every object, collection and asset in the file (the missing-asset check's side)."""
    names: set[str] = set()
    for collection in (bpy.data.objects, bpy.data.collections):
        names.update(_norm(item.name) for item in collection)
    for attribute in ("materials", "node_groups", "meshes", "worlds", "actions"):
        for item in getattr(bpy.data, attribute, ()):
            if getattr(item, "asset_data", None) is not None:
                names.add(_norm(item.name))
    names.discard("")
    return sorted(names)


def missing_assets(item_names: list[str]) -> list[str]:
    """The item names that nothing in this .blend is named like: an item matches an object, collection or asset
    when one name, reduced to its words (case folded, punctuation and digits-suffixes like ``.001`` kept as words),
    contains the other (``UMBRELLA`` matches ``Umbrella.001`` and ``red_umbrella``)."""
    known = _id_names()
    missing = []
    for name in item_names:
        key = _norm(name)
        if not key or not any(key in other or (len(other) >= 4 and other in key) for other in known):
            missing.append(name)
    return missing


def breakdown_rows(stats: ScriptStats) -> list[dict[str, Any]]:
    """One dict per scene with :data:`BREAKDOWN_FIELDS`, exactly as ``core.screenplay.stats`` gives them
    (``eighths``: an int; ``pages``: the eighths written as productions do, ``"1 3/8"``; cast joined by ``"; "``)."""
    return [
        {
            "scene": s.scene_number,
            "heading": s.heading,
            "int_ext": s.setting or "",
            "location": s.location,
            "time_of_day": s.time_of_day or "",
            "eighths": s.eighths,
            "pages": format_eighths(s.eighths),
            "speaking_cast": "; ".join(s.characters),
        }
        for s in stats.scenes
    ]


_CATEGORIES = tuple(category.value for category in schema.BreakdownCategory)


def ground_items(
    items: list[schema.BreakdownItem], index: ScriptIndex, lines: tuple[str, ...], first: int, last: int
) -> tuple[list[schema.BreakdownItem], list[str]]:
    """Keep the items whose name is on the cited line (or, failing that, found in the scene: the line corrected);
    returns ``(kept, flags)`` with one flag per item dropped."""
    kept, flags = [], []
    for item in items:
        cited = lines[item.line - 1] if 0 < item.line <= len(lines) else ""
        if _norm(item.name) and _norm(item.name) in _norm(cited):
            kept.append(item)
            continue
        found = index.find(item.name, first_line=first, last_line=last)
        if found is not None:
            kept.append(item.model_copy(update={"line": found}))
        else:
            flags.append(f"{item.name}: not in the scene's text (dropped)")
    return kept, flags


class _BreakdownSink(sinks.Sink):
    """One scene's breakdown answer in a whole-script run: validated and grounded at close, kept in ``results``."""

    def __init__(self, number: int, first: int, last: int, results: dict[int, Any]) -> None:
        self.number, self.first, self.last, self.results = number, first, last, results

    def close(self, job: Job) -> None:
        if not isinstance(job.outcome, Finished):
            self.results[self.number] = f"model request failed: {job.status_line()}"
            return
        try:
            self.results[self.number] = schema.validate_breakdown(job.answer, self.first, self.last)
        except schema.StructuredOutputError as exc:
            self.results[self.number] = "model answer not valid: " + "; ".join(exc.errors)


class _BreakdownWriter:
    """The run's report sink: writes the CSV when every scene's answer is in."""

    def __init__(self, write: Callable[[dict[int, Any]], None], results: dict[int, Any]) -> None:
        self.write, self.results = write, results
        self.target = ""
        self.rows = 0

    def close(self, run: BatchRun) -> None:
        self.write(self.results)


def export_breakdown(
    context: Context,
    filepath: str,
    text: str = "",
    use_model: bool = False,
    concurrency: int = 4,
    **overrides: Any,
) -> tuple[int, BatchRun | None, str]:
    """Write the breakdown CSV: one row per scene with :data:`BREAKDOWN_FIELDS` and, with ``use_model``, per
    category of :class:`~.core.tasks.schema.BreakdownCategory` the items the model found (``"UMBRELLA (line
    75)"``, grounded: an item whose name is not on its line nor in the scene is dropped and flagged), then
    ``missing_assets`` (``"UMBRELLA: nothing in this file is named like it"``) and ``flags``.

    Returns:
        ``(rows, run, note)``. Without ``use_model`` the file is written at once and ``run`` is None. With it, a
        whole-script run is returned (not started: ``pump.start_run``) and the CSV is written when it ends; when
        no request can be planned (no model, no key, online access off) the parser's CSV is written at once
        instead, ``run`` is None and ``note`` says why the model was not used.

    Raises:
        CommandError: No screenplay or scenes; the file cannot be written.
    """
    source = commands.require_source(context, text)
    stats = script_stats(context, source.name)
    if not stats.scenes:
        raise commands.CommandError(f"No scene headings found in '{source.name}'.")
    path = Path(bpy.path.abspath(filepath))
    rows = breakdown_rows(stats)
    if not use_model:
        _write_csv(path, list(BREAKDOWN_FIELDS), rows)
        return len(rows), None, ""
    screenplay = runtime.get().screenplay(source, fresh=True)
    results: dict[int, Any] = {}
    try:
        items = _plan_breakdown(context, source, screenplay, results, overrides)
    except commands.CommandError as exc:
        note = f"Model not used: {exc}"
        for row in rows:
            row["flags"] = note
        _write_csv(path, [*BREAKDOWN_FIELDS, "flags"], rows)
        return len(rows), None, note
    index = ScriptIndex("\n".join(screenplay.lines))
    bounds = {s.number: (s.start_line + 1, s.end_line + 1) for s in screenplay.scenes}
    lines = screenplay.lines

    def write(found: dict[int, Any]) -> None:
        for row in rows:
            row.update({category: "" for category in _CATEGORIES})
            result = found.get(row["scene"])
            flags: list[str] = []
            named: list[str] = []
            if isinstance(result, schema.Breakdown):
                first, last = bounds[row["scene"]]
                kept, flags = ground_items(result.items, index, lines, first, last)
                for category in _CATEGORIES:
                    row[category] = "; ".join(
                        f"{item.name} (line {item.line})" for item in kept if item.category.value == category
                    )
                named = list(dict.fromkeys(item.name for item in kept))
            elif result is not None:
                flags.append(str(result))
            else:
                flags.append("no model answer")
            row["missing_assets"] = "; ".join(
                f"{name}: nothing in this file is named like it" for name in missing_assets(named)
            )
            row["flags"] = "; ".join(flags)
        _write_csv(path, [*BREAKDOWN_FIELDS, *_CATEGORIES, "missing_assets", "flags"], rows)

    run = BatchRun(items, concurrency, label=source.name, payload=_BreakdownWriter(write, results))
    return len(rows), run, ""


def _plan_breakdown(
    context: Context,
    source: bpy.types.Text,
    screenplay: fountain.Screenplay,
    results: dict[int, Any],
    overrides: dict[str, Any],
) -> list[BatchItem]:
    """One planned breakdown request per scene, each with a sink that keeps its validated answer in ``results``.
    Raises :class:`~.commands.CommandError` when the task is missing or a request cannot be planned."""
    chosen = commands.task("breakdown", context)
    config = settings.from_context(context, **overrides)
    items: list[BatchItem] = []
    for scene in screenplay.scenes:
        try:
            messages = chosen.render(_structured_values(source, screenplay, scene, schema.Breakdown))
            plan, _ = plan_request(
                config,
                messages,
                overrides=chosen.request,
                task=chosen.id,
                operator="screenwriter.export_breakdown",
                label=source.name,
                prepare=_SchemaPrepare(schema.Breakdown),
            )
        except (TaskError, PlanError) as exc:
            raise commands.CommandError(str(exc)) from exc
        sink = _BreakdownSink(scene.number, scene.start_line + 1, scene.end_line + 1, results)
        items.append(BatchItem(scene.number, Job(plan), sink))
    return items


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise commands.CommandError(f"Could not write '{path}': {exc.strerror or exc}") from exc

"""The writer's toolset: the verbs behind ``screenwriter.run_task`` and ``api.run_task``, and their sinks.

Every task file whose output is an answer or a proposal runs through :func:`run_task`: it reads the settings
once, picks the task (built-in or the user's), fills the task's context from the screenplay (the scene under
the cursor, the selection, a character's lines, the whole script), plans the request through the one request
path (:func:`~.core.jobs.plan.plan_request`) and returns a :class:`Launch` (not started). What the operator
starts is a job with its sink, a whole-script run (Coverage Report: scene summaries first, then one synthesis),
or nothing at all (Format Check lists the parser's findings without a model).

This module also holds **sinks** in the sense of :mod:`.sinks` (same protocol: ``open``/``write``/``close``,
called by the pump): :class:`GroundedAnswerSink` (an answer whose quotations are checked against the script
when it ends), :class:`ProposalSink` (an answer that becomes a proposal Text: the proposed Fountain above a
diff, with the range and hash it replaces) and the two coverage sinks (:class:`CoverageSummarySink`, one per
scene group, cached on the report Text, and :class:`CoverageSynthesis`, the run's report sink that starts the
synthesis request). They live here, not in :mod:`.sinks`, so the toolset stays one module.

Suggest, never overwrite: nothing here changes a screenplay. :func:`apply_proposal` and :func:`insert_notes`
compute the new text; the operators in ``operators/proposals.py`` write it as one undo step.

It sits in the layer of :mod:`.sinks` and :mod:`.pump` (it imports settings, runtime, texts, sinks, pump and
core, never :mod:`.commands`, which uses :class:`GroundedAnswerSink`). Main thread only.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bpy

from . import pump, runtime, settings, texts
from .core.events import Finished
from .core.jobs.batch import BatchItem, BatchRun
from .core.jobs.job import Job
from .core.jobs.plan import PlanError, RequestSettings, plan_request
from .core.screenplay import fountain
from .core.tasks import grounding, proposal, render
from .core.tasks.task import Task, TaskError
from .sinks import AnswerSink, Sink, SinkError

if TYPE_CHECKING:
    from bpy.types import Context

__all__ = [
    "CoverageSummarySink",
    "CoverageSynthesis",
    "GroundedAnswerSink",
    "Launch",
    "ProposalSink",
    "ToolError",
    "apply_proposal",
    "format_findings",
    "insert_notes",
    "menu_tasks",
    "run_task",
    "sections",
]

#: ID property of a proposal Text: JSON ``{"source", "first_line", "last_line", "original_hash", "task"}``.
PROPOSAL_KEY = "screenwriter_proposal"
#: ID property of a grounded answer: JSON ``{"checked", "found", "missing": [...], "summary"}``.
GROUNDING_KEY = "screenwriter_grounding"
#: ID property of a coverage report Text: JSON ``{group key: summary}`` (the map step's cache).
SUMMARIES_KEY = "screenwriter_summaries"
#: Task outputs the toolset runs (and the menus list); structured (JSON) tasks are run by their own commands.
TOOL_OUTPUTS = ("answer", "proposal", "notes")
#: Tasks other tasks run, not listed in the menus.
HELPER_TASKS = frozenset({"coverage_summary"})
#: The structure a beat sheet maps onto when the writer names none.
DEFAULT_STRUCTURE = "Save the Cat! (Blake Snyder's 15 beats)"
#: Characters per token assumed when a request is fitted to a model's window on the main thread (LiteLLM's
#: tokenizer runs on workers only). English prose is ~4 characters a token with tiktoken; a Fountain scene's
#: worst seen was 2.5 (Big Fish: 3.76 over the whole script), so 2.5 never underestimates in practice.
CHARS_PER_TOKEN = 2.5
#: Tokens kept free in every coverage request besides its completion (rounding, message overhead).
WINDOW_MARGIN = 256

_USER_TASKS_FOLDER = "tasks"


class ToolError(Exception):
    """A task cannot run; the message says why and what to do. Nothing was sent or changed."""


@dataclass
class Launch:
    """What :func:`run_task` planned: a job and its sink (``job``/``sink``), or a whole-script ``run``, or a
    Text already written (``written``: Format Check). ``info``/``warnings``: what to tell the writer."""

    job: Job | None = None
    sink: Sink | None = None
    run: BatchRun | None = None
    written: str = ""
    info: str = ""
    warnings: list[str] = field(default_factory=list)
    target: str = ""
    label: str = ""


# --- tasks ---------------------------------------------------------------------------------------------


def user_tasks_folder(context: Context | None = None) -> Path | None:
    """The preference *Tasks Folder*, else ``tasks`` in the add-on's user directory (as :mod:`.commands`)."""
    prefs = settings.preferences(context)
    if prefs is None:
        return None
    folder = str(getattr(prefs, "tasks_folder", "") or "").strip()
    return Path(bpy.path.abspath(folder)) if folder else settings.data_dir() / _USER_TASKS_FOLDER


def get_task(task_id: str, context: Context | None = None) -> Task:
    """The task ``task_id`` (the user's replaces a built-in one). Raises :class:`ToolError` naming the task
    files that failed to load (file, line, problem)."""
    catalog = runtime.get().tasks(user_tasks_folder(context))
    try:
        return catalog.get(task_id)
    except KeyError as exc:
        raise ToolError(str(exc.args[0])) from None


def menu_tasks(context: Context | None = None) -> list[Task]:
    """The tasks the menus list: every loaded task whose output the toolset runs, by label."""
    catalog = runtime.get().tasks(user_tasks_folder(context))
    listed = [t for t in catalog.tasks.values() if t.output in TOOL_OUTPUTS and t.id not in HELPER_TASKS]
    return sorted(listed, key=lambda t: t.label)


# --- the screenplay ---------------------------------------------------------------------------------------


def _source(context: Context, name: str) -> bpy.types.Text:
    if name:
        text = bpy.data.texts.get(name)
        if text is None:
            raise ToolError(f"No Text named '{name}'.")
        return text
    space = getattr(context, "space_data", None)
    if space is not None and space.type == "TEXT_EDITOR" and space.text is not None:
        text = space.text
        src = text.get(texts.SOURCE_KEY) if text.get(texts.OUTPUT_MARKER) else None
        return bpy.data.texts.get(src) or text if src else text
    if len(bpy.data.texts) == 1:
        return bpy.data.texts[0]
    raise ToolError("Open a screenplay in the Text Editor first.")


def _screenplay(source: bpy.types.Text) -> fountain.Screenplay:
    screenplay = runtime.get().screenplay(source, fresh=True)
    if not screenplay.scenes:
        raise ToolError(
            f"No scene headings found in '{source.name}'. A scene heading starts with INT. or EXT. "
            "(or '.' to force one) and stands alone between blank lines."
        )
    return screenplay


def _scene(screenplay: fountain.Screenplay, number: int, line: int) -> fountain.Scene:
    count = len(screenplay.scenes)
    if number < 0 or number > count:
        raise ToolError(f"There is no scene {number}: scenes are numbered 1 to {count} (0: under the cursor).")
    if number:
        return screenplay.scenes[number - 1]
    return screenplay.scene_at_line(line) or screenplay.scenes[0]


def selection_lines(source: bpy.types.Text) -> tuple[int, int] | None:
    """The selected lines of ``source`` (0-based, inclusive), or None without a selection. A selection is taken
    as whole lines; one that ends at the start of a line does not include that line."""
    a, b = source.current_line_index, source.select_end_line_index
    ca, cb = source.current_character, source.select_end_character
    if a == b and ca == cb:
        return None
    first, last = min(a, b), max(a, b)
    end_character = cb if b == last else ca
    if last > first and end_character == 0:
        last -= 1
    return first, last


def _title(source: bpy.types.Text, screenplay: fountain.Screenplay) -> str:
    return texts.stem_title(source.name, screenplay.title)


def _numbered_script(screenplay: fountain.Screenplay) -> str:
    return "\n\n".join(f"SCENE {s.number}\n{screenplay.scene_text(s)}" for s in screenplay.scenes)


def characters(screenplay: fountain.Screenplay) -> list[str]:
    """The characters with dialogue, most lines first."""
    counts: dict[str, int] = {}
    for _line, name in screenplay.cues:
        counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda n: (-counts[n], n))


def _character_at(screenplay: fountain.Screenplay, line: int) -> str:
    """The speaker of the cue at or above ``line`` in its scene, else the character with the most lines."""
    scene = screenplay.scene_at_line(line)
    above = [name for cue, name in screenplay.cues if cue <= line and (scene is None or cue >= scene.start_line)]
    if above:
        return above[-1]
    ranked = characters(screenplay)
    if not ranked:
        raise ToolError("No character cues found; name the character (character=\"NAME\").")
    return ranked[0]


def character_lines(screenplay: fountain.Screenplay, name: str) -> tuple[str, int]:
    """Every scene ``name`` appears in (a cue, or the name in an action line), with their speeches and the lines
    naming them; and how many scenes that is."""
    wanted = name.strip().casefold()
    mention = re.compile(rf"\b{re.escape(name.strip())}\b", re.IGNORECASE)
    parts: list[str] = []
    for scene in screenplay.scenes:
        lines = screenplay.lines
        picked: list[str] = []
        speaking = False
        cue_lines = {cue for cue, who in screenplay.cues if who.casefold() == wanted}
        for index in range(scene.start_line + 1, scene.end_line + 1):
            line = lines[index]
            if index in cue_lines:
                speaking = True
                picked.append(line)
                continue
            if speaking:
                if not line.strip():
                    speaking = False
                    picked.append("")
                else:
                    picked.append(line)
                continue
            if mention.search(line):
                picked += [line, ""]
        if picked:
            body = "\n".join(picked).strip("\n")
            parts.append(f"SCENE {scene.number}: {scene.heading}\n{body}")
    return "\n\n".join(parts), len(parts)


# --- format check (no model) -----------------------------------------------------------------------------------

_HEADING_LIKE = re.compile(r"^\s*(?:int|ext|est|int\.?\s*/\s*ext|i\s*/\s*e)[.\s]", re.IGNORECASE)
_PARENTHETICAL_LINE = re.compile(r"^\s*\(.*\)\s*$")


def format_findings(screenplay: fountain.Screenplay) -> list[tuple[int, str]]:
    """The parser's findings: ``(1-based line, problem)`` for mis-cased character cues, parentheticals under no
    cue or dialogue, and lines that look like scene headings but are not read as headings."""
    lines = screenplay.lines
    names = {name.casefold() for _line, name in screenplay.cues}
    headings = {scene.start_line for scene in screenplay.scenes}
    body_start = screenplay.scenes[0].start_line if screenplay.scenes else 0

    def blank(i: int) -> bool:
        return not 0 <= i < len(lines) or not lines[i].strip()

    found: list[tuple[int, str]] = []
    for i in range(body_start, len(lines)):
        line = lines[i].strip()
        if not line or line.startswith(("[[", "/*", "!", "@", ">", "=", "#", "~")):
            continue
        if _HEADING_LIKE.match(line) and i not in headings:
            why = "no blank line around it" if not (blank(i - 1) and blank(i + 1)) else "not read as a heading"
            found.append((i + 1, f"'{line[:60]}' looks like a scene heading but is not one ({why}); put it alone "
                                 "between blank lines in capitals, or force it with a leading '.'"))
            continue
        if _PARENTHETICAL_LINE.match(line) and blank(i - 1):
            found.append((i + 1, f"the parenthetical '{line[:40]}' is under no character cue or dialogue; move it "
                                 "under the cue, or make it an action line"))
            continue
        name = re.sub(r"\s*\(.*?\)\s*", " ", line).strip()
        if (
            blank(i - 1) and not blank(i + 1) and name != name.upper() and name.casefold() in names
            and len(name.split()) <= 4
        ):
            found.append((i + 1, f"the character cue '{line}' is not in capitals; write '{name.upper()}'"))
    return found


def _findings_text(title: str, findings: list[tuple[int, str]]) -> str:
    lines = [f"# Format Check: {title}", ""]
    if not findings:
        lines.append("No format problems found.")
    else:
        lines.append(f"{len(findings)} format problem(s) found by the Fountain parser:")
        lines.append("")
        lines += [f"- Line {number}: {problem}" for number, problem in findings]
    return "\n".join(lines) + "\n"


# --- planning ---------------------------------------------------------------------------------------------


def _plan(
    config: RequestSettings, chosen: Task, messages: tuple[dict[str, str], ...], *, label: str, target: str,
    operator: str, overrides: Any = None,
) -> tuple[Job, list[str]]:
    try:
        plan, warnings = plan_request(
            config, messages, overrides=overrides or chosen.request, task=chosen.id, operator=operator,
            label=label, target=target,
        )
    except PlanError as exc:
        raise ToolError(str(exc)) from exc
    return Job(plan), warnings


def _render(chosen: Task, values: dict[str, object]) -> tuple[dict[str, str], ...]:
    try:
        return chosen.render(values)
    except TaskError as exc:
        raise ToolError(str(exc)) from exc


def _stored(chosen: Task, source: str, config: RequestSettings, messages: tuple[dict[str, str], ...]) -> dict:
    return {"task": chosen.id, "source": source, **config.as_stored(), "messages": list(messages)}


def run_task(
    context: Context,
    task: str,
    text: str = "",
    scene: int = 0,
    character: str = "",
    instruction: str = "",
    output: str = "",
    *,
    operator: str = "screenwriter.run_task",
    model_notes: bool = False,
    **overrides: object,
) -> Launch:
    """Plan the task ``task`` on the screenplay ``text`` (empty: the active one) and return the :class:`Launch`.

    ``scene``: 1-based (0: the scene under the cursor); ``character``: for a character task (empty: the speaker
    at the cursor, else the character with most lines); ``instruction``: what the writer typed (Rewrite; the
    structure of a Beat Sheet); ``output``: the output Text's name (default ``"<script> - <what>"``).
    ``overrides``: settings replacing the sidebar's (``model``, ``temperature``, ``mock_response``...);
    ``model_notes``: Format Check also asks the model how to fix what it found (into ``"<script> - Format Check
    Notes"``). Raises :class:`ToolError` (nothing sent).
    """
    chosen = get_task(task, context)
    if chosen.output not in TOOL_OUTPUTS or chosen.id in HELPER_TASKS:
        raise ToolError(f"The task '{chosen.id}' ({chosen.output}) is not run by Run Task.")
    source = _source(context, text)
    if source.get(texts.OUTPUT_MARKER):
        raise ToolError(f"'{source.name}' is an answer, not a screenplay; open the screenplay first.")
    screenplay = _screenplay(source)
    title = _title(source, screenplay)
    if chosen.id == "format_check":
        launch = _format_check(source, screenplay, title, output)
        if model_notes and format_findings(screenplay):
            config = settings.from_context(context, **overrides)
            body = bpy.data.texts[launch.written].as_string()
            messages = _render(chosen, {"title": title, "findings": body})
            target = texts.output_name(source.name, "Format Check Notes")
            launch.job, warnings = _plan(config, chosen, messages, label=source.name, target=target,
                                         operator=operator)
            stored = _stored(chosen, source.name, config, messages)
            launch.sink = AnswerSink(target, source.name, stored, settings.secrets(context, config))
            launch.target, launch.warnings = target, warnings
            launch.info += f"; the model's notes into '{target}'"
        return launch
    config = settings.from_context(context, **overrides)
    if chosen.id == "coverage_report":
        return coverage_report(context, source, screenplay, chosen, config, output, operator=operator)

    selected = selection_lines(source) if chosen.scope == "selection" else None
    cursor = selected[0] if selected else source.current_line_index
    picked = _scene(screenplay, scene, cursor) if not selected or scene else _scene(screenplay, 0, cursor)
    values: dict[str, object] = {"title": title, "instruction": instruction.strip()}
    values.update(render.scene_values(screenplay, picked, title))
    values["scene_list"] = render.scene_list(screenplay, 400)
    values["script_text"] = _numbered_script(screenplay)
    values["structure"] = instruction.strip() or DEFAULT_STRUCTURE
    purpose = chosen.label
    if "instruction" in chosen.context and not instruction.strip():
        raise ToolError(f"{chosen.label} needs an instruction: type how to rewrite the lines.")
    if chosen.scope == "selection":
        if chosen.id == "rewrite" and selected is None:
            raise ToolError("Select the lines to rewrite first.")
        if selected is None:
            first, last = picked.start_line + 1, picked.end_line + 1
        else:
            first, last = selected[0] + 1, selected[1] + 1
        first, last = proposal.content_range(source.as_string(), first, last)
        values["selection"] = "\n".join(screenplay.lines[first - 1 : last])
        where = f"lines {first}-{last}" if selected else f"scene {picked.number}"
        purpose = f"{chosen.label} Lines {first}-{last}" if selected else f"Scene {picked.number} {chosen.label}"
    elif chosen.scope == "scene":
        cont_first, _ = _continue_point(screenplay, picked, source.current_line_index)
        values["before_cursor"] = "\n".join(screenplay.lines[picked.start_line : cont_first - 1]).rstrip()
        if "before_cursor" in chosen.context:  # a continuation: inserted after the cursor's paragraph
            first, last = cont_first, cont_first - 1
        else:  # a proposal for the whole scene
            first, last = proposal.content_range(source.as_string(), picked.start_line + 1, picked.end_line + 1)
        where = f"scene {picked.number}"
        purpose = f"Scene {picked.number} {chosen.label}"
    elif chosen.scope == "character":
        name = character.strip() or _character_at(screenplay, source.current_line_index)
        lines, count = character_lines(screenplay, name)
        if not count:
            raise ToolError(f"'{name}' appears in no scene of '{source.name}'.")
        values["character"], values["character_lines"] = name.upper(), lines
        where = f"{name.upper()} ({count} scenes)"
        purpose = f"{name.title()} {chosen.label}"
        first = last = 0
    else:
        where = "the whole script"
        first = last = 0
    messages = _render(chosen, values)
    target = output or texts.output_name(source.name, purpose)
    job, warnings = _plan(config, chosen, messages, label=source.name, target=target, operator=operator)
    stored = _stored(chosen, source.name, config, messages)
    known = settings.secrets(context, config)
    sink: Sink
    if chosen.output == "proposal":
        if chosen.scope not in ("selection", "scene"):
            raise ToolError(f"{chosen.label} makes a proposal, so its scope must be selection or scene.")
        made = proposal.make_proposal(source.name, source.as_string(), first, last, "")
        sink = ProposalSink(target, source.name, made, chosen.id, stored, known)
    elif chosen.grounded:
        sink = GroundedAnswerSink(target, source.name, stored, known)
    else:
        sink = AnswerSink(target, source.name, stored, known)
    info = f"{chosen.label}: {where} of '{source.name}' into '{target}'"
    return Launch(job=job, sink=sink, info=info, warnings=warnings, target=target)


def _continue_point(screenplay: fountain.Screenplay, scene: fountain.Scene, cursor: int) -> tuple[int, int]:
    """Where Continue Scene inserts (1-based insertion ``(k, k - 1)``): after the paragraph the cursor is in (its
    scene's end when the cursor is outside it)."""
    lines = screenplay.lines
    index = cursor if scene.start_line <= cursor <= scene.end_line else scene.end_line
    while index < scene.end_line and lines[index].strip():
        index += 1
    if lines[index].strip():  # the scene's last line is not blank: insert after it
        index += 1
    return index + 1, index


def _format_check(source: bpy.types.Text, screenplay: fountain.Screenplay, title: str, output: str) -> Launch:
    target = output or texts.output_name(source.name, "Format Check")
    findings = format_findings(screenplay)
    busy = runtime.get().job_for_target
    try:
        out = texts.prepare_output(target, source, lambda n: busy(n) is not None)
    except SinkError as exc:
        raise ToolError(str(exc)) from exc
    out.from_string(_findings_text(title, findings))
    out[texts.COMPLETE_MARKER] = True
    out[texts.REQUEST_KEY] = json.dumps({"task": "format_check", "source": source.name, "model": "", "messages": []})
    return Launch(written=out.name, target=out.name, label=source.name,
                  info=f"{len(findings)} format problem(s) listed in '{out.name}'")


# --- coverage: map (scene-group summaries, cached) then reduce (one synthesis) -------------------------------


def estimate_tokens(messages: tuple[dict[str, str], ...] | str) -> int:
    """A main-thread upper estimate of a request's prompt tokens (see :data:`CHARS_PER_TOKEN`)."""
    chars = len(messages) if isinstance(messages, str) else sum(len(m["content"]) + 16 for m in messages)
    return int(chars / CHARS_PER_TOKEN) + 8


def model_window(config: RequestSettings) -> int:
    """The model's context window: LiteLLM's map when LiteLLM is already loaded (a worker imported it), else
    the preference *Default Context Window* (LiteLLM is never imported on the main thread)."""
    if "litellm" in sys.modules:
        from .core.accounting.cost import context_window

        try:
            return context_window(config.model, config.default_window)
        except Exception:  # noqa: BLE001 - an unknown model: the preference
            return config.default_window
    return config.default_window


@dataclass
class _Group:
    label: str
    scenes: list[int]
    messages: tuple[dict[str, str], ...]
    key: str


def _key(messages: tuple[dict[str, str], ...]) -> str:
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True).encode("utf-8")).hexdigest()[:24]


def _groups(
    screenplay: fountain.Screenplay, title: str, helper: Task, budget: int
) -> list[_Group]:
    """Consecutive scenes in groups whose request fits ``budget`` prompt tokens; a scene too long for one request
    is split at blank lines (and, if need be, at line breaks) into parts."""
    count = len(screenplay.scenes)

    def render_group(label: str, body: str) -> tuple[dict[str, str], ...]:
        return _render(helper, {"title": title, "scene_range": label, "scenes_text": body})

    overhead = estimate_tokens(render_group(f"Scenes {count}-{count} of {count}", ""))
    room_chars = int((budget - overhead) * CHARS_PER_TOKEN)
    if room_chars < 500:
        raise ToolError("The model's context window is too small for a coverage report.")
    pieces: list[tuple[list[int], str, str]] = []  # (scene numbers, label part, text)
    for scene in screenplay.scenes:
        body = f"SCENE {scene.number}: {screenplay.scene_text(scene)}"
        if len(body) <= room_chars:
            pieces.append(([scene.number], "", body))
            continue
        chunks = _split(body, room_chars)
        for k, chunk in enumerate(chunks, start=1):
            pieces.append(([scene.number], f" (part {k} of {len(chunks)})", chunk))
    groups: list[_Group] = []
    current: list[tuple[list[int], str, str]] = []

    def flush() -> None:
        if not current:
            return
        numbers = sorted({n for nums, _p, _t in current for n in nums})
        part = current[0][1] if len(current) == 1 else ""
        label = (f"Scene {numbers[0]}{part} of {count}" if len(numbers) == 1
                 else f"Scenes {numbers[0]}-{numbers[-1]} of {count}")
        messages = render_group(label, "\n\n".join(t for _n, _p, t in current))
        groups.append(_Group(label, numbers, messages, _key(messages)))
        current.clear()

    size = 0
    for piece in pieces:
        add = len(piece[2]) + 2
        if current and (size + add > room_chars or piece[1] or current[-1][1]):
            flush()
            size = 0
        current.append(piece)
        size += add
    flush()
    return groups


def _split(body: str, room: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for paragraph in re.split(r"(\n\s*\n)", body):
        while len(paragraph) > room:  # one paragraph longer than a request: cut at line breaks, else anywhere
            cut = paragraph.rfind("\n", 0, room)
            cut = cut if cut > room // 2 else room
            if current:
                chunks.append(current)
                current = ""
            chunks.append(paragraph[:cut])
            paragraph = paragraph[cut:]
        if len(current) + len(paragraph) > room and current:
            chunks.append(current)
            current = ""
        current += paragraph
    if current.strip():
        chunks.append(current)
    return chunks


def _summaries_of(text: bpy.types.Text | None) -> dict[str, str]:
    if text is None or not text.get(texts.OUTPUT_MARKER):
        return {}
    try:
        loaded = json.loads(text.get(SUMMARIES_KEY) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def coverage_report(
    context: Context,
    source: bpy.types.Text,
    screenplay: fountain.Screenplay,
    chosen: Task,
    config: RequestSettings,
    output: str = "",
    *,
    operator: str = "screenwriter.run_task",
) -> Launch:
    """Plan the coverage report as a whole-script run: one summary request per scene group (each fitting the
    model's window, concurrent; a group summarised before from the same text is reused from the report Text),
    then, when the run ends, one synthesis request writing the report (:class:`CoverageSynthesis`)."""
    state = runtime.get()
    if state.run_for(source.name) is not None:
        raise ToolError(f"'{source.name}' is already being analysed; cancel it first.")
    target = output or texts.output_name(source.name, "Coverage Report")
    existing = bpy.data.texts.get(target)
    if existing is not None and not existing.get(texts.OUTPUT_MARKER):
        raise ToolError(
            f"A Text named '{target}' already exists and was not written by Screenwriter LLM; rename that Text."
        )
    helper = get_task("coverage_summary", context)
    title = _title(source, screenplay)
    window = model_window(config)
    synthesis_out = chosen.request.max_tokens or config.max_tokens
    scene_list = render.scene_list(screenplay, 400)
    synthesis_overhead = estimate_tokens(_render(chosen, {"title": title, "scene_list": scene_list,
                                                          "scene_summaries": ""}))
    if synthesis_overhead + synthesis_out + WINDOW_MARGIN > window * 0.6:  # a long scene list: leave it out
        scene_list = "(the scene numbers and headings are in the summaries)"
        synthesis_overhead = estimate_tokens(_render(chosen, {"title": title, "scene_list": scene_list,
                                                              "scene_summaries": ""}))
    summary_out = helper.request.max_tokens or 400
    groups = _groups(screenplay, title, helper, window - summary_out - WINDOW_MARGIN)
    room = window - synthesis_out - synthesis_overhead - WINDOW_MARGIN
    # Each summary's share of the synthesis request (in estimated tokens; summaries are prose, ~4 chars a token).
    share = int(room / max(1, len(groups)) * CHARS_PER_TOKEN / 4)
    summary_out = max(60, min(summary_out, share))
    if share < 60:
        raise ToolError(
            f"'{source.name}' needs {len(groups)} scene-group summaries, more than a synthesis request can hold in "
            f"{config.model}'s window of {window:,} tokens; use a model with a larger context window."
        )
    cached = _summaries_of(existing)
    known = settings.secrets(context, config)
    overrides = replace(helper.request, max_tokens=summary_out)
    pending: list[BatchItem] = []
    for number, group in enumerate(groups, start=1):
        if group.key in cached:
            continue
        job, _ = _plan(config, helper, group.messages, label=source.name, target="", operator=operator,
                       overrides=overrides)
        pending.append(BatchItem(number, job, CoverageSummarySink(target, source.name, group.key)))
    synthesis = CoverageSynthesis(
        target=target, source=source.name, title=title, scene_list=scene_list, groups=groups, task=chosen,
        config=config, secrets=known, operator=operator, room_chars=int(room * CHARS_PER_TOKEN),
    )
    run = BatchRun(pending, concurrency=4, label=source.name, skipped=[i for i, g in enumerate(groups, 1)
                                                                     if g.key in cached], payload=synthesis)
    info = (
        f"Coverage Report of '{source.name}': {len(groups)} scene groups ({len(pending)} to summarise, "
        f"{len(groups) - len(pending)} cached), then the report into '{target}'"
    )
    return Launch(run=run, info=info, target=target, label=source.name)


class CoverageSummarySink(Sink):
    """A sink (see :mod:`.sinks`): one scene group's summary. Nothing streams; when it ends the summary is stored
    in the report Text's cache (:data:`SUMMARIES_KEY`, keyed by the group's request), so a re-run reuses it and an
    edited scene, whose request differs, is summarised again."""

    def __init__(self, report: str, source: str, key: str) -> None:
        self.report = report
        self.source = source
        self.key = key

    def close(self, job: Job) -> None:
        summary = job.answer.strip()
        if not isinstance(job.outcome, Finished) or not summary:
            return
        text = bpy.data.texts.get(self.report)
        if text is None:
            text = bpy.data.texts.new(self.report)
            text[texts.OUTPUT_MARKER] = True
            text[texts.SOURCE_KEY] = self.source
        elif not text.get(texts.OUTPUT_MARKER):
            raise SinkError(f"A Text named '{self.report}' was not written by Screenwriter LLM; rename it.")
        cache = _summaries_of(text)
        cache[self.key] = summary
        text[SUMMARIES_KEY] = json.dumps(cache)


@dataclass
class CoverageSynthesis:
    """The coverage run's report sink (``close(run)`` like :class:`.sinks.ReportSink`): when every group is
    summarised it plans the synthesis request and starts it through the pump into a :class:`GroundedAnswerSink`
    (``job`` is that request, for callers that wait for it)."""

    target: str
    source: str
    title: str
    scene_list: str
    groups: list[_Group]
    task: Task
    config: RequestSettings
    secrets: tuple[str, ...]
    operator: str
    room_chars: int
    job: Job | None = None
    error: str = ""

    def messages(self) -> tuple[dict[str, str], ...]:
        """The synthesis request from the cached summaries. Raises :class:`SinkError` when some are missing."""
        cache = _summaries_of(bpy.data.texts.get(self.target))
        missing = [g.label for g in self.groups if g.key not in cache]
        if missing:
            raise SinkError(
                f"The coverage report was not written: {len(missing)} scene group(s) could not be summarised "
                f"({missing[0]}...); run Coverage Report again (the summaries made are kept)."
            )
        share = max(200, self.room_chars // max(1, len(self.groups)) - 40)
        parts = []
        for group in self.groups:
            summary = cache[group.key]
            if len(summary) > share:
                summary = summary[:share].rsplit(" ", 1)[0] + " …"
            parts.append(f"## {group.label}\n{summary}")
        values: dict[str, object] = {"title": self.title, "scene_list": self.scene_list,
                                     "scene_summaries": "\n\n".join(parts)}
        return _render(self.task, values)

    def close(self, run: BatchRun) -> None:
        if run.cancelled:
            return
        messages = self.messages()
        try:
            job, _ = _plan(self.config, self.task, messages, label=self.source, target=self.target,
                           operator=self.operator)
        except ToolError as exc:
            raise SinkError(str(exc)) from exc
        stored = _stored(self.task, self.source, self.config, messages)
        self.job = pump.start(job, GroundedAnswerSink(self.target, self.source, stored, self.secrets))


# --- the sinks ------------------------------------------------------------------------------------------------


class GroundedAnswerSink(AnswerSink):
    """A sink (see :mod:`.sinks`): an :class:`~.sinks.AnswerSink` whose answer, when it ends, has its quotations
    checked against the screenplay (:func:`~.core.tasks.grounding.check_quotes`). The report is stored on the
    Text (:data:`GROUNDING_KEY`) and, with ``append`` (the default), written under the answer::

        Quotes checked: 2 of 3 found in the script.
        Not found in the script: “I never said that”

    ``append=False`` (Analyze Scene) keeps the Text the model's answer word for word (whole-script coverage and
    Regenerate read it) and shows the report in the sidebar only."""

    def __init__(
        self, target: str, source: str, stored: dict[str, Any] | None = None, secrets: tuple[str, ...] = (),
        append: bool = True,
    ) -> None:
        super().__init__(target, source, stored, secrets)
        self.append = append
        self.report: grounding.GroundingReport | None = None

    def open(self, job: Job, busy: Callable[[str], bool]) -> None:
        super().open(job, busy)
        text = self._text()
        if text is not None and text.get(GROUNDING_KEY) is not None:
            del text[GROUNDING_KEY]  # the report of an earlier answer

    def close(self, job: Job) -> None:
        super().close(job)
        text = self._text()
        script = bpy.data.texts.get(self.source)
        if text is None or script is None or not isinstance(job.outcome, Finished) or not job.answer:
            return
        report = grounding.check_quotes(job.answer, script.as_string())
        self.report = report
        text[GROUNDING_KEY] = json.dumps({
            "checked": report.checked, "found": len(report.found),
            "missing": [q.display() for q in report.missing], "summary": report.summary(),
        })
        if self.append:
            texts.append_to_text(text, "\n\n" + report.summary() + "\n")


_FENCE = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def clean_proposed(answer: str) -> str:
    """The proposed Fountain from a model's answer: one surrounding code fence removed, blank ends dropped."""
    body = answer.strip("\n")
    fenced = _FENCE.match(body)
    return (fenced.group(1) if fenced else body).strip("\n")


class ProposalSink(AnswerSink):
    """A sink (see :mod:`.sinks`): the answer streams into the proposal Text; when it ends the Text becomes the
    proposal: the proposed Fountain (which the writer may edit), a separator and the diff against the lines it
    would replace (:func:`~.core.tasks.proposal.proposal_text`), with the source, range and hash stored
    (:data:`PROPOSAL_KEY`). The screenplay changes only when the writer applies it."""

    def __init__(
        self, target: str, source: str, made: proposal.Proposal, task: str, stored: dict[str, Any] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        super().__init__(target, source, stored, secrets)
        self.proposal = made
        self.task = task

    def open(self, job: Job, busy: Callable[[str], bool]) -> None:
        super().open(job, busy)
        text = self._text()
        if text is not None and text.get(PROPOSAL_KEY) is not None:
            del text[PROPOSAL_KEY]  # nothing to apply until this answer has become a proposal

    def close(self, job: Job) -> None:
        super().close(job)
        text = self._text()
        script = bpy.data.texts.get(self.source)
        if text is None or script is None or not isinstance(job.outcome, Finished) or not job.answer.strip():
            return
        made = replace(self.proposal, proposed=clean_proposed(job.answer))
        if made.is_insertion and made.first_line > 1:
            made = replace(made, proposed="\n" + made.proposed)  # a paragraph of its own after the cursor's
        text.from_string(proposal.proposal_text(made, script.as_string()))
        text[PROPOSAL_KEY] = json.dumps({
            "source": made.source, "first_line": made.first_line, "last_line": made.last_line,
            "original_hash": made.original_hash, "task": self.task,
        })


def regenerate_sink(
    output: bpy.types.Text, source: str, stored: dict[str, Any], secrets: tuple[str, ...]
) -> ProposalSink | None:
    """For Regenerate: the sink that makes a proposal Text a proposal again (same range and hash as before), or
    None when ``output`` holds no proposal."""
    try:
        made = load_proposal(output)
    except ToolError:
        return None
    return ProposalSink(output.name, source, replace(made, proposed=""), str(stored.get("task", "")), stored, secrets)


# --- applying proposals and notes (the operators write the result as one undo step) -------------------------------


def load_proposal(text: bpy.types.Text) -> proposal.Proposal:
    """The proposal stored on the proposal Text ``text`` (its ``proposed`` is the Text's body as it now stands).
    Raises :class:`ToolError` when ``text`` holds none."""
    try:
        stored = json.loads(text.get(PROPOSAL_KEY) or "")
        made = proposal.Proposal(
            source=str(stored["source"]), first_line=int(stored["first_line"]), last_line=int(stored["last_line"]),
            original_hash=str(stored["original_hash"]), proposed=proposal.proposed_from_text(text.as_string()),
        )
    except (ValueError, KeyError, TypeError):
        raise ToolError(f"'{text.name}' holds no proposal (run Punch Up, Rewrite or Continue Scene).") from None
    return made


def apply_proposal(name: str) -> tuple[bpy.types.Text, str, proposal.Proposal]:
    """The screenplay Text, its new text with the proposal ``name`` applied, and the proposal. Raises
    :class:`ToolError` (no such proposal, the script is gone) or :class:`~.core.tasks.proposal.RangeChanged`."""
    text = bpy.data.texts.get(name)
    if text is None:
        raise ToolError(f"No Text named '{name}'.")
    if runtime.get().job_for_target(text.name) is not None:
        raise ToolError(f"'{name}' is still being written; wait for it or cancel it first.")
    made = load_proposal(text)
    source = bpy.data.texts.get(made.source)
    if source is None:
        raise ToolError(f"The screenplay '{made.source}' of this proposal is gone.")
    return source, proposal.apply(made, source.as_string(), made.proposed), made


_LEADING_QUOTE = re.compile(r"[\"“](.+?)[\"”]", re.DOTALL)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")


def suggestions(answer: str) -> list[str]:
    """The suggestions of an answer: the list items after the first line naming "suggestion" (a heading such as
    ``7. Suggestions:``), else every list item; each with its indented continuation lines. The grounding report
    and a later ``#`` heading end them."""
    lines = answer.split("\n")
    start = next((i for i, line in enumerate(lines) if "suggestion" in line.casefold()), None)
    items: list[str] = []
    for line in lines[start + 1 :] if start is not None else lines:
        if line.startswith(("Quotes checked:", "Not found in the script:")) or (items and line.startswith("#")):
            break
        match = _LIST_ITEM.match(line)
        if match:
            items.append(match.group(1).strip())
        elif items and line.strip() and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
    return [item for item in items if item]


def insert_notes(name: str) -> tuple[bpy.types.Text, str, int]:
    """The screenplay Text, its new text with the answer ``name``'s suggestions inserted as Fountain notes, and how
    many were inserted. A suggestion quoting the script goes on the line after the quoted line; one quoting nothing
    (or nothing found) after the scene heading. Raises :class:`ToolError`."""
    answer = bpy.data.texts.get(name)
    if answer is None:
        raise ToolError(f"No Text named '{name}'.")
    source = bpy.data.texts.get(str(answer.get(texts.SOURCE_KEY) or ""))
    if source is None or not answer.get(texts.OUTPUT_MARKER):
        raise ToolError(f"'{name}' is not an answer about a screenplay in this file.")
    try:
        stored = json.loads(answer.get(texts.REQUEST_KEY) or "{}")
    except ValueError:
        stored = {}
    script = source.as_string()
    screenplay = runtime.get().screenplay(source, fresh=True)
    index = grounding.ScriptIndex(script)
    items = suggestions(answer.as_string())
    if not items:
        raise ToolError(f"'{name}' has no suggestions (list items) to insert as notes.")
    heading = _heading_line(screenplay, stored)
    first, last = (heading, None)
    scene = screenplay.scene_at_line(heading - 1) if heading else None
    if scene is not None:
        first, last = scene.start_line + 1, scene.end_line + 1
    notes: list[tuple[int | None, str]] = []
    for item in items:
        line = None
        for quote in grounding.find_quotes(item) or [m.group(1) for m in _LEADING_QUOTE.finditer(item)]:
            line = index.find(quote, first_line=first, last_line=last) or index.find(quote)
            if line:
                break
        notes.append((line, item))
    if not heading:
        heading = next((n for n, _ in notes if n), 0) or (screenplay.scenes[0].start_line + 1)
        notes = [(n if n else heading, t) for n, t in notes]
    return source, proposal.notes_insertion(script, notes, heading), len(notes)


def _heading_line(screenplay: fountain.Screenplay, stored: dict[str, Any]) -> int:
    """The 1-based heading line of the scene an answer is about (from its stored request), or 0."""
    for message in stored.get("messages", ()):
        found = re.search(r"Scene (\d+) of \d+", str(message.get("content", "")))
        if found and 1 <= int(found.group(1)) <= len(screenplay.scenes):
            return screenplay.scenes[int(found.group(1)) - 1].start_line + 1
    return 0


# --- live sections -----------------------------------------------------------------------------------------------

_SECTION = re.compile(r"^(#{1,6}\s+\S.*|[A-Z0-9][A-Z0-9 ,'&/()-]*[A-Z][A-Z0-9 ,'&/()-]*:)\s*$")


def sections(body: str) -> list[tuple[int, str]]:
    """An answer's section headings as they arrive: ``(0-based line, heading)`` for lines starting with ``#`` and
    ALL-CAPS lines ending with ``:``."""
    found = []
    for number, line in enumerate(body.split("\n")):
        if len(line) <= 120 and _SECTION.match(line.strip()):
            found.append((number, line.strip().lstrip("#").strip()))
    return found


def latest_answer(source_name: str) -> str:
    """The output Text of the newest running job for ``source_name`` ('' when none runs)."""
    jobs = runtime.get().jobs_for(source_name)
    return jobs[-1].target if jobs and jobs[-1].target else ""


def wait(launch: Launch) -> Job | None:
    """Drive a launched task to its end (background mode, the API): the job, or the run and then its synthesis
    request. Returns the job whose answer is the result (None for Format Check)."""
    if launch.job is not None:
        return pump.run_until_done(launch.job)
    if launch.run is not None:
        pump.run_batch_until_done(launch.run)
        synthesis = launch.run.payload
        if isinstance(synthesis, CoverageSynthesis) and synthesis.job is not None:
            return pump.run_until_done(synthesis.job)
    return None


def start(launch: Launch) -> None:
    """Start what :func:`run_task` planned (its sink opened first). Raises :class:`ToolError` when the sink refuses."""
    if launch.job is not None and launch.sink is not None:
        try:
            pump.start(launch.job, launch.sink)
        except SinkError as exc:
            raise ToolError(str(exc)) from exc
    elif launch.run is not None:
        pump.start_run(launch.run)

"""The sidebar panels (Text Editor > Sidebar > Screenwriter): model settings and the commands, Scenes, Script
Chat, Usage.

Nothing slow on a draw path: a panel reads what the runtime state already holds (statuses, estimates counted
off the main thread, the parsed screenplay cached by content) and never waits for anything. After a keystroke
no panel copies the script (the cursor moved: they show the last parse until the writer pauses,
:meth:`..runtime.TextReads.read`); in any other redraw the main panel reads it once and the panels after it take
that read (``reuse=True``). What each panel costs per keystroke: ``docs/PERFORMANCE.md``, "Typing stays
instant".
"""

from __future__ import annotations

import functools
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import bpy
from bpy.types import Context, Menu, Panel, UILayout

from .. import commands, endpoints, pump, runtime, settings, texts
from ..core.accounting.accountant import DEFAULT_CONTEXT_WINDOW
from ..core.accounting.cost import estimate_key, format_usd
from ..core.accounting.usage import LedgerError, Summary, UsageLedger
from ..core.jobs.plan import unlisted_warning
from ..core.provider.gateway import GatewayFigures
from ..core.screenplay.fountain import Scene, Screenplay
from ..core.tasks import render
from ..core.tasks.task import TaskCatalog, TaskError

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import IconItems as Icon
    from bpy.stub_internal.rna_enums import RegionTypeItems, SpaceTypeItems
else:
    Icon = RegionTypeItems = SpaceTypeItems = str

#: Scenes the Scenes panel lists at once, around the scene at the cursor (a feature script has ~100-200; each
#: is a button); buttons above and below say how many more there are and move the cursor to them.
SCENE_WINDOW = 15


class SidebarPanel:
    """Mixin: a panel of the Screenwriter tab of the Text Editor's sidebar."""

    bl_space_type: SpaceTypeItems = "TEXT_EDITOR"
    bl_region_type: RegionTypeItems = "UI"
    bl_category = "Screenwriter"


def layout_of(owner: Panel | Menu) -> UILayout:
    """``owner.layout``, which Blender always sets while drawing (the stubs allow None)."""
    return cast(UILayout, owner.layout)


def chars_per_line(context: Context) -> int:
    """About how many characters fit on a sidebar label beside an icon (Blender's UI font at 1x scale averages
    ~6.5 px per character of prose, measured on the window tier's screenshots; the icon and margins take ~40 px)."""
    region = context.region
    scale = context.preferences.system.ui_scale if context.preferences else 1.0
    return max(20, int((region.width - 40 * scale) / (6.5 * scale))) if region else 40


def wrap(text: str, width: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` characters (``textwrap``); at least one line. Remembers
    the last 256 (panels wrap the same status lines on every redraw; ``textwrap`` takes ~30 µs a line)."""
    return list(_wrapped(text, width))


@functools.lru_cache(maxsize=256)
def _wrapped(text: str, width: int) -> tuple[str, ...]:
    return tuple(textwrap.wrap(text, width)) or ("",)


def task_catalog(context: Context) -> TaskCatalog:
    """The task catalog (:meth:`..runtime.Runtime.tasks`), with the user's task folder looked up only when the
    runtime checks the folders (every :data:`..runtime.TASKS_CHECK_INTERVAL` seconds), not on every draw."""
    return runtime.get().tasks(lambda: commands.user_tasks_folder(context))


def scene_window(count: int, current: int | None, size: int = SCENE_WINDOW) -> range:
    """Which of ``count`` scenes to list (0-based indices): ``size`` of them with scene index ``current`` in the
    middle (the first ``size`` when it is None), moved to fit inside ``0..count``."""
    if count <= size:
        return range(count)
    centre = 0 if current is None else current
    first = min(max(0, centre - size // 2), count - size)
    return range(first, first + size)


class SCREENWRITER_PT_main(SidebarPanel, Panel):
    """Model settings, Analyze Scene / Cancel, and the live status line."""

    bl_label = "Screenwriter"

    def draw(self, context: Context) -> None:
        layout = layout_of(self)
        config = settings.scene_settings(context)
        state = runtime.get()
        text = commands.source_text(context, "")
        screenplay = state.screenplay(text) if text is not None else None  # this redraw's read of the script
        typing = text is not None and state.reads.typing(text)
        col = layout.column(align=True)
        row = col.row(align=True)
        row.prop(config, "model", text="")
        row.operator("screenwriter.refresh_models", text="", icon="FILE_REFRESH")
        _draw_unlisted(col, context, config, typing)
        col.prop(config, "temperature")
        col.prop(config, "max_tokens")
        col.prop(config, "stream")

        current = None
        if text is not None and screenplay is not None:
            current = screenplay.scene_at_line(state.reads.current_line(text))
        row = layout.row(align=True)
        row.scale_y = 1.4
        label = f"Analyze Scene {current.number}" if current else "Analyze Scene"
        row.operator("screenwriter.analyze_scene", text=label, icon="PLAY")
        row.operator("screenwriter.cancel", text="", icon="CANCEL")
        row = layout.row(align=True)
        row.operator("screenwriter.analyze_all_scenes", icon="SEQ_STRIP_DUPLICATE")
        row.operator("screenwriter.regenerate", text="", icon="FILE_REFRESH")

        if text is None:
            layout.label(text="Open a screenplay in this editor", icon="INFO")
            return
        name = text.name
        # A keystroke's redraw keeps the last width and estimate: no region, preferences or settings to read.
        width = _width[0] if typing and _width[0] else chars_per_line(context)
        _width[0] = width
        if screenplay is not None and current is not None:
            _draw_estimate(layout, context, config, screenplay, current, name, width, typing)
        run = state.run_for(name)
        status = state.status(name)
        if run is not None and hasattr(layout, "progress"):  # Blender 4.0+
            layout.progress(factor=run.progress, type="BAR", text=run.status_line())
        box = layout.box()
        line, icon = (status.text, status.icon) if status is not None else ("Ready", "CHECKMARK")
        for i, part in enumerate(wrap(line, width)):
            box.label(text=part, icon=cast("Icon", icon) if i == 0 else "BLANK1")


class SCREENWRITER_PT_scenes(SidebarPanel, Panel):
    """The active script's scenes; click a heading to move the cursor there."""

    bl_label = "Scenes"
    bl_parent_id = "SCREENWRITER_PT_main"

    @classmethod
    def poll(cls, context: Context) -> bool:
        return commands.source_text(context, "") is not None

    def draw(self, context: Context) -> None:
        text = commands.source_text(context, "")
        if text is None:
            return
        state = runtime.get()
        screenplay = state.screenplay(text, reuse=True)
        layout = layout_of(self)
        scenes = screenplay.scenes
        if not scenes:
            layout.label(text="No scene headings (INT. / EXT.) found", icon="INFO")
            return
        current = screenplay.scene_at_line(state.reads.current_line(text))
        shown = scene_window(len(scenes), current.number - 1 if current else None)
        labels = _scene_labels(screenplay)
        name = text.name
        col = layout.column(align=True)
        if shown.start:
            op = col.operator("screenwriter.goto_scene", text=f"… {shown.start} earlier", icon="TRIA_UP")
            op.text = name  # type: ignore[union-attr]
            op.line = scenes[shown.start - 1].start_line  # type: ignore[union-attr]
        for index in shown:
            scene = scenes[index]
            here = scene is current
            op = col.operator("screenwriter.goto_scene", text=labels[index], depress=here, emboss=here)
            op.text = name  # type: ignore[union-attr]
            op.line = scene.start_line  # type: ignore[union-attr]
        if shown.stop < len(scenes):
            op = col.operator("screenwriter.goto_scene", text=f"… {len(scenes) - shown.stop} more", icon="TRIA_DOWN")
            op.text = name  # type: ignore[union-attr]
            op.line = scenes[shown.stop].start_line  # type: ignore[union-attr]


_labels: list[Any] = [None, ()]


def _scene_labels(screenplay: Screenplay) -> tuple[str, ...]:
    """``"12. INT. HOUSE - DAY"`` for every scene of ``screenplay`` (kept for the last screenplay drawn)."""
    if _labels[0] is not screenplay:
        _labels[:] = [screenplay, tuple(f"{scene.number}. {scene.heading}" for scene in screenplay.scenes)]
    return cast("tuple[str, ...]", _labels[1])


def _draw_unlisted(layout: UILayout, context: Context, config: Any, typing: bool = False) -> None:
    """A warning under the model field when the endpoint's last model list (Refresh Models) lacks the model; nothing
    when it was never listed. A dict lookup and a set test; the warning line is kept per model and list, and shown
    as it was after a keystroke (``typing``: no settings read)."""
    if typing:
        if _unlisted[1]:
            layout.label(text=_unlisted[1], icon="ERROR")
        return
    prefs = settings.preferences(context)
    model = str(config.model)
    listed = endpoints.listed(model, (str(prefs.api_base).strip() or None) if prefs else None)
    if listed is None:
        return
    memo = _unlisted[0]
    if memo is None or memo[0] != model or memo[1] is not listed:
        warning = unlisted_warning(model, listed.ids)
        _unlisted[:] = [(model, listed), warning.split(";", 1)[0] if warning else ""]
    if _unlisted[1]:
        layout.label(text=_unlisted[1], icon="ERROR")


_unlisted: list[Any] = [None, ""]
_width: list[int] = [0]


def _draw_estimate(
    layout: UILayout,
    context: Context,
    config: Any,
    screenplay: Screenplay,
    scene: Scene,
    name: str,
    width: int,
    typing: bool = False,
) -> None:
    """The next request's prompt tokens, the model's context window and its worst-case cost, counted off the
    main thread; "Estimating…" until ready (a timer redraws the sidebar). ``config``: the scene's settings;
    ``width``: :func:`chars_per_line`. A finished estimate's lines are kept for the same inputs (an estimate of
    the same messages, model, tokens, window and rates never changes), so a keystroke costs a comparison.
    ``typing``: this redraw follows a keystroke (:meth:`.runtime.TextReads.typing`): the kept lines of the same
    messages are drawn without reading the settings again."""
    messages = _analysis_messages(context, screenplay, scene, name)
    if isinstance(messages, str):
        layout.label(text=messages, icon="ERROR")
        return
    if typing and _estimate_lines[0] is not None and _estimate_lines[0][0] is messages:
        col = layout.column(align=True)
        col.scale_y = 0.8
        for part in _estimate_lines[1]:
            col.label(text=part)
        return
    prefs = settings.preferences(context)
    window = prefs.default_context_window if prefs else DEFAULT_CONTEXT_WINDOW
    rates = settings.custom_rates(prefs)
    model = config.model.strip()
    max_tokens = config.max_tokens
    inputs = (messages, model, max_tokens, window, rates, width)
    col = layout.column(align=True)
    col.scale_y = 0.8
    if _estimate_lines[0] is not None and _same_inputs(_estimate_lines[0], inputs):
        for part in _estimate_lines[1]:
            col.label(text=part)
        return
    estimator = runtime.get().estimator
    estimate = estimator.estimate(model, messages, max_tokens, window, rates)
    if estimate is None:
        key = estimate_key(model, messages, max_tokens, window, rates)
        error = estimator.error(key)
        col.label(text=f"Estimate unavailable: {error}" if error else "Estimating the next request…", icon="INFO")
        if not error and not bpy.app.background and not bpy.app.timers.is_registered(_redraw_sidebars):
            bpy.app.timers.register(_redraw_sidebars, first_interval=0.5)
        return
    window_note = "" if estimate.window_known else " (default)"
    worst = estimate.cost.usd
    cost = "cost unknown" if worst is None else f"up to {format_usd(worst)} with {max_tokens:,} out"
    lines = [
        f"Next: ≈{estimate.prompt_tokens:,} prompt tokens of {estimate.context_window:,}{window_note}",
        f"Estimated {cost}",
    ]
    parts = tuple(part for line in lines for part in wrap(line, width))
    _estimate_lines[:] = [inputs, parts]
    for part in parts:
        col.label(text=part)


_estimate_lines: list[Any] = [None, ()]


def _same_inputs(kept: tuple[Any, ...], inputs: tuple[Any, ...]) -> bool:
    """The same estimate inputs: the very messages object, equal settings."""
    return kept[0] is inputs[0] and kept[1:] == inputs[1:]


_analysis: list[Any] = [None, None]


def _analysis_messages(
    context: Context, screenplay: Screenplay, scene: Scene, name: str
) -> tuple[dict[str, str], ...] | str:
    """The messages of the Analyze Scene request for ``scene`` (rendered from the task template), or the error
    to show. Rendered again only when the screenplay object, the scene, the Text's name or the task catalog
    changed: a keystroke that the parse has not caught up with yet costs a comparison."""
    catalog = task_catalog(context)
    memo = _analysis[0]
    if memo is not None and memo[0] is screenplay and memo[1] is scene and memo[2] == name and memo[3] is catalog:
        return cast("tuple[dict[str, str], ...] | str", _analysis[1])
    result: tuple[dict[str, str], ...] | str
    try:
        task = commands.task("analyze_scene", context)
        values = render.scene_values(screenplay, scene, texts.stem_title(name, screenplay.title))
        result = tuple(task.render(values))
    except (commands.CommandError, TaskError) as exc:
        result = str(exc)[:120]
    _analysis[:] = [(screenplay, scene, name, catalog), result]
    return result


#: Seconds after a parse falls due that the redraw asked for by :func:`redraw_after_parse_pause` comes (Blender's
#: timers fire up to a few milliseconds late).
REDRAW_MARGIN = 0.01


def redraw_after_parse_pause(delay: float = runtime.PARSE_PAUSE) -> None:
    """A panel shows an older parse of a script than its text (the writer is typing): redraw the sidebars
    ``delay`` seconds from now (plus :data:`REDRAW_MARGIN`), when the runtime will parse it again, unless such a
    redraw is already waiting (it comes sooner; its redraw asks again if still too early). A window only:
    :attr:`..runtime.Runtime.on_parse_pending`."""
    if not bpy.app.background and not bpy.app.timers.is_registered(_redraw_after_parse):
        bpy.app.timers.register(_redraw_after_parse, first_interval=max(0.0, delay) + REDRAW_MARGIN)


def _redraw_sidebars() -> None:
    """One-shot timer: redraw Text Editor sidebars once an estimate may be ready."""
    pump.redraw(every_sidebar=True)


def _redraw_after_parse() -> None:
    """One-shot timer: redraw Text Editor sidebars once a script is due to be parsed again."""
    pump.redraw(every_sidebar=True)


class SCREENWRITER_PT_chat(SidebarPanel, Panel):
    """A conversation about the active script: type, send, and see what the context holds."""

    bl_label = "Script Chat"
    bl_parent_id = "SCREENWRITER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        layout = layout_of(self)
        wm = context.window_manager
        if wm is not None:
            layout.prop(wm, "screenwriter_chat_message", text="")
        row = layout.row(align=True)
        row.operator("screenwriter.chat_send", icon="PLAY")
        row.operator("screenwriter.chat_summarise", text="", icon="SORTSIZE")
        row.operator("screenwriter.chat_clear", text="", icon="TRASH")
        layout.prop(settings.scene_settings(context), "chat_include_scene")
        text = commands.source_text(context, "")
        if text is None:
            return
        source = text
        if text.get(texts.CHAT_KEY):
            source = bpy.data.texts.get(texts.load_conversation(text).source) or text
        name = texts.conversation_name(source.name)
        stored = bpy.data.texts.get(name)
        if stored is None:  # no conversation yet: nothing to load
            return
        conversation = texts.load_conversation(stored)
        if conversation.turns:
            col = layout.column(align=True)
            col.scale_y = 0.8
            col.label(text=f"{len(conversation.turns) // 2} exchanges in '{name}'")
            for line in wrap(conversation.context, 40):
                col.label(text=line)


class SCREENWRITER_PT_usage(SidebarPanel, Panel):
    """Tokens and cost so far, from the usage ledger."""

    bl_label = "Usage"
    bl_parent_id = "SCREENWRITER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        layout = layout_of(self)
        summary = _usage_summary()
        if summary is None:
            layout.label(text="No usage recorded yet")
        else:
            col = layout.column(align=True)
            col.scale_y = 0.8
            for label, totals in (("Today", summary.today), ("This week", summary.week), ("This month", summary.month)):
                col.label(text=f"{label}: {totals.describe()}")
            if summary.by_model:
                col.separator()
                col.label(text="This month by model:")
                for model, totals in summary.by_model[:6]:
                    col.label(text=f"  {model}: {totals.describe()}")
            if summary.by_script:
                col.label(text="This month by script:")
                for script, totals in summary.by_script[:6]:
                    col.label(text=f"  {script or '(none)'}: {totals.describe()}")
        figures = endpoints.gateway_figures()
        if isinstance(figures, GatewayFigures):  # what the studio gateway said with the last answer
            col = layout.column(align=True)
            col.scale_y = 0.8
            for line in figures.describe():
                col.label(text=line, icon="WORLD" if line.startswith("Key") else "BLANK1")
        layout.operator("screenwriter.export_usage", icon="EXPORT")


_usage_cache: list[Any] = [0.0, None, None]


def _ledger_stamp(path: Path) -> tuple[int, ...] | None:
    """What changes when the ledger is written: its file's and its WAL's size and modification time (two ``stat``
    calls); None when there is no ledger."""
    try:
        main = path.stat()
    except OSError:
        return None
    try:
        wal = Path(str(path) + "-wal").stat()
        extra: tuple[int, ...] = (wal.st_size, wal.st_mtime_ns)
    except OSError:
        extra = ()
    return (main.st_size, main.st_mtime_ns, *extra)


def _usage_summary() -> Summary | None:
    """The ledger's summary, read again only when the ledger changed (a request was recorded, here or by another
    Blender), checked at most every 2 s: a summary takes SQLite ~15 ms, too much for every redraw."""
    now = time.monotonic()
    if now - _usage_cache[0] > 2.0:
        path = settings.data_dir() / settings.LEDGER_FILE
        stamp = _ledger_stamp(path)
        summary = _usage_cache[1]
        if stamp is None:
            summary = None
        elif stamp != _usage_cache[2]:
            try:
                summary = UsageLedger(path).summary()
            except LedgerError:
                summary = None
        _usage_cache[:] = [now, summary, stamp]
    return cast("Summary | None", _usage_cache[1])


def stop_timers() -> None:
    """Unregister the panels' one-shot redraw timers (the add-on is being disabled: a timer left pending would call
    into a module that is gone, and Blender 4.2 as a module crashed at exit with one still registered)."""
    for function in (_redraw_sidebars, _redraw_after_parse):
        if bpy.app.timers.is_registered(function):
            bpy.app.timers.unregister(function)


classes = (SCREENWRITER_PT_main, SCREENWRITER_PT_scenes, SCREENWRITER_PT_chat, SCREENWRITER_PT_usage)

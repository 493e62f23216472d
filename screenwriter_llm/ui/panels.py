"""The sidebar panels (Text Editor > Sidebar > Screenwriter): model settings and the commands, Scenes, Script
Chat, Usage.

Nothing slow on a draw path: a panel reads what the runtime state already holds (statuses, estimates counted
off the main thread, the parsed screenplay cached by content) and never waits for anything.
"""

from __future__ import annotations

import textwrap
import time
from typing import TYPE_CHECKING, Any, cast

import bpy
from bpy.types import Context, Menu, Panel, UILayout

from .. import commands, pump, runtime, settings, texts
from ..core.accounting.accountant import DEFAULT_CONTEXT_WINDOW
from ..core.accounting.cost import estimate_key, format_usd
from ..core.accounting.usage import LedgerError, Summary, UsageLedger
from ..core.screenplay.fountain import Scene, Screenplay
from ..core.tasks import render
from ..core.tasks.task import TaskError

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import IconItems as Icon
    from bpy.stub_internal.rna_enums import RegionTypeItems, SpaceTypeItems
else:
    Icon = RegionTypeItems = SpaceTypeItems = str

#: Scenes listed before the list is cut short in the sidebar (a feature script has ~100-200).
MAX_LISTED_SCENES = 400


class SidebarPanel:
    """Mixin: a panel of the Screenwriter tab of the Text Editor's sidebar."""

    bl_space_type: SpaceTypeItems = "TEXT_EDITOR"
    bl_region_type: RegionTypeItems = "UI"
    bl_category = "Screenwriter"


def layout_of(owner: Panel | Menu) -> UILayout:
    """``owner.layout``, which Blender always sets while drawing (the stubs allow None)."""
    return cast(UILayout, owner.layout)


def chars_per_line(context: Context) -> int:
    """About how many characters fit on a sidebar label beside an icon (Blender's UI font at 1x scale is ~8 px
    per character; the icon and margins take ~40 px)."""
    region = context.region
    scale = context.preferences.system.ui_scale if context.preferences else 1.0
    return max(20, int((region.width - 40 * scale) / (8 * scale))) if region else 40


def wrap(text: str, width: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` characters (``textwrap``); at least one line."""
    return textwrap.wrap(text, width) or [""]


class SCREENWRITER_PT_main(SidebarPanel, Panel):
    """Model settings, Analyze Scene / Cancel, and the live status line."""

    bl_label = "Screenwriter"

    def draw(self, context: Context) -> None:
        layout = layout_of(self)
        config = settings.scene_settings(context)
        col = layout.column(align=True)
        col.prop(config, "model", text="")
        col.prop(config, "temperature")
        col.prop(config, "max_tokens")
        col.prop(config, "stream")

        state = runtime.get()
        text = commands.source_text(context, "")
        screenplay = state.screenplay(text) if text is not None else None
        current = None
        if text is not None and screenplay is not None:
            current = screenplay.scene_at_line(text.current_line_index)
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
        if screenplay is not None and current is not None:
            _draw_estimate(layout, context, screenplay, current, text.name)
        run = state.run_for(text.name)
        status = state.status(text.name)
        if run is not None and hasattr(layout, "progress"):  # Blender 4.0+
            layout.progress(factor=run.progress, type="BAR", text=run.status_line())
        box = layout.box()
        line, icon = (status.text, status.icon) if status is not None else ("Ready", "CHECKMARK")
        for i, part in enumerate(wrap(line, chars_per_line(context))):
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
        screenplay = runtime.get().screenplay(text)
        layout = layout_of(self)
        if not screenplay.scenes:
            layout.label(text="No scene headings (INT. / EXT.) found", icon="INFO")
            return
        current = screenplay.scene_at_line(text.current_line_index)
        col = layout.column(align=True)
        for scene in screenplay.scenes[:MAX_LISTED_SCENES]:
            op = col.operator(
                "screenwriter.goto_scene",
                text=f"{scene.number}. {scene.heading}",
                depress=scene is current,
                emboss=scene is current,
            )
            op.text = text.name  # type: ignore[union-attr]
            op.line = scene.start_line  # type: ignore[union-attr]
        if len(screenplay.scenes) > MAX_LISTED_SCENES:
            col.label(text=f"… {len(screenplay.scenes) - MAX_LISTED_SCENES} more")


def _draw_estimate(layout: UILayout, context: Context, screenplay: Screenplay, scene: Scene, name: str) -> None:
    """The next request's prompt tokens, the model's context window and its worst-case cost, counted off the
    main thread; "Estimating…" until ready (a timer redraws the sidebar)."""
    config = settings.scene_settings(context)
    prefs = settings.preferences(context)
    try:
        task = commands.task("analyze_scene", context)
        messages = task.render(render.scene_values(screenplay, scene, texts.stem_title(name, screenplay.title)))
    except (commands.CommandError, TaskError) as exc:
        layout.label(text=str(exc)[:120], icon="ERROR")
        return
    window = prefs.default_context_window if prefs else DEFAULT_CONTEXT_WINDOW
    rates = settings.custom_rates(prefs)
    estimator = runtime.get().estimator
    estimate = estimator.estimate(config.model.strip(), messages, config.max_tokens, window, rates)
    col = layout.column(align=True)
    col.scale_y = 0.8
    if estimate is None:
        key = estimate_key(config.model.strip(), messages, config.max_tokens, window, rates)
        error = estimator.error(key)
        col.label(text=f"Estimate unavailable: {error}" if error else "Estimating the next request…", icon="INFO")
        if not error and not bpy.app.timers.is_registered(_redraw_sidebars):
            bpy.app.timers.register(_redraw_sidebars, first_interval=0.5)
        return
    window_note = "" if estimate.window_known else " (default)"
    worst = estimate.cost.usd
    cost = "cost unknown" if worst is None else f"up to {format_usd(worst)} with {config.max_tokens:,} out"
    lines = [
        f"Next: ≈{estimate.prompt_tokens:,} prompt tokens of {estimate.context_window:,}{window_note}",
        f"Estimated {cost}",
    ]
    for line in lines:
        for part in wrap(line, chars_per_line(context)):
            col.label(text=part)


def redraw_after_parse_pause() -> None:
    """A script changed while being typed: redraw the sidebars once it has been parsed again (a window only;
    the one-shot timer fires after :data:`runtime.PARSE_PAUSE`)."""
    if not bpy.app.background and not bpy.app.timers.is_registered(_redraw_sidebars):
        bpy.app.timers.register(_redraw_sidebars, first_interval=runtime.PARSE_PAUSE + 0.05)


def _redraw_sidebars() -> None:
    """One-shot timer: redraw Text Editor sidebars once an estimate or a new parse may be ready."""
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
        conversation = texts.load_conversation(bpy.data.texts.get(name))
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
        layout.operator("screenwriter.export_usage", icon="EXPORT")


_usage_cache: list[Any] = [0.0, None]


def _usage_summary() -> Summary | None:
    """The ledger's summary, read at most every 2 s (panels redraw often; SQLite is quick but not free)."""
    now = time.monotonic()
    if now - _usage_cache[0] > 2.0:
        path = settings.data_dir() / settings.LEDGER_FILE
        summary = None
        if path.exists():
            try:
                summary = UsageLedger(path).summary()
            except LedgerError:
                summary = None
        _usage_cache[:] = [now, summary]
    return cast("Summary | None", _usage_cache[1])


classes = (SCREENWRITER_PT_main, SCREENWRITER_PT_scenes, SCREENWRITER_PT_chat, SCREENWRITER_PT_usage)

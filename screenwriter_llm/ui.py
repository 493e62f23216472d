"""Sidebar panels (Text Editor > Sidebar > Screenwriter) and menu entries (so F3 search finds them)."""

from __future__ import annotations

import time
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, cast

import bpy
from bpy.types import Context, Menu, Panel, UILayout

from . import pump
from .core.accounting.cost import estimate_key, format_usd
from .core.accounting.usage import LedgerError, Summary, UsageLedger
from .core.screenplay.fountain import Scene, Screenplay
from .core.tasks import prompts
from .operators import (
    CHAT_KEY,
    LEDGER_FILE,
    SCREENWRITER_OT_analyze_all_scenes,
    SCREENWRITER_OT_analyze_scene,
    SCREENWRITER_OT_cancel,
    SCREENWRITER_OT_regenerate,
    conversation_name,
    load_conversation,
    screenplay_of,
    source_text,
)
from .props import data_dir, preferences, settings

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import IconItems as Icon
else:
    Icon = str

#: Scenes listed before the list is cut short in the sidebar (a feature script has ~100-200).
MAX_LISTED_SCENES = 400


class SCREENWRITER_PT_main(Panel):
    """Model settings, Analyze Scene / Cancel, and the live status line."""

    bl_space_type = "TEXT_EDITOR"
    bl_region_type = "UI"
    bl_category = "Screenwriter"
    bl_label = "Screenwriter"

    def draw(self, context: Context) -> None:
        layout = _layout(self)
        config = settings(context)
        col = layout.column(align=True)
        col.prop(config, "model", text="")
        col.prop(config, "temperature")
        col.prop(config, "max_tokens")
        col.prop(config, "stream")

        text = source_text(context, "")
        screenplay = screenplay_of(text) if text is not None else None
        current = None
        if text is not None and screenplay is not None:
            current = screenplay.scene_at_line(text.current_line_index)
        row = layout.row(align=True)
        row.scale_y = 1.4
        label = f"Analyze Scene {current.number}" if current else "Analyze Scene"
        row.operator(SCREENWRITER_OT_analyze_scene.bl_idname, text=label, icon="PLAY")
        row.operator(SCREENWRITER_OT_cancel.bl_idname, text="", icon="CANCEL")
        row = layout.row(align=True)
        row.operator(SCREENWRITER_OT_analyze_all_scenes.bl_idname, icon="SEQ_STRIP_DUPLICATE")
        row.operator(SCREENWRITER_OT_regenerate.bl_idname, text="", icon="FILE_REFRESH")

        if text is None:
            layout.label(text="Open a screenplay in this editor", icon="INFO")
            return
        if screenplay is not None and current is not None:
            _draw_estimate(layout, context, screenplay, current, text.name)
        running = [j for j in pump.REGISTRY.jobs() if j.label == text.name]
        run = next((r for r in pump.RUNS if r.label == text.name), None)
        if run is not None:
            status = run.status_line()
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=run.progress, type="BAR", text=status)
        else:
            status = running[0].status_line() if running else pump.STATUS.get(text.name, "Ready")
        box = layout.box()
        icon: Icon = "ERROR" if status.startswith("Error") else ("SORTTIME" if running else "CHECKMARK")
        for i, line in enumerate(_wrap(status, _chars_per_line(context))):
            box.label(text=line, icon=icon if i == 0 else "BLANK1")


class SCREENWRITER_PT_scenes(Panel):
    """The active script's scenes; click a heading to move the cursor there."""

    bl_space_type = "TEXT_EDITOR"
    bl_region_type = "UI"
    bl_category = "Screenwriter"
    bl_label = "Scenes"
    bl_parent_id = "SCREENWRITER_PT_main"

    @classmethod
    def poll(cls, context: Context) -> bool:
        return source_text(context, "") is not None

    def draw(self, context: Context) -> None:
        text = source_text(context, "")
        if text is None:
            return
        screenplay = screenplay_of(text)
        layout = _layout(self)
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
    """The next request's prompt tokens, the model's context window and its worst-case cost, counted
    off the main thread; "Estimating…" until ready (a timer redraws the sidebar)."""
    config = settings(context)
    prefs = preferences(context)
    title = screenplay.title or PurePath(name).stem
    messages = prompts.scene_analysis_messages(screenplay, scene, title)
    window = prefs.default_context_window if prefs else 8192
    rates = prefs.custom_rates() if prefs else None
    estimate = pump.ESTIMATOR.estimate(config.model.strip(), messages, config.max_tokens, window, rates)
    col = layout.column(align=True)
    col.scale_y = 0.8
    if estimate is None:
        key = estimate_key(config.model.strip(), messages, config.max_tokens, window, rates)
        error = pump.ESTIMATOR.error(key)
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
        for part in _wrap(line, _chars_per_line(context)):
            col.label(text=part)


def _redraw_sidebars() -> None:
    """One-shot timer: redraw Text Editor sidebars once an estimate may be ready."""
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "TEXT_EDITOR":
                area.tag_redraw()


class SCREENWRITER_PT_chat(Panel):
    """A conversation about the active script: type, send, and see what the context holds."""

    bl_space_type = "TEXT_EDITOR"
    bl_region_type = "UI"
    bl_category = "Screenwriter"
    bl_label = "Script Chat"
    bl_parent_id = "SCREENWRITER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        layout = _layout(self)
        wm = context.window_manager
        if wm is not None:
            layout.prop(wm, "screenwriter_chat_message", text="")
        row = layout.row(align=True)
        row.operator("screenwriter.chat_send", icon="PLAY")
        row.operator("screenwriter.chat_summarise", text="", icon="SORTSIZE")
        row.operator("screenwriter.chat_clear", text="", icon="TRASH")
        layout.prop(settings(context), "chat_include_scene")
        text = source_text(context, "")
        if text is None:
            return
        source = text
        if text.get(CHAT_KEY):
            source = bpy.data.texts.get(load_conversation(text).source) or text
        conversation = load_conversation(bpy.data.texts.get(conversation_name(source.name)))
        if conversation.turns:
            col = layout.column(align=True)
            col.scale_y = 0.8
            col.label(text=f"{len(conversation.turns) // 2} exchanges in '{conversation_name(source.name)}'")
            for line in _wrap(conversation.context, 40):
                col.label(text=line)


class SCREENWRITER_PT_usage(Panel):
    """Tokens and cost so far, from the usage ledger."""

    bl_space_type = "TEXT_EDITOR"
    bl_region_type = "UI"
    bl_category = "Screenwriter"
    bl_label = "Usage"
    bl_parent_id = "SCREENWRITER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        layout = _layout(self)
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
        path = data_dir() / LEDGER_FILE
        summary = None
        if path.exists():
            try:
                summary = UsageLedger(path).summary()
            except LedgerError:
                summary = None
        _usage_cache[:] = [now, summary]
    return cast("Summary | None", _usage_cache[1])


def _layout(owner: Panel | Menu) -> UILayout:
    """``owner.layout``, which Blender always sets while drawing (the stubs allow None)."""
    return cast(UILayout, owner.layout)


def _chars_per_line(context: Context) -> int:
    """About how many characters fit on a sidebar label beside an icon (Blender's UI font at 1x scale
    is ~8 px per character; the icon and margins take ~40 px)."""
    region = context.region
    scale = context.preferences.system.ui_scale if context.preferences else 1.0
    return max(20, int((region.width - 40 * scale) / (8 * scale))) if region else 40


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines or [""]


class SCREENWRITER_MT_text(Menu):
    """Screenwriter LLM commands, in the Text Editor's Text menu and context menu."""

    bl_label = "Screenwriter"
    bl_idname = "SCREENWRITER_MT_text"

    def draw(self, context: Context | None) -> None:
        layout = _layout(self)
        layout.operator(SCREENWRITER_OT_analyze_scene.bl_idname, icon="PLAY")
        layout.operator(SCREENWRITER_OT_analyze_all_scenes.bl_idname, icon="SEQ_STRIP_DUPLICATE")
        layout.operator(SCREENWRITER_OT_regenerate.bl_idname, icon="FILE_REFRESH")
        layout.operator(SCREENWRITER_OT_cancel.bl_idname, icon="CANCEL")


def _menu_entry(self: Menu, context: Context) -> None:
    layout = _layout(self)
    layout.separator()
    layout.menu(SCREENWRITER_MT_text.bl_idname)


classes = (
    SCREENWRITER_PT_main,
    SCREENWRITER_PT_scenes,
    SCREENWRITER_PT_chat,
    SCREENWRITER_PT_usage,
    SCREENWRITER_MT_text,
)
_register, _unregister = bpy.utils.register_classes_factory(classes)
_MENUS = ("TEXT_MT_text", "TEXT_MT_context_menu")


def register() -> None:
    """Register panels and the menu; add the menu to the Text Editor's menus."""
    _register()
    for name in _MENUS:
        getattr(bpy.types, name).append(_menu_entry)


def unregister() -> None:
    """Remove the menu entries; unregister panels and the menu."""
    for name in _MENUS:
        getattr(bpy.types, name).remove(_menu_entry)
    _unregister()

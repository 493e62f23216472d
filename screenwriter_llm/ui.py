"""Sidebar panels (Text Editor > Sidebar > Screenwriter) and menu entries (so F3 search finds them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import bpy
from bpy.types import Context, Menu, Panel, UILayout

from . import pump
from .operators import (
    SCREENWRITER_OT_analyze_all_scenes,
    SCREENWRITER_OT_analyze_scene,
    SCREENWRITER_OT_cancel,
    SCREENWRITER_OT_regenerate,
    screenplay_of,
    source_text,
)
from .props import settings

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
        for i, line in enumerate(_wrap(status, max(20, int(context.region.width / 7.5)) if context.region else 40)):
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


def _layout(owner: Panel | Menu) -> UILayout:
    """``owner.layout``, which Blender always sets while drawing (the stubs allow None)."""
    return cast(UILayout, owner.layout)


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


classes = (SCREENWRITER_PT_main, SCREENWRITER_PT_scenes, SCREENWRITER_MT_text)
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

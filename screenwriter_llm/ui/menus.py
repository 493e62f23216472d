"""Menus: *Text > Screenwriter* (with its Tasks), the Tasks menu of the sidebar, and the Text Editor's context
menu (Punch Up and Rewrite Selection on a selection), so F3 search finds every command and every task."""

from __future__ import annotations

from typing import TYPE_CHECKING

import bpy
from bpy.types import Context, Menu

from .. import toolset
from .panels import layout_of

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import IconItems as Icon
else:
    Icon = str

#: Icons of the built-in tasks (a user task gets :data:`DEFAULT_ICON`).
DEFAULT_ICON: Icon = "FILE_TEXT"
TASK_ICONS: dict[str, Icon] = {
    "analyze_scene": "PLAY",
    "punch_up": "OUTLINER_OB_LIGHT",
    "rewrite": "GREASEPENCIL",
    "continue_scene": "TRIA_RIGHT_BAR",
    "logline_synopsis": "TEXT",
    "character_arc": "USER",
    "beat_sheet": "SEQUENCE",
    "coverage_report": "DOCUMENTS",
    "format_check": "CHECKMARK",
}


class SCREENWRITER_MT_tasks(Menu):
    """Every writing task, built-in and your own (one entry per task file)."""

    bl_label = "Tasks"
    bl_idname = "SCREENWRITER_MT_tasks"

    def draw(self, context: Context | None) -> None:
        layout = layout_of(self)
        for task in toolset.menu_tasks(context):
            op = layout.operator("screenwriter.run_task", text=task.label, icon=TASK_ICONS.get(task.id, DEFAULT_ICON))
            op.task = task.id  # type: ignore[union-attr]
        layout.separator()
        layout.operator("screenwriter.apply_proposal", icon="CHECKMARK")
        layout.operator("screenwriter.insert_notes", icon="TEXT")
        layout.operator("screenwriter.export_answer", text="Export Answer…", icon="EXPORT")


class SCREENWRITER_MT_text(Menu):
    """Screenwriter LLM commands, in the Text Editor's Text menu and context menu."""

    bl_label = "Screenwriter"
    bl_idname = "SCREENWRITER_MT_text"

    def draw(self, context: Context | None) -> None:
        layout = layout_of(self)
        layout.operator("screenwriter.analyze_scene", icon="PLAY")
        layout.operator("screenwriter.analyze_all_scenes", icon="SEQ_STRIP_DUPLICATE")
        layout.operator("screenwriter.regenerate", icon="FILE_REFRESH")
        layout.operator("screenwriter.chat_send", text="Chat: Send Message", icon="OUTLINER_OB_SPEAKER")
        layout.operator("screenwriter.test_connection", icon="URL")
        layout.operator("screenwriter.cancel", icon="CANCEL")
        layout.separator()
        layout.menu(SCREENWRITER_MT_tasks.bl_idname, icon="PRESET")


def menu_entry(self: Menu, context: Context) -> None:
    """The entry appended to the Text Editor's menus."""
    layout = layout_of(self)
    layout.separator()
    layout.menu(SCREENWRITER_MT_text.bl_idname)


def selection_entry(self: Menu, context: Context) -> None:
    """Punch Up and Rewrite Selection in the Text Editor's context menu, when lines are selected."""
    space = getattr(context, "space_data", None)
    text = space.text if space is not None and space.type == "TEXT_EDITOR" else None
    if text is None or text.get("screenwriter_output") or toolset.selection_lines(text) is None:
        return
    layout = layout_of(self)
    layout.separator()
    op = layout.operator("screenwriter.run_task", text="Punch Up", icon=TASK_ICONS["punch_up"])
    op.task = "punch_up"  # type: ignore[union-attr]
    op = layout.operator("screenwriter.run_task", text="Rewrite Selection", icon=TASK_ICONS["rewrite"])
    op.task = "rewrite"  # type: ignore[union-attr]


#: The Text Editor menus the entry goes into.
MENUS = ("TEXT_MT_text", "TEXT_MT_context_menu")
#: The menu the selection's commands go into.
SELECTION_MENU = "TEXT_MT_context_menu"
classes = (SCREENWRITER_MT_tasks, SCREENWRITER_MT_text)


def register() -> None:
    """Add the selection's commands to the context menu (the Screenwriter entry is added by ``ui.register``)."""
    getattr(bpy.types, SELECTION_MENU).prepend(selection_entry)


def unregister() -> None:
    """Remove the selection's commands."""
    getattr(bpy.types, SELECTION_MENU).remove(selection_entry)

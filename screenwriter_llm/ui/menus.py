"""Menus: *Text > Screenwriter* and the Text Editor's context menu, so F3 search finds every command."""

from __future__ import annotations

from bpy.types import Context, Menu

from .panels import layout_of


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


def menu_entry(self: Menu, context: Context) -> None:
    """The entry appended to the Text Editor's menus."""
    layout = layout_of(self)
    layout.separator()
    layout.menu(SCREENWRITER_MT_text.bl_idname)


#: The Text Editor menus the entry goes into.
MENUS = ("TEXT_MT_text", "TEXT_MT_context_menu")
classes = (SCREENWRITER_MT_text,)

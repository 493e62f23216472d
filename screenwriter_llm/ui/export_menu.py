"""*File > Export > Screenwriter Answer*: export an answer as Markdown, HTML or PDF."""

from __future__ import annotations

import bpy
from bpy.types import Context, Menu

#: The menu the entry goes into.
MENU = "TOPBAR_MT_file_export"


def menu_entry(self: Menu, context: Context) -> None:
    """The entry in *File > Export*."""
    if self.layout is not None:
        self.layout.operator("screenwriter.export_answer", text="Screenwriter Answer (.md, .html, .pdf)")


def register() -> None:
    """Add the entry to *File > Export*."""
    getattr(bpy.types, MENU).append(menu_entry)


def unregister() -> None:
    """Remove the entry."""
    getattr(bpy.types, MENU).remove(menu_entry)


classes: tuple[type, ...] = ()

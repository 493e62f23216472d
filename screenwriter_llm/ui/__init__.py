"""The user interface: sidebar panels (:mod:`.panels`, a ``SidebarPanel`` mixin) and menus (:mod:`.menus`).
``classes`` joins them; :func:`register` also hangs the menu into the Text Editor's menus."""

from __future__ import annotations

import bpy

from .. import runtime
from . import menus, panels

classes = (*panels.classes, *menus.classes)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    """Register panels and menus; add the menu to the Text Editor's menus."""
    _register()
    for name in menus.MENUS:
        getattr(bpy.types, name).append(menus.menu_entry)
    runtime.get().on_parse_pending = panels.redraw_after_parse_pause


def unregister() -> None:
    """Remove the menu entries; unregister panels and menus."""
    for name in menus.MENUS:
        getattr(bpy.types, name).remove(menus.menu_entry)
    _unregister()

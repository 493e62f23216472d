"""The user interface: sidebar panels (:mod:`.panels`, a ``SidebarPanel`` mixin) and menus (:mod:`.menus`).
``classes`` joins them; :func:`register` also hangs the menu into the Text Editor's menus."""

from __future__ import annotations

import bpy

from .. import runtime
from ..operators import base
from . import answer_view, export_menu, menus, navigator, panels, tasks_panel

classes = (*panels.classes, *menus.classes, *navigator.classes, *tasks_panel.classes, *export_menu.classes)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register() -> None:
    """Register panels and menus; add the menu to the Text Editor's menus."""
    _register()
    for name in menus.MENUS:
        getattr(bpy.types, name).append(menus.menu_entry)
    runtime.get().on_parse_pending = panels.redraw_after_parse_pause
    menus.register()
    export_menu.register()
    if answer_view.show not in base.INVOKE_HOOKS:
        base.INVOKE_HOOKS.append(answer_view.show)


def unregister() -> None:
    """Remove the menu entries; unregister panels and menus."""
    for name in menus.MENUS:
        getattr(bpy.types, name).remove(menus.menu_entry)
    if answer_view.show in base.INVOKE_HOOKS:
        base.INVOKE_HOOKS.remove(answer_view.show)
    export_menu.unregister()
    menus.unregister()
    panels.stop_timers()
    answer_view.stop_timers()
    _unregister()

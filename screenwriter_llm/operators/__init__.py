"""The operators, by role: ``analyze`` (Analyze Scene, Analyze All Scenes, Regenerate), ``chat`` (Send,
Summarise and Compress, Clear Conversation), ``connection`` (Test Connection, Store in System Keyring),
``control`` (Cancel, Go to Scene), ``export`` (Export Usage as CSV). Each is thin: it calls one verb of
:mod:`..commands` and reports. ``classes`` joins them in registration order."""

from __future__ import annotations

import atexit

import bpy

from .. import pump
from . import analyze, chat, connection, control, export, previs, proposals, tasks

classes = (*analyze.classes, *export.classes, *chat.classes, *connection.classes, *control.classes, *previs.classes,
           *tasks.classes, *proposals.classes)
_register, _unregister = bpy.utils.register_classes_factory(classes)
#: Classes left registered by an unregister() that ran inside a running operator (see :func:`unregister`).
_left: list[bool] = []


def register() -> None:
    """Register the operators (after freeing any left by an unregister that ran inside an operator)."""
    if _left:
        _left.clear()
        atexit.unregister(_free_left)
        _unregister()
    _register()


def unregister() -> None:
    """Unregister the operators, unless one of them is running right now (the add-on was disabled from code that
    runs inside a synchronous request, such as a listener): freeing the class of a running operator crashes
    Blender, so they stay registered (refusing to run: the add-on's settings are gone) until the next register,
    or, in a window, until a timer frees them a moment later."""
    if not pump.driving():
        _unregister()
        return
    _left.append(True)
    # Freed a moment later in a window, else when Python exits (before it finalises: Blender 4.2 crashes at exit
    # with operator classes of a disabled add-on still registered), or by the next register().
    if not bpy.app.background:
        bpy.app.timers.register(_free_left, first_interval=0.1)
    atexit.register(_free_left)


def _free_left() -> None:
    if _left and not pump.driving():
        _left.clear()
        atexit.unregister(_free_left)
        _unregister()

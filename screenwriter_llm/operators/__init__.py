"""The operators, by role: ``analyze`` (Analyze Scene, Analyze All Scenes, Regenerate), ``chat`` (Send,
Summarise and Compress, Clear Conversation), ``connection`` (Test Connection, Store in System Keyring),
``control`` (Cancel, Go to Scene), ``export`` (Export Usage as CSV). Each is thin: it calls one verb of
:mod:`..commands` and reports. ``classes`` joins them in registration order."""

from __future__ import annotations

import bpy

from . import analyze, chat, connection, control, export

classes = (*analyze.classes, *export.classes, *chat.classes, *connection.classes, *control.classes)
register, unregister = bpy.utils.register_classes_factory(classes)

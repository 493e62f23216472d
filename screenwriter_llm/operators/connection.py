"""Test Connection and Store in System Keyring."""

from __future__ import annotations

from concurrent.futures import wait
from typing import Any

import bpy
from bpy.props import StringProperty
from bpy.types import Context, Event, Operator

from .. import commands, credentials, pump, runtime, settings
from ..core.events import Finished
from ..core.jobs import discovery
from ..core.jobs.job import Job
from ..core.jobs.status import Status
from ..core.provider import keys
from .base import Result, StreamingOperator, tip_


class SCREENWRITER_OT_test_connection(StreamingOperator):
    """Send a tiny request to the model in the sidebar (through the same checks as an analysis) and report
    whether it answers. Runs in the background: Blender stays responsive"""

    bl_idname = "screenwriter.test_connection"
    bl_label = "Test Connection"
    bl_options = {"REGISTER"}

    def prepare(self, context: Context) -> commands.Prepared:
        return commands.test_connection(context)

    def report_outcome(self, job: Job) -> set[Result]:
        if isinstance(job.outcome, Finished):
            line = commands.connection_line(job)
            runtime.get().statuses[runtime.CONNECTION_TEST] = Status(line, "done")
            self.report({"INFO"}, line)
            return {"FINISHED"}
        return super().report_outcome(job)


class SCREENWRITER_OT_refresh_models(Operator):
    """List the models the endpoint offers (a studio gateway, an OpenAI-compatible server, a local Ollama), off
    the main thread; the model field then offers them as you type, with context window and price where known"""

    bl_idname = "screenwriter.refresh_models"
    bl_label = "Refresh Models"
    bl_options = {"REGISTER"}

    _future: Any = None
    _timer: Any = None

    def execute(self, context: Context) -> set[Result]:
        try:
            future = commands.refresh_models(context)
        except commands.CommandError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if bpy.app.background or context.window_manager is None or context.window is None:
            wait([future], timeout=discovery.LIST_TIMEOUT + 10)  # a script or `blender -b`: no window to wait in
            return self._finish(future)
        self._future = future
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        self.report({"INFO"}, tip_("Listing models…"))
        return {"RUNNING_MODAL"}

    def modal(self, context: Context, event: Event) -> set[Result]:
        if event.type != "TIMER" or self._future is None or not self._future.done():
            return {"PASS_THROUGH"}
        if context.window_manager is not None and self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
        pump.redraw(every_sidebar=True)
        return self._finish(self._future)

    def _finish(self, future: Any) -> set[Result]:
        try:
            listed = future.result()
        except Exception as exc:  # noqa: BLE001 - DiscoveryError says what went wrong; anything else is shown
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, listed.summary())
        return {"FINISHED"}


class SCREENWRITER_OT_store_key(Operator):
    """Move this key from the add-on preferences into the operating system's keyring (Keychain, Credential
    Locker, Secret Service) and clear the preference field"""

    bl_idname = "screenwriter.store_key"
    bl_label = "Store in System Keyring"
    bl_options = {"REGISTER", "INTERNAL"}

    env_var: StringProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        prefs = settings.preferences(context)
        value = settings.preference_key(prefs, self.env_var)
        if prefs is None or not value:
            self.report({"WARNING"}, tip_("Enter the key in the field first"))
            return {"CANCELLED"}
        try:
            keys.keyring_set(self.env_var, value)
        except RuntimeError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        setattr(prefs, settings.KEY_FIELDS[self.env_var], "")
        credentials.forget()
        self.report({"INFO"}, tip_("{} stored in the system keyring ({})").format(self.env_var, keys.redact_key(value)))
        return {"FINISHED"}


classes = (SCREENWRITER_OT_test_connection, SCREENWRITER_OT_refresh_models, SCREENWRITER_OT_store_key)

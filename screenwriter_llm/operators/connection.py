"""Test Connection and Store in System Keyring."""

from __future__ import annotations

from bpy.props import StringProperty
from bpy.types import Context, Operator

from .. import commands, credentials, settings
from ..core.events import Finished
from ..core.jobs.job import Job
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
            self.report({"INFO"}, tip_("{} answered in {:.1f} s").format(job.model, job.duration))
            return {"FINISHED"}
        return super().report_outcome(job)


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


classes = (SCREENWRITER_OT_test_connection, SCREENWRITER_OT_store_key)

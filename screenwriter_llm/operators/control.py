"""Cancel and Go to Scene."""

from __future__ import annotations

import bpy
from bpy.props import IntProperty, StringProperty
from bpy.types import Context, Operator

from .. import runtime
from .base import Result, tip_


class SCREENWRITER_OT_cancel(Operator):
    """Stop the running request; the text that already arrived stays"""

    bl_idname = "screenwriter.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    output: StringProperty(  # type: ignore[valid-type]
        name="Output",
        description="Output Text of the request to stop (empty: every running request)",
        options={"SKIP_SAVE"},
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not runtime.get().busy:
            cls.poll_message_set("Nothing is running")
            return False
        return True

    def execute(self, context: Context) -> set[Result]:
        state = runtime.get()
        if not self.output:
            for run in state.runs:
                run.cancel("Cancelled")
        jobs = [state.job_for_target(self.output)] if self.output else state.running()
        jobs = [j for j in jobs if j is not None]
        if not jobs and (self.output or not state.runs):
            self.report({"WARNING"}, tip_("Nothing is streaming into '{}'").format(self.output))
            return {"CANCELLED"}
        for job in jobs:
            job.cancel("Cancelled")  # the pump writes the closing note when the job's worker confirms
        self.report({"INFO"}, tip_("Cancelled {} request(s); the text already written stays").format(len(jobs)))
        return {"FINISHED"}


class SCREENWRITER_OT_goto_scene(Operator):
    """Move the Text Editor's cursor to this scene heading"""

    bl_idname = "screenwriter.goto_scene"
    bl_label = "Go to Scene"
    bl_options = {"REGISTER"}

    text: StringProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]
    line: IntProperty(min=0, options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        text = bpy.data.texts.get(self.text)
        if text is None:
            self.report({"ERROR"}, tip_("No Text named '{}'").format(self.text))
            return {"CANCELLED"}
        text.cursor_set(min(self.line, len(text.lines) - 1), character=0)
        space = getattr(context, "space_data", None)
        if space is not None and space.type == "TEXT_EDITOR":
            space.text = text
            space.top = max(0, self.line - 3)
        return {"FINISHED"}


classes = (SCREENWRITER_OT_cancel, SCREENWRITER_OT_goto_scene)

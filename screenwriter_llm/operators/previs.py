"""Previs: Build Story Reel, Plan Shots, Export Shot List, Export Breakdown. Each calls one verb of
:mod:`...previs` and reports."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import Context, Event, Operator

from .. import commands, previs, pump, runtime
from .base import NeedsTextPoll, Result, screenplay_property, tip_


def _seconds_per_page() -> object:
    return FloatProperty(
        name="Seconds per Page",
        description="Screen time of one page of script, in seconds (60: a page a minute)",
        default=60.0,
        min=1.0,
        max=600.0,
    )


class SCREENWRITER_OT_build_story_reel(NeedsTextPoll, Operator):
    """Lay the screenplay out in time: a '<script> - Story Reel' scene with one colour strip, heading and marker per
    scene, each as long as its page eighths. Running it again updates the reel in place"""

    bl_idname = "screenwriter.build_story_reel"
    bl_label = "Build Story Reel"
    bl_options = {"REGISTER", "UNDO"}

    text: screenplay_property()  # type: ignore[valid-type]
    seconds_per_page: _seconds_per_page()  # type: ignore[valid-type]
    reset_lengths: BoolProperty(  # type: ignore[valid-type]
        name="Reset Lengths",
        description="Give strips whose length was changed by hand their computed length again",
        default=False,
        options={"SKIP_SAVE"},
    )

    def execute(self, context: Context) -> set[Result]:
        try:
            report = previs.build_story_reel(context, self.text, self.seconds_per_page, self.reset_lengths)
        except commands.CommandError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_(report.message()))
        return {"FINISHED"}


class SCREENWRITER_OT_plan_shots(NeedsTextPoll, Operator):
    """Ask the model for a shot plan of one scene; make a camera per shot and camera-bound markers in the story
    reel, and write the shot list into a Text"""

    bl_idname = "screenwriter.plan_shots"
    bl_label = "Plan Shots"
    bl_options = {"REGISTER"}

    text: screenplay_property()  # type: ignore[valid-type]
    scene: IntProperty(  # type: ignore[valid-type]
        name="Scene", description="Scene number, counted from 1 (0: the scene under the cursor)", options={"SKIP_SAVE"}
    )

    def execute(self, context: Context) -> set[Result]:
        try:
            prepared = previs.plan_shots(context, self.text, self.scene)
            previs.start(prepared)
        except commands.CommandError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_(prepared.info))
        if not bpy.app.background:
            return {"FINISHED"}  # the timer pump runs it; the sidebar's status line shows the outcome
        final = previs.run_until_done(prepared)
        if final.result is None:
            self.report({"ERROR"}, final.error or "The shot plan did not finish.")
            return {"CANCELLED"}
        self.report({"INFO"}, final.result)
        return {"FINISHED"}

    def invoke(self, context: Context, event: Event) -> set[Result]:
        return self.execute(context)


class SCREENWRITER_OT_export_shot_list(Operator):
    """Write a shot list (a '<script> - Scene N Shot Plan' Text) as CSV"""

    bl_idname = "screenwriter.export_shot_list"
    bl_label = "Export Shot List as CSV"
    bl_options = {"REGISTER"}

    text: StringProperty(  # type: ignore[valid-type]
        name="Shot List", description="The shot list Text (empty: the Text in the active editor)", options={"SKIP_SAVE"}
    )
    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    filter_glob: StringProperty(default="*.csv", options={"HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not any(t.get(previs.SHOT_PLAN_KEY) for t in bpy.data.texts):
            cls.poll_message_set("No shot list yet: run Plan Shots first")
            return False
        return True

    def invoke(self, context: Context, event: Event) -> set[Result]:
        if not self.filepath:
            self.filepath = "shot_list.csv"
        context.window_manager.fileselect_add(self)  # type: ignore[union-attr]
        return {"RUNNING_MODAL"}

    def execute(self, context: Context) -> set[Result]:
        try:
            rows = previs.export_shot_list(context, self.filepath, self.text)
        except commands.CommandError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_("{} shots written to {}").format(rows, self.filepath))
        return {"FINISHED"}


class SCREENWRITER_OT_export_breakdown(NeedsTextPoll, Operator):
    """Write the script breakdown as CSV: one row per scene (heading, INT/EXT, location, time of day, eighths,
    speaking cast) and, with Use Model, what each scene needs, checked against the script and this file"""

    bl_idname = "screenwriter.export_breakdown"
    bl_label = "Export Breakdown as CSV"
    bl_options = {"REGISTER"}

    text: screenplay_property()  # type: ignore[valid-type]
    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    filter_glob: StringProperty(default="*.csv", options={"HIDDEN"})  # type: ignore[valid-type]
    use_model: BoolProperty(  # type: ignore[valid-type]
        name="Use Model",
        description="Also ask the model for each scene's props, wardrobe, vehicles, effects... (one request a scene)",
        default=False,
    )
    concurrency: IntProperty(  # type: ignore[valid-type]
        name="Concurrency", description="Scenes asked at the same time", default=4, min=1, max=16
    )

    def invoke(self, context: Context, event: Event) -> set[Result]:
        if not self.filepath:
            self.filepath = "breakdown.csv"
        context.window_manager.fileselect_add(self)  # type: ignore[union-attr]
        return {"RUNNING_MODAL"}

    def execute(self, context: Context) -> set[Result]:
        if not self.filepath:
            self.report({"ERROR"}, "Choose a file to write the breakdown to.")
            return {"CANCELLED"}
        try:
            rows, run, note = previs.export_breakdown(
                context, self.filepath, self.text, self.use_model, self.concurrency
            )
        except commands.CommandError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if note:
            self.report({"WARNING"}, note)
        if run is None:
            self.report({"INFO"}, tip_("{} scenes written to {}").format(rows, self.filepath))
            return {"FINISHED"}
        pump.start_run(run)
        if not bpy.app.background:
            self.report({"INFO"}, tip_("Breaking down {} scenes; the CSV is written when all are in").format(rows))
            return {"FINISHED"}
        pump.run_batch_until_done(run)
        status = runtime.get().statuses.get(run.label)
        if status is not None and status.level == "error":
            self.report({"ERROR"}, status.text.removeprefix("Error: "))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_("{} scenes written to {} ({})").format(rows, self.filepath, run.status_line()))
        return {"FINISHED"}


classes = (
    SCREENWRITER_OT_build_story_reel,
    SCREENWRITER_OT_plan_shots,
    SCREENWRITER_OT_export_shot_list,
    SCREENWRITER_OT_export_breakdown,
)

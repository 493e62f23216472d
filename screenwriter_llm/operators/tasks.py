"""Run Task: one operator runs any task of the writer's toolset (``toolset.run_task``)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty
from bpy.types import Context, Event

from .. import commands, runtime, texts, toolset
from ..core.events import Failed
from ..core.jobs.job import Job
from .base import NeedsTextPoll, Result, StreamingOperator, announce, screenplay_property, tip_


class SCREENWRITER_OT_run_task(NeedsTextPoll, StreamingOperator):
    """Run a writing task (Punch Up, Rewrite Selection, Continue Scene, Coverage Report...) on the screenplay; its
    answer streams into its own Text, a proposal never changes the script until you apply it"""

    bl_idname = "screenwriter.run_task"
    bl_label = "Run Task"
    bl_options = {"REGISTER"}

    task: StringProperty(  # type: ignore[valid-type]
        name="Task", description="The task's id (its file name without .md)", options={"SKIP_SAVE"}
    )
    text: screenplay_property()  # type: ignore[valid-type]
    scene: IntProperty(  # type: ignore[valid-type]
        name="Scene", description="Scene number, counted from 1 (0: the scene under the cursor)", min=0,
        options={"SKIP_SAVE"},
    )
    character: StringProperty(  # type: ignore[valid-type]
        name="Character", description="The character (empty: the speaker at the cursor)", options={"SKIP_SAVE"}
    )
    instruction: StringProperty(  # type: ignore[valid-type]
        name="Instruction", description="What to do (Rewrite Selection: how to rewrite; Beat Sheet: the structure)",
        options={"SKIP_SAVE"},
    )
    output: StringProperty(  # type: ignore[valid-type]
        name="Output", description="Name of the output Text (empty: '<script> - <task>')", options={"SKIP_SAVE"}
    )
    model_notes: BoolProperty(  # type: ignore[valid-type]
        name="Model Notes", description="Format Check: also ask the model how to fix what the parser found",
        options={"SKIP_SAVE"},
    )
    mock_response: StringProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    _launch: toolset.Launch | None = None
    _from_dialog = False

    @classmethod
    def description(cls, context: Context, properties: bpy.types.OperatorProperties) -> str:
        task_id = getattr(properties, "task", "")
        try:
            return toolset.get_task(task_id, context).description if task_id else cls.__doc__ or ""
        except toolset.ToolError:
            return cls.__doc__ or ""

    def _plan(self, context: Context) -> toolset.Launch:
        extra = {"mock_response": self.mock_response} if self.mock_response else {}
        if self.task == "analyze_scene":
            prepared = commands.analyze_scene(context, self.text, self.scene, self.output, **extra)
            return toolset.Launch(job=prepared.job, sink=prepared.sink, info=prepared.info,
                                  warnings=prepared.warnings, target=prepared.sink.target)
        return toolset.run_task(
            context, self.task, self.text, self.scene, self.character, self.instruction, self.output,
            operator=self.bl_idname, model_notes=self.model_notes, **extra,
        )

    def prepare(self, context: Context) -> commands.Prepared:
        launch = self._launch
        assert launch is not None and launch.job is not None and launch.sink is not None
        return commands.Prepared(launch.job, launch.sink, launch.info, launch.warnings)

    def started(self, prepared: commands.Prepared) -> None:
        self.output = prepared.sink.target

    def _launch_now(self, context: Context) -> toolset.Launch | None:
        if not hasattr(bpy.types.Scene, "screenwriter"):
            self.report({"ERROR"}, "Screenwriter LLM is disabled; enable it in the preferences first.")
            return None
        try:
            self._launch = self._plan(context)
        except (toolset.ToolError, commands.CommandError) as exc:
            self.report({"ERROR"}, str(exc))
            return None
        return self._launch

    def _run_other(self, context: Context, launch: toolset.Launch, invoked: bool) -> set[Result]:
        """Format Check (written at once) and Coverage Report (a run, then its synthesis)."""
        if launch.written:
            self.output = launch.written
            self.report({"INFO"}, tip_(launch.info))
            if invoked:
                _announce_text(context, launch.written, launch.label)
            return {"FINISHED"}
        assert launch.run is not None
        self.report({"INFO"}, tip_(launch.info))
        toolset.start(launch)
        self.output = launch.target
        if not bpy.app.background:
            if invoked:  # the report Text, shown now; the synthesis streams into it once the summaries are in
                if launch.target not in bpy.data.texts:
                    report = bpy.data.texts.new(launch.target)
                    report[texts.OUTPUT_MARKER] = True
                    report[texts.SOURCE_KEY] = launch.label
                _announce_text(context, launch.target, launch.label)
            return {"FINISHED"}
        job = toolset.wait(launch)
        run = launch.run
        status = runtime.get().statuses.get(run.label)
        if job is None:
            message = status.text.removeprefix("Error: ") if status is not None else run.status_line()
            self.report({"ERROR"}, message)
            return {"CANCELLED"}
        return self.report_outcome(job)

    def execute(self, context: Context) -> set[Result]:
        launch = self._launch if self._launch is not None else self._launch_now(context)
        self._launch = None
        if launch is None:
            return {"CANCELLED"}
        if launch.job is None:
            return self._run_other(context, launch, invoked=False)
        self._launch = launch
        try:
            result = super().execute(context)
        finally:
            self._launch = None
        if self._from_dialog and not bpy.app.background and launch.job.id in runtime.get().jobs:
            announce(context, launch.job)
        return result

    def invoke(self, context: Context, event: Event) -> set[Result]:
        if not bpy.app.background and self.task == "rewrite" and not self.instruction.strip():
            wm = context.window_manager
            assert wm is not None
            self._from_dialog = True
            return wm.invoke_props_dialog(self)  # execute runs after OK
        launch = self._launch_now(context)
        if launch is None:
            return {"CANCELLED"}
        if launch.job is None:
            self._launch = None
            return self._run_other(context, launch, invoked=True)
        try:
            return super().invoke(context, event)
        finally:
            self._launch = None

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is not None:
            layout.prop(self, "instruction", text="")

    def report_outcome(self, job: Job) -> set[Result]:
        if isinstance(job.outcome, Failed) and not job.target:
            self.report({"ERROR"}, job.outcome.message)
            return {"CANCELLED"}
        return super().report_outcome(job)


def _announce_text(context: Context, name: str, source: str) -> None:
    """Show a Text written at once (Format Check, a coverage report to come) the way a streamed answer is shown."""

    class _Written:
        target = name
        label = source
        id = 0

    announce(context, _Written())  # type: ignore[arg-type]


classes = (SCREENWRITER_OT_run_task,)

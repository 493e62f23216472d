"""Analyze Scene, Analyze All Scenes and Regenerate."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty
from bpy.types import Context, Event, Operator

from .. import commands, pump, runtime, settings, texts
from ..core.accounting import budget
from ..core.accounting.cost import estimate_key
from ..core.accounting.usage import UsageLedger
from .base import NeedsTextPoll, Result, StreamingOperator, screenplay_property, tip_


class SCREENWRITER_OT_analyze_scene(NeedsTextPoll, StreamingOperator):
    """Stream a language model's craft-level analysis of one scene into a Text"""

    bl_idname = "screenwriter.analyze_scene"
    bl_label = "Analyze Scene"
    bl_options = {"REGISTER"}

    text: screenplay_property()  # type: ignore[valid-type]
    scene: IntProperty(  # type: ignore[valid-type]
        name="Scene",
        description="Scene number, counted from 1 (0: the scene under the cursor)",
        options={"SKIP_SAVE"},
    )
    output: StringProperty(  # type: ignore[valid-type]
        name="Output",
        description="Name of the Text to write the analysis into (empty: '<script> - Scene N Analysis')",
        options={"SKIP_SAVE"},
    )
    mock_response: StringProperty(  # type: ignore[valid-type]
        name="Mock Response",
        description="For scripts and demos: LiteLLM answers with this text instead of calling a provider",
        options={"SKIP_SAVE", "HIDDEN"},
    )
    confirmed: BoolProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    def prepare(self, context: Context) -> commands.Prepared:
        extra = {"mock_response": self.mock_response} if self.mock_response else {}
        return commands.analyze_scene(context, self.text, self.scene, self.output, **extra)

    def started(self, prepared: commands.Prepared) -> None:
        self.output = prepared.sink.target

    def invoke(self, context: Context, event: Event) -> set[Result]:
        if not bpy.app.background and not self.confirmed:
            question = self._confirmation(context)
            if question:
                self.confirmed = True  # execute() runs next if the writer confirms
                try:  # Blender 4.1+: a titled dialog with the question
                    return context.window_manager.invoke_confirm(  # type: ignore[union-attr]
                        self, event, title="Expensive Request", message=question, icon="WARNING"
                    )
                except TypeError:
                    self.report({"WARNING"}, question)
                    return context.window_manager.invoke_confirm(self, event)  # type: ignore[union-attr]
        return super().invoke(context, event)

    def _confirmation(self, context: Context) -> str:
        """The question to ask when this one request could cost more than the preference *Confirm Over*, from
        the estimate counted off the main thread ("" when under it, off, or not counted yet: the worker still
        enforces the budgets)."""
        prefs = settings.preferences(context)
        if prefs is None or not prefs.confirm_over_usd:
            return ""
        try:
            source = commands.require_source(context, self.text)
            _task, _scene, messages = commands.analysis_messages(context, source, self.scene)
        except commands.CommandError:
            return ""
        config = settings.scene_settings(context)
        args = (
            config.model.strip(),
            messages,
            config.max_tokens,
            prefs.default_context_window,
            settings.custom_rates(prefs),
        )
        estimator = runtime.get().estimator
        estimate = estimator.estimate(*args)
        if estimate is None and estimator.wait(estimate_key(*args), 0.3):  # brief; never a freeze
            estimate = estimator.estimate(*args)
        if estimate is None:
            return ""
        ledger = UsageLedger(settings.data_dir() / settings.LEDGER_FILE)
        decision = budget.check(ledger, settings.limits(prefs), estimate.cost)
        return decision.confirmation if decision.needs_confirmation else ""


class SCREENWRITER_OT_analyze_all_scenes(NeedsTextPoll, Operator):
    """Analyse every scene of the screenplay (several at once), each into its own Text, then assemble a
    coverage report. Scenes already analysed are skipped unless Re-analyse is on"""

    bl_idname = "screenwriter.analyze_all_scenes"
    bl_label = "Analyze All Scenes"
    bl_options = {"REGISTER"}

    text: screenplay_property()  # type: ignore[valid-type]
    concurrency: IntProperty(  # type: ignore[valid-type]
        name="Concurrency", description="Scenes analysed at the same time", default=4, min=1, max=16
    )
    force: BoolProperty(  # type: ignore[valid-type]
        name="Re-analyse",
        description="Analyse every scene again, even those already analysed",
        default=False,
        options={"SKIP_SAVE"},
    )
    mock_response: StringProperty(options={"SKIP_SAVE", "HIDDEN"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        try:
            run, info = commands.analyze_all_scenes(
                context, self.text, self.concurrency, self.force, self.mock_response
            )
        except commands.CommandError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_(info))
        pump.start_run(run)
        if not bpy.app.background:
            return {"FINISHED"}
        pump.run_batch_until_done(run)
        if run.failed:
            first = next(iter(run.failed.items()))
            self.report({"WARNING"}, f"{len(run.failed)} scene(s) failed; scene {first[0]}: {first[1]}")
        status = runtime.get().statuses.get(run.label)
        if status is not None and status.level == "error":
            self.report({"ERROR"}, status.text.removeprefix("Error: "))
            return {"CANCELLED"}
        self.report({"INFO"}, run.status_line())
        return {"FINISHED"}


class SCREENWRITER_OT_regenerate(StreamingOperator):
    """Run the last request of an output Text again, replacing its answer (the earlier answer is kept as
    '<name> (previous)')"""

    bl_idname = "screenwriter.regenerate"
    bl_label = "Regenerate"
    bl_options = {"REGISTER"}

    output: StringProperty(  # type: ignore[valid-type]
        name="Output",
        description="The output Text to regenerate (empty: the Text in the active editor)",
        options={"SKIP_SAVE"},
    )
    use_current_settings: BoolProperty(  # type: ignore[valid-type]
        name="Use Current Settings",
        description="Use the sidebar's model and settings now, instead of those of the earlier request",
        default=False,
        options={"SKIP_SAVE"},
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not any(t.get(texts.REQUEST_KEY) for t in bpy.data.texts):
            cls.poll_message_set("No analysis to regenerate yet")
            return False
        return True

    def prepare(self, context: Context) -> commands.Prepared:
        return commands.regenerate(context, self.output, self.use_current_settings)


classes = (SCREENWRITER_OT_analyze_scene, SCREENWRITER_OT_analyze_all_scenes, SCREENWRITER_OT_regenerate)

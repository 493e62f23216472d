"""What every operator shares: the streaming operator (synchronous in background mode, a timer pump plus a
modal ESC watch in a window), the ``text`` property, and poll mixins that say why a command is disabled."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import bpy
from bpy.props import StringProperty
from bpy.types import Context, Event, Operator

from .. import commands, pump, runtime
from ..core.events import Failed, Finished
from ..core.jobs.job import Job

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems as Result
else:
    Result = str

tip_ = bpy.app.translations.pgettext_tip

#: Called as ``hook(context, job)`` when a request started from the UI (``invoke``): the UI layer registers the
#: answer view here (``ui/answer_view.py``), so an operator never imports the UI. A hook must not raise.
INVOKE_HOOKS: list[Callable[[Context, Job], None]] = []


def announce(context: Context, job: Job) -> None:
    """Tell the :data:`INVOKE_HOOKS` that ``job`` started from the UI (failures are printed, never raised)."""
    for hook in list(INVOKE_HOOKS):
        try:
            hook(context, job)
        except Exception:  # noqa: BLE001 - showing an answer must never stop the request
            import traceback

            traceback.print_exc()


def screenplay_property() -> object:
    """The ``text`` operator property every command that works on a screenplay takes."""
    return StringProperty(
        name="Screenplay",
        description="Name of the Text holding the screenplay (empty: the Text in the active editor)",
        options={"SKIP_SAVE"},
    )


class NeedsTextPoll:
    """Poll mixin: enabled when the file has any Text; otherwise says to open a screenplay."""

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not bpy.data.texts:
            cls.poll_message_set("Open a screenplay in the Text Editor first")  # type: ignore[attr-defined]
            return False
        return True


class StreamingOperator(Operator):
    """Plans a job (:meth:`prepare`), starts it through the pump, and reports. In background mode the pump runs
    synchronously to the end (``{'FINISHED'}``, or the error raised by Blender from the ERROR report); in a
    window ``EXEC_DEFAULT`` returns at once and the timer streams on, ``INVOKE_DEFAULT`` runs modally (ESC over a
    Text Editor cancels)."""

    _job: Job | None = None
    _timer: bpy.types.Timer | None = None

    def prepare(self, context: Context) -> commands.Prepared:
        """Plan the job and its sink; raise :class:`~..commands.CommandError` to refuse."""
        raise NotImplementedError

    def _start(self, context: Context) -> Job | None:
        """Plan and start the job; report and return None when it cannot start."""
        if not hasattr(bpy.types.Scene, "screenwriter"):
            self.report({"ERROR"}, "Screenwriter LLM is disabled; enable it in the preferences first.")
            return None
        try:
            prepared = self.prepare(context)
            job = commands.start(prepared)
        except commands.CommandError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        for warning in prepared.warnings:
            self.report({"WARNING"}, warning)
        if prepared.info:
            self.report({"INFO"}, tip_(prepared.info))
        self.started(prepared)
        return job

    def started(self, prepared: commands.Prepared) -> None:
        """Hook: the job started (subclasses record the output name)."""

    def report_outcome(self, job: Job) -> set[Result]:
        """Report the job's outcome the way Blender shows operator results."""
        for notice in job.notices:
            self.report({"WARNING"}, notice)
        line = job.status_line()
        if isinstance(job.outcome, Finished):
            where = f"'{job.target}' written. " if job.target else ""
            self.report({"INFO"}, tip_("{}{}").format(where, line))
            return {"FINISHED"}
        if isinstance(job.outcome, Failed):
            self.report({"ERROR"}, job.outcome.message)
            return {"CANCELLED"}
        self.report({"WARNING"}, line)
        return {"CANCELLED"}

    def execute(self, context: Context) -> set[Result]:
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        if bpy.app.background:
            # Timers never fire in background mode: drive the same pump synchronously (DESIGN.md).
            pump.run_until_done(job)
            return self.report_outcome(job)
        return {"FINISHED"}  # in a window the timer pump streams on; the sidebar shows progress

    def invoke(self, context: Context, event: Event) -> set[Result]:
        if bpy.app.background:
            return self.execute(context)
        wm = context.window_manager
        assert wm is not None  # invoke runs in a window
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        self._job = job
        announce(context, job)
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _over_text_editor(self, context: Context, event: Event) -> bool:
        screen = context.window.screen if context.window else None
        for area in screen.areas if screen else ():
            if area.type == "TEXT_EDITOR" and (
                area.x <= event.mouse_x < area.x + area.width and area.y <= event.mouse_y < area.y + area.height
            ):
                return True
        return False

    def modal(self, context: Context, event: Event) -> set[Result]:
        job = self._job
        if job is None:
            return {"CANCELLED"}
        # ESC cancels only over a Text Editor, so ESC elsewhere (ending a transform in the 3D view) keeps its
        # usual meaning and the request goes on.
        if event.type == "ESC" and event.value == "PRESS" and self._over_text_editor(context, event):
            job.cancel("Cancelled")
            return {"RUNNING_MODAL"}
        if job.outcome is not None or job.id not in runtime.get().jobs:
            if job.outcome is None:  # dropped by a file load or add-on disable
                job.cancel("Cancelled")
            self._finish(context)
            return self.report_outcome(job)
        return {"PASS_THROUGH"}

    def _finish(self, context: Context) -> None:
        if self._timer is not None and context.window_manager is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None

    def cancel(self, context: Context) -> None:
        """Blender ends the modal operator (for example the window closes): stop the job too."""
        if self._job is not None:
            self._job.cancel("Cancelled")
        self._finish(context)

"""Script Chat: send a message, summarise the older turns, clear the conversation."""

from __future__ import annotations

from bpy.props import StringProperty
from bpy.types import Context, Operator

from .. import commands
from .base import NeedsTextPoll, Result, StreamingOperator, screenplay_property, tip_


class SCREENWRITER_OT_chat_send(NeedsTextPoll, StreamingOperator):
    """Send a message about the script to the model; the conversation streams into its own Text and is kept with
    the .blend"""

    bl_idname = "screenwriter.chat_send"
    bl_label = "Send"
    bl_options = {"REGISTER"}

    text: screenplay_property()  # type: ignore[valid-type]
    message: StringProperty(  # type: ignore[valid-type]
        name="Message", description="What to ask (empty: the message typed in the sidebar)", options={"SKIP_SAVE"}
    )

    def prepare(self, context: Context) -> commands.Prepared:
        wm = context.window_manager
        typed = self.message or (wm.screenwriter_chat_message if wm else "")  # type: ignore[attr-defined]
        return commands.chat_send(context, self.text, typed)

    def started(self, prepared: commands.Prepared) -> None:
        import bpy

        wm = bpy.context.window_manager
        if wm is not None and not self.message:
            wm.screenwriter_chat_message = ""  # type: ignore[attr-defined]


class SCREENWRITER_OT_chat_summarise(StreamingOperator):
    """Summarise the older part of the conversation so later requests carry the summary instead of every old turn
    (the newest turns stay word for word)"""

    bl_idname = "screenwriter.chat_summarise"
    bl_label = "Summarise and Compress"
    bl_options = {"REGISTER"}

    text: StringProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def prepare(self, context: Context) -> commands.Prepared:
        return commands.chat_summarise(context, self.text)


class SCREENWRITER_OT_chat_clear(Operator):
    """Start the conversation about this script afresh (the old one is kept as '<name> (previous)')"""

    bl_idname = "screenwriter.chat_clear"
    bl_label = "Clear Conversation"
    bl_options = {"REGISTER"}

    text: StringProperty(options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> set[Result]:
        try:
            message = commands.chat_clear(context, self.text)
        except commands.CommandError as exc:
            self.report({"INFO"} if "No conversation" in str(exc) else {"ERROR"}, tip_(str(exc)))
            return {"CANCELLED"}
        self.report({"INFO"}, tip_(message))
        return {"FINISHED"}


classes = (SCREENWRITER_OT_chat_send, SCREENWRITER_OT_chat_summarise, SCREENWRITER_OT_chat_clear)

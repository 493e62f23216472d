"""Apply Proposal and Insert Notes: the only commands that change a screenplay, each as one undo step.

The new text is computed by :mod:`..toolset` (``core.tasks.proposal``); it is written here by selecting the lines
that differ and typing the replacement with ``bpy.ops.text.insert`` in a Text Editor showing the script, so the
Text Editor's own undo records it: one Ctrl+Z restores the script byte for byte. Without a Text Editor (background
mode, ``bpy`` as a module) the text is set with ``Text.from_string``. Either way the result is checked against
the computed text, and set directly if the editor changed anything (auto-closed brackets, tabs to spaces).
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import StringProperty
from bpy.types import Context, Operator

from .. import texts, toolset
from ..core.tasks.proposal import RangeChanged
from .base import Result, tip_

#: How the last edit was written: "typed" (the Text Editor's own undo records it) or "set" (``from_string``).
LAST_WRITE: list[str] = []
#: Largest ``int`` RNA accepts: a cursor column Blender clamps to the end of the line.
_END = 2**31 - 1


def _editor_area(context: Context, source: bpy.types.Text) -> bpy.types.Area | None:
    """The Text Editor to type into: the one the command ran in (switched to the script), else one showing the
    script, else any Text Editor of the window (switched to the script)."""
    area = getattr(context, "area", None)
    if area is not None and area.type == "TEXT_EDITOR":
        return area
    window = getattr(context, "window", None)
    screen = window.screen if window is not None else None
    editors = [a for a in screen.areas if a.type == "TEXT_EDITOR"] if screen else []
    showing = [a for a in editors if getattr(a.spaces.active, "text", None) == source]
    return (showing or editors or [None])[0]


def replace_text(context: Context, source: bpy.types.Text, new: str) -> None:
    """Make ``source`` hold ``new``, changing only the lines that differ (one edit, one undo step in a window)."""
    old = source.as_string()
    if old == new:
        return
    area = _editor_area(context, source) if not bpy.app.background else None
    how = "set"
    if area is not None:
        try:
            _type_in(context, area, source, old.split("\n"), new.split("\n"))
            how = "typed"
        except (RuntimeError, TypeError, AttributeError) as exc:
            how = f"set ({type(exc).__name__}: {exc})"
    if source.as_string() != new:
        how = "set" if how == "typed" else how
        source.from_string(new)
    LAST_WRITE[:] = [how]


def _type_in(context: Context, area: bpy.types.Area, source: bpy.types.Text, old: list[str], new: list[str]) -> None:
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    old_end, new_end = len(old) - suffix, len(new) - suffix  # exclusive
    lines = new[prefix:new_end]
    if old_end < len(old):  # the changed lines and their line breaks: type each new line with its break
        source.select_set(prefix, 0, old_end, 0)
        typed = "".join(line + "\n" for line in lines)
    elif prefix > 0:  # the change reaches the last line: type from the end of the line before
        source.select_set(prefix - 1, _END, len(old) - 1, _END)
        typed = "".join("\n" + line for line in lines)
    else:
        source.select_set(0, 0, len(old) - 1, _END)
        typed = "\n".join(lines)
    space: Any = area.spaces.active
    space.text = source
    region = next((r for r in area.regions if r.type == "WINDOW"), None)
    with context.temp_override(window=context.window, area=area, region=region):
        if typed:
            bpy.ops.text.insert(text=typed)
        else:
            bpy.ops.text.delete(type="NEXT_CHARACTER")


def _proposal_names(context: Context) -> str:
    space = getattr(context, "space_data", None)
    text = space.text if space is not None and space.type == "TEXT_EDITOR" else None
    return text.name if text is not None and text.get(toolset.PROPOSAL_KEY) else ""


class SCREENWRITER_OT_apply_proposal(Operator):
    """Replace the lines this proposal was made for with the proposal as it now stands (edit it first if you like);
    refused when those lines changed since. One undo step"""

    bl_idname = "screenwriter.apply_proposal"
    bl_label = "Apply Proposal"
    bl_options = {"REGISTER", "UNDO"}

    proposal: StringProperty(  # type: ignore[valid-type]
        name="Proposal", description="The proposal Text (empty: the one in the active editor)", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not any(t.get(toolset.PROPOSAL_KEY) for t in bpy.data.texts):
            cls.poll_message_set("No proposal yet: run Punch Up, Rewrite Selection or Continue Scene")
            return False
        return True

    def execute(self, context: Context) -> set[Result]:
        name = self.proposal or _proposal_names(context)
        try:
            source, new, made = toolset.apply_proposal(name)
        except (toolset.ToolError, RangeChanged) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        replace_text(context, source, new)
        what = f"line {made.first_line}" if made.is_insertion else f"lines {made.first_line}-{made.last_line}"
        self.report({"INFO"}, tip_("Proposal applied to {} of '{}' (Ctrl+Z undoes it)").format(what, source.name))
        return {"FINISHED"}


class SCREENWRITER_OT_insert_notes(Operator):
    """Insert the answer's suggestions into the screenplay as Fountain notes [[...]], each after the line it
    quotes (after the scene heading when it quotes nothing). One undo step"""

    bl_idname = "screenwriter.insert_notes"
    bl_label = "Insert Notes"
    bl_options = {"REGISTER", "UNDO"}

    answer: StringProperty(  # type: ignore[valid-type]
        name="Answer", description="The answer Text (empty: the one in the active editor)", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not any(t.get(texts.OUTPUT_MARKER) and t.get(texts.SOURCE_KEY) for t in bpy.data.texts):
            cls.poll_message_set("No answer yet: run Analyze Scene or a task first")
            return False
        return True

    def execute(self, context: Context) -> set[Result]:
        name = self.answer
        if not name:
            space = getattr(context, "space_data", None)
            name = space.text.name if space is not None and space.type == "TEXT_EDITOR" and space.text else ""
        try:
            source, new, count = toolset.insert_notes(name)
        except (toolset.ToolError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        replace_text(context, source, new)
        self.report({"INFO"}, tip_("{} note(s) inserted into '{}' (Ctrl+Z undoes it)").format(count, source.name))
        return {"FINISHED"}


classes = (SCREENWRITER_OT_apply_proposal, SCREENWRITER_OT_insert_notes)

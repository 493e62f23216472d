"""The sidebar's Tasks: every writing task, the Apply / Insert Notes / Export buttons of the answer shown, and the
answer's live sections (its headings as they stream in; click one to move the answer's cursor there).

A draw looks nothing up that has not changed: the task list is kept per task catalog (the user's task folder is
looked up only when the runtime checks it), the sections per content of the answer."""

from __future__ import annotations

import json

import bpy
from bpy.types import Context, Panel

from .. import runtime, texts, toolset
from ..core.tasks.task import Task, TaskCatalog
from .menus import DEFAULT_ICON, TASK_ICONS, SCREENWRITER_MT_tasks
from .panels import SidebarPanel, chars_per_line, layout_of, wrap

#: Sections listed at most.
MAX_SECTIONS = 60
_sections_cache: dict[str, tuple[str, list[tuple[int, str]]]] = {}
_menu: list[tuple[TaskCatalog, list[Task]]] = []


def _editor_text(context: Context) -> bpy.types.Text | None:
    space = getattr(context, "space_data", None)
    return space.text if space is not None and space.type == "TEXT_EDITOR" else None


def task_list(context: Context) -> tuple[list[Task], TaskCatalog]:
    """:func:`toolset.menu_tasks` and the catalog it comes from, listed again only when the catalog changed."""
    catalog = runtime.get().tasks(lambda: toolset.user_tasks_folder(context))
    if not _menu or _menu[0][0] is not catalog:
        _menu[:] = [(catalog, toolset.menu_tasks(context))]
    return _menu[0][1], catalog


def answer_for(context: Context) -> bpy.types.Text | None:
    """The answer the panel is about: the Text in this editor if it is one, else the one streaming for this script."""
    text = _editor_text(context)
    if text is None:
        return None
    if text.get(texts.OUTPUT_MARKER):
        return text
    name = toolset.latest_answer(text.name)
    return bpy.data.texts.get(name) if name else None


def cached_sections(text: bpy.types.Text) -> list[tuple[int, str]]:
    """:func:`toolset.sections` of ``text``, parsed again only when it changed (compared with the content they
    were parsed from: a copy and a ``memcmp``, no hash of a fresh copy)."""
    body = text.as_string()
    cached = _sections_cache.get(text.name)
    if cached is None or cached[0] != body:
        cached = (body, toolset.sections(body))
        _sections_cache[text.name] = cached
        del_keys = list(_sections_cache)[:-16]
        for old in del_keys:
            _sections_cache.pop(old, None)
    return cached[1]


class SCREENWRITER_PT_tasks(SidebarPanel, Panel):
    """Writing tasks: each runs on the scene under the cursor, the selection or the whole script."""

    bl_label = "Tasks"
    bl_parent_id = "SCREENWRITER_PT_main"

    def draw(self, context: Context) -> None:
        layout = layout_of(self)
        layout.menu(SCREENWRITER_MT_tasks.bl_idname, icon="PRESET")
        col = layout.column(align=True)
        tasks, catalog = task_list(context)
        for task in tasks:
            op = col.operator("screenwriter.run_task", text=task.label, icon=TASK_ICONS.get(task.id, DEFAULT_ICON))
            op.task = task.id  # type: ignore[union-attr]
        for error in catalog.errors[:3]:
            for i, part in enumerate(wrap(str(error), chars_per_line(context))):
                layout.label(text=part, icon="ERROR" if i == 0 else "BLANK1")
        answer = answer_for(context)
        if answer is None:
            return
        box = layout.box()
        box.label(text=answer.name, icon="TEXT")
        row = box.row(align=True)
        if answer.get(toolset.PROPOSAL_KEY):
            op = row.operator("screenwriter.apply_proposal", icon="CHECKMARK")
            op.proposal = answer.name  # type: ignore[union-attr]
        elif answer.get(texts.SOURCE_KEY) and answer.get(texts.COMPLETE_MARKER):
            op = row.operator("screenwriter.insert_notes", icon="TEXT")
            op.answer = answer.name  # type: ignore[union-attr]
        op = row.operator("screenwriter.export_answer", text="", icon="EXPORT")
        op.text = answer.name  # type: ignore[union-attr]
        grounded = answer.get(toolset.GROUNDING_KEY)
        if grounded:
            try:
                summary = str(json.loads(grounded).get("summary", ""))
            except ValueError:
                summary = ""
            for line in summary.splitlines()[:4]:
                for part in wrap(line, chars_per_line(context)):
                    box.label(text=part)


class SCREENWRITER_PT_sections(SidebarPanel, Panel):
    """The answer's sections as they stream in; click one to move the answer's cursor there."""

    bl_label = "Sections"
    bl_parent_id = "SCREENWRITER_PT_main"

    @classmethod
    def poll(cls, context: Context) -> bool:
        return answer_for(context) is not None

    def draw(self, context: Context) -> None:
        answer = answer_for(context)
        if answer is None:
            return
        layout = layout_of(self)
        found = cached_sections(answer)
        if not found:
            layout.label(text="No headings yet", icon="INFO")
            return
        col = layout.column(align=True)
        for line, heading in found[:MAX_SECTIONS]:
            op = col.operator("screenwriter.goto_scene", text=heading[:60], icon="DOT")
            op.text = answer.name  # type: ignore[union-attr]
            op.line = line  # type: ignore[union-attr]


classes = (SCREENWRITER_PT_tasks, SCREENWRITER_PT_sections)

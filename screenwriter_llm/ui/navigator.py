"""The Previs navigator (Text Editor > Sidebar > Screenwriter > Previs): page count and runtime estimate of the
script and of the scene under the cursor, Characters (scenes, dialogue lines, words; a button steps through their
scenes), Locations (scenes, INT/EXT, times of day), and the previs commands (Build Story Reel, Plan Shots, Export
Breakdown). It also puts the previs commands into *Text > Screenwriter Previs* so F3 finds them.

Everything shown comes from the runtime's statistics cache (:meth:`..runtime.Runtime.script_stats`: computed at
most once per change of the script, after :data:`..runtime.PARSE_PAUSE`), never computed on a draw; what a draw
derives from it (the sorted rows, their labels, the scene starts) is kept per statistics object, so a keystroke
costs these panels a few dictionary look-ups and the buttons they draw.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any, cast

import bpy
from bpy.types import Context, Menu, Panel

from .. import commands, runtime
from ..core.screenplay.pages import format_eighths
from ..core.screenplay.stats import ScriptStats
from .panels import SidebarPanel, layout_of

#: Rows listed in the Characters and Locations panels (most lines / most scenes first); "… N more" after them.
MAX_ROWS = 10
#: Runtime estimate rule of the navigator (seconds of screen time per page).
SECONDS_PER_PAGE = 60.0


def _stats(context: Context) -> tuple[bpy.types.Text | None, ScriptStats | None]:
    text = commands.source_text(context, "")
    if text is None:
        return None, None
    try:
        return text, runtime.get().script_stats(text, SECONDS_PER_PAGE, reuse=True)
    except ValueError:
        return text, None


def _clock(seconds: float) -> str:
    """``"1:02:05"`` / ``"4:10"`` (hours, minutes, seconds)."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


_derived: dict[str, tuple[ScriptStats, Any]] = {}


def _of(stats: ScriptStats, kind: str, make: Callable[[ScriptStats], Any]) -> Any:
    """``make(stats)``, kept per ``kind`` for the last statistics object it was made from."""
    cached = _derived.get(kind)
    if cached is not None and cached[0] is stats:
        return cached[1]
    value = make(stats)
    _derived[kind] = (stats, value)
    return value


def character_scene_lines(stats: ScriptStats) -> dict[str, list[int]]:
    """Character name -> 0-based heading lines of the scenes they speak in (cached per statistics object)."""

    def make(stats: ScriptStats) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for scene in stats.scenes:
            for name in scene.characters:
                found.setdefault(name, []).append(scene.first_line - 1)
        return found

    return cast("dict[str, list[int]]", _of(stats, "scene lines", make))


def character_rows(stats: ScriptStats) -> tuple[tuple[str, str], ...]:
    """The Characters panel's rows, most dialogue lines first (then by name), at most :data:`MAX_ROWS`: each
    ``(name, label)`` (cached per statistics object)."""

    def make(stats: ScriptStats) -> tuple[tuple[str, str], ...]:
        people = sorted(stats.characters.values(), key=lambda c: (-c.dialogue_lines, c.name))[:MAX_ROWS]
        return tuple((p.name, f"{p.name}: {p.scenes} sc, {p.dialogue_lines} lines, {p.words} words") for p in people)

    return cast("tuple[tuple[str, str], ...]", _of(stats, "character rows", make))


def location_rows(stats: ScriptStats) -> tuple[str, ...]:
    """The Locations panel's labels, most scenes first (then by name), at most :data:`MAX_ROWS` (cached per
    statistics object)."""

    def make(stats: ScriptStats) -> tuple[str, ...]:
        places = sorted(stats.locations.values(), key=lambda p: (-p.scenes, p.name))[:MAX_ROWS]
        return tuple(
            f"{p.name}: {p.scenes} sc, {'/'.join(p.settings) or '-'}, {', '.join(p.times) or '-'}" for p in places
        )

    return cast("tuple[str, ...]", _of(stats, "location rows", make))


def next_scene_line(lines: list[int], current: int) -> int:
    """The first of ``lines`` after ``current`` (0-based), else the first one (it wraps round)."""
    position = bisect.bisect_right(lines, current)
    return lines[position] if position < len(lines) else lines[0]


def current_scene(stats: ScriptStats, line: int) -> Any:
    """The scene statistics of the scene holding 0-based ``line`` (None before the first heading)."""
    starts = _of(stats, "scene starts", lambda stats: [scene.first_line - 1 for scene in stats.scenes])
    position = bisect.bisect_right(starts, line)
    return stats.scenes[position - 1] if position else None


class SCREENWRITER_PT_navigator(SidebarPanel, Panel):
    """Length and runtime of the script and of the scene under the cursor; the previs commands."""

    bl_label = "Previs"
    bl_parent_id = "SCREENWRITER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def register(cls) -> None:
        bpy.types.TEXT_MT_text.append(menu_entry)  # type: ignore[arg-type]

    @classmethod
    def unregister(cls) -> None:
        bpy.types.TEXT_MT_text.remove(menu_entry)  # type: ignore[arg-type]

    def draw(self, context: Context) -> None:
        layout = layout_of(self)
        text, stats = _stats(context)
        row = layout.row(align=True)
        row.scale_y = 1.3
        row.operator("screenwriter.build_story_reel", text="Build Story Reel", icon="SEQUENCE")
        row = layout.row(align=True)
        row.operator("screenwriter.plan_shots", icon="CAMERA_DATA")
        row.operator("screenwriter.export_breakdown", text="Breakdown", icon="EXPORT")
        if text is None or stats is None:
            layout.label(text="Open a screenplay in this editor", icon="INFO")
            return
        col = layout.column(align=True)
        col.label(
            text=f"Script: {stats.page_count} pages ({format_eighths(stats.eighths)} by eighths), "
            f"{len(stats.scenes)} scenes",
            icon="TEXT",
        )
        col.label(text=f"Runtime ≈ {_clock(stats.runtime_seconds)} at a page a minute", icon="TIME")
        scene = current_scene(stats, runtime.get().reads.current_line(text))
        if scene is not None:
            col.label(
                text=f"Scene {scene.scene_number}: {format_eighths(scene.eighths)} pages, ≈ {_clock(scene.seconds)}",
                icon="SEQ_STRIP_META",
            )


class SCREENWRITER_PT_characters(SidebarPanel, Panel):
    """Who speaks, how much, where; a button steps through a character's scenes."""

    bl_label = "Characters"
    bl_parent_id = "SCREENWRITER_PT_navigator"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        layout = layout_of(self)
        text, stats = _stats(context)
        if text is None or stats is None or not stats.characters:
            layout.label(text="No character cues found")
            return
        lines = character_scene_lines(stats)
        name, cursor = text.name, runtime.get().reads.current_line(text)
        col = layout.column(align=True)
        for person, label in character_rows(stats):
            row = col.row(align=True)
            row.label(text=label)
            heading_lines = lines.get(person)
            if heading_lines:
                op = row.operator("screenwriter.goto_scene", text="", icon="TRIA_RIGHT")
                op.text = name  # type: ignore[union-attr]
                op.line = next_scene_line(heading_lines, cursor)  # type: ignore[union-attr]
        if len(stats.characters) > MAX_ROWS:
            col.label(text=f"… {len(stats.characters) - MAX_ROWS} more")


class SCREENWRITER_PT_locations(SidebarPanel, Panel):
    """Where the script happens: scenes per location, INT/EXT and times of day."""

    bl_label = "Locations"
    bl_parent_id = "SCREENWRITER_PT_navigator"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        layout = layout_of(self)
        _text, stats = _stats(context)
        if stats is None or not stats.locations:
            layout.label(text="No scene headings found")
            return
        col = layout.column(align=True)
        for label in location_rows(stats):
            col.label(text=label)
        if len(stats.locations) > MAX_ROWS:
            col.label(text=f"… {len(stats.locations) - MAX_ROWS} more")


class SCREENWRITER_MT_previs(Menu):
    """The previs commands, in the Text Editor's Text menu (F3 finds them there)."""

    bl_label = "Screenwriter Previs"
    bl_idname = "SCREENWRITER_MT_previs"

    def draw(self, context: Context | None) -> None:
        layout = layout_of(self)
        layout.operator("screenwriter.build_story_reel", icon="SEQUENCE")
        layout.operator("screenwriter.plan_shots", icon="CAMERA_DATA")
        layout.operator("screenwriter.export_shot_list", icon="EXPORT")
        layout.operator("screenwriter.export_breakdown", icon="EXPORT")


def menu_entry(self: Menu, context: Context) -> None:
    """The entry appended to *Text* in the Text Editor."""
    layout_of(self).menu(SCREENWRITER_MT_previs.bl_idname)


classes = (SCREENWRITER_MT_previs, SCREENWRITER_PT_navigator, SCREENWRITER_PT_characters, SCREENWRITER_PT_locations)

"""Where answers appear: a task run from the interface shows its answer as it streams, without hiding the script.

:func:`show` (registered in ``operators.base.INVOKE_HOOKS``) puts the answer's Text in another Text Editor of the
window that is not showing the script (the one answers last went to, else the largest; a second view of the script
counts when the command ran in the other), else splits the script's editor and shows the answer beside it; or in
a new window, or nowhere, as the preference *Open Answers In* says. The answer's editor wraps words and follows
the stream (a timer keeps its last lines in view while the job runs).
"""

from __future__ import annotations

from typing import Any

import bpy
from bpy.types import Area, Context

from .. import runtime, settings
from ..core.jobs.job import Job

#: Seconds between scrolls of an answer's editor while its answer streams.
FOLLOW_INTERVAL = 0.25
#: The areas answers went to, newest last (their pointers: an Area object does not outlive a redraw safely).
_recent: list[int] = []
#: (window pointer, area pointer, Text name, job id) of the editors following a stream.
_following: list[tuple[int, int, str, int]] = []


def _editors(screen: bpy.types.Screen) -> list[Area]:
    return [a for a in screen.areas if a.type == "TEXT_EDITOR"]


def _text_of(area: Area) -> bpy.types.Text | None:
    """The Text shown in a Text Editor area."""
    return getattr(area.spaces.active, "text", None)


def _window_region(area: Area) -> bpy.types.Region | None:
    return next((r for r in area.regions if r.type == "WINDOW"), None)


def show(context: Context, job: Job) -> None:
    """Show ``job``'s output Text (never raises for a missing window or Text; the pump guards nothing here)."""
    name = job.target
    window = getattr(context, "window", None)
    text = bpy.data.texts.get(name) if name else None
    if bpy.app.background or window is None or text is None:
        return
    prefs = settings.preferences(context)
    mode = str(getattr(prefs, "open_answers_in", "SPLIT")) if prefs is not None else "SPLIT"
    if mode == "NONE":
        return
    source = bpy.data.texts.get(job.label)
    screen = window.screen
    area = next((a for a in _editors(screen) if _text_of(a) == text), None)
    if area is None and mode == "WINDOW":
        area = _new_window(context)
        if area is not None:
            window = next((w for w in context.window_manager.windows if area in w.screen.areas[:]), window)
    if area is None:
        others = [a for a in _editors(screen) if _text_of(a) is None or _text_of(a) != source]
        if not others:  # a second view of the script (not the editor the command ran in) is free to use
            here = getattr(context, "area", None)
            others = [a for a in _editors(screen) if here is None or a.as_pointer() != here.as_pointer()]
            others = others if here is not None and here.type == "TEXT_EDITOR" else []
        if others:
            others.sort(key=lambda a: (_recent.index(a.as_pointer()) if a.as_pointer() in _recent else -1,
                                       a.width * a.height))
            area = others[-1]
        else:
            area = _split(context, window, source)
    if area is None:
        return
    space: Any = area.spaces.active
    space.text = text
    space.show_word_wrap = True
    if area.as_pointer() in _recent:
        _recent.remove(area.as_pointer())
    _recent.append(area.as_pointer())
    del _recent[:-8]
    _following.append((window.as_pointer(), area.as_pointer(), text.name, getattr(job, "id", 0)))
    if not bpy.app.timers.is_registered(_follow):
        bpy.app.timers.register(_follow, first_interval=FOLLOW_INTERVAL)


def stop_timers() -> None:
    """Stop following answers (the add-on is being disabled): unregister the follow timer, forget the views."""
    _following.clear()
    if bpy.app.timers.is_registered(_follow):
        bpy.app.timers.unregister(_follow)


def _split(context: Context, window: bpy.types.Window, source: bpy.types.Text | None) -> Area | None:
    """Split the script's editor (the one the command ran in, else one showing the script) in two, side by side;
    returns the new half."""
    screen = window.screen
    area = getattr(context, "area", None)
    if area is None or area.type != "TEXT_EDITOR":
        area = next((a for a in _editors(screen) if _text_of(a) == source), None)
    if area is None:
        return None
    before = {a.as_pointer() for a in screen.areas}
    with context.temp_override(window=window, area=area, region=_window_region(area)):
        result = bpy.ops.screen.area_split(direction="VERTICAL", factor=0.5)
    if result != {"FINISHED"}:
        return None
    new = [a for a in screen.areas if a.as_pointer() not in before]
    if not new:
        return None
    new[0].type = "TEXT_EDITOR"
    return new[0]


def _new_window(context: Context) -> Area | None:
    wm = context.window_manager
    if wm is None:
        return None
    before = {w.as_pointer() for w in wm.windows}
    with context.temp_override(window=context.window):
        bpy.ops.wm.window_new()
    opened = [w for w in wm.windows if w.as_pointer() not in before]
    if not opened:
        return None
    area = max(opened[0].screen.areas, key=lambda a: a.width * a.height)
    area.type = "TEXT_EDITOR"
    return area


def _follow() -> float | None:
    """Timer: keep the end of each streaming answer in view; stops when no answer streams."""
    try:
        wm = bpy.context.window_manager
        running = {job.id for job in runtime.get().running()}
        keep: list[tuple[int, int, str, int]] = []
        for window_ptr, area_ptr, name, job_id in _following:
            area = _find_area(wm, window_ptr, area_ptr)
            text = bpy.data.texts.get(name)
            if area is None or text is None or _text_of(area) != text:
                continue
            space: Any = area.spaces.active
            visible = max(1, int(getattr(space, "visible_lines", 30)))
            last = len(text.lines)
            # Scroll a page at a time, only when the answer reached the bottom of the view: setting ``space.top``
            # redraws every Text Editor (the screenplay's too, 50-70 ms each under software rendering), so doing
            # it on every tick made the window's worst gaps 1.4-2.4x the same-run floor (scripts/bench_window.py).
            if last > space.top + visible - 1:
                space.top = max(0, last - 3)
                area.tag_redraw()
            if job_id in running:
                keep.append((window_ptr, area_ptr, name, job_id))
        _following[:] = keep
        return FOLLOW_INTERVAL if keep else None
    except Exception:  # noqa: BLE001 - a timer that raises is unregistered; nothing here is worth that
        import traceback

        traceback.print_exc()
        return None


def _find_area(wm: bpy.types.WindowManager | None, window_ptr: int, area_ptr: int) -> Area | None:
    for window in wm.windows if wm is not None else ():
        if window.as_pointer() != window_ptr:
            continue
        return next((a for a in window.screen.areas if a.as_pointer() == area_ptr), None)
    return None

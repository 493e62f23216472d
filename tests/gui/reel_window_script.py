"""Runs inside a real Blender window (Debian's ``blender`` 3.4 under Xvfb), driven by ``test_reel_window.py``.

Started as ``blender --factory-startup --python reel_window_script.py -- <config.json>``. The config holds
``results`` (JSON written at the end, with ``error`` on failure), ``screenshot`` (the PNG of the window),
``screenplay`` (a ``.fountain`` file), ``deps`` (the ``pip install --target`` directory, first on ``sys.path``) and
``deadline_s``. On Blender's own main loop (``bpy.app.timers`` steps): enable the add-on as a legacy add-on, load
the screenplay into a Text, run ``screenwriter.build_story_reel``, make the reel scene the window's scene, turn
the biggest area into a Video Sequencer showing the first scenes' strips and markers, save the screenshot, record
what the reel holds, and quit.
"""

from __future__ import annotations

import faulthandler
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import addon_utils  # type: ignore[import-not-found]
import bpy

ADDON = "screenwriter_llm"
SETTLE = 0.4
CONFIG: dict[str, Any] = json.loads(Path(sys.argv[sys.argv.index("--") + 1]).read_text(encoding="utf-8"))
RESULTS: dict[str, Any] = {"steps": []}
T0 = time.perf_counter()
_finished = False


def finish(error: str | None = None) -> None:
    """Record ``error`` (if any), write the results and quit Blender from a fresh timer tick."""
    global _finished
    if _finished:
        return
    _finished = True
    if error:
        RESULTS["error"] = error
        print(f"reel_window_script: FAILED: {error}", file=sys.stderr, flush=True)
    RESULTS["finished_ms"] = round((time.perf_counter() - T0) * 1000.0, 1)
    path = Path(CONFIG["results"])
    path.write_text(json.dumps(RESULTS, indent=1, default=str), encoding="utf-8")
    bpy.app.timers.register(lambda: bpy.ops.wm.quit_blender() and None, first_interval=0.05)


def step(func: Callable[[], None]) -> Callable[[], None]:
    """A timer step: recorded by name; an exception ends the script with its traceback."""

    def wrapper() -> None:
        if _finished:
            return
        RESULTS["steps"].append(func.__name__)
        try:
            func()
        except Exception:
            finish(traceback.format_exc())

    return wrapper


def then(func: Callable[[], None], delay: float = SETTLE) -> None:
    bpy.app.timers.register(step(func), first_interval=delay)


def enable_addon() -> None:
    module = addon_utils.enable(ADDON, default_set=True, handle_error=lambda _exc: finish(traceback.format_exc()))
    if module is None:
        raise AssertionError("addon_utils.enable returned None")
    RESULTS["blender_version"] = ".".join(map(str, bpy.app.version))
    text = bpy.data.texts.new(Path(CONFIG["screenplay"]).name)
    raw = Path(CONFIG["screenplay"]).read_text(encoding="utf-8")
    text.from_string(raw.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n"))
    bpy.context.scene.render.fps = 24
    then(build_reel)


def build_reel() -> None:
    from screenwriter_llm import compat, timeline

    text = bpy.data.texts[0]
    result = bpy.ops.screenwriter.build_story_reel(text=text.name)
    RESULTS["build_result"] = sorted(result)
    reel = bpy.data.scenes[timeline.reel_name(text.name)]
    strips = list(compat.strips(reel))
    RESULTS["reel"] = reel.name
    RESULTS["colour_strips"] = sum(1 for s in strips if s.channel == timeline.COLOUR_CHANNEL and s.type == "COLOR")
    RESULTS["text_strips"] = sum(1 for s in strips if s.channel == timeline.HEADING_CHANNEL and s.type == "TEXT")
    RESULTS["markers"] = len(reel.timeline_markers)
    RESULTS["frames"] = reel.frame_end - reel.frame_start + 1
    again = bpy.ops.screenwriter.build_story_reel(text=text.name)
    RESULTS["second_result"] = sorted(again)
    RESULTS["strips_after_second_run"] = len(compat.strips(reel))
    window = bpy.context.window_manager.windows[0]
    window.scene = reel
    area = max(window.screen.areas, key=lambda a: a.width * a.height)
    area.type = "SEQUENCE_EDITOR"
    area.spaces.active.view_type = "SEQUENCER"
    RESULTS["sequencer_area"] = [area.width, area.height]
    reel.frame_current = reel.frame_start + 200
    then(frame_view, 0.5)


def sequencer_area() -> Any:
    window = bpy.context.window_manager.windows[0]
    return next(a for a in window.screen.areas if a.type == "SEQUENCE_EDITOR")


def frame_view() -> None:
    """Show the first dozen scenes: select them and View Selected (all 190 would be hairlines)."""
    from screenwriter_llm import compat

    window = bpy.context.window_manager.windows[0]
    area = sequencer_area()
    region = next(r for r in area.regions if r.type == "WINDOW")
    reel = window.scene
    first = sorted(compat.strips(reel), key=lambda s: compat.strip_span(s)[0])
    chosen = {s.name for s in first if compat.strip_span(s)[0] < first[0].frame_final_start + 12 * 2000}
    for strip in compat.strips(reel):
        strip.select = strip.name in chosen
    with bpy.context.temp_override(window=window, area=area, region=region):
        bpy.ops.sequencer.view_selected()
    for strip in compat.strips(reel):
        strip.select = False
    RESULTS["visible_strips"] = len(chosen)
    then(screenshot, 0.8)


def screenshot() -> None:
    path = Path(CONFIG["screenshot"])
    path.parent.mkdir(parents=True, exist_ok=True)
    RESULTS["screenshot_result"] = sorted(bpy.ops.screen.screenshot(filepath=str(path)))
    RESULTS["screenshot"] = str(path)
    finish()


def main() -> None:
    faulthandler.enable(all_threads=True)
    bpy.app.timers.register(
        lambda: finish(f"gave up after {CONFIG['deadline_s']} s in {RESULTS['steps'][-1:]}") if not _finished else None,
        first_interval=float(CONFIG["deadline_s"]),
    )
    try:
        bpy.context.preferences.view.show_splash = False
        sys.path.insert(0, CONFIG["deps"])
        then(enable_addon, 0.3)
    except Exception:
        finish(traceback.format_exc())


main()

"""Runs inside a real Blender window (Debian's ``blender`` 3.4 under Xvfb), driven by ``test_window.py``.

Started as ``blender --factory-startup --enable-event-simulate --python window_script.py -- <config.json>``.
The config (written by the pytest driver) holds:

- ``results``: where to write the measurements as JSON (always written, with ``error`` on failure);
- ``screenshot``: where to save the PNG of the whole window after a finished run;
  ``screenshot_streaming``: the same while the second run streams (just before ESC);
- ``screenplay``: the ``.fountain`` file to load into a Text; ``scene``: the scene number to analyse;
  ``scene_line``: that scene's heading, 0-based ``Text.lines`` index (from ``scenes.json``);
- ``deps``: a ``pip install --target`` directory with LiteLLM, put first on ``sys.path``;
- ``api_base``: the loopback provider server's OpenAI base URL (``http://127.0.0.1:<port>/v1``);
- ``model``: the LiteLLM model string; ``deadline_s``: seconds before the script gives up.

Everything happens the way a person would do it, on Blender's own main loop: ``bpy.app.timers`` steps
lay out the screen, open the sidebar's "Screenwriter" tab with a simulated Ctrl+Wheel over the sidebar,
widen it by dragging its edge, invoke ``screenwriter.analyze_scene`` with ``'INVOKE_DEFAULT'`` on the
Text Editor, and press ESC (a simulated key press over the editor) to stop a second run; a third run is
stopped with ``screenwriter.cancel`` (the sidebar's Cancel button). A watcher timer ticks every
:data:`WATCH_INTERVAL` seconds and records the output Text's length, so the JSON shows the text growing
and the main loop running meanwhile. Blender always quits at the end, also on failure or timeout.
"""

from __future__ import annotations

import faulthandler
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import addon_utils  # type: ignore[import-not-found]
import bpy

ADDON = "screenwriter_llm"
#: Seconds between two ticks of the watcher timer (the main-loop heartbeat this test measures).
WATCH_INTERVAL = 0.02
#: Seconds between steps that wait for Blender to lay out and redraw the screen.
SETTLE = 0.3

CONFIG: dict[str, Any] = json.loads(Path(sys.argv[sys.argv.index("--") + 1]).read_text(encoding="utf-8"))
RESULTS: dict[str, Any] = {"steps": [], "runs": {}}
T0 = time.perf_counter()


def now_ms() -> float:
    """Milliseconds since this script started (``time.perf_counter``)."""
    return round((time.perf_counter() - T0) * 1000.0, 2)


# ------------------------------------------------------------------------------------------------------------
# Ending: always write the results and quit Blender.
# ------------------------------------------------------------------------------------------------------------

_finished = False


def write_results() -> None:
    """Write :data:`RESULTS` to the config's ``results`` path (atomically: tmp file then rename)."""
    path = Path(CONFIG["results"])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(RESULTS, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


def finish(error: str | None = None) -> None:
    """Record ``error`` (if any), write the results and quit Blender from a fresh timer tick."""
    global _finished
    if _finished:
        return
    _finished = True
    if error:
        RESULTS["error"] = error
        print(f"window_script: FAILED: {error}", file=sys.stderr, flush=True)
    RESULTS["finished_ms"] = now_ms()
    try:
        write_results()
    finally:
        bpy.app.timers.register(_quit, first_interval=0.05)


def _quit() -> None:
    bpy.ops.wm.quit_blender()


def _watchdog() -> None:
    if not _finished:
        finish(f"window_script gave up after {CONFIG['deadline_s']} s in step {RESULTS['steps'][-1:]}")


def step(func: Callable[[], float | None]) -> Callable[[], float | None]:
    """Wrap a timer callback: record its name, turn any exception into :func:`finish` with the traceback."""

    def wrapper() -> float | None:
        if _finished:
            return None
        if not RESULTS["steps"] or RESULTS["steps"][-1] != func.__name__:
            RESULTS["steps"].append(func.__name__)
            print(f"window_script: {now_ms():9.1f} ms  {func.__name__}", flush=True)
        try:
            return func()
        except Exception:
            finish(traceback.format_exc())
            return None

    wrapper.__name__ = func.__name__
    return wrapper


def then(func: Callable[[], float | None], delay: float = SETTLE) -> None:
    """Run ``func`` as a step after ``delay`` seconds."""
    bpy.app.timers.register(step(func), first_interval=delay)


def check(condition: bool, message: str) -> None:
    """Raise AssertionError(``message``) when ``condition`` is false (ends the script via :func:`step`)."""
    if not condition:
        raise AssertionError(message)


# ------------------------------------------------------------------------------------------------------------
# The screen: a Text Editor with the screenplay and the sidebar, another one for the analysis.
# ------------------------------------------------------------------------------------------------------------


def window() -> bpy.types.Window:
    """The (only) main window."""
    return bpy.context.window_manager.windows[0]


def text_editors() -> list[bpy.types.Area]:
    """Text Editor areas of the window, left to right."""
    return sorted((a for a in window().screen.areas if a.type == "TEXT_EDITOR"), key=lambda a: a.x)


def script_editor() -> bpy.types.Area:
    """The Text Editor showing the screenplay, with the sidebar (the rightmost one)."""
    return text_editors()[-1]


def region_of(area: bpy.types.Area, kind: str) -> bpy.types.Region:
    """The region of ``area`` of type ``kind`` ('WINDOW', 'UI', ...)."""
    return next(r for r in area.regions if r.type == kind)


def centre(region: bpy.types.Region) -> tuple[int, int]:
    """Window coordinates of the middle of ``region``."""
    return region.x + region.width // 2, region.y + region.height // 2


_panel_draws: list[str] = []


def _count_panel_draw(self: bpy.types.Panel, context: bpy.types.Context) -> None:
    """Appended to the add-on's main panel: records which area's sidebar drew it (draws nothing)."""
    if context.region is not None and context.region.type == "UI" and context.area is not None:
        _panel_draws.append(f"{context.area.x},{context.area.y}")


def panel_drawn_in(area: bpy.types.Area) -> int:
    """How many times the add-on's main panel was drawn in ``area``'s sidebar so far."""
    return _panel_draws.count(f"{area.x},{area.y}")


def enable_addon() -> None:
    """Enable the add-on as a legacy add-on (found in BLENDER_USER_SCRIPTS/addons) and note what it loaded."""
    before = set(sys.modules)
    started = time.perf_counter()
    module = addon_utils.enable(ADDON, default_set=True, handle_error=lambda _exc: finish(traceback.format_exc()))
    RESULTS["enable_ms"] = round((time.perf_counter() - started) * 1000.0, 2)
    check(module is not None, f"addon_utils.enable({ADDON!r}) returned None")
    check(ADDON in bpy.context.preferences.addons, f"{ADDON} is not in Preferences > Add-ons after enabling")
    RESULTS["addon_file"] = str(Path(module.__file__).resolve())
    RESULTS["addon_bl_info_version"] = list(module.bl_info["version"])
    RESULTS["litellm_imported_at_enable"] = any(m == "litellm" or m.startswith("litellm.") for m in sys.modules)
    RESULTS["modules_loaded_at_enable"] = len(set(sys.modules) - before)
    bpy.types.SCREENWRITER_PT_main.append(_count_panel_draw)
    then(lay_out, 0.5)


def lay_out() -> None:
    """Turn the 3D Viewport into a Text Editor, open the screenplay in it, and split off an output editor."""
    RESULTS["blender_version"] = bpy.app.version_string
    RESULTS["window_size"] = [window().width, window().height]
    area = max(window().screen.areas, key=lambda a: a.width * a.height)
    area.type = "TEXT_EDITOR"
    text = bpy.data.texts.load(CONFIG["screenplay"], internal=True)
    RESULTS["screenplay_text"] = text.name
    RESULTS["screenplay_before"] = text.as_string()
    area.spaces.active.text = text
    settings = bpy.context.scene.screenwriter
    settings.model = CONFIG["model"]
    bpy.context.preferences.addons[ADDON].preferences.api_base = CONFIG["api_base"]
    with bpy.context.temp_override(window=window(), area=area, region=region_of(area, "WINDOW")):
        result = bpy.ops.screen.area_split(direction="VERTICAL", factor=0.38)
    check(result == {"FINISHED"}, f"area_split returned {result}")
    then(show_sidebar)


def show_sidebar() -> None:
    """Scroll the screenplay to the scene, put the cursor on its heading and open the sidebar."""
    editors = text_editors()
    check(len(editors) == 2, f"expected two Text Editors after the split, found {len(editors)}")
    area = script_editor()
    space = area.spaces.active
    text = bpy.data.texts[RESULTS["screenplay_text"]]
    space.text = text
    text.cursor_set(CONFIG["scene_line"], character=0)
    space.top = max(0, CONFIG["scene_line"] - 2)
    space.show_region_ui = True
    then(open_tab)


_tab_tries = 0


def open_tab() -> None:
    """Ctrl+Wheel over the sidebar (as a person would) until its "Screenwriter" tab is the one shown."""
    global _tab_tries
    area = script_editor()
    if panel_drawn_in(area):
        RESULTS["tab_switches"] = _tab_tries
        then(widen_sidebar, 0.05)
        return
    check(_tab_tries < 6, "the Screenwriter panel never showed in the sidebar (tried Ctrl+Wheel 6 times)")
    _tab_tries += 1
    x, y = centre(region_of(area, "UI"))
    win = window()
    win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    win.event_simulate(type="WHEELDOWNMOUSE", value="PRESS", x=x, y=y, ctrl=True)
    _panel_draws.clear()
    then(open_tab)


_drag: list[tuple[str, str, int]] = []


def widen_sidebar() -> float | None:
    """Drag the sidebar's left edge 140 px to the left, one mouse event per tick, so the panel reads well."""
    win = window()
    ui = region_of(script_editor(), "UI")
    y = ui.y + ui.height // 2
    if not _drag and "sidebar_width_before" not in RESULTS:
        RESULTS["sidebar_width_before"] = ui.width
        x = ui.x + 1
        _drag.append(("MOUSEMOVE", "NOTHING", x))
        _drag.append(("LEFTMOUSE", "PRESS", x))
        _drag.extend(("MOUSEMOVE", "NOTHING", x - dx) for dx in range(10, 150, 10))
        _drag.append(("LEFTMOUSE", "RELEASE", x - 140))
    if _drag:
        kind, value, x = _drag.pop(0)
        win.event_simulate(type=kind, value=value, x=x, y=y)
        return 0.05
    then(check_sidebar)
    return None


def check_sidebar() -> None:
    """Record the sidebar's width and that the add-on's panel is still the one drawn there."""
    area = script_editor()
    RESULTS["sidebar_width"] = region_of(area, "UI").width
    RESULTS["panel_drawn_before_run"] = panel_drawn_in(area)
    start_watcher()
    _prewarm["started"] = time.perf_counter()
    then(wait_for_estimate, 0.1)


_prewarm: dict[str, float] = {}


def tag_all_redraw() -> None:
    """Redraw every area, so the sidebar's panel draws (and asks for its estimate) as on screen."""
    for area in window().screen.areas:
        area.tag_redraw()


def wait_for_estimate() -> float | None:
    """Wait, as a writer looking at the sidebar would, until the panel's estimate of the next request is
    shown: the sidebar starts loading LiteLLM on a background thread to count tokens (a one-time
    pre-warm). While that import runs, any Python on the main thread may wait for the GIL, so timing
    the invoke then would measure the import, not the operator. Records how long the pre-warm took."""
    from screenwriter_llm import runtime as addon_runtime

    ready = "litellm" in sys.modules and not any(
        t.name == "screenwriter-estimate" for t in threading.enumerate()
    )
    if not ready and time.perf_counter() - _prewarm["started"] < 60:
        tag_all_redraw()
        return 0.1
    RESULTS["prewarm_s"] = round(time.perf_counter() - _prewarm["started"], 2)
    RESULTS["prewarm_ready"] = ready
    RESULTS["estimator_present"] = addon_runtime.get().estimator is not None
    then(run_stream, 0.2)
    return None


# ------------------------------------------------------------------------------------------------------------
# The watcher: a heartbeat on the main loop that also samples the output Text's length.
# ------------------------------------------------------------------------------------------------------------

_watch: dict[str, Any] = {"output": None, "samples": None}


def start_watcher() -> None:
    """Register the watcher timer (it runs until Blender quits)."""
    bpy.app.timers.register(_watch_tick, first_interval=WATCH_INTERVAL)


def _watch_tick() -> float | None:
    samples = _watch["samples"]
    if samples is not None:
        text = bpy.data.texts.get(_watch["output"])
        samples.append((now_ms(), len(text.as_string()) if text is not None else -1))
    return None if _finished else WATCH_INTERVAL


def watch(output: str) -> list[tuple[float, int]]:
    """Start sampling ``output``'s length on every watcher tick; returns the (ms, length) list filled in."""
    _watch["output"] = output
    _watch["samples"] = []
    return _watch["samples"]


def job_running() -> bool:
    """Whether any analysis is running (the Cancel operator's poll says so)."""
    return bpy.ops.screenwriter.cancel.poll()


def invoke(run: str, output: str) -> dict[str, Any]:
    """Invoke Analyze Scene on the screenplay's Text Editor as the sidebar button would; time the call."""
    area = script_editor()
    record: dict[str, Any] = {"output": output, "samples": watch(output)}
    RESULTS["runs"][run] = record
    with bpy.context.temp_override(window=window(), area=area, region=region_of(area, "WINDOW")):
        started = time.perf_counter()
        result = bpy.ops.screenwriter.analyze_scene("INVOKE_DEFAULT", scene=CONFIG["scene"], output=output)
        record["invoke_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    record["invoke_result"] = sorted(result)
    record["invoked_at_ms"] = now_ms()
    record["running_after_invoke"] = job_running()
    return record


def summarise(record: dict[str, Any]) -> None:
    """Add tick counts, the longest gap between ticks and the growth steps of the output to ``record``."""
    samples = record["samples"]
    times = [t for t, _ in samples]
    gaps = [b - a for a, b in pairwise(times)]
    record["ticks"] = len(samples)
    record["max_gap_ms"] = round(max(gaps), 2) if gaps else None
    record["mean_gap_ms"] = round(sum(gaps) / len(gaps), 2) if gaps else None
    lengths = [n for _, n in samples]
    record["growth_steps"] = sum(1 for a, b in pairwise(lengths) if b > a)
    grown = [t for (_, m), (t, n) in pairwise(samples) if n > m]
    record["first_growth_ms"] = grown[0] if grown else None
    record["last_growth_ms"] = grown[-1] if grown else None
    text = bpy.data.texts.get(record["output"])
    record["final_text"] = text.as_string() if text is not None else None


# ------------------------------------------------------------------------------------------------------------
# Run 1: stream a whole answer.
# ------------------------------------------------------------------------------------------------------------

_run_deadline = 0.0


def run_stream() -> None:
    """Run 1: invoke, show the output in the left editor, then wait for the stream to end."""
    global _run_deadline
    record = invoke("stream", "Analysis")
    check(record["invoke_result"] == ["RUNNING_MODAL"], f"invoke returned {record['invoke_result']}")
    output_editor = text_editors()[0].spaces.active
    output_editor.text = bpy.data.texts.get("Analysis")
    _run_deadline = time.perf_counter() + CONFIG["run_timeout_s"]
    then(wait_stream, 0.1)


def wait_stream() -> float | None:
    """Poll until the job has ended; then summarise run 1 and move on to the screenshot."""
    if job_running():
        check(time.perf_counter() < _run_deadline, f"run 1 still streaming after {CONFIG['run_timeout_s']} s")
        return 0.1
    record = RESULTS["runs"]["stream"]
    record["ended_ms"] = now_ms()
    _watch["samples"] = None
    summarise(record)
    text_editors()[0].spaces.active.top = 0
    then(measure_redraw, 0.3)
    return None


_calibration: dict[str, Any] = {"left": None, "samples": None}


def measure_redraw() -> float | None:
    """Measure what redrawing costs here: tag both Text Editors for redraw a few times, with nothing
    streaming, and keep the watcher's longest gap (the driver compares the streaming run with it).

    Under Xvfb Blender draws with Mesa's software renderer, where a Text Editor costs milliseconds per
    visible line, so a redraw of this window alone pauses the main loop for 100 ms or more.
    """
    if _calibration["left"] is None:
        _calibration["samples"] = watch("Analysis")
        _calibration["left"] = 5
    if _calibration["left"]:
        _calibration["left"] -= 1
        for area in text_editors():
            area.tag_redraw()
        return 0.25
    _watch["samples"] = None
    times = [t for t, _ in _calibration["samples"]]
    RESULTS["redraw_gap_ms"] = round(max(b - a for a, b in pairwise(times)), 2)
    RESULTS["redraw_ticks"] = len(times)
    _panel_draws.clear()
    for area in text_editors():
        area.tag_redraw()
    then(screenshot, 0.3)
    return None


def screenshot() -> None:
    """Save the whole window (sidebar tab open, the analysis beside the script) as a PNG."""
    RESULTS["panel_drawn_at_screenshot"] = panel_drawn_in(script_editor())
    save_screenshot(CONFIG["screenshot"], "screenshot")
    then(run_escape, 0.2)


def save_screenshot(filepath: str, key: str) -> None:
    """Save the whole window as a PNG at ``filepath``; record the operator's result under ``key``.

    Called from a timer, whose context already has the window, and deliberately not under
    ``context.temp_override``: Blender releases the GIL while an operator called from Python runs, and with
    an override active every ``CTX_wm_*_set`` of the redraw edits the override's dict after checking
    ``PyC_IsInterpreterActive()``, which on Python 3.11 is true whenever any thread holds the GIL. With
    the add-on's worker thread running Python, that edit can happen without the GIL: Blender 3.4 segfaulted
    in about 1 of 8 runs while screenshots were taken under an override (gdb: a worker thread crashed in
    ``_PyEval_EvalFrameDefault`` while the main thread was inside the screenshot operator's redraw).
    """
    path = Path(filepath)
    path.parent.mkdir(parents=True, exist_ok=True)
    check(bpy.context.window is not None, "no window in the timer's context")
    result = bpy.ops.screen.screenshot(filepath=str(path))
    RESULTS[f"{key}_result"] = sorted(result)


# ------------------------------------------------------------------------------------------------------------
# Runs 2 and 3: stop a stream with ESC, then with the Cancel operator.
# ------------------------------------------------------------------------------------------------------------


def stop_when_streaming(run: str, stop: Callable[[dict[str, Any]], None], after: Callable[[], float | None]) -> None:
    """Invoke run ``run``; once text has streamed for ``CONFIG['cancel_after_s']`` s call ``stop(record)``,
    wait for the job to end and for ``CONFIG['settle_s']`` more (the text must not grow), then ``after``."""
    global _run_deadline
    record = invoke(run, f"Analysis {run}")
    check(record["invoke_result"] == ["RUNNING_MODAL"], f"{run}: invoke returned {record['invoke_result']}")
    text_editors()[0].spaces.active.text = bpy.data.texts.get(record["output"])
    _run_deadline = time.perf_counter() + CONFIG["run_timeout_s"]

    def wait_for_text() -> float | None:
        samples = record["samples"]
        grown = [t for t, n in samples if n > 0]
        if not grown or now_ms() - grown[0] < CONFIG["cancel_after_s"] * 1000.0:
            check(time.perf_counter() < _run_deadline, f"{run}: no text streamed within {CONFIG['run_timeout_s']} s")
            return 0.02
        record["length_at_stop"] = samples[-1][1]
        record["text_at_stop"] = bpy.data.texts[record["output"]].as_string()
        stop(record)
        record["stopped_at_ms"] = now_ms()
        then(wait_end, 0.05)
        return None

    def wait_end() -> float | None:
        if job_running():
            check(time.perf_counter() < _run_deadline, f"{run}: still running {CONFIG['run_timeout_s']} s after start")
            return 0.05
        record["ended_ms"] = now_ms()
        record["length_at_end"] = len(bpy.data.texts[record["output"]].as_string())
        then(settled, CONFIG["settle_s"])
        return None

    def settled() -> None:
        _watch["samples"] = None
        summarise(record)
        after()

    then(wait_for_text, 0.02)


def run_escape() -> None:
    """Run 2: stop the stream with ESC pressed over the screenplay's Text Editor."""

    def press_escape(record: dict[str, Any]) -> None:
        save_screenshot(CONFIG["screenshot_streaming"], "screenshot_streaming")
        x, y = centre(region_of(script_editor(), "WINDOW"))
        win = window()
        win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
        win.event_simulate(type="ESC", value="PRESS", x=x, y=y)
        win.event_simulate(type="ESC", value="RELEASE", x=x, y=y)

    stop_when_streaming("esc", press_escape, lambda: then(run_cancel_operator, 0.1))


def run_cancel_operator() -> None:
    """Run 3: stop the stream with ``screenwriter.cancel`` (the sidebar's Cancel button)."""

    def cancel(record: dict[str, Any]) -> None:
        record["cancel_result"] = sorted(bpy.ops.screenwriter.cancel())

    stop_when_streaming("cancel_operator", cancel, lambda: then(done, 0.05))


def done() -> None:
    """Record the screenplay after all runs and end."""
    text = bpy.data.texts.get(RESULTS["screenplay_text"])
    RESULTS["screenplay_after"] = text.as_string() if text is not None else None
    RESULTS["texts"] = sorted(t.name for t in bpy.data.texts)
    finish()


def main() -> None:
    """Load-time setup (before the window shows): no splash, LiteLLM's directory on sys.path, the steps."""
    faulthandler.enable(all_threads=True)  # a crash prints every Python thread's stack into the log
    bpy.app.timers.register(_watchdog, first_interval=float(CONFIG["deadline_s"]))
    try:
        bpy.context.preferences.view.show_splash = False  # read before the first window draw
        sys.path.insert(0, CONFIG["deps"])
        RESULTS["event_simulate"] = bpy.app.use_event_simulate
        check(bpy.app.use_event_simulate, "start Blender with --enable-event-simulate")
        then(enable_addon, 0.2)
    except Exception:
        finish(traceback.format_exc())


main()

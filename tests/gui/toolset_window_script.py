"""Runs inside a real Blender window (Debian's ``blender`` 3.4 under Xvfb), driven by ``test_toolset_window.py``.

Started as ``blender --factory-startup --python toolset_window_script.py -- <config.json>``. Steps, on Blender's
main loop (``bpy.app.timers``): show the screenplay in the largest area as a Text Editor; invoke
``screenwriter.run_task(task="punch_up")`` there (``INVOKE_DEFAULT``: the answer view splits the script's editor
and shows the proposal beside it while it streams); wait for the proposal; apply it (``screenwriter.apply_proposal``,
an UNDO operator, called with undo as a button click is) with the script's editor as context; then
``bpy.ops.ed.undo()`` once and record whether the script is byte for byte what it was; redo, undo again. Writes
the results to JSON and quits.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import addon_utils  # type: ignore[import-not-found]
import bpy

CONFIG: dict[str, Any] = json.loads(Path(sys.argv[sys.argv.index("--") + 1]).read_text(encoding="utf-8"))
RESULTS: dict[str, Any] = {"steps": []}
T0 = time.monotonic()


def finish(error: str = "") -> None:
    if error:
        RESULTS["error"] = error
    Path(CONFIG["results"]).write_text(json.dumps(RESULTS, indent=2), encoding="utf-8")
    bpy.ops.wm.quit_blender()


def window() -> bpy.types.Window:
    return bpy.context.window_manager.windows[0]


def editors() -> list[bpy.types.Area]:
    return [a for a in window().screen.areas if a.type == "TEXT_EDITOR"]


def override(area: bpy.types.Area) -> Any:
    region = next(r for r in area.regions if r.type == "WINDOW")
    return bpy.context.temp_override(window=window(), screen=window().screen, area=area, region=region)


STATE: dict[str, Any] = {}


def step_setup() -> None:
    sys.path.insert(0, CONFIG["deps"])
    addon_utils.enable("screenwriter_llm", default_set=True, handle_error=None)
    text = bpy.data.texts.new(Path(CONFIG["screenplay"]).name)
    text.from_string(Path(CONFIG["screenplay"]).read_text(encoding="utf-8").replace("\r\n", "\n"))
    area = max(window().screen.areas, key=lambda a: a.width * a.height)
    area.type = "TEXT_EDITOR"
    area.spaces.active.text = text
    settings = bpy.context.scene.screenwriter
    settings.model = CONFIG["model"]
    settings.temperature = 0.3
    bpy.context.preferences.addons["screenwriter_llm"].preferences.api_base = CONFIG["api_base"]
    STATE["text"] = text.name
    STATE["before"] = text.as_string()
    for value in ("PRESS", "RELEASE"):  # close the first-run splash, which would swallow the sidebar's events
        window().event_simulate(type="ESC", value=value, x=5, y=5)
    RESULTS["editors_before"] = len(editors())
    bpy.ops.ed.undo_push(message="Open Screenplay")  # what opening the file in the editor leaves on the stack
    RESULTS["steps"].append("setup")


def step_invoke() -> None:
    area = next(a for a in editors() if a.spaces.active.text.name == STATE["text"])
    with override(area):
        result = bpy.ops.screenwriter.run_task("INVOKE_DEFAULT", task="punch_up", scene=CONFIG["scene"])
    RESULTS["invoke"] = sorted(result)
    RESULTS["editors_after_invoke"] = len(editors())
    RESULTS["shown"] = sorted(a.spaces.active.text.name for a in editors() if a.spaces.active.text)
    RESULTS["word_wrap"] = [bool(a.spaces.active.show_word_wrap) for a in editors()
                            if a.spaces.active.text and a.spaces.active.text.name != STATE["text"]]
    RESULTS["steps"].append("invoke")


def proposal_ready() -> bool:
    from screenwriter_llm import runtime

    name = CONFIG["proposal"]
    text = bpy.data.texts.get(name)
    return text is not None and bool(text.get("screenwriter_proposal")) and not runtime.get().busy


def step_apply() -> None:
    area = next(a for a in editors() if a.spaces.active.text and a.spaces.active.text.name == STATE["text"])
    with override(area):
        # As a click on the sidebar's button does: EXEC_DEFAULT with undo (a bare bpy.ops call from Python never
        # pushes an undo step; the positional True asks for the push a button makes).
        result = bpy.ops.screenwriter.apply_proposal("EXEC_DEFAULT", True, proposal=CONFIG["proposal"])
        RESULTS["apply"] = sorted(result)
    text = bpy.data.texts[STATE["text"]]
    from screenwriter_llm.operators import proposals

    RESULTS["written"] = list(proposals.LAST_WRITE)
    RESULTS["changed_after_apply"] = text.as_string() != STATE["before"]
    RESULTS["proposed_in_script"] = CONFIG["proposed_line"] in text.as_string()
    RESULTS["steps"].append("apply")


def step_undo() -> None:
    area = next(a for a in editors() if a.spaces.active.text and a.spaces.active.text.name == STATE["text"])
    with override(area):
        RESULTS["undo"] = sorted(bpy.ops.ed.undo())
    RESULTS["restored_byte_for_byte"] = bpy.data.texts[STATE["text"]].as_string() == STATE["before"]
    RESULTS["steps"].append("undo")


def step_redo_and_undo_again() -> None:
    area = next(a for a in editors() if a.spaces.active.text and a.spaces.active.text.name == STATE["text"])
    with override(area):
        bpy.ops.ed.redo()
        RESULTS["reapplied_by_redo"] = CONFIG["proposed_line"] in bpy.data.texts[STATE["text"]].as_string()
        bpy.ops.ed.undo()
    RESULTS["restored_again"] = bpy.data.texts[STATE["text"]].as_string() == STATE["before"]
    RESULTS["steps"].append("redo")


def step_notes_and_undo() -> None:
    answer = bpy.data.texts.new("Notes Answer")
    answer["screenwriter_output"] = True
    answer["screenwriter_source"] = STATE["text"]
    answer["screenwriter_complete"] = True
    answer["screenwriter_request"] = json.dumps({"task": "analyze_scene", "messages": [
        {"role": "user", "content": "Scene 1 of 8: EXT. BRICK'S PATIO - DAY"}]})
    answer.from_string("7. Suggestions:\n- Hold \"Longer than is funny.\" a beat.\n- Open on the beers.\n")
    text = bpy.data.texts[STATE["text"]]
    before = text.as_string()
    area = next(a for a in editors() if a.spaces.active.text and a.spaces.active.text.name == STATE["text"])
    with override(area):
        RESULTS["notes"] = sorted(bpy.ops.screenwriter.insert_notes("EXEC_DEFAULT", True, answer=answer.name))
    lines = text.as_string().split("\n")
    quoted = lines.index("Longer than is funny.")
    RESULTS["note_after_quote"] = lines[quoted + 1].startswith("[[Hold")
    with override(area):
        bpy.ops.ed.undo()
    RESULTS["notes_undone"] = bpy.data.texts[STATE["text"]].as_string() == before  # undo may reload the data
    RESULTS["steps"].append("notes")


def step_format_check() -> None:
    area = next(a for a in editors() if a.spaces.active.text and a.spaces.active.text.name == STATE["text"])
    area.spaces.active.show_region_ui = True  # the sidebar (Tasks, Sections) draws from here on
    with override(area):
        RESULTS["format_check"] = sorted(bpy.ops.screenwriter.run_task("INVOKE_DEFAULT", task="format_check"))
    RESULTS["shown_after_format_check"] = sorted(a.spaces.active.text.name for a in editors() if a.spaces.active.text)
    for each in window().screen.areas:
        each.tag_redraw()
    RESULTS["steps"].append("format_check")


_draws: list[str] = []


def _tasks_panel_drawn(self: Any, context: Any) -> None:
    _draws.append(self.bl_idname if hasattr(self, "bl_idname") else "tasks")


def tasks_tab_shown() -> bool:
    """Ctrl+Wheel over the script editor's sidebar until the Screenwriter tab (with the Tasks panel) draws."""
    if not STATE.get("hooked"):
        bpy.types.SCREENWRITER_PT_tasks.append(_tasks_panel_drawn)
        STATE["hooked"], STATE["tries"] = True, 0
    if _draws:
        RESULTS["tasks_panel_drawn"] = True
        return True
    if STATE["tries"] >= 6:
        RESULTS["tasks_panel_drawn"] = False
        return True
    STATE["tries"] += 1
    area = next(a for a in editors() if a.spaces.active.text and a.spaces.active.text.name == STATE["text"])
    ui = next(r for r in area.regions if r.type == "UI")
    x, y = ui.x + ui.width // 2, ui.y + ui.height // 2
    window().event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    window().event_simulate(type="WHEELDOWNMOUSE", value="PRESS", x=x, y=y, ctrl=True)
    return False


PLAN = [
    (step_setup, None),
    (step_invoke, None),
    (None, proposal_ready),
    (step_apply, None),
    (step_undo, None),
    (step_redo_and_undo_again, None),
    (step_notes_and_undo, None),
    (step_format_check, None),
    (None, tasks_tab_shown),
    (lambda: None, None),  # one more redraw of the sidebar before quitting
    (lambda: RESULTS.update(screenshot=sorted(bpy.ops.screen.screenshot(filepath=CONFIG["screenshot"]))), None),
]


def driver() -> float | None:
    try:
        if time.monotonic() - T0 > CONFIG["deadline_s"]:
            finish(f"timed out after steps {RESULTS['steps']}")
            return None
        if not PLAN:
            finish()
            return None
        action, wait = PLAN[0]
        if wait is not None:
            if not wait():
                return 0.1
            PLAN.pop(0)
            return 0.3
        PLAN.pop(0)
        action()
        return 0.5
    except Exception:  # noqa: BLE001 - write the error and quit
        finish(traceback.format_exc())
        return None


bpy.app.timers.register(driver, first_interval=1.0)

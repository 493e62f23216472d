"""The window tier for the writer's toolset (Debian's ``blender`` 3.4 under ``xvfb-run``): Punch Up invoked in the
script's editor streams its proposal beside the script (the editor is split; the script stays shown), Apply Proposal
changes the script as one undo step, and one ``ed.undo`` restores the script byte for byte
(``toolset_window_script.py`` does the clicking; results in ``artifacts/gui/toolset-results.json``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.gui.test_window import BLENDER_PATH, GUI_DEPS, REPO, SCREEN, SHARED, _require_tools, _stop
from tests.provider_server import spawn

pytestmark = pytest.mark.gui

SCRIPT = Path(__file__).resolve().with_name("toolset_window_script.py")
ARTIFACTS = REPO / "artifacts" / "gui"
SCREENPLAY = SHARED / "screenplays" / "Brick-and-Steel.fountain"
PROPOSED_LINE = "Cold beer. Colder retirement."
PROPOSAL = "EXT. BRICK'S PATIO - DAY\n\nSTEEL\n" + PROPOSED_LINE
HARD_TIMEOUT_S = 120


def _server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    try:
        return spawn(tmp, "--text", PROPOSAL, "--tokens-per-second", "40", timeout=15)
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def toolset_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tools = _require_tools()
    tmp = tmp_path_factory.mktemp("gui-toolset")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    addons = tmp / "scripts" / "addons"
    addons.mkdir(parents=True)
    (addons / "screenwriter_llm").symlink_to(REPO / "screenwriter_llm", target_is_directory=True)
    results_path = ARTIFACTS / "toolset-results.json"
    results_path.unlink(missing_ok=True)
    server, base_url = _server(tmp)
    try:
        config = {
            "results": str(results_path), "screenplay": str(SCREENPLAY), "scene": 1, "deps": str(GUI_DEPS),
            "api_base": base_url + "/v1", "model": "openai/gpt-4o-mini", "deadline_s": 80,
            "proposal": "Brick-and-Steel - Scene 1 Punch Up", "proposed_line": PROPOSED_LINE,
            "screenshot": str(ARTIFACTS / "toolset-window.png"),
        }
        (tmp / "config.json").write_text(json.dumps(config), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "BLENDER_"))}
        env.update(PATH=BLENDER_PATH, OPENAI_API_KEY="sk-test", TMPDIR=str(tmp),
                   BLENDER_USER_SCRIPTS=str(tmp / "scripts"), BLENDER_USER_CONFIG=str(tmp / "config"))
        cmd = [tools["xvfb-run"], "-a", "-s", SCREEN, tools["blender"], "--factory-startup", "--enable-event-simulate",
               "--python-exit-code", "1", "--python", str(SCRIPT), "--", str(tmp / "config.json")]
        log_path = ARTIFACTS / "toolset-blender.log"
        with log_path.open("wb") as log:
            blender = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            try:
                blender.wait(timeout=HARD_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _stop(blender, group=True)
                pytest.fail(f"Blender did not quit within {HARD_TIMEOUT_S} s; see {log_path}")
    finally:
        _stop(server)
    log_text = log_path.read_text(errors="replace")
    if not results_path.exists():
        pytest.fail(f"Blender exited with {blender.returncode} and wrote no results:\n{log_text[-4000:]}")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    results["log"] = log_text
    if results.get("error"):
        pytest.fail(f"in Blender, after {results['steps']}:\n{results['error']}\n--- log ---\n{log_text[-3000:]}")
    return results


def test_the_proposal_streams_beside_the_script(toolset_run: dict[str, Any]) -> None:
    assert toolset_run["invoke"] == ["RUNNING_MODAL"]
    assert toolset_run["editors_after_invoke"] == toolset_run["editors_before"] + 1, "the script's editor was split"
    assert toolset_run["shown"] == ["Brick-and-Steel - Scene 1 Punch Up", "Brick-and-Steel.fountain"]
    assert toolset_run["word_wrap"] == [True]


def test_apply_is_one_undo_step_restoring_the_script_byte_for_byte(toolset_run: dict[str, Any]) -> None:
    assert toolset_run["apply"] == ["FINISHED"]
    assert toolset_run["changed_after_apply"] and toolset_run["proposed_in_script"]
    assert toolset_run["written"] == ["typed"], "typed through the Text Editor, so its undo records it"
    assert toolset_run["undo"] == ["FINISHED"]
    assert toolset_run["restored_byte_for_byte"], "one Ctrl+Z restores the script"
    assert toolset_run["reapplied_by_redo"] and toolset_run["restored_again"]


def test_insert_notes_is_one_undo_step_too(toolset_run: dict[str, Any]) -> None:
    assert toolset_run["notes"] == ["FINISHED"] and toolset_run["note_after_quote"]
    assert toolset_run["notes_undone"]


def test_format_check_from_the_ui_shows_its_list_beside_the_script(toolset_run: dict[str, Any]) -> None:
    assert toolset_run["format_check"] == ["FINISHED"]
    assert "Brick-and-Steel - Format Check" in toolset_run["shown_after_format_check"]
    assert "Brick-and-Steel.fountain" in toolset_run["shown_after_format_check"]


def test_the_sidebar_and_menus_draw_without_errors(toolset_run: dict[str, Any]) -> None:
    assert toolset_run["tasks_panel_drawn"], "the Screenwriter tab's Tasks panel drew"
    assert "Traceback" not in toolset_run["log"], toolset_run["log"][-3000:]

"""The window tier for previs: Build Story Reel in a real Blender window (Debian's ``blender`` 3.4 under ``xvfb-run``).

``reel_window_script.py`` builds the reel of *Big Fish* (190 scenes) inside Blender 3.4 (the legacy add-on, through
``compat``: ``sequences`` and ``new_effect(frame_end=...)`` there), shows it in a Video Sequencer and saves the
screenshot ``artifacts/gui/story-reel.png`` (with ``artifacts/gui/story-reel.json`` and ``story-reel.log``).
Missing tools are a failure, never a skip: run ``scripts/bootstrap.sh --gui``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.gui

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SCREENWRITER_SHARED") or REPO.parent / "shared")
SCREENPLAY = SHARED / "screenplays" / "Big-Fish.fountain"
SCRIPT = Path(__file__).resolve().with_name("reel_window_script.py")
ARTIFACTS = REPO / "artifacts" / "gui"
GUI_DEPS = Path(os.environ.get("SCREENWRITER_GUI_DEPS") or REPO / ".gui-deps")
BLENDER_PATH = "/usr/bin:" + os.environ.get("PATH", "")
SCREEN = "-screen 0 1600x1000x24"
HARD_TIMEOUT_S = 120


def _tools() -> dict[str, str]:
    tools = {name: shutil.which(name, path=BLENDER_PATH) for name in ("blender", "xvfb-run", "xauth")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        pytest.fail(f"window tier needs {', '.join(missing)}: run scripts/bootstrap.sh --gui", pytrace=False)
    if not (GUI_DEPS / "fountain").exists() and not any(GUI_DEPS.glob("fountain*")):
        pytest.fail(f"window tier needs the add-on's dependencies in {GUI_DEPS}: scripts/bootstrap.sh --gui")
    return {name: str(path) for name, path in tools.items()}


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _png_colours(path: Path) -> set[tuple[int, int, int]]:
    """The distinct RGB colours of an 8-bit RGB/RGBA PNG (no filters beyond the five standard ones)."""
    data = path.read_bytes()
    width, height = _png_size(path)
    kind = data[25]
    channels = {2: 3, 6: 4}[kind]
    chunks, offset = b"", 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        if data[offset + 4 : offset + 8] == b"IDAT":
            chunks += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(chunks)
    stride = width * channels
    previous = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for row in range(height):
        start = row * (stride + 1)
        kind_filter, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind_filter == 1:
                line[i] = (line[i] + left) & 255
            elif kind_filter == 2:
                line[i] = (line[i] + up) & 255
            elif kind_filter == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind_filter == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        if row % 4 == 0:
            for x in range(0, width, 4):
                colours.add(tuple(line[x * channels : x * channels + 3]))  # type: ignore[arg-type]
        previous = line
    return colours


@pytest.fixture(scope="module")
def reel_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tools = _tools()
    tmp = tmp_path_factory.mktemp("reel")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("story-reel.png", "story-reel.json", "story-reel.log"):
        (ARTIFACTS / name).unlink(missing_ok=True)
    addons = tmp / "scripts" / "addons"
    addons.mkdir(parents=True)
    (addons / "screenwriter_llm").symlink_to(REPO / "screenwriter_llm", target_is_directory=True)
    config = {
        "results": str(ARTIFACTS / "story-reel.json"),
        "screenshot": str(ARTIFACTS / "story-reel.png"),
        "screenplay": str(SCREENPLAY),
        "deps": str(GUI_DEPS),
        "deadline_s": 60,
    }
    config_path = tmp / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "BLENDER_"))}
    env.update(
        PATH=BLENDER_PATH,
        TMPDIR=str(tmp),
        BLENDER_USER_SCRIPTS=str(tmp / "scripts"),
        BLENDER_USER_CONFIG=str(tmp / "config"),
    )
    cmd = [
        tools["xvfb-run"], "-a", "-s", SCREEN, tools["blender"], "--factory-startup", "--python-exit-code", "1",
        "--python", str(SCRIPT), "--", str(config_path),
    ]  # fmt: skip
    log_path = ARTIFACTS / "story-reel.log"
    with log_path.open("wb") as log:
        blender = subprocess.Popen(cmd, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            blender.wait(timeout=HARD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(blender.pid, 9)
            blender.wait(timeout=10)
            pytest.fail(f"Blender did not quit within {HARD_TIMEOUT_S} s; see {log_path}")
    log_text = log_path.read_text(errors="replace")
    results_path = ARTIFACTS / "story-reel.json"
    if not results_path.exists():
        pytest.fail(f"Blender exited with {blender.returncode} and wrote no results:\n{log_text[-4000:]}")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    if results.get("error"):
        pytest.fail(f"in Blender, after {results['steps']}:\n{results['error']}\n{log_text[-3000:]}", pytrace=False)
    assert blender.returncode == 0, log_text[-4000:]
    return results


def test_reel_is_built_in_blender_3_4(reel_run: dict[str, Any]) -> None:
    print({k: reel_run[k] for k in ("blender_version", "colour_strips", "text_strips", "markers", "frames")})
    assert reel_run["blender_version"].startswith("3.4")
    assert reel_run["build_result"] == ["FINISHED"] and reel_run["second_result"] == ["FINISHED"]
    assert reel_run["colour_strips"] == 190 and reel_run["text_strips"] == 190 and reel_run["markers"] == 190
    assert reel_run["strips_after_second_run"] == 380, "a second run duplicates nothing"


def test_screenshot_shows_the_sequencer_with_strips(reel_run: dict[str, Any]) -> None:
    path = ARTIFACTS / "story-reel.png"
    assert reel_run["screenshot_result"] == ["FINISHED"] and path.exists()
    assert _png_size(path) == (1600, 1000) or _png_size(path)[0] >= 800
    colours = _png_colours(path)
    # The colour strips are drawn in their own colours (timeline.py's palette), which no default theme uses.
    palette = [(89, 115, 166), (140, 102, 76), (89, 140, 102), (140, 89, 140)]
    near = [c for c in palette if any(sum(abs(a - b) for a, b in zip(c, seen, strict=True)) < 60 for seen in colours)]
    assert len(near) >= 2, f"strip colours not seen in the screenshot ({len(colours)} colours sampled)"

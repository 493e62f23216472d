"""Prompt templates (files in the package's ``prompts/`` folder) and the rendering of messages.

Templates use :class:`string.Template` placeholders (``$title``). Screenplay text is data: it is put
between ``<screenplay_scene>`` tags, and any tag-like text inside it that could close that block early
is neutralised, so a line in the script cannot pose as an instruction (see the system template).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

from ..screenplay.fountain import Scene, Screenplay

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "prompts"
DATA_TAG = "screenplay_scene"


@cache
def load_template(name: str) -> Template:
    """The template ``prompts/<name>.md`` (UTF-8). Raises ``FileNotFoundError`` if it is missing."""
    return Template((TEMPLATE_DIR / f"{name}.md").read_text(encoding="utf-8").strip())


def delimit(text: str) -> str:
    """Neutralise any ``<screenplay_scene>``/``</screenplay_scene>`` tag in screenplay text so the data
    block cannot be closed from inside (the angle bracket becomes a look-alike, U+2039)."""
    return text.replace(f"</{DATA_TAG}", f"‹/{DATA_TAG}").replace(f"<{DATA_TAG}", f"‹{DATA_TAG}")


def scene_analysis_messages(screenplay: Screenplay, scene: Scene, title: str) -> tuple[dict[str, str], ...]:
    """The chat messages for a scene analysis: the system template, then the user template carrying
    the script's title and the chosen scene only (not the whole script).

    Returns ``({"role": "system", ...}, {"role": "user", ...})``.
    """
    user = load_template("analyze_scene.user").substitute(
        title=title,
        scene_number=scene.number,
        scene_count=len(screenplay.scenes),
        scene_heading=scene.heading,
        scene_text=delimit(screenplay.scene_text(scene)),
    )
    return (
        {"role": "system", "content": load_template("analyze_scene.system").template},
        {"role": "user", "content": user},
    )

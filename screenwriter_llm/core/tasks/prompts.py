"""The scene-analysis messages, rendered from the built-in task file ``tasks/analyze_scene.md``.

A thin layer kept for its callers (operators, the sidebar, the benchmark): the templates live in the task file
(:mod:`.task`), and the screenplay text becomes delimited, neutralised prompt data in :mod:`.render`.
"""

from __future__ import annotations

from ..screenplay.fountain import Scene, Screenplay
from .render import DATA_TAG, delimit, neutralise, scene_values
from .task import Task, builtin_task

__all__ = ["DATA_TAG", "delimit", "neutralise", "scene_analysis_messages"]


def scene_analysis_messages(
    screenplay: Screenplay, scene: Scene, title: str, task: Task | None = None
) -> tuple[dict[str, str], ...]:
    """The chat messages for a scene analysis: the system template, then the user template carrying the
    script's title, the scene heading and the chosen scene only (not the whole script), all inside the
    ``<screenplay_scene>`` data block.

    ``task``: a task with the ``title`` and ``scene`` context (a user's override of ``analyze_scene``);
    the built-in one by default. Returns ``({"role": "system", ...}, {"role": "user", ...})``. Raises
    :class:`.task.TaskError` if the task file is broken or uses a placeholder this does not supply.
    """
    return (task or builtin_task("analyze_scene")).render(scene_values(screenplay, scene, title))

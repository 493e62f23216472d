"""The offline demo answer: what the headless CLI sends through LiteLLM's ``mock_response`` when no
provider is configured, so the whole pipeline (worker, LiteLLM stream, pump, Text) runs without a
network. It is clearly labelled as a demo and states only facts counted from the scene itself.
"""

from __future__ import annotations

from ..screenplay.fountain import Scene, Screenplay

OFFLINE_LABEL = (
    "OFFLINE DEMO: no model provider is configured, so this is LiteLLM's mock response, not a model's analysis."
)


def offline_answer(screenplay: Screenplay, scene: Scene) -> str:
    """A labelled demo answer with facts counted from ``scene`` (heading, length, speaking parts)."""
    body = screenplay.scene_text(scene)
    words = len(body.split())
    people = screenplay.characters_in(scene)
    cast = ", ".join(people) if people else "no speaking parts"
    return (
        f"{OFFLINE_LABEL}\n\n"
        f"Scene {scene.number}: {scene.heading}\n"
        f"Length: {scene.end_line - scene.start_line + 1} lines, {words} words.\n"
        f"Speaking: {cast}.\n\n"
        "To get a real analysis, set OPENAI_API_KEY or ANTHROPIC_API_KEY, or start a local Ollama "
        "server, and run the command again.\n"
    )

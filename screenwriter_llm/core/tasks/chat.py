"""Script chat: a conversation attached to a screenplay, stored with its Text in the .blend, and the
worker-side planning that keeps each request inside the model's context window.

Pure Python (no bpy). :func:`context_preparer` runs on the worker thread (it counts tokens with
LiteLLM through :mod:`.cost`); everything else is cheap and main-thread safe.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..provider.llm import LLMRequest
from ..screenplay.fountain import Scene, Screenplay
from . import context as ctx
from .prompts import DATA_TAG, delimit, load_template

#: Scene headings listed in the system prompt before the list is cut short (a feature has ~200).
MAX_LISTED_SCENES = 300
SUMMARY_INSTRUCTIONS = (
    "Summarise the conversation below between a screenwriter and a script consultant so it can continue "
    "without it: the questions asked, the conclusions reached, decisions and open points, names of scenes "
    "and characters discussed. At most 200 words. Plain text."
)


@dataclass
class Conversation:
    """A chat's history: ``turns`` are ``{"role": "user"|"assistant", "content": str}`` dicts, oldest first;
    ``summary`` stands in for the oldest ``summary.covers`` turns once compressed; ``context`` is the last
    request's context report (what was sent, dropped, summarised). No key or usage secret is stored."""

    source: str = ""
    turns: list[dict[str, str]] = field(default_factory=list)
    summary: ctx.ChatSummary | None = None
    context: str = ""

    def to_json(self) -> str:
        """The conversation as JSON, for an ID property of its Text."""
        summary = {"text": self.summary.text, "covers": self.summary.covers} if self.summary else None
        return json.dumps({"source": self.source, "turns": self.turns, "summary": summary, "context": self.context})

    @classmethod
    def from_json(cls, text: str | None) -> Conversation:
        """Read :meth:`to_json`'s output; an empty or unreadable value gives an empty conversation."""
        try:
            data = json.loads(text or "{}")
            turns = [{"role": str(t["role"]), "content": str(t["content"])} for t in data.get("turns", [])]
            raw = data.get("summary")
            summary = ctx.ChatSummary(str(raw["text"]), int(raw["covers"])) if raw else None
            return cls(str(data.get("source", "")), turns, summary, str(data.get("context", "")))
        except (ValueError, TypeError, KeyError):
            return cls()


def system_prompt(screenplay: Screenplay, title: str, current: Scene | None) -> str:
    """The chat's system prompt: the script's title, its scene list and, when the cursor is in a scene,
    that scene's text as delimited data."""
    listed = screenplay.scenes[:MAX_LISTED_SCENES]
    scene_list = "\n".join(f"{s.number}. {s.heading}" for s in listed) or "(no scene headings found)"
    if len(screenplay.scenes) > MAX_LISTED_SCENES:
        scene_list += f"\n… and {len(screenplay.scenes) - MAX_LISTED_SCENES} more"
    current_text = ""
    if current is not None:
        current_text = (
            f"\nThe writer's cursor is in scene {current.number}:\n<{DATA_TAG}>\n"
            f"{delimit(screenplay.scene_text(current))}\n</{DATA_TAG}>"
        )
    return load_template("chat.system").substitute(title=title, scene_list=scene_list, current_scene=current_text)


Prepare = Callable[[LLMRequest], tuple[LLMRequest, str]]


def context_preparer(
    system: str,
    turns: list[dict[str, str]],
    new_message: str,
    summary: ctx.ChatSummary | None,
    default_window: int,
) -> Prepare:
    """A job ``prepare`` hook: for each model tried, count tokens with that model's tokenizer and keep
    the request inside its context window (:func:`.context.plan_context`: system prompt and newest turns
    kept, oldest dropped or replaced by the summary, ``max_tokens`` reserved). Returns the request to
    send and the context report. Worker thread only. Raises :class:`.context.ContextTooLarge`."""

    def prepare(request: LLMRequest) -> tuple[LLMRequest, str]:
        from ..accounting import cost

        window = cost.context_window(request.model, default_window)
        count = functools.partial(_count, request.model)
        plan = ctx.plan_context(system, turns, new_message, request.max_tokens, window, count, summary=summary)
        messages = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in plan.messages)
        return replace(request, messages=messages), plan.describe()

    return prepare


def _count(model: str, messages: Any) -> int:
    from ..accounting import cost

    return cost.count_tokens(model, messages=messages)


def summary_messages(conversation: Conversation, keep_last: int = 4) -> tuple[tuple[dict[str, str], ...], int]:
    """The request that compresses all but the newest ``keep_last`` turns (with any earlier summary),
    and how many turns the new summary will cover. Raises ``ValueError`` when there is nothing to do."""
    covers = max(0, len(conversation.turns) - keep_last)
    start = conversation.summary.covers if conversation.summary else 0
    if covers <= start:
        raise ValueError("The conversation is short enough; there is nothing to summarise yet.")
    parts = []
    if conversation.summary:
        parts.append(f"Summary of the earlier conversation:\n{conversation.summary.text}")
    for turn in conversation.turns[start:covers]:
        who = "Writer" if turn["role"] == "user" else "Consultant"
        parts.append(f"{who}: {turn['content']}")
    return (
        {"role": "system", "content": SUMMARY_INSTRUCTIONS},
        {"role": "user", "content": "\n\n".join(parts)},
    ), covers

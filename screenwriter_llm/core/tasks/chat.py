"""Script chat: a conversation attached to a screenplay, stored with its Text in the .blend, and the
worker-side planning that keeps each request inside the model's context window.

The prompts are task files: the system prompt is ``tasks/chat.md``, the summarise request ``tasks/summary.md``
(rendered through :mod:`.task`, the screenplay text made prompt data by :mod:`.render`).

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
from . import render
from .task import Task, builtin_task

#: Scene headings listed in the system prompt before the list is cut short (a feature has ~200).
MAX_LISTED_SCENES = 300


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
        """Read :meth:`to_json`'s output. An empty or unreadable value (not JSON, not an object, a turn that
        is not a ``user``/``assistant`` message: a .blend may come from anyone) gives an empty conversation;
        a summary covering more turns than there are is dropped. Never raises."""
        try:
            data = json.loads(text or "{}")
            if not isinstance(data, dict):
                return cls()
            turns = [{"role": str(t["role"]), "content": str(t["content"])} for t in data.get("turns", [])]
            if any(t["role"] not in ("user", "assistant") for t in turns):
                return cls()
            raw = data.get("summary")
            summary = ctx.ChatSummary(str(raw["text"]), int(raw["covers"])) if raw else None
            if summary is not None and not 0 <= summary.covers <= len(turns):
                summary = None
            return cls(str(data.get("source", "")), turns, summary, str(data.get("context", "")))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return cls()


def system_prompt(screenplay: Screenplay, title: str, current: Scene | None, task: Task | None = None) -> str:
    """The chat's system prompt (one string): the instructions, then the script's title and its scene list
    (at most :data:`MAX_LISTED_SCENES`) as delimited data, then which scene the cursor is in and that
    scene's text as delimited data (an empty block when ``current`` is None).

    ``task``: a task with the ``title``, ``scene_list`` and ``current_scene`` context and a system template
    (a user's override of ``chat``); the built-in one by default. Raises :class:`.task.TaskError` if the task
    is broken or uses a placeholder this does not supply, ``ValueError`` if it has no system template.
    """
    values = {
        "title": title,
        "scene_list": render.scene_list(screenplay, MAX_LISTED_SCENES),
        "scene_count": len(screenplay.scenes),
        **render.current_scene_values(screenplay, current),
    }
    messages = (task or builtin_task("chat")).render(values)
    if not messages or messages[0]["role"] != "system":
        raise ValueError("The chat task has no system template; add one under '# System'.")
    return messages[0]["content"]


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


def summary_messages(
    conversation: Conversation, keep_last: int = 4, task: Task | None = None
) -> tuple[tuple[dict[str, str], ...], int]:
    """The request that compresses all but the newest ``keep_last`` turns (with any earlier summary), and
    how many turns the new summary will cover.

    Returns ``(({"role": "system", ...}, {"role": "user", ...}), covers)``: the ``summary`` task rendered with
    ``conversation`` = the earlier summary (if any) and ``"Writer: …"`` / ``"Consultant: …"`` paragraphs.
    Its request settings (temperature 0.2, at most 400 tokens) are ``builtin_task("summary").request``.
    ``task``: a user's override of ``summary``; the built-in one by default. Raises ``ValueError`` when there
    is nothing to summarise yet, :class:`.task.TaskError` if the task file is broken.
    """
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
    return (task or builtin_task("summary")).render({"conversation": "\n\n".join(parts)}), covers

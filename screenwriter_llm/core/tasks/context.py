"""Context-window management for a script chat: choose which turns of a conversation are sent so the
request never exceeds the model's context window.

Pure Python. The token counter is injected: the worker passes ``functools.partial(cost.count_tokens,
model)`` (LiteLLM's ``token_counter``, worker thread only); tests pass the same function so the check
"prompt tokens + max_tokens <= window" is made with the tokenizer that chose the turns.

Rules:

- The request is ``[system (+ summary note)] + newest turns that fit + the new user message``.
- Room for the answer is reserved: ``count(messages) + max_tokens + reserve <= window``. ``window`` is the
  model's context window (``cost.context_window``: LiteLLM's ``max_input_tokens``, or the user's
  preference for unknown models); providers count input and output against it together (OpenAI,
  Anthropic), so reserving ``max_tokens`` is the safe reading. ``reserve`` is extra slack for tokenizer
  differences (LiteLLM counts with tiktoken for models whose own tokenizer it does not have).
- The system prompt and the new message are always sent; if they alone do not fit,
  :class:`ContextTooLarge` is raised (nothing is sent).
- Turns are dropped oldest first, one *exchange* at a time (a user message and the replies after it), so
  the history sent starts with a user message (unless the turns after a summary begin with a reply).
- Summaries: an existing summary of the oldest turns (:class:`ChatSummary`, with how many turns it
  covers) is appended to the system message as a note and replaces those turns. It is sent only if it
  fits with the system prompt and the new message; then the newest turns fill the rest. A new summary is
  made by the ``summary`` task (``chat.summary_messages``) from the previous one and the turns after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: An OpenAI-style chat message: ``{"role": "user" | "assistant" | "system", "content": str}``.
Message = Mapping[str, Any]
#: Counts the tokens of a whole request (the message list, with the per-message overhead).
CountFn = Callable[[Sequence[Message]], int]

SUMMARY_HEADING = "Summary of the earlier conversation (those turns are not repeated below):"


class ContextTooLarge(ValueError):
    """The system prompt and the new message alone, plus ``max_tokens``, exceed the window. The message
    says by how much and what to do; nothing should be sent."""


@dataclass(frozen=True)
class ChatSummary:
    """A summary of the oldest ``covers`` turns of a conversation (a count of messages from the start)."""

    text: str
    covers: int


@dataclass(frozen=True)
class ContextPlan:
    """What to send, and what was left out.

    ``messages``: the request (system, turns kept, new user message). ``prompt_tokens``: ``count(messages)``;
    ``max_tokens``: reserved for the answer; ``window``: the context window; all in tokens.
    ``kept``/``dropped``/``summarised``: indices into the ``turns`` given (0 = oldest): sent as they are,
    left out, and represented by the summary that was sent. ``summary_used``: whether the summary was sent.
    """

    messages: tuple[dict[str, Any], ...]
    prompt_tokens: int
    max_tokens: int
    window: int
    reserve: int
    kept: tuple[int, ...]
    dropped: tuple[int, ...]
    summarised: tuple[int, ...]
    summary_used: bool

    @property
    def total_tokens(self) -> int:
        """Prompt tokens plus the room reserved for the answer (and slack): at most ``window``."""
        return self.prompt_tokens + self.max_tokens + self.reserve

    def describe(self) -> str:
        """For the panel: ``"Context 5,210 + 2,048 reserved of 8,192 tokens; turns 45–60 of 60 sent;
        turns 5–44 dropped; turns 1–4 summarised"`` (turns numbered from 1)."""
        text = f"Context {self.prompt_tokens:,} + {self.max_tokens:,} reserved of {self.window:,} tokens"
        total = len(self.kept) + len(self.dropped) + len(self.summarised)
        if not total:
            return text + "; no earlier turns"
        text += f"; {_ranges(self.kept) or 'no turns'} of {total} sent"
        if self.dropped:
            text += f"; {_ranges(self.dropped)} dropped"
        if self.summarised:
            text += f"; {_ranges(self.summarised)} summarised"
        return text


def _ranges(indices: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` → ``"turns 1–3, 6"`` (numbered from 1); ``""`` for none."""
    runs: list[list[int]] = []
    for index in sorted(indices):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    if not runs:
        return ""
    label = "turn" if len(indices) == 1 else "turns"
    return label + " " + ", ".join(f"{a + 1}" if a == b else f"{a + 1}–{b + 1}" for a, b in runs)


def _exchange_starts(turns: Sequence[Message], first: int) -> list[int]:
    """Indices (>= ``first``) where an exchange begins: the first candidate turn and every user message."""
    starts = [first] if first < len(turns) else []
    starts += [i for i in range(first + 1, len(turns)) if turns[i].get("role") == "user"]
    return starts


def plan_context(
    system_prompt: str,
    turns: Sequence[Message],
    new_message: str,
    max_tokens: int,
    window: int,
    count: CountFn,
    summary: ChatSummary | None = None,
    reserve: int = 0,
) -> ContextPlan:
    """Choose the messages of the next chat request.

    ``system_prompt``: sent first, always (omitted when empty). ``turns``: the conversation so far, oldest
    first, as ``{"role", "content"}`` dicts. ``new_message``: the user's new text, sent last, always.
    ``max_tokens``: tokens reserved for the answer. ``window``: the model's context window in tokens.
    ``count``: counts a message list's tokens (see the module docstring). ``summary``: an existing summary
    of the oldest turns, or None. ``reserve``: extra tokens kept free.

    Calls ``count`` O(log n) times (a binary search over how many exchanges fit; the count only grows as
    turns are added). Raises :class:`ContextTooLarge` when the system prompt and the new message alone do
    not fit, and ``ValueError`` for a negative ``max_tokens``/``reserve`` or a summary covering more turns
    than there are.
    """
    if max_tokens < 0 or reserve < 0:
        raise ValueError("max_tokens and reserve must not be negative")
    if summary is not None and not 0 <= summary.covers <= len(turns):
        raise ValueError(f"the summary covers {summary.covers} turns but the conversation has {len(turns)}")
    limit = window - max_tokens - reserve
    user = {"role": "user", "content": new_message}

    def head(with_summary: bool) -> list[dict[str, Any]]:
        content = system_prompt
        if with_summary and summary is not None:
            note = f"{SUMMARY_HEADING}\n{summary.text}"
            content = f"{content}\n\n{note}" if content else note
        return [{"role": "system", "content": content}] if content else []

    use_summary = summary is not None and summary.covers > 0 and bool(summary.text.strip())
    if use_summary and count([*head(True), user]) > limit:
        use_summary = False
    system = head(use_summary)
    bare = count([*system, user])
    if bare > limit:
        raise ContextTooLarge(
            f"The system prompt and your message take {bare:,} tokens; with {max_tokens:,} reserved for the "
            f"answer that is more than the model's {window:,}-token context window. Shorten the message or "
            "lower Max Tokens."
        )

    first = summary.covers if (use_summary and summary is not None) else 0
    starts = _exchange_starts(turns, first)

    def request(k: int) -> list[dict[str, Any]]:
        """The request with the newest ``k`` exchanges."""
        kept = [dict(t) for t in turns[starts[len(starts) - k] :]] if k else []
        return [*system, *kept, user]

    # Largest k with count(request(k)) <= limit; k = 0 fits (checked above).
    low, high = 0, len(starts)
    tokens = bare
    while low < high:
        middle = (low + high + 1) // 2
        counted = count(request(middle))
        if counted <= limit:
            low, tokens = middle, counted
        else:
            high = middle - 1
    messages = request(low)
    if low:
        tokens = count(messages)
    first_kept = starts[len(starts) - low] if low else len(turns)

    summarised = tuple(range(first)) if use_summary else ()
    dropped = tuple(range(first, first_kept))
    return ContextPlan(
        messages=tuple(messages),
        prompt_tokens=tokens,
        max_tokens=max_tokens,
        window=window,
        reserve=reserve,
        kept=tuple(range(first_kept, len(turns))),
        dropped=dropped,
        summarised=summarised,
        summary_used=use_summary,
    )
